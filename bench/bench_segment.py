"""Segmentation benchmark: the embedding segmenter alone, with no phase model, the bundled `support` one
(the default for these phases) and the bundled `star` one,
on the demo call and the 5-minute generated call (transcripts from bench_llm.transcript_for, cached in
bench/out). Prints seconds per call and per 5 minutes of audio (target: under 1 s), warm (models loaded,
median of --repeat runs) and first (the first run of each case; for the first case it includes
loading the embedding model and the phase model).

    python bench/bench_segment.py [--cases demo,5min] [--repeat 5]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from bench_llm import transcript_for  # noqa: E402
from bench_pipeline import PHASES  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", default="demo,5min")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()

    from callphase.segment import segment
    from callphase.segment.embedding import EmbeddingSegmenter
    from callphase.segment.phasemodel import get_phase_model
    from callphase.types import PhaseSpec

    spec = PhaseSpec.parse(PHASES)
    transcripts = {case: transcript_for(case) for case in args.cases.split(",")}
    for label in ("embedding", "embedding + support", "embedding + star"):
        t = time.perf_counter()
        name = label.partition(" + ")[2]
        segmenter = EmbeddingSegmenter(model=get_phase_model(name) if name else None)
        for case, transcript in transcripts.items():
            segment(transcript, spec, segmenter)
            first = time.perf_counter() - t
            runs = []
            for _ in range(args.repeat):
                t = time.perf_counter()
                segment(transcript, spec, segmenter)
                runs.append(time.perf_counter() - t)
            warm = statistics.median(runs)
            print(json.dumps({
                "segmenter": label, "case": case, "audio_s": round(transcript.duration, 1),
                "utterances": len(transcript.utterances), "uses_model": segmenter.uses_model(spec),
                "first_s": round(first, 3), "warm_s": round(warm, 3),
                "warm_s_per_5min": round(warm / transcript.duration * 300, 3),
            }))
            t = time.perf_counter()


if __name__ == "__main__":
    main()
