"""Per-phase summaries. Extractive: the phase's own most informative utterances, quoted in time order,
so a summary never states anything that was not said."""
from __future__ import annotations

from .types import Segmentation, Transcript

MAX_CHARS = 200


def extractive_summary(texts: list[str], max_sentences: int = 2, max_chars: int = MAX_CHARS) -> str:
    """The longest `max_sentences` texts (by word count), in their original order, cut at a word."""
    if not texts:
        return ""
    ranked = sorted(range(len(texts)), key=lambda i: (-len(texts[i].split()), i))[:max_sentences]
    text = " ".join(texts[i].strip() for i in sorted(ranked))
    if len(text) <= max_chars:
        return text
    cut = text[: max_chars - 1].rsplit(" ", 1)[0]
    return cut.rstrip(",;:") + "…"


def summarize(transcript: Transcript, segmentation: Segmentation) -> Segmentation:
    """Fill each phase's summary from the utterances inside it; a phase with no speech says so."""
    by_index = {u.index: u for u in transcript.utterances}
    for phase in segmentation.phases:
        if phase.first_utterance is None:
            phase.summary = "No speech."
            continue
        texts = [by_index[i].text for i in range(phase.first_utterance, phase.last_utterance + 1) if i in by_index]
        phase.summary = extractive_summary(texts)
    return segmentation
