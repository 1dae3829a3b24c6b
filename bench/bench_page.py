"""The call page for a 2-hour call (about 2,000 utterances): how long the page takes to build and to
first paint in Debian's chromium, and whether scrolling through it stalls (the longest frame while
scrolling from top to bottom). Not a timed test: it prints figures.

    python bench/bench_page.py [--utterances 2000]
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path


def two_hour_call(n: int):
    """Support-call scripts as text, one after another until n utterances (about 2 hours at n=2,000),
    segmented with the default segmenter into the seed's phases, unordered (a long call repeats them)."""
    import callphase
    from callphase.evaluation import support
    from callphase.types import PhaseSpec, Transcript, Utterance

    utts, t = [], 0.0
    calls = support.scripts()
    while len(utts) < n:
        for turn in calls[len(utts) % len(calls)]["turns"]:
            length = 0.4 * max(1, len(turn["text"].split())) + 1.0  # phone pace, pauses included
            utts.append(Utterance(index=len(utts), start=round(t, 3), end=round(t + length - 0.6, 3), text=turn["text"],
                                  speaker=turn["speaker"]))
            t += length
    transcript = Transcript(duration=round(t, 3), utterances=utts[:n])
    transcript.duration = transcript.utterances[-1].end + 1.0
    spec = PhaseSpec.parse(support.SPEC.names, ordered=False)
    return callphase.analyze(transcript, spec, {"llm": {"backend": "none"}})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--utterances", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    from callphase.page import render

    result = two_hour_call(args.utterances)
    t = time.perf_counter()
    html = render(result, "two-hour call")
    build = time.perf_counter() - t
    folder = Path(tempfile.mkdtemp())
    page_path = folder / "call.html"
    page_path.write_text(html)
    chromium = shutil.which("chromium") or sys.exit("needs chromium")
    paints, loads, frames = [], [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        for _ in range(args.repeat):
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.goto(page_path.as_uri())
            timing = page.evaluate("""() => {
                const paint = performance.getEntriesByName('first-contentful-paint')[0];
                const nav = performance.getEntriesByType('navigation')[0];
                return {fcp: paint ? paint.startTime : null, load: nav.loadEventEnd};
            }""")
            paints.append(timing["fcp"])
            loads.append(timing["load"])
            frames.append(page.evaluate("""async () => {
                const worst = []; let last = performance.now();
                const h = document.body.scrollHeight;
                for (let y = 0; y < h; y += 800) {
                    window.scrollTo(0, y);
                    await new Promise(r => requestAnimationFrame(r));
                    const now = performance.now(); worst.push(now - last); last = now;
                }
                return Math.max(...worst);
            }"""))
            page.close()
        browser.close()
    print(json.dumps({
        "utterances": len(result.transcript.utterances), "audio_hours": round(result.transcript.duration / 3600, 2),
        "phases": len(result.segmentation.phases), "html_mb": round(len(html.encode()) / 1e6, 2),
        "build_s": round(build, 3), "first_contentful_paint_ms": round(statistics.median(paints), 1),
        "load_event_ms": round(statistics.median(loads), 1), "longest_scroll_frame_ms": round(statistics.median(frames), 1),
        "runs": args.repeat,
    }))


if __name__ == "__main__":
    main()
