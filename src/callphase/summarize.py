"""Per-phase summaries: by the LLM when one is configured (every phase in one request, each summary
checked against its phase's words), else extractive. The extractive summary quotes the phase's own most
informative utterances, so it never states anything that was not said; it is also the fallback for any
LLM summary that fails the check."""
from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING

from .errors import CallphaseError
from .types import Segmentation, Transcript, Utterance

if TYPE_CHECKING:
    from .llm import LLM, ChatRequest

MAX_CHARS = 200
# Prompt budget: at most this many words of each phase go to the model (its longest utterances, in
# order), which keeps a 5-minute call's request short enough for 2 CPU cores.
PROMPT_WORDS_PER_PHASE = 90
MAX_SENTENCES = 3


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


def phase_utterances(transcript: Transcript, spans) -> list[list[Utterance]]:
    """The utterances of each phase or chapter (anything with first_/last_utterance), in order."""
    by_index = {u.index: u for u in transcript.utterances}
    out = []
    for phase in spans:
        if phase.first_utterance is None:
            out.append([])
        else:
            out.append([by_index[i] for i in range(phase.first_utterance, phase.last_utterance + 1) if i in by_index])
    return out


def summarize(transcript: Transcript, segmentation: Segmentation, llm: LLM | None = None,
              notes: list[str] | None = None) -> Segmentation:
    """Fill each phase's summary; a phase with no speech says so. Records how in `summary_method`; an LLM
    that fails is said in `repairs` and `notes`, and the extractive summaries stay."""
    groups = phase_utterances(transcript, segmentation.phases)
    for phase, utts in zip(segmentation.phases, groups):
        phase.summary = extractive_summary([u.text for u in utts]) if utts else no_speech_summary(transcript, phase)
    segmentation.summary_method = "extractive"
    if llm is not None and any(groups):
        llm_summaries(groups, segmentation, llm, notes)
    return segmentation


def no_speech_summary(transcript: Transcript, phase) -> str:
    """What fills a phase without words: how long, and whether silence or sound (hold music, tones)."""
    seconds = phase.end_time - phase.start_time
    kinds = {n.kind for n in transcript.non_speech if n.start < phase.end_time and n.end > phase.start_time}
    if "sound" in kinds:
        return f"No speech for {seconds:.0f} s: music, tones or noise (on hold?)."
    if kinds:
        return f"No speech for {seconds:.0f} s: silence."
    return "No speech."


def excerpt(utts: list[Utterance], budget: int = PROMPT_WORDS_PER_PHASE) -> list[Utterance]:
    """The longest utterances that fit in `budget` words, in time order (all of them when they fit)."""
    if sum(len(u.text.split()) for u in utts) <= budget:
        return utts
    chosen, used = set(), 0
    for i in sorted(range(len(utts)), key=lambda i: -len(utts[i].text.split())):
        n = len(utts[i].text.split())
        if used + n <= budget or not chosen:
            chosen.add(i)
            used += n
    return [utts[i] for i in sorted(chosen)]


def format_lines(utts: list[Utterance]) -> str:
    return "\n".join(f"{u.speaker}: {u.text.strip()}" if u.speaker else u.text.strip() for u in utts)


def speaking(groups: list[list[Utterance]]) -> list[int]:
    """Indices of the phases that have speech: the ones a summary request numbers 1, 2, …"""
    return [j for j, utts in enumerate(groups) if utts]


def summary_request(names: list[str], groups: list[list[Utterance]]) -> ChatRequest:
    """One request for the summaries of every phase with speech (numbered 1.. in `speaking(groups)` order)."""
    from .llm import ChatRequest
    from .prompts import load_prompt

    prompt = load_prompt("summarize")
    numbered = speaking(groups)
    sections = "\n\n".join(
        f"Phase {n}: {names[j]}\n{format_lines(excerpt(groups[j]))}" for n, j in enumerate(numbered, 1)
    )
    keys = [str(n) for n in range(1, len(numbered) + 1)]
    schema = {
        "title": "phase_summaries",
        "type": "object",
        "properties": {k: prompt.schema["summary"] for k in keys},
        "required": keys,
        "additionalProperties": False,
    }
    return ChatRequest(prompt.messages(sections=sections, count=len(numbered)), schema, 80 * len(numbered) + 20, prompt.id)


_CHECKED = re.compile(r"\b(?:\d[\d.,:/-]*|[A-Z][a-z]+(?:'[a-z]+)?)\b")
_STOP_CAPS = {"The", "A", "An", "They", "He", "She", "It", "This", "That", "Then", "After", "When", "Both", "Customer",
              "Agent", "Caller", "I", "In", "On", "At", "To", "For", "With", "No", "Yes", "Finally", "Later",
              "Once", "During", "Phase", "There", "Their", "His", "Her", "Speaker", "Representative"}


NUMBER_WORDS = set(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred thousand million "
    "first second third fourth fifth monday tuesday wednesday thursday friday saturday sunday".split()
)


def ungrounded(summary: str, source: str) -> list[str]:
    """Numbers, number words, weekdays and proper-noun-looking words in `summary` that its source never says."""
    words = set(re.findall(r"[a-z0-9]+", source.casefold()))
    flat = re.sub(r"[^a-z0-9]", "", source.casefold())
    missing = [w for w in re.findall(r"[a-z]+", summary.casefold()) if w in NUMBER_WORDS and w not in words]
    for token in _CHECKED.findall(summary):
        if token in _STOP_CAPS:
            continue
        key = token.casefold()
        digits = re.sub(r"[^0-9a-z]", "", key)
        if key.isalpha() and key not in words and key not in NUMBER_WORDS:
            missing.append(token)
        elif not key.isalpha() and digits and digits not in flat:
            missing.append(token)
    return missing


_CONTENT = re.compile(r"[a-z]{4,}")
# words that say nothing about which part of a call a summary retells
_GENERIC = set(
    "customer agent caller call calls called calling phase they them their there that this with from have been "
    "about asks asked says said tells told explains explained informs informed wants would could should will "
    "what when which while then also very just your thank thanks help helps helped".split()
)


def _content(text: str) -> set[str]:
    return {w[:5] for w in _CONTENT.findall(text.casefold()) if w not in _GENERIC}


def retold(summary: str, own: str, others: dict[int, str], least: int = 3) -> int | None:
    """The other phase a summary retells: the one it shares the most content words with (first five letters,
    at least `least`), when that is more than it shares with its own phase. A small LLM given every phase
    in one prompt sometimes summarises the neighbour."""
    words = _content(summary)
    mine = len(words & _content(own))
    shared = {k: len(words & _content(text)) for k, text in others.items()}
    best = max(shared, key=shared.get, default=None)
    return best if best is not None and shared[best] >= least and shared[best] > mine else None


def clean_summary(text: str) -> str:
    """One line, at most MAX_SENTENCES sentences."""
    text = " ".join(str(text).split())
    sentences = re.split(r"(?<=[.!?])\s+", text)
    return " ".join(sentences[:MAX_SENTENCES])


# Phases per summary request at most: a small model given dozens of phases at once loses track of them.
MAX_PHASES_PER_REQUEST = 16


def fits(request: ChatRequest, context: int | None) -> bool:
    """Whether `request` (prompt, estimated at 3 characters a token, plus its reply) fits `context` tokens
    with a tenth to spare; any request fits an unknown context."""
    if context is None:
        return True
    prompt = sum(len(m["content"]) for m in request.messages) / 3
    return prompt + request.max_tokens <= 0.9 * context


def summary_batches(names: list[str], groups: list[list[Utterance]],
                    context: int | None) -> list[tuple[list[int], ChatRequest]]:
    """The phases with speech in as few requests as fit, each as (its phases, its request): halved until
    each holds at most MAX_PHASES_PER_REQUEST phases and fits the model's context."""
    pending, done = [speaking(groups)], []
    while pending:
        batch = pending.pop(0)
        request = summary_request(names, [g if j in batch else [] for j, g in enumerate(groups)])
        if len(batch) > 1 and (len(batch) > MAX_PHASES_PER_REQUEST or not fits(request, context)):
            half = (len(batch) + 1) // 2
            pending[:0] = [batch[:half], batch[half:]]
        else:
            done.append((batch, request))
    return done


def llm_summaries(groups: list[list[Utterance]], segmentation: Segmentation, llm: LLM,
                  notes: list[str] | None = None) -> None:
    """The summaries of every phase with speech, in as few requests as fit the model (usually one); each
    reply is checked, a failing one keeps the extractive summary and the reason goes into
    `segmentation.repairs`. A request that fails (unreachable, refused, an error body) keeps the
    extractive summaries of its phases and says why, also in `notes`: the phases are never lost to it."""
    from .llm import chat_object

    names = [p.name for p in segmentation.phases]
    data: dict[int, object] = {}
    stats = {"seconds": 0.0, "prompt_tokens": 0, "completion_tokens": 0}
    prompt_id = ""
    batches = summary_batches(names, groups, getattr(llm, "context", None))
    for batch, request in batches:
        prompt_id = request.prompt
        t = time.perf_counter()
        try:
            reply_data, reply = chat_object(llm, request)
        except ValueError as e:
            which = f" of phases {batch[0] + 1}-{batch[-1] + 1}" if len(batches) > 1 else ""
            segmentation.repairs.append(f"LLM summaries unreadable ({e}); kept the extractive summaries{which}")
            continue
        except CallphaseError as e:  # LLMError, or a local model that cannot load
            message = f"LLM summaries failed ({e}); kept the extractive summaries"
            segmentation.repairs.append(message)
            if notes is not None:
                notes.append(message)
            break
        stats["seconds"] += time.perf_counter() - t
        stats["prompt_tokens"] += reply.prompt_tokens
        stats["completion_tokens"] += reply.completion_tokens
        rate, prompt_rate = reply.tokens_per_second, reply.prompt_tokens_per_second
        data.update({j: reply_data.get(str(n)) for n, j in enumerate(batch, 1)})
    if not data:
        return
    segmentation.summary_method = f"{llm.name} ({prompt_id})"
    segmentation.llm_stats = {
        "seconds": round(stats["seconds"], 2),
        "prompt_tokens": stats["prompt_tokens"],
        "completion_tokens": stats["completion_tokens"],
        "generation_tokens_per_s": round(rate, 1),
        **({"prompt_tokens_per_s": round(prompt_rate, 1)} if prompt_rate else {}),
    }
    numbered = [j for j in speaking(groups) if j in data]
    sources = {j: " ".join(u.text for u in groups[j]) for j in numbered}
    for j in numbered:
        phase = segmentation.phases[j]
        text = clean_summary(data[j]) if isinstance(data[j], str) else ""
        source = sources[j]
        if len(text) < 10:
            segmentation.repairs.append(f"phase {j + 1} ({phase.name}): empty LLM summary; kept the extractive one")
            continue
        other = retold(text, source, {k: t for k, t in sources.items() if k != j})
        if other is not None:
            segmentation.repairs.append(
                f"phase {j + 1} ({phase.name}): LLM summary retells phase {other + 1} "
                f"({segmentation.phases[other].name}); kept the extractive one"
            )
            continue
        missing = ungrounded(text, source)
        if missing:
            segmentation.repairs.append(
                f"phase {j + 1} ({phase.name}): LLM summary named {', '.join(missing[:5])}, not said in the phase; "
                "kept the extractive one"
            )
            continue
        phase.summary = text
