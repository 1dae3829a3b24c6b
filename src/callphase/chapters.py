"""Auto chapters: with no phases given, split a call into topical chapters, each with a short title and
summary, as a Segmentation of kind "chapters". Boundaries come from embeddings (TextTiling with sentence
embeddings: a cut where the utterances before and after a gap are least alike); titles and summaries
from the LLM when one is configured (all chapters in one request), else from the chapter's own words.
Chapters go through the validator, so they are contiguous, in order and cover the call like phases do."""
from __future__ import annotations

import re
import time
from collections import Counter
from typing import TYPE_CHECKING

import numpy as np

from .errors import CallphaseError
from .models import load_embedder
from .segment.embedding import embed_texts
from .segment.validate import validate
from .summarize import (
    PROMPT_WORDS_PER_PHASE,
    clean_summary,
    excerpt,
    extractive_summary,
    fits,
    format_lines,
    phase_utterances,
    ungrounded,
)
from .types import Phase, PhaseSpec, Segmentation, Transcript, Utterance

if TYPE_CHECKING:
    from .llm import LLM, ChatRequest


class TopicSegmenter:
    """Chapters as the most coherent split: utterance embeddings are centred on the call's mean (what every
    part of the call shares, e.g. the domain's phone manner, drops out) and normalised; a chapter scores the
    length of the sum of its vectors (high when its utterances point one way), each chapter costs
    `penalty`, and dynamic programming finds the best split with chapters of at least `min_size`
    utterances. Tuned on concatenated STAR dev dialogues (penalty 3: dev Pk 0.25; README)."""

    name = "coherence-dp-e5"

    def __init__(self, penalty: float = 3.0, min_size: int = 5, encoder=None):
        self.penalty, self.min_size = penalty, min_size
        self._encoder = encoder

    def cuts(self, transcript: Transcript) -> list[int]:
        """Indices of the utterances that start a new chapter (never 0)."""
        utts = transcript.utterances
        n = len(utts)
        if n < 2 * self.min_size:
            return []
        encoder = self._encoder or load_embedder()
        e = np.asarray(encoder.passage(embed_texts(utts)), dtype=np.float64)
        e = e - e.mean(axis=0)
        e /= np.linalg.norm(e, axis=1, keepdims=True) + 1e-12
        prefix = np.vstack([np.zeros(e.shape[1]), np.cumsum(e, axis=0)])
        best = np.full(n + 1, -np.inf)
        best[0] = 0.0
        back = np.zeros(n + 1, dtype=np.int64)
        for j in range(self.min_size, n + 1):
            starts = np.arange(0, j - self.min_size + 1)
            value = best[starts] + np.linalg.norm(prefix[j] - prefix[starts], axis=1) - self.penalty
            k = int(value.argmax())
            best[j], back[j] = value[k], starts[k]
        cuts, j = [], n
        while j > 0:
            j = int(back[j])
            if j > 0:
                cuts.append(j)
        return sorted(cuts)


_STOP = set(
    "a about after again all also am an and any are as at be because been but by can could did do does for from "
    "get got had has have he her here hi him his how i if in into is it its just know let like me my no not now "
    "of oh ok okay on one or our out please right say see she so some that the their them then there they this "
    "to up us very want was we well were what when where which who will with would yeah yes you your thank "
    "thanks hello bye goodbye sure great good need help much could should i'm it's that's don't can't i'll "
    "you're we're i've let's sorry more anything else didn't doesn't isn't already really just still".split()
)


def keyword_title(utts: list[Utterance], others: list[list[Utterance]], words: int = 3) -> str:
    """The chapter's most distinctive content words (frequent here, rare in the other chapters)."""
    def counts(group):
        return Counter(w for u in group for w in re.findall(r"[a-z][a-z']+", u.text.casefold()) if w not in _STOP and len(w) > 2)

    here = counts(utts)
    elsewhere = Counter()
    for g in others:
        elsewhere.update(counts(g))
    ranked = sorted(here, key=lambda w: (-(here[w] / (1 + elsewhere[w])), -here[w], w))
    return ", ".join(w.capitalize() if i == 0 else w for i, w in enumerate(ranked[:words])) or "Chapter"


def chapter_request(groups: list[list[Utterance]], words: int = PROMPT_WORDS_PER_PHASE) -> ChatRequest:
    """One request for a title and summary of every chapter, each shown by at most `words` of its words."""
    from .llm import ChatRequest
    from .prompts import load_prompt

    prompt = load_prompt("chapters")
    sections = "\n\n".join(f"Chapter {n}:\n{format_lines(excerpt(g, words))}" for n, g in enumerate(groups, 1))
    item = {"type": "object", "properties": prompt.schema, "required": list(prompt.schema), "additionalProperties": False}
    keys = [str(n) for n in range(1, len(groups) + 1)]
    schema = {"title": "chapters", "type": "object", "properties": {k: item for k in keys}, "required": keys,
              "additionalProperties": False}
    return ChatRequest(prompt.messages(sections=sections, count=len(groups)), schema, 90 * len(groups) + 20, prompt.id)


def auto_chapters(transcript: Transcript, llm: LLM | None = None, segmenter: TopicSegmenter | None = None,
                  notes: list[str] | None = None) -> Segmentation:
    """The call split into chapters (a Segmentation of kind "chapters": each phase's name is its title),
    through the validator like phases; titles and summaries by `llm` when given, else from their words."""
    segmenter = segmenter or TopicSegmenter()
    utts = transcript.utterances
    cuts = segmenter.cuts(transcript)
    labels, k = [], 0
    for i in range(len(utts)):
        if k < len(cuts) and i == cuts[k]:
            k += 1
        labels.append(f"{k + 1}")
    spec = PhaseSpec.parse([str(j + 1) for j in range(len(cuts) + 1)])
    seg = validate(transcript, spec, labels=labels, method=segmenter.name)
    groups = phase_utterances(transcript, seg.phases)
    chapters = []
    for j, (p, g) in enumerate(zip(seg.phases, groups)):
        others = [h for m, h in enumerate(groups) if m != j]
        chapters.append(Phase(
            name=keyword_title(g, others) if g else "No speech",
            start_time=p.start_time, end_time=p.end_time,
            summary=extractive_summary([u.text for u in g]) if g else "No speech.",
            first_utterance=p.first_utterance, last_utterance=p.last_utterance,
        ))
    result = Segmentation(phases=chapters, kind="chapters", method=f"{segmenter.name}, keyword titles",
                          summary_method="extractive")
    if llm is not None and all(groups):
        _llm_titles(result, groups, llm, notes if notes is not None else [])
    return result


def _llm_titles(result: Segmentation, groups: list[list[Utterance]], llm: LLM, notes: list[str]) -> None:
    from .llm import chat_object

    request, words, context = chapter_request(groups), PROMPT_WORDS_PER_PHASE, getattr(llm, "context", None)
    while not fits(request, context) and words > 10:  # fewer words a chapter, not fewer chapters
        words = words * 2 // 3
        request = chapter_request(groups, words)
    if not fits(request, context):
        message = f"{len(groups)} chapters do not fit the LLM's context: kept keyword titles and extractive summaries"
        result.repairs.append(message)
        notes.append(message)
        return
    t = time.perf_counter()
    try:
        data, _ = chat_object(llm, request)
    except ValueError as e:
        result.repairs.append(f"LLM chapter titles unreadable ({e}); kept keyword titles")
        return
    except CallphaseError as e:  # unreachable, refused, an error body: the chapters stay, with keyword titles
        message = f"LLM chapter titles failed ({e}); kept keyword titles and extractive summaries"
        result.repairs.append(message)
        notes.append(message)
        return
    result.method = f"{result.method.split(',')[0]}, {llm.name} ({request.prompt}) titles in {time.perf_counter() - t:.1f} s"
    result.summary_method = f"{llm.name} ({request.prompt})"
    for n, (chapter, g) in enumerate(zip(result.phases, groups), 1):
        entry = data.get(str(n))
        if not isinstance(entry, dict):
            result.repairs.append(f"chapter {n}: no LLM entry; kept the keyword title")
            continue
        title = " ".join(str(entry.get("title", "")).split())[:60]
        summary = clean_summary(entry.get("summary", ""))
        source = " ".join(u.text for u in g)
        # titles are title-cased: only their numbers are checked, not capitalised words
        if title and not ungrounded(title.lower(), source):
            chapter.name = title
        else:
            result.repairs.append(f"chapter {n}: LLM title {title!r} not grounded; kept the keyword title")
        if len(summary) >= 10 and not ungrounded(summary, source):
            chapter.summary = summary
        else:
            result.repairs.append(f"chapter {n}: LLM summary not grounded or empty; kept the extractive one")
