"""Segmenters map (Transcript, PhaseSpec) to one label per utterance; `validate` makes them phases."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from ..errors import OptionsError
from ..types import PhaseSpec, Segmentation, Transcript
from .validate import check, insert_non_speech, validate


@dataclass
class Labels:
    names: list[str]  # one per utterance, from spec.allowed
    confidence: list[float] | None = None  # one per utterance, in [0, 1]
    method: str | None = None  # how these labels were made, when not simply the segmenter's name
    notes: list[str] = field(default_factory=list)  # what the backend's raw output needed, for `repairs`
    # what the user should hear of (a backend that failed, a fallback taken): `segment` adds them to `notes`
    warnings: list[str] = field(default_factory=list)


class Segmenter(Protocol):
    name: str

    def label(self, transcript: Transcript, spec: PhaseSpec) -> Labels: ...


SEGMENTERS = ("embedding", "llm", "hybrid")


def get_segmenter(name: str = "embedding", llm=None, embedding=None, **options) -> Segmenter:
    """A segmenter by name (SEGMENTERS). `llm` and `hybrid` need an LLM backend (callphase.llm.get_llm)
    and build on `embedding` (an EmbeddingSegmenter; a default one when not given)."""
    if name not in SEGMENTERS:
        raise OptionsError(f"unknown segmenter {name!r}: use {', '.join(SEGMENTERS)}", option="segmenter.name")
    if name == "embedding":
        from .embedding import EmbeddingSegmenter

        return embedding or EmbeddingSegmenter(**options)
    if llm is None:
        raise OptionsError(f"the {name} segmenter needs an LLM backend: local, local:PATH.gguf or openai:MODEL",
                           option="llm.backend")
    from .llm import HybridSegmenter, LLMSegmenter

    cls = LLMSegmenter if name == "llm" else HybridSegmenter
    return cls(llm, embedding=embedding, **options)


def segment(transcript: Transcript, spec: PhaseSpec, segmenter: Segmenter | str = "embedding",
            notes: list[str] | None = None) -> Segmentation:
    """Label every utterance and return validated phases (summaries are filled in later); the segmenter's
    warnings go into `notes`, as summarize and auto_chapters put theirs."""
    if isinstance(segmenter, str):
        segmenter = get_segmenter(segmenter)
    if not transcript.utterances:
        return validate(transcript, spec, labels=[], method=segmenter.name)
    labels = segmenter.label(transcript, spec)
    seg = validate(transcript, spec, labels=labels.names, confidence=labels.confidence,
                   method=labels.method or segmenter.name)
    seg.repairs = labels.notes + seg.repairs
    if notes is not None:
        notes += labels.warnings
    return insert_non_speech(seg, transcript, spec)


__all__ = ["Labels", "Segmenter", "check", "get_segmenter", "segment", "validate"]
