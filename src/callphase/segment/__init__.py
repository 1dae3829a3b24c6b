"""Segmenters map (Transcript, PhaseSpec) to one label per utterance; `validate` makes them phases."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from ..types import PhaseSpec, Segmentation, Transcript
from .validate import check, validate


@dataclass
class Labels:
    names: list[str]  # one per utterance, from spec.allowed
    confidence: list[float] | None = None  # one per utterance, in [0, 1]
    method: str | None = None  # how these labels were made, when not simply the segmenter's name
    notes: list[str] = field(default_factory=list)  # what the backend's raw output needed, for `repairs`


class Segmenter(Protocol):
    name: str

    def label(self, transcript: Transcript, spec: PhaseSpec) -> Labels: ...


SEGMENTERS = ("embedding", "llm", "hybrid")


def get_segmenter(name: str = "embedding", llm=None, **options) -> Segmenter:
    """`llm` and `hybrid` need an LLM backend (callphase.llm.get_llm)."""
    if name == "embedding":
        from .embedding import EmbeddingSegmenter

        return EmbeddingSegmenter(**options)
    if name in ("llm", "hybrid"):
        if llm is None:
            raise ValueError(f"the {name} segmenter needs an LLM (--llm local or openai:MODEL)")
        from .llm import HybridSegmenter, LLMSegmenter

        return LLMSegmenter(llm, **options) if name == "llm" else HybridSegmenter(llm, **options)
    raise ValueError(f"unknown segmenter {name!r}; available: {', '.join(SEGMENTERS)}")


def segment(transcript: Transcript, spec: PhaseSpec, segmenter: Segmenter | str = "embedding") -> Segmentation:
    """Label every utterance and return validated phases (summaries are filled in later)."""
    if isinstance(segmenter, str):
        segmenter = get_segmenter(segmenter)
    if not transcript.utterances:
        return validate(transcript, spec, labels=[], method=segmenter.name)
    labels = segmenter.label(transcript, spec)
    seg = validate(transcript, spec, labels=labels.names, confidence=labels.confidence,
                   method=labels.method or segmenter.name)
    seg.repairs = labels.notes + seg.repairs
    return seg


__all__ = ["Labels", "Segmenter", "check", "get_segmenter", "segment", "validate"]
