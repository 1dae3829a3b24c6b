"""Gold phases from per-utterance (or per-turn) labels, shared by the datasets and the call renderer."""
from __future__ import annotations


def gold_from_labels(starts: list[float], labels: list[str], duration: float) -> list[dict]:
    """Contiguous gold phases; each starts where its first utterance starts (the first at 0)."""
    phases: list[dict] = []
    for start, name in zip(starts, labels):
        if phases and phases[-1]["name"] == name:
            continue
        phases.append({"name": name, "start_time": 0.0 if not phases else start})
    for a, b in zip(phases, phases[1:] + [None]):
        a["end_time"] = b["start_time"] if b else duration
    return phases


def label_at(gold: list[dict], t: float) -> str:
    for p in gold:
        if p["start_time"] <= t < p["end_time"]:
            return p["name"]
    return gold[-1]["name"]
