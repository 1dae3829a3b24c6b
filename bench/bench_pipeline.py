"""End-to-end benchmark: wall time per stage, real-time factor and peak RSS, for the demo call and a
5-minute generated call. Each case runs in a fresh process so its peak RSS is its own.

    python bench/bench_pipeline.py [--model base] [--cases demo,5min]

Real-time factor (RTF) = wall seconds / audio seconds. `rtf_total` counts everything a user waits for in
a fresh process (model loading included); `rtf_processing` leaves the import and the sentence-embedding
model's load out (Whisper's load, once per call, is part of "transcribe").
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
PHASES = "Introduction,Complaint,Resolution,Goodbye"


def five_minute_call() -> Path:
    """The demo script and the test suite's card call, alternated to about 5 minutes (rendered once)."""
    path = OUT / "five_minutes.mp3"
    if path.is_file():
        return path
    from callphase.evaluation.synth import render_call, write_audio

    sys.path.insert(0, str(ROOT / "tests"))
    from conftest import CARD_CALL

    demo = yaml.safe_load((ROOT / "demo" / "call.yaml").read_text())["turns"]
    turns = (demo + CARD_CALL) * 2 + demo
    call = render_call(turns, seed=11)
    OUT.mkdir(parents=True, exist_ok=True)
    write_audio(call.samples, call.sample_rate, path)
    return path


def run_one(case: str, model: str) -> dict:
    """Runs inside the child process."""
    t0 = time.perf_counter()
    import callphase
    from callphase.models import load_embedder

    path = ROOT / "demo" / "call.mp3" if case == "demo" else five_minute_call()
    t_import = time.perf_counter() - t0
    # No Whisper load here: each call loads a model of its own (models.new_whisper), so "transcribe"
    # includes it (0.5 s for base); loading one here too would hold two in memory at the peak.
    t = time.perf_counter()
    load_embedder()
    t_embedder = time.perf_counter() - t
    # the LLM has its own bench_llm.py
    result = callphase.analyze(path, PHASES, {"asr": {"model": model}, "llm": {"backend": "none"}})
    total = time.perf_counter() - t0
    duration = result.transcript.duration
    stages = {"import": t_import, "load_embedder": t_embedder,
              **{k: v for k, v in result.timings.items() if k != "total"}}
    processing = sum(v for k, v in result.timings.items() if k != "total")
    return {
        "case": case, "model": model, "audio_s": round(duration, 1),
        "utterances": len(result.transcript.utterances), "phases": len(result.segmentation.phases),
        "stages_s": {k: round(v, 3) for k, v in stages.items()},
        "wall_s": round(total, 2), "rtf_total": round(total / duration, 4),
        "rtf_processing": round(processing / duration, 4),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="base")
    ap.add_argument("--cases", default="demo,5min")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one, args.model)))
        return
    rows = []
    for case in args.cases.split(","):
        if case == "5min":
            five_minute_call()  # render outside the timed process
        child = subprocess.run([sys.executable, __file__, "--one", case, "--model", args.model],
                               capture_output=True, text=True, check=True)
        rows.append(json.loads(child.stdout.strip().splitlines()[-1]))
    from rich.console import Console
    from rich.table import Table

    stages = list(rows[0]["stages_s"])
    table = Table(title=f"callphase end to end, model {args.model}, {__import__('os').cpu_count()} CPUs")
    for col in ["case", "audio s", *stages, "wall s", "RTF total", "RTF processing", "peak RSS MB"]:
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(r["case"], f"{r['audio_s']}", *(f"{r['stages_s'].get(s, 0):.2f}" for s in stages),
                      f"{r['wall_s']}", f"{r['rtf_total']:.3f}", f"{r['rtf_processing']:.3f}", f"{r['peak_rss_mb']:.0f}")
    Console(width=160).print(table)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"pipeline-{args.model}.json").write_text(json.dumps(rows, indent=1))
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
