"""Run a segmenter over a labelled set and score it: accuracy, boundaries, Pk/WindowDiff, validity, time."""
from __future__ import annotations

import statistics
import time
from collections import defaultdict
from dataclasses import asdict, dataclass

from ..segment import Segmenter, check, segment
from ..types import Segmentation, Transcript
from .datasets import EvalItem
from .gold import label_at
from .metrics import boundary_mae, pk, time_accuracy, utterance_accuracy, window_diff


@dataclass
class ItemScore:
    id: str
    domain: str
    utterance_accuracy: float
    time_accuracy: float
    boundary_mae: float
    pk: float
    window_diff: float
    valid: bool
    seconds: float
    audio_seconds: float


def predicted_labels(transcript: Transcript, seg: Segmentation) -> list[str]:
    """The phase each utterance starts in (phase boundaries are utterance starts)."""
    phases = [p.model_dump() for p in seg.phases]
    return [label_at(phases, u.start) for u in transcript.utterances]


def score_item(item: EvalItem, segmenter: Segmenter) -> ItemScore:
    t = time.perf_counter()
    seg = segment(item.transcript, item.spec, segmenter)
    seconds = time.perf_counter() - t
    labels = predicted_labels(item.transcript, seg)
    return ItemScore(
        id=item.id, domain=item.domain,
        utterance_accuracy=utterance_accuracy(labels, item.gold_labels),
        time_accuracy=time_accuracy(seg.phases, item.gold_phases),
        boundary_mae=boundary_mae(seg.phases, item.gold_phases),
        pk=pk(labels, item.gold_labels), window_diff=window_diff(labels, item.gold_labels),
        valid=not check(seg, item.transcript, item.spec), seconds=seconds,
        audio_seconds=item.transcript.duration,
    )


METRICS = ("utterance_accuracy", "time_accuracy", "boundary_mae", "pk", "window_diff", "validity",
           "seconds_per_call", "seconds_per_5min")


def aggregate(scores: list[ItemScore]) -> dict[str, float]:
    if not scores:
        return {m: float("nan") for m in METRICS} | {"calls": 0}
    mean = lambda attr: statistics.fmean(getattr(s, attr) for s in scores)  # noqa: E731
    return {
        "calls": len(scores),
        "utterance_accuracy": mean("utterance_accuracy"), "time_accuracy": mean("time_accuracy"),
        "boundary_mae": mean("boundary_mae"), "pk": mean("pk"), "window_diff": mean("window_diff"),
        "validity": mean("valid"), "seconds_per_call": mean("seconds"),
        # per 5 minutes of audio, for the speed target
        "seconds_per_5min": sum(s.seconds for s in scores) / max(sum(s.audio_seconds for s in scores), 1e-9) * 300,
    }


def evaluate(items: list[EvalItem], segmenter: Segmenter, by_domain: bool = False) -> dict:
    scores = [score_item(item, segmenter) for item in items]
    report = {"segmenter": segmenter.name, "overall": aggregate(scores), "items": [asdict(s) for s in scores]}
    if by_domain:
        groups: dict[str, list[ItemScore]] = defaultdict(list)
        for s in scores:
            groups[s.domain].append(s)
        report["by_domain"] = {d: aggregate(g) for d, g in sorted(groups.items())}
    return report


def evaluate_chapters(items: list[EvalItem], segmenter) -> dict:
    """Auto chapters against gold chapters: Pk, WindowDiff, boundary MAE, chapter counts, time per call.
    Chapter names carry no meaning, so there is no accuracy row."""
    from ..chapters import auto_chapters

    rows = []
    for item in items:
        t = time.perf_counter()
        chapters = auto_chapters(item.transcript, None, segmenter)
        seconds = time.perf_counter() - t
        spans = [{"name": str(j), "start_time": c.start_time, "end_time": c.end_time} for j, c in enumerate(chapters.phases)]
        labels = [label_at(spans, u.start) for u in item.transcript.utterances]
        rows.append({
            "id": item.id, "pk": pk(labels, item.gold_labels), "window_diff": window_diff(labels, item.gold_labels),
            "boundary_mae": boundary_mae(spans, item.gold_phases), "chapters": len(spans),
            "gold_chapters": len(item.gold_phases), "seconds": seconds, "audio_seconds": item.transcript.duration,
        })
    if not rows:
        return {"segmenter": segmenter.name, "overall": {"calls": 0}, "items": []}
    mean = lambda key: statistics.fmean(r[key] for r in rows)  # noqa: E731
    overall = {"calls": len(rows), "pk": mean("pk"), "window_diff": mean("window_diff"),
               "boundary_mae": mean("boundary_mae"), "chapters": mean("chapters"), "gold_chapters": mean("gold_chapters"),
               "seconds_per_call": mean("seconds"),
               "seconds_per_5min": sum(r["seconds"] for r in rows) / max(sum(r["audio_seconds"] for r in rows), 1e-9) * 300}
    return {"segmenter": segmenter.name, "overall": overall, "items": rows}
