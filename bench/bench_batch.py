"""Many calls: a `callphase segment` process per call vs `callphase batch` with warm workers, local and Ray.

    python bench/bench_batch.py [--model tiny] [--calls 20] [--configs serial,w1,w2,ray]

The calls are the support set's scripts rendered as phone audio (espeak-ng, 8 kHz mono mp3), the 20 whose
length is nearest a minute. Each configuration runs in the same invocation, one after another, into a
fresh output folder: wall time, calls per hour, and the peak RSS of a worker (for `segment`, of its
process). Also printed: what a fresh process spends before its first call (imports and model loads),
the cost the batch pays once per worker instead of once per call.
"""
from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
PHASES = "Introduction,Complaint,Resolution,Goodbye"


def calls(n: int) -> tuple[Path, float]:
    """n rendered support calls nearest 60 s, in bench/out/batch_calls (made once); their total seconds."""
    from callphase.evaluation import support
    from callphase.evaluation.synth import write_audio

    folder = OUT / f"batch_calls_{n}"
    index = folder / "durations.json"
    if index.is_file():
        return folder, sum(json.loads(index.read_text()).values())
    rendered = [(abs(r.duration - 60), s["id"], r) for s in support.scripts() for r in [support.render(s)]]
    chosen = sorted(rendered, key=lambda x: (x[0], x[1]))[:n]
    folder.mkdir(parents=True, exist_ok=True)
    for _, call_id, r in chosen:
        write_audio(r.samples, r.sample_rate, folder / f"{call_id}.mp3")
    index.write_text(json.dumps({call_id: round(r.duration, 2) for _, call_id, r in chosen}))
    return folder, sum(r.duration for _, _, r in chosen)


def children_peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def serial(folder: Path, model: str, scratch: Path) -> dict:
    t0, walls = time.perf_counter(), []
    for f in sorted(folder.glob("*.mp3")):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "callphase", "segment", str(f), "--phases", PHASES, "--model", model,
                        "--language", "en", "--no-llm", "--quiet", "--out", str(scratch / f.stem)], check=True)
        walls.append(time.perf_counter() - t)
    return {"wall": time.perf_counter() - t0, "per_call": statistics.median(walls), "peak_rss_mb": children_peak_mb()}


def batch(folder: Path, model: str, scratch: Path, *flags: str) -> dict:
    t0 = time.perf_counter()
    run = subprocess.run([sys.executable, "-m", "callphase", "batch", str(folder), "--phases", PHASES, "--model", model,
                          "--language", "en", "--no-llm", "--json", "--out", str(scratch), *flags],
                         capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if run.returncode != 0:
        raise SystemExit(run.stderr[-2000:])
    events = [json.loads(line) for line in run.stderr.splitlines() if line.startswith('{"event": "call"')]
    done = [e for e in events if e["status"] == "done"]
    return {"wall": wall, "per_call": statistics.median(e["wall"] for e in done),
            "peak_rss_mb": max(e["peak_rss_mb"] for e in done), "workers": len({e["worker"] for e in done})}


def startup(model: str, scratch: Path) -> float:
    """Seconds a fresh process spends before its first call: import callphase and load every model a call
    uses (Whisper, VAD, speaker model, sentence embedder, phase model)."""
    code = (f"import time; t = time.perf_counter(); import numpy as np; import callphase.cli; "
            "from callphase import models, vad; from callphase.campplus import CAMPPlus; "
            "from callphase.segment.phasemodel import get_phase_model; "
            f"models.new_whisper({model!r}); models.load_embedder(); CAMPPlus.shared(); get_phase_model('support'); "
            "vad.speech_regions(np.zeros(16000, np.float32)); print(time.perf_counter() - t)")
    runs = [float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
            for _ in range(3)]
    return statistics.median(runs)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="tiny")
    ap.add_argument("--calls", type=int, default=20)
    ap.add_argument("--configs", default="serial,w1,w2,ray")
    args = ap.parse_args()
    folder, audio = calls(args.calls)
    print(f"{args.calls} calls, {audio / 60:.1f} min of audio (mean {audio / args.calls:.1f} s), model {args.model}, "
          f"--no-llm", flush=True)
    rows = {}
    scratch = Path(tempfile.mkdtemp(prefix="bench-batch-"))
    try:
        for config in args.configs.split(","):
            out = scratch / config
            if config == "serial":
                rows[config] = serial(folder, args.model, out)
            elif config in ("w1", "w2"):
                rows[config] = batch(folder, args.model, out, "--workers", config[1])
            elif config == "ray":
                rows[config] = batch(folder, args.model, out, "--engine", "ray", "--workers", "2")
            r = rows[config]
            print(json.dumps({"config": config, "wall_s": round(r["wall"], 1),
                              "calls_per_hour": round(3600 * args.calls / r["wall"]),
                              "median_s_per_call": round(r["per_call"], 2), "peak_rss_mb_per_worker": round(r["peak_rss_mb"]),
                              "rtf": round(r["wall"] / audio, 3)}), flush=True)
        print(json.dumps({"startup_s_per_process": round(startup(args.model, scratch), 2)}))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
