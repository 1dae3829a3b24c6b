"""Per-speaker call metrics from a speaker-tagged transcript: talk time and share, turns, interruptions,
longest monologue, and the call's non-talk time."""
from __future__ import annotations

from .types import CallMetrics, SpeakerStats, Transcript
from .vad import intersect

# An utterance that starts at least this long before another speaker's utterance ends interrupts it
# (shorter overlaps are word-timing jitter at a turn change).
INTERRUPTION_MIN = 0.3


def _spans(transcript: Transcript, speaker: str | None = None) -> list[tuple[float, float]]:
    """Talk spans: word times where there are words, else the utterance's times."""
    out = []
    for u in transcript.utterances:
        if speaker is not None and u.speaker != speaker:
            continue
        if u.words:
            out += [(w.start, max(w.end, w.start)) for w in u.words]
        else:
            out.append((u.start, u.end))
    return out


def _union(spans: list[tuple[float, float]], gap: float = 0.0) -> list[tuple[float, float]]:
    merged: list[list[float]] = []
    for s, e in sorted(spans):
        if merged and s <= merged[-1][1] + gap:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    return [(s, e) for s, e in merged]


def _length(spans: list[tuple[float, float]]) -> float:
    return sum(e - s for s, e in spans)


def call_metrics(transcript: Transcript, roles: dict[str, str] | None = None, role_reason: str = "") -> CallMetrics:
    """Metrics for every named speaker. Talk time counts word time, so pauses inside a sentence
    (over 0.5 s) are not talk; a turn is a run of consecutive utterances by one speaker."""
    roles = roles or {}
    utts = sorted(transcript.utterances, key=lambda u: (u.start, u.end))
    names = []
    for u in utts:
        if u.speaker and u.speaker not in names:
            names.append(u.speaker)
    per = {name: _union(_spans(transcript, name), gap=0.5) for name in names}
    everyone = _union(_spans(transcript), gap=0.5)
    talk = _length(everyone)
    overlap = sum(_length(intersect(per[a], per[b], 0.0)) for i, a in enumerate(names) for b in names[i + 1:])
    turns = {n: 0 for n in names}
    longest = {n: 0.0 for n in names}
    interruptions = {n: 0 for n in names}
    run_speaker, run_start, run_end = None, 0.0, 0.0
    for u in utts:
        if u.speaker is None:
            continue
        if u.speaker != run_speaker:
            if run_speaker is not None:
                longest[run_speaker] = max(longest[run_speaker], run_end - run_start)
            run_speaker, run_start, run_end = u.speaker, u.start, u.end
            turns[u.speaker] += 1
        else:
            run_end = max(run_end, u.end)
    if run_speaker is not None:
        longest[run_speaker] = max(longest[run_speaker], run_end - run_start)
    for i, u in enumerate(utts):
        if u.speaker is None:
            continue
        # another speaker's utterance that began earlier is still going on
        if any(v.speaker not in (None, u.speaker) and v.start < u.start and v.end - u.start >= INTERRUPTION_MIN
               for v in utts[max(0, i - 6): i]):
            interruptions[u.speaker] += 1
    stats = [
        SpeakerStats(
            speaker=n, role=roles.get(n), talk_time=round(_length(per[n]), 2),
            share=round(_length(per[n]) / talk, 3) if talk else 0.0, turns=turns[n],
            interruptions=interruptions[n], longest_monologue=round(longest[n], 2),
        )
        for n in names
    ]
    return CallMetrics(
        speakers=stats, talk_time=round(talk, 2), overlap_time=round(overlap, 2),
        non_talk_time=round(max(transcript.duration - talk, 0.0), 2), role_reason=role_reason,
    )
