"""LLM layer benchmark: model load, summaries of every phase in one request, chapter titles, with tokens/s,
for the demo call and the 5-minute generated call (bench_pipeline.five_minute_call). Transcripts come from
the base ASR model once and are cached in bench/out, so only LLM work is timed. Each case runs in a fresh
process (peak RSS is its own).

    python bench/bench_llm.py [--llm local] [--cases demo,5min]
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from bench_pipeline import OUT, PHASES, five_minute_call  # noqa: E402


def transcript_for(case: str):
    from callphase import load_transcript
    from callphase.types import Transcript

    cache = OUT / f"{case}.transcript.json"
    if cache.is_file():
        return Transcript.model_validate_json(cache.read_text())
    if case == "demo":
        from callphase import demo

        with demo.audio() as path:
            transcript = load_transcript(path, {"asr": {"model": "base", "language": "en"}})
    else:
        transcript = load_transcript(five_minute_call(), {"asr": {"model": "base", "language": "en"}})
    OUT.mkdir(parents=True, exist_ok=True)
    cache.write_text(transcript.model_dump_json())
    return transcript


def run_one(case: str, llm_spec: str) -> dict:
    from callphase.chapters import auto_chapters
    from callphase.llm import get_llm
    from callphase.segment import segment
    from callphase.summarize import summarize
    from callphase.types import PhaseSpec

    transcript = transcript_for(case)
    seg = segment(transcript, PhaseSpec.parse(PHASES), "embedding")
    t = time.perf_counter()
    llm = get_llm(llm_spec)
    llm.chat([{"role": "user", "content": "Hi"}], max_tokens=1)  # loads a local model
    load = time.perf_counter() - t
    t = time.perf_counter()
    summarize(transcript, seg, llm)
    summary_s = time.perf_counter() - t
    stats = seg.llm_stats
    t = time.perf_counter()
    chapters = auto_chapters(transcript, llm)
    chapters_s = time.perf_counter() - t
    return {
        "case": case, "llm": llm.name, "audio_s": round(transcript.duration, 1), "phases": len(seg.phases),
        "chapters": len(chapters.phases), "load_s": round(load, 2), "summaries_s": round(summary_s, 2),
        "prompt_tokens": stats.get("prompt_tokens", 0), "completion_tokens": stats.get("completion_tokens", 0),
        "gen_tok_s": stats.get("generation_tokens_per_s", 0), "prompt_tok_s": stats.get("prompt_tokens_per_s", 0),
        "chapters_s": round(chapters_s, 2), "summary_method": seg.summary_method, "notes": seg.repairs + chapters.notes,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--llm", default="local")
    ap.add_argument("--cases", default="demo,5min")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one, args.llm)))
        return
    rows = []
    for case in args.cases.split(","):
        transcript_for(case)  # transcribe outside the timed process
        child = subprocess.run([sys.executable, __file__, "--one", case, "--llm", args.llm],
                               capture_output=True, text=True, check=True)
        rows.append(json.loads(child.stdout.strip().splitlines()[-1]))
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"LLM layer ({rows[0]['llm']}), {__import__('os').cpu_count()} CPUs")
    cols = ["case", "audio_s", "phases", "load_s", "summaries_s", "prompt_tokens", "completion_tokens", "gen_tok_s",
            "prompt_tok_s",
            "chapters", "chapters_s", "peak_rss_mb"]
    for c in cols:
        table.add_column(c, justify="right")
    for r in rows:
        table.add_row(*(str(r[c]) for c in cols))
    Console(width=160).print(table)
    (OUT / "llm.json").write_text(json.dumps(rows, indent=1))
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
