"""Memory on long calls: peak RSS of `callphase transcribe` on generated calls of 10 and 60 minutes
(mono, diarized, with hold music every few minutes). Each run is a fresh process; RSS is its own peak.

    python bench/bench_long.py [--model tiny] [--minutes 10,60]

Audio is decoded and transcribed in 10-minute blocks (audio.BLOCK_SECONDS), so the peak should not grow
with the length of the call. A two-hour call is the same loop run twice as long.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"


def long_call(minutes: int) -> Path:
    """STAR test dialogues one after another (two espeak voices, 8 kHz), 30 s of hold music after every
    fifth, until `minutes` long; written as mp3 (rendered once)."""
    path = OUT / f"long_{minutes}min.mp3"
    if path.is_file():
        return path
    from callphase.evaluation.datasets import star_dialogues
    from callphase.evaluation.synth import hold_music, render_call, write_audio

    pieces, total, rate = [], 0.0, 8000
    for n, d in enumerate(star_dialogues("test")):
        call = render_call([{"speaker": t["speaker"], "text": t["text"]} for t in d["turns"]], seed=d["id"])
        pieces.append(call.samples[0])
        if n % 5 == 4:
            pieces.append(hold_music(30.0, rate) + np.random.default_rng(n).normal(0, 0.0015, 30 * rate).astype(np.float32))
        total += sum(len(p) for p in pieces[-2:]) / rate if n % 5 == 4 else call.duration
        if total >= minutes * 60:
            break
    samples = np.concatenate(pieces)[: minutes * 60 * rate]
    OUT.mkdir(parents=True, exist_ok=True)
    return write_audio(samples[None], rate, path)


def run(path: Path, model: str) -> dict:
    code = f"""
import json, resource, sys, time
from callphase.options import ASROptions
from callphase.transcribe import transcribe_file
t = time.perf_counter()
tr = transcribe_file({str(path)!r}, ASROptions(model={model!r}, language="en"))
print(json.dumps({{"seconds": time.perf_counter() - t, "duration": tr.duration, "utterances": len(tr.utterances),
    "speakers": sorted({{u.speaker for u in tr.utterances if u.speaker}}), "non_speech": len(tr.non_speech),
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="tiny")
    ap.add_argument("--minutes", default="10,60")
    args = ap.parse_args()
    rows = []
    for minutes in (int(m) for m in args.minutes.split(",")):
        path = long_call(minutes)
        r = run(path, args.model)
        r.update(minutes=minutes, model=args.model, rtf=round(r["seconds"] / r["duration"], 3),
                 file_mb=round(path.stat().st_size / 1e6, 1))
        rows.append(r)
        print(f"{minutes:>3} min  {r['seconds']:7.1f} s  RTF {r['rtf']:.3f}  peak RSS {r['peak_rss_mb']:6.0f} MB  "
              f"{r['utterances']} utterances, speakers {r['speakers']}, {r['non_speech']} non-speech spans", flush=True)
    (OUT / f"long-{args.model}.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
