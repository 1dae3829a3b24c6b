"""Segmenters map (Transcript, PhaseSpec) to one label per utterance; `validate` makes them phases."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ..types import PhaseSpec, Segmentation, Transcript
from .validate import check, validate


@dataclass
class Labels:
    names: list[str]  # one per utterance, from spec.allowed
    confidence: list[float] | None = None  # one per utterance, in [0, 1]


class Segmenter(Protocol):
    name: str

    def label(self, transcript: Transcript, spec: PhaseSpec) -> Labels: ...


def get_segmenter(name: str = "embedding", **options) -> Segmenter:
    if name == "embedding":
        from .embedding import EmbeddingSegmenter

        return EmbeddingSegmenter(**options)
    raise ValueError(f"unknown segmenter {name!r}; available: embedding")


def segment(transcript: Transcript, spec: PhaseSpec, segmenter: Segmenter | str = "embedding") -> Segmentation:
    """Label every utterance and return validated phases (summaries are filled in later)."""
    if isinstance(segmenter, str):
        segmenter = get_segmenter(segmenter)
    if not transcript.utterances:
        return validate(transcript, spec, labels=[], method=segmenter.name)
    labels = segmenter.label(transcript, spec)
    return validate(
        transcript, spec, labels=labels.names, confidence=labels.confidence, method=segmenter.name
    )


__all__ = ["Labels", "Segmenter", "check", "get_segmenter", "segment", "validate"]
