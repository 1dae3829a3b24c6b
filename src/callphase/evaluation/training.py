"""Training phase models (segment/phasemodel.py holds what a run uses: features, PhaseModel, load).

`python -m callphase.evaluation.training build` re-trains the bundled `star` model on the STAR dev split
(see phasemodel.py's docstring for what goes in and what it measured). Evaluation code: the runtime never
imports it.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from ..models import load_embedder
from ..segment import phasemodel
from ..segment.phasemodel import CONTEXT, GRAMS, PhaseModel, _log_softmax, features, get_phase_model
from ..types import Utterance
from .datasets import STAR_SPEC, spoken_items, text_items


def train(examples: list[tuple[np.ndarray, list[Utterance], float, list[str]]], names: list[str],
          l2: float = 1e-4, epochs: int = 400, lr: float = 0.05, context: int = CONTEXT, grams: int = GRAMS,
          weights: list[float] | None = None) -> PhaseModel:
    """Fit on (embeddings, utterances, duration, gold label per utterance) per call; `weights`: one per call
    (default 1), how much each of its utterances counts."""
    x = np.vstack([features(v, u, d, context, grams) for v, u, d, _ in examples])
    y = np.concatenate([[names.index(label) for label in labels] for *_, labels in examples])
    share = np.concatenate([np.full(len(labels), w, np.float32)
                            for (*_, labels), w in zip(examples, weights or [1.0] * len(examples))])
    share /= share.sum()
    k = len(names)
    onehot = np.eye(k, dtype=np.float32)[y]
    w, b = np.zeros((x.shape[1], k), np.float32), np.zeros(k, np.float32)
    moments = [[np.zeros_like(w), np.zeros_like(w)], [np.zeros_like(b), np.zeros_like(b)]]
    for step in range(1, epochs + 1):
        z = x @ w + b
        p = np.exp(_log_softmax(z))
        g = (p - onehot) * share[:, None]
        for param, grad, (m, v) in ((w, x.T @ g + l2 * w, moments[0]), (b, g.sum(axis=0), moments[1])):
            m *= 0.9
            m += 0.1 * grad
            v *= 0.999
            v += 0.001 * grad * grad
            param -= lr * (m / (1 - 0.9**step)) / (np.sqrt(v / (1 - 0.999**step)) + 1e-8)
    return PhaseModel(list(names), w, b, context, grams=grams)


SPOKEN_EVAL_CALLS = 40  # the first dev dialogues, kept out of training: `callphase eval --set star-spoken`
SPOKEN_TRAIN_CALLS = 300
SPOKEN_MODELS = ("tiny", "base")  # each spoken training dialogue as both Whisper models hear it
SPOKEN_WEIGHT = 3  # per transcript: 6 per dialogue, as when tiny.en's was the only one
BUILD_L2 = 3e-6  # on 300 held-out spoken dev calls: 0.881 at 1e-4, 0.886 at 3e-5, 0.891 at 3e-6, 0.886 at 0


def build(out: Path | None = None, spoken: int = SPOKEN_TRAIN_CALLS) -> dict[str, int]:
    """Train the bundled model on STAR dev dialogues as text and `spoken` of them through ASR (each by every
    model of SPOKEN_MODELS); returns utterances per phase."""
    encoder = load_embedder()

    def examples(items):
        return [(encoder.passage([u.text for u in item.transcript.utterances]), item.transcript.utterances,
                 item.transcript.duration, item.gold_labels) for item in items if item.transcript.utterances]

    text = examples(text_items("dev"))
    speech = [example for model in (SPOKEN_MODELS if spoken else ())
              for example in examples(spoken_items("dev", limit=spoken, model=model, skip=SPOKEN_EVAL_CALLS))]
    model = train(text + speech, STAR_SPEC.names, l2=BUILD_L2,
                  weights=[1.0] * len(text) + [SPOKEN_WEIGHT] * len(speech))
    model.aliases = True
    model.save(out or Path(phasemodel.__file__).with_name(phasemodel.STAR_MODEL))
    get_phase_model.cache_clear()
    labels = [label for *_, labels in text + speech for label in labels]
    return {n: labels.count(n) for n in STAR_SPEC.names}


if __name__ == "__main__":
    if sys.argv[1:] == ["build"]:
        print(build())
    else:
        print("usage: python -m callphase.evaluation.training build")
