"""Turn any backend's output into phases that keep the invariants, or say why they do not.

Invariants of a Segmentation for a transcript of duration D and a PhaseSpec:
  1. at least one phase; every name is one of the spec's names or `other`;
  2. each phase has start_time <= end_time, and only a lone phase may be empty;
  3. the first starts at 0, the last ends at D, each ends where the next starts (contiguous, in time order);
  4. every inner boundary is the start time of an utterance (clamped to D), or the end of the speech
     before a long non-speech span (hold music, silence) that forms its own `other` phase;
  5. neighbours have different names;
  6. when `ordered`, the phases other than `other` follow the spec's order (a phase may resume after
     an `other` interruption, never go back to an earlier one).

Backends give either one label per utterance (`labels`) or phases with times (`phases`, e.g. an LLM's
JSON). Both go through `validate`, which repairs what it can and records each repair.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..types import Phase, PhaseSpec, Segmentation, Transcript
from ..vad import WORD_EDGE

EPS = 1e-6


def best_path(scores: np.ndarray, ordered: bool, switch_cost: float | np.ndarray = 0.0, skip_cost: float = 0.0) -> list[int]:
    """Highest-scoring label sequence: columns 0..K-1 are the spec's phases, column K is `other`.

    Each step adds scores[i, label]; each label change costs `switch_cost`, or `switch_cost[i]` for a
    change between utterances i-1 and i when it is an array (one per utterance). When `ordered`, a phase may
    never follow a later phase: the state is (label, last phase seen), and `other` keeps the position;
    each phase passed over (at the start, between two phases, or at the end) costs `skip_cost`.
    """
    n, width = scores.shape
    k = width - 1
    if n == 0:
        return []
    if ordered:
        # states 0..k-1: phase j (position j); states k..2k: other at position -1..k-1
        labels = np.array(list(range(k)) + [k] * (k + 1))
        pos = np.array(list(range(k)) + list(range(-1, k)))
        allowed = pos[None, :] >= pos[:, None]
        same_other = (labels[:, None] == k) & (labels[None, :] == k)
        allowed &= ~same_other | (pos[:, None] == pos[None, :])  # other cannot advance the position
        start_ok = (labels < k) | (pos == -1)
    else:
        labels = np.arange(width)
        allowed = np.ones((width, width), bool)
        start_ok = np.ones(width, bool)
    change = (labels[:, None] != labels[None, :]).astype(float)
    costs = np.broadcast_to(np.asarray(switch_cost, float), (n,))
    trans = np.zeros((len(labels), len(labels)))
    start = np.zeros(len(labels))
    end = np.zeros(len(labels))
    if ordered and skip_cost:
        trans = trans - skip_cost * np.maximum(pos[None, :] - pos[:, None] - 1, 0) * (labels[None, :] < k)
        start = -skip_cost * np.maximum(pos, 0) * (labels < k)
        end = -skip_cost * (k - 1 - pos)
    trans = np.where(allowed, trans, -np.inf)
    dp = np.where(start_ok, scores[0, labels] + start, -np.inf)
    back = np.zeros((n, len(labels)), dtype=np.int64)
    for i in range(1, n):
        cand = dp[:, None] + trans - costs[i] * change
        back[i] = cand.argmax(axis=0)
        dp = cand.max(axis=0) + scores[i, labels]
    state = int((dp + end).argmax())
    path = [state]
    for i in range(n - 1, 0, -1):
        state = int(back[i, state])
        path.append(state)
    return [int(labels[s]) for s in reversed(path)]


def _canonical(name: Any, spec: PhaseSpec) -> str | None:
    if not isinstance(name, str):
        return None
    if name in spec.allowed:
        return name
    folded = " ".join(name.split()).casefold()
    for allowed in spec.allowed:
        if allowed.casefold() == folded:
            return allowed
    return None


def repair_labels(labels: Sequence[Any], spec: PhaseSpec) -> tuple[list[str], list[str]]:
    """Map unknown names to `other` and, when ordered, change as few labels as possible to restore order."""
    repairs: list[str] = []
    fixed: list[str] = []
    for i, name in enumerate(labels):
        canon = _canonical(name, spec)
        if canon is None:
            repairs.append(f"utterance {i}: unknown phase {name!r} became {spec.other!r}")
            canon = spec.other
        elif canon != name:
            repairs.append(f"utterance {i}: {name!r} read as {canon!r}")
        fixed.append(canon)
    if spec.ordered and fixed:
        index = {n: j for j, n in enumerate(spec.allowed)}
        agree = np.zeros((len(fixed), len(spec.allowed)))
        agree[np.arange(len(fixed)), [index[n] for n in fixed]] = 1.0
        # a tiny switch cost prefers the repair with fewest phases among the equally faithful ones
        path = [spec.allowed[j] for j in best_path(agree, True, switch_cost=1e-3)]
        changed = [i for i, (a, b) in enumerate(zip(fixed, path)) if a != b]
        if changed:
            repairs.append(f"{len(changed)} utterance label(s) changed to restore the phase order")
        fixed = path
    return fixed, repairs


def phases_from_labels(
    transcript: Transcript,
    labels: Sequence[str],
    spec: PhaseSpec,
    confidence: Sequence[float] | None = None,
) -> list[Phase]:
    """Group consecutive equal labels into phases; boundaries at the first utterance's start time."""
    utts = transcript.utterances
    if len(labels) != len(utts):
        raise ValueError(f"{len(labels)} labels for {len(utts)} utterances")
    duration = transcript.duration
    if not utts:
        return [Phase(name=spec.other, start_time=0.0, end_time=duration, confidence=1.0)]
    groups: list[list[int]] = []
    for i, name in enumerate(labels):
        if groups and labels[groups[-1][0]] == name:
            groups[-1].append(i)
        else:
            groups.append([i])

    def start_of(group: list[int]) -> float:
        return min(max(utts[group[0]].start, 0.0), duration)

    # (label, utterance indices); a group that starts no later than the phase before it would leave that
    # phase empty (utterances sharing a start time, times past the end): it absorbs that phase.
    merged: list[tuple[str, list[int]]] = []
    for group in groups:
        label = labels[group[0]]
        while merged and start_of(group) <= (start_of(merged[-1][1]) if len(merged) > 1 else 0.0) + EPS:
            group = merged.pop()[1] + group
        if merged and merged[-1][0] == label:
            merged[-1][1].extend(group)
        else:
            merged.append((label, group))
    # groups starting at the call's end (times past it are clamped) join the phase before them
    while len(merged) > 1 and start_of(merged[-1][1]) >= duration - EPS:
        merged[-2][1].extend(merged.pop()[1])
    phases = []
    for j, (label, group) in enumerate(merged):
        start = 0.0 if j == 0 else start_of(group)
        end = duration if j == len(merged) - 1 else start_of(merged[j + 1][1])
        conf = None
        if confidence is not None:
            conf = round(float(np.mean([confidence[i] for i in group])), 3)
        phases.append(
            Phase(
                name=label,
                start_time=start,
                end_time=end,
                first_utterance=utts[group[0]].index,
                last_utterance=utts[group[-1]].index,
                confidence=conf,
            )
        )
    return phases


def labels_from_phases(
    transcript: Transcript, raw: Any, spec: PhaseSpec
) -> tuple[list[Any], list[str]]:
    """One label per utterance from timed phases of unknown quality (overlapping, gapped, reversed,
    out of range, unknown names, wrong types). Each utterance takes the phase that overlaps it most."""
    repairs: list[str] = []
    items = raw.get("phases") if isinstance(raw, dict) else raw
    if not isinstance(items, list):
        return [spec.other] * len(transcript.utterances), ["output held no phase list; everything became Other"]
    spans: list[tuple[str, float, float]] = []
    for n, item in enumerate(items):
        if isinstance(item, Phase):
            item = item.model_dump()
        if not isinstance(item, dict):
            repairs.append(f"phase entry {n} dropped: not an object")
            continue
        try:
            start, end = float(item.get("start_time")), float(item.get("end_time"))
        except (TypeError, ValueError):
            repairs.append(f"phase entry {n} dropped: times are not numbers")
            continue
        if not (np.isfinite(start) and np.isfinite(end)):
            repairs.append(f"phase entry {n} dropped: times are not finite")
            continue
        if end < start:
            start, end = end, start
            repairs.append(f"phase entry {n}: start and end swapped")
        clipped = (max(0.0, start), min(transcript.duration, end))
        if clipped != (start, end):
            repairs.append(f"phase entry {n}: times clipped to the call")
        spans.append((item.get("name"), *clipped))
    ordered_spans = sorted(spans, key=lambda s: s[1])
    if any(b[1] < a[2] - EPS for a, b in zip(ordered_spans, ordered_spans[1:])):
        repairs.append("phases overlap; each utterance went to the phase covering most of it")
    labels: list[Any] = []
    for u in transcript.utterances:
        lo, hi = u.start, max(u.end, u.start + EPS)
        best, best_overlap, best_gap = spec.other, 0.0, np.inf
        for name, s, e in spans:
            overlap = min(hi, e) - max(lo, s)
            gap = max(s - hi, lo - e, 0.0)
            if overlap > best_overlap + EPS or (best_overlap <= EPS and overlap <= EPS and gap < best_gap):
                best, best_overlap, best_gap = name, max(overlap, 0.0), gap
        if best_overlap <= EPS and spans:
            repairs.append(f"utterance {u.index}: in no phase; took the nearest")
        labels.append(best)
    return labels, repairs


def validate(
    transcript: Transcript,
    spec: PhaseSpec,
    *,
    labels: Sequence[Any] | None = None,
    phases: Any = None,
    confidence: Sequence[float] | None = None,
    method: str = "",
) -> Segmentation:
    """Repair a backend's labels or timed phases into a Segmentation that keeps every invariant."""
    repairs: list[str] = []
    if labels is None:
        labels, repairs = labels_from_phases(transcript, phases, spec)
    elif len(labels) != len(transcript.utterances):
        repairs.append(f"{len(labels)} labels for {len(transcript.utterances)} utterances; padded or cut")
        labels = (list(labels) + [spec.other] * len(transcript.utterances))[: len(transcript.utterances)]
    fixed, more = repair_labels(labels, spec)
    repairs += more
    if confidence is not None:  # one finite value in [0, 1] per utterance, whatever the backend gave
        n = len(transcript.utterances)
        values = [float(c) if isinstance(c, (int, float)) and np.isfinite(c) else 0.0 for c in list(confidence)[:n]]
        confidence = [min(max(c, 0.0), 1.0) for c in values] + [0.0] * (n - len(values))
    seg = Segmentation(
        phases=phases_from_labels(transcript, fixed, spec, confidence), method=method, repairs=repairs
    )
    problems = check(seg, transcript, spec)
    if problems:  # a bug in this module, never a user's or backend's fault
        raise AssertionError("validator produced invalid phases: " + "; ".join(problems))
    return seg


def check(seg: Segmentation, transcript: Transcript, spec: PhaseSpec) -> list[str]:
    """Every invariant the segmentation breaks, as sentences; empty when valid."""
    phases = seg.phases
    if not phases:
        return ["no phases"]
    problems = []
    duration = transcript.duration
    starts = {min(max(u.start, 0.0), duration) for u in transcript.utterances}
    starts |= {min(max(u.end, 0.0), duration) for u in transcript.utterances}
    for j, p in enumerate(phases):
        if p.name not in spec.allowed:
            problems.append(f"phase {j}: name {p.name!r} not allowed")
        if p.end_time < p.start_time - EPS or (len(phases) > 1 and p.end_time <= p.start_time + EPS):
            problems.append(f"phase {j}: empty or reversed ({p.start_time}..{p.end_time})")
        if j > 0:
            if abs(phases[j - 1].end_time - p.start_time) > EPS:
                problems.append(f"phase {j}: starts at {p.start_time}, previous ends at {phases[j - 1].end_time}")
            if not any(abs(p.start_time - s) <= EPS for s in starts):
                problems.append(f"phase {j}: boundary {p.start_time} is not an utterance start or end")
            if phases[j - 1].name == p.name:
                problems.append(f"phase {j}: same name as the previous phase")
    if abs(phases[0].start_time) > EPS:
        problems.append(f"first phase starts at {phases[0].start_time}, not 0")
    if abs(phases[-1].end_time - duration) > EPS:
        problems.append(f"last phase ends at {phases[-1].end_time}, not at the call's end {duration}")
    if spec.ordered:
        order = [spec.names.index(p.name) for p in phases if p.name in spec.names]
        if any(b < a for a, b in zip(order, order[1:])):
            problems.append("phases out of the requested order")
    return problems


# Non-speech spans at least this long become their own `other` phase (hold, long silence).
NON_SPEECH_PHASE_MIN = 10.0


def insert_non_speech(seg: Segmentation, transcript: Transcript, spec: PhaseSpec,
                      min_seconds: float = NON_SPEECH_PHASE_MIN) -> Segmentation:
    """Cut every non-speech span of at least `min_seconds` out of the phase it falls in, as a `spec.other`
    phase from the end of the speech before it to the start of the speech after it. The phase it
    interrupted resumes afterwards (allowed in an ordered spec: `other` does not move the position)."""
    if min_seconds <= 0:
        return seg
    utts = transcript.utterances
    duration = transcript.duration
    phases = list(seg.phases)
    for span in transcript.non_speech:
        a = max((u.end for u in utts if u.end <= span.start + WORD_EDGE), default=0.0)
        b = min((u.start for u in utts if u.start >= span.end - WORD_EDGE), default=duration)
        if b - a < min_seconds - EPS or any(u.start < b - EPS and u.end > a + EPS for u in utts):
            continue
        cut: list[Phase] = []
        for p in phases:
            if p.end_time <= a + EPS or p.start_time >= b - EPS:
                cut.append(p)
                continue
            if p.start_time < a - EPS:
                cut.append(_part(p, p.start_time, a, utts))
            cut.append(Phase(name=spec.other, start_time=max(a, p.start_time), end_time=min(b, p.end_time), confidence=1.0))
            if p.end_time > b + EPS:
                cut.append(_part(p, b, p.end_time, utts))
        merged: list[Phase] = []
        for p in cut:
            if merged and merged[-1].name == p.name:
                merged[-1] = _join(merged[-1], p)
            else:
                merged.append(p)
        phases = merged
        seg.repairs.append(f"{span.end - span.start:.0f} s of non-speech ({span.kind}) at {a:.1f}-{b:.1f} s "
                           f"became a {spec.other!r} phase")
    seg.phases = phases
    problems = check(seg, transcript, spec)
    if problems:
        raise AssertionError("non-speech phases broke the invariants: " + "; ".join(problems))
    return seg


def _part(p: Phase, start: float, end: float, utts) -> Phase:
    inside = [u.index for u in utts if start - EPS <= u.start < end - EPS]
    return p.model_copy(update={"start_time": start, "end_time": end,
                                "first_utterance": inside[0] if inside else None,
                                "last_utterance": inside[-1] if inside else None})


def _join(a: Phase, b: Phase) -> Phase:
    firsts = [i for i in (a.first_utterance, b.first_utterance) if i is not None]
    lasts = [i for i in (a.last_utterance, b.last_utterance) if i is not None]
    return a.model_copy(update={"end_time": b.end_time, "first_utterance": min(firsts) if firsts else None,
                                "last_utterance": max(lasts) if lasts else None})
