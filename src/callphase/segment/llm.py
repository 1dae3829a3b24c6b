"""LLM segmenters. `llm`: numbered utterances in, utterance index ranges out under a JSON schema, then the
validator; after `attempts` unusable replies it falls back to the embedding segmenter and says so.
`hybrid`: the embedding segmenter's path, with each low-confidence boundary re-placed by the LLM inside
a small window of utterances around it."""
from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from ..errors import CallphaseError
from ..llm import LLM, ChatRequest, chat_object
from ..prompts import load_prompt
from ..summarize import fits, format_lines
from ..types import PhaseSpec, Transcript
from . import Labels
from .embedding import EmbeddingSegmenter, phase_queries

MAX_LINE_WORDS = 40  # long utterances are cut in the prompt; the model only needs their gist


def numbered_lines(transcript: Transcript, first: int = 0, last: int | None = None, start_number: int = 1,
                   words: int = MAX_LINE_WORDS) -> str:
    utts = transcript.utterances[first : (len(transcript.utterances) if last is None else last + 1)]
    lines = []
    for n, u in enumerate(utts, start_number):
        said = u.text.split()
        text = " ".join(said[:words]) + (" …" if len(said) > words else "")
        lines.append(f"{n}. {format_lines([u.model_copy(update={'text': text})])}")
    return "\n".join(lines)


def segment_request(transcript: Transcript, spec: PhaseSpec, words: int = MAX_LINE_WORDS) -> ChatRequest:
    """The LLM segmenter's request: the call's numbered lines (each cut to `words` words), a schema of
    index ranges."""
    prompt = load_prompt("segment")
    n = len(transcript.utterances)
    phase_list = "\n".join(f"- {q}" for q in phase_queries(spec))
    if not spec.ordered:
        phase_list += "\n(they may come in any order and repeat)"
    schema = {
        "title": "phases",
        "type": "object",
        "properties": {
            "phases": {
                "type": "array",
                "minItems": 1,
                "maxItems": 2 * len(spec.phases) + 1 if spec.ordered else max(n, 1),
                "items": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string", "enum": spec.allowed},
                        "first": {"type": "integer", "minimum": 1, "maximum": max(n, 1)},
                        "last": {"type": "integer", "minimum": 1, "maximum": max(n, 1)},
                    },
                    "required": ["name", "first", "last"],
                    "additionalProperties": False,
                },
            }
        },
        "required": ["phases"],
        "additionalProperties": False,
    }
    messages = prompt.messages(
        phase_list=phase_list, other=spec.other, lines=numbered_lines(transcript, words=words), count=n
    )
    return ChatRequest(messages, schema, 40 * (2 * len(spec.phases) + 1) + 20, prompt.id)


MIN_LINE_WORDS = 6  # below this a line says too little to place it


def fitted_segment_request(transcript: Transcript, spec: PhaseSpec, context: int | None) -> ChatRequest | None:
    """segment_request with lines cut short enough for the model's context (`context` tokens; None:
    unknown, no cut beyond MAX_LINE_WORDS), or None when even MIN_LINE_WORDS a line is too long."""
    words = MAX_LINE_WORDS
    while True:
        request = segment_request(transcript, spec, words)
        if fits(request, context):
            return request
        if words <= MIN_LINE_WORDS:
            return None
        words = max(MIN_LINE_WORDS, words * 2 // 3)


def boundary_request(transcript: Transcript, before: str, after: str, first: int, last: int) -> ChatRequest:
    """The hybrid segmenter's question: which of the lines first+1..last+1 (1-based) starts `after`."""
    prompt = load_prompt("boundary")
    lines = numbered_lines(transcript, first, last, start_number=first + 1)
    schema = {
        "title": "boundary", "type": "object",
        "properties": {"first_line": {"type": "integer", "minimum": first + 2, "maximum": last + 1}},
        "required": ["first_line"], "additionalProperties": False,
    }
    return ChatRequest(prompt.messages(lines=lines, before=before, after=after), schema, 20, prompt.id)


def labels_from_ranges(data: Any, n: int, spec: PhaseSpec) -> tuple[list[Any], list[str]]:
    """One raw label per utterance from [{name, first, last}] (1-based, inclusive), with the repairs made.
    Raises ValueError when nothing in the reply is usable."""
    items = data.get("phases") if isinstance(data, dict) else data
    if not isinstance(items, list) or not items:
        raise ValueError("no phase list in the reply")
    repairs: list[str] = []
    labels: list[Any] = [None] * n
    usable = 0
    for k, item in enumerate(items):
        try:
            name, first, last = item["name"], int(item["first"]), int(item["last"])
        except (KeyError, TypeError, ValueError):
            repairs.append(f"range {k} dropped: needs name, first and last")
            continue
        if first > last:
            first, last = last, first
            repairs.append(f"range {k}: first and last swapped")
        lo, hi = max(first, 1), min(last, n)
        if (lo, hi) != (first, last):
            repairs.append(f"range {k} ({first}-{last}): cut to the call's lines 1-{n}")
        if lo > hi:
            continue
        usable += 1
        for i in range(lo - 1, hi):
            if labels[i] is not None and labels[i] != name:
                repairs.append(f"line {i + 1} in two ranges; kept the first")
                continue
            labels[i] = name
    if not usable:
        raise ValueError("no range inside the call")
    missing = [i for i, x in enumerate(labels) if x is None]
    if missing:
        repairs.append(f"{len(missing)} line(s) in no range took the phase of the line before (or after)")
        for i in missing:
            before = next((labels[j] for j in range(i - 1, -1, -1) if labels[j] is not None), None)
            labels[i] = before if before is not None else next(x for x in labels if x is not None)
    return labels, repairs


class LLMSegmenter:
    """Phases from an LLM, through the validator. Confidence per utterance: agreement with the embedding
    segmenter (1.0 when both pick the same phase, else 0.5). Falls back to the embedding segmenter after
    `attempts` unusable replies; the labels' method and notes say what happened."""

    def __init__(self, llm: LLM, attempts: int = 2, embedding: EmbeddingSegmenter | None = None):
        self.llm = llm
        self.attempts = attempts
        self.embedding = embedding or EmbeddingSegmenter()
        self.name = f"llm ({llm.name})"

    def label(self, transcript: Transcript, spec: PhaseSpec) -> Labels:
        notes: list[str] = []
        request = fitted_segment_request(transcript, spec, getattr(self.llm, "context", None))
        n = len(transcript.utterances)
        base = self.embedding.label(transcript, spec)
        if request is None:
            return _fallback(base, "the call is too long for the LLM's context",
                             [f"LLM not asked: {n} lines do not fit its context even at {MIN_LINE_WORDS} words each"])
        for attempt in range(self.attempts):
            try:
                data, _ = chat_object(self.llm, replace(request, temperature=0.0 if attempt == 0 else 0.3))
                raw, repairs = labels_from_ranges(data, n, spec)
            except ValueError as e:
                notes.append(f"LLM reply {attempt + 1} unusable: {e}")
                continue
            except CallphaseError as e:  # the backend failed (after its own retries): no point asking again
                return _fallback(base, "the LLM failed", notes + [f"LLM failed: {e}"])
            agree = [1.0 if a == b else 0.5 for a, b in zip(raw, base.names)]
            return Labels(raw, agree, f"llm ({self.llm.name}, {request.prompt})", notes + [f"LLM reply: {r}" for r in repairs])
        return _fallback(base, f"{self.attempts} unusable replies", notes)


def _fallback(base: Labels, why: str, notes: list[str]) -> Labels:
    """The embedding labels in place of the LLM's, saying so in method, repairs and warnings."""
    base.method = f"embedding (fallback from llm: {why})"
    base.notes = notes
    base.warnings = [f"phases by the embedding segmenter: the LLM's were unusable ({notes[-1] if notes else 'no reply'})"]
    return base


class HybridSegmenter:
    """Embedding labels; each boundary whose nearby utterances have mean confidence below `threshold`
    is re-placed by the LLM, which picks the first line of the later phase among `window` lines each
    side (never past a neighbouring boundary, so order is kept)."""

    def __init__(self, llm: LLM, threshold: float = 0.9, window: int = 3, embedding: EmbeddingSegmenter | None = None):
        self.llm = llm
        self.threshold = threshold
        self.window = window
        self.embedding = embedding or EmbeddingSegmenter()
        self.name = f"hybrid (embedding + {llm.name})"

    def label(self, transcript: Transcript, spec: PhaseSpec) -> Labels:
        notes: list[str] = []
        warnings: list[str] = []
        base = self.embedding.label(transcript, spec)
        names, conf = list(base.names), list(base.confidence or [1.0] * len(base.names))
        starts = [i for i in range(1, len(names)) if names[i] != names[i - 1]]
        for k, b in enumerate(starts):
            lo = max(b - self.window, starts[k - 1] + 1 if k else 1)
            hi = min(b + self.window, (starts[k + 1] - 1) if k + 1 < len(starts) else len(names) - 1)
            if np.mean(conf[lo - 1 : hi + 1]) >= self.threshold or hi <= lo:
                continue
            before, after = names[b - 1], names[b]
            choice = self._ask(transcript, before, after, lo - 1, hi, notes, warnings)
            if choice is None or choice == b:
                continue
            for i in range(min(b, choice), max(b, choice)):
                names[i] = before if choice > b else after
                conf[i] = 0.5
            notes.append(f"boundary {before} -> {after} moved from line {b + 1} to {choice + 1} by the LLM")
            starts[k] = choice
        return Labels(names, conf, notes=notes, warnings=warnings)

    def _ask(self, transcript, before: str, after: str, first: int, last: int, notes: list[str],
             warnings: list[str]) -> int | None:
        """Index of the first utterance of `after` in first+1..last, or None when the reply is unusable.
        After the backend has failed once (a warning), no more questions are sent (each would wait out
        its retries)."""
        if warnings:
            return None
        try:
            data, _ = chat_object(self.llm, boundary_request(transcript, before, after, first, last))
            line = int(data["first_line"]) - 1
        except (ValueError, KeyError, TypeError) as e:
            notes.append(f"LLM boundary reply unusable ({e}); kept the embedding boundary")
            return None
        except CallphaseError as e:
            notes.append(f"LLM failed ({e}); kept this and the remaining embedding boundaries")
            warnings.append(notes[-1])
            return None
        if not first + 1 <= line <= last:
            notes.append(f"LLM boundary line {line + 1} outside {first + 2}-{last + 1}; kept the embedding boundary")
            return None
        return line


__all__ = ["HybridSegmenter", "LLMSegmenter", "boundary_request", "labels_from_ranges", "segment_request"]
