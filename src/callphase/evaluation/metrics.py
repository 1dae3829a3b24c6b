"""How close predicted phases are to gold ones. Phases are {name, start_time, end_time} mappings or Phase."""
from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np


def _spans(phases: Sequence[Any]) -> list[tuple[str, float, float]]:
    out = []
    for p in phases:
        if not isinstance(p, dict):
            p = p.model_dump()
        out.append((p["name"], float(p["start_time"]), float(p["end_time"])))
    return out


def inner_boundaries(phases: Sequence[Any]) -> list[float]:
    return [s for _, s, _ in _spans(phases)[1:]]


def boundary_errors(predicted: Sequence[Any], gold: Sequence[Any]) -> list[float]:
    """For each gold inner boundary, the distance in seconds to the nearest predicted one (and the call's
    ends count as boundaries, so a missed phase costs the distance to the nearest remaining cut)."""
    pred = _spans(predicted)
    cuts = [pred[0][1], *inner_boundaries(predicted), pred[-1][2]]
    return [min(abs(b - c) for c in cuts) for b in inner_boundaries(gold)]


def boundary_mae(predicted: Sequence[Any], gold: Sequence[Any]) -> float:
    """Mean of gold-to-nearest-predicted and predicted-to-nearest-gold boundary distances (seconds)."""
    there = boundary_errors(predicted, gold)
    back = boundary_errors(gold, predicted)
    both = there + back
    return sum(both) / len(both) if both else 0.0


def time_accuracy(predicted: Sequence[Any], gold: Sequence[Any]) -> float:
    """Share of the call's seconds whose predicted phase name equals the gold one."""
    pred, ref = _spans(predicted), _spans(gold)
    total = max(e for _, _, e in ref) - min(s for _, s, _ in ref)
    agree = 0.0
    for name, s, e in ref:
        for pname, ps, pe in pred:
            if pname == name:
                agree += max(0.0, min(e, pe) - max(s, ps))
    return agree / total if total > 0 else 1.0


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def word_error_rate(hypothesis: str, reference: str) -> float:
    """(substitutions + deletions + insertions) / reference words, on lower-cased words without punctuation."""
    hyp, ref = _words(hypothesis), _words(reference)
    previous = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        current = [i]
        for j, h in enumerate(hyp, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (r != h)))
        previous = current
    return previous[-1] / len(ref) if ref else float(len(hyp) > 0)


def _segment_ids(labels: Sequence[str]) -> list[int]:
    """Runs of equal labels numbered 0, 1, 2...: two runs of one phase are two segments."""
    ids, current = [], 0
    for i, name in enumerate(labels):
        if i and name != labels[i - 1]:
            current += 1
        ids.append(current)
    return ids


def window_k(gold: Sequence[str]) -> int:
    """Half the mean gold segment length, in utterances (at least 1)."""
    segments = _segment_ids(gold)[-1] + 1 if gold else 1
    return max(1, round(len(gold) / segments / 2))


def pk(predicted: Sequence[str], gold: Sequence[str], k: int | None = None) -> float:
    """Beeferman's Pk: share of utterance pairs k apart that one labelling puts in one segment and the other
    does not. 0 is perfect."""
    k = k or window_k(gold)
    n = len(gold)
    if n <= k:
        return 0.0
    p, g = _segment_ids(predicted), _segment_ids(gold)
    return sum((p[i] == p[i + k]) != (g[i] == g[i + k]) for i in range(n - k)) / (n - k)


def window_diff(predicted: Sequence[str], gold: Sequence[str], k: int | None = None) -> float:
    """Pevzner and Hearst's WindowDiff: share of windows of k utterances whose boundary counts differ."""
    k = k or window_k(gold)
    n = len(gold)
    if n <= k:
        return 0.0
    p, g = _segment_ids(predicted), _segment_ids(gold)
    return sum((p[i + k] - p[i]) != (g[i + k] - g[i]) for i in range(n - k)) / (n - k)


def utterance_accuracy(predicted: Sequence[str], gold: Sequence[str]) -> float:
    return sum(a == b for a, b in zip(predicted, gold)) / len(gold) if gold else 1.0


Turn = tuple[float, float, str]  # (start, end, speaker)


def diarization_error_rate(hypothesis: Sequence[Turn], reference: Sequence[Turn], collar: float = 0.0,
                           step: float = 0.01) -> dict[str, float]:
    """DER = (missed speech + false alarm + speaker confusion) / reference speech, on a `step`-second grid,
    with the speaker mapping that fits best (tried exhaustively: calls have few speakers). `collar`
    seconds either side of every reference turn edge are not scored (0.25 is the usual choice).
    Overlapped reference speech counts one speaker per frame (the first listed)."""
    from itertools import permutations

    end = max([e for _, e, _ in list(hypothesis) + list(reference)], default=0.0)
    n = int(np.ceil(end / step)) + 1
    ref_names = sorted({s for _, _, s in reference})
    hyp_names = sorted({s for _, _, s in hypothesis})

    def grid(turns, names):
        g = np.full(n, -1)
        for s, e, who in reversed(list(turns)):
            g[int(round(s / step)): int(round(e / step))] = names.index(who)
        return g

    ref, hyp = grid(reference, ref_names), grid(hypothesis, hyp_names)
    scored = np.ones(n, bool)
    for s, e, _ in reference:
        for edge in (s, e):
            scored[max(0, int(round((edge - collar) / step))): int(round((edge + collar) / step))] = False
    speech = (ref >= 0) & scored
    total = int(speech.sum())
    if total == 0:
        return {"der": 0.0, "missed": 0.0, "false_alarm": 0.0, "confusion": 0.0}
    missed = int((speech & (hyp < 0)).sum())
    false_alarm = int(((ref < 0) & (hyp >= 0) & scored).sum())
    both = speech & (hyp >= 0)
    best = 0
    k = max(len(ref_names), len(hyp_names))
    for perm in permutations(range(k), len(hyp_names)):
        mapped = np.array(perm)[hyp[both]]
        best = max(best, int((mapped == ref[both]).sum()))
    confusion = int(both.sum()) - best
    return {"der": (missed + false_alarm + confusion) / total, "missed": missed / total,
            "false_alarm": false_alarm / total, "confusion": confusion / total}
