"""Training phase models (segment/phasemodel.py holds what a run uses: features, PhaseModel, load).

`python -m callphase.evaluation.training build` re-trains the bundled `star` model on the STAR dev split,
`... build-support` the bundled `support` model on the dev calls of callphase's own support-call set
(support.py), and `... curve` measures how many labelled calls a model trained from scratch needs to beat
the default (README). `callphase train` is segment/training.py (the trainer both use).
Evaluation code: the runtime never imports it.
"""
from __future__ import annotations

import json
import random
import statistics
import sys
from pathlib import Path

from ..models import load_embedder
from ..segment import phasemodel
from ..segment.phasemodel import get_phase_model
from ..segment.training import DEFAULT_L2, examples_of, train
from .datasets import STAR_SPEC, spoken_items, text_items

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
    labels = [label for e in text + speech for label in e[3]]
    return {n: labels.count(n) for n in STAR_SPEC.names}


SUPPORT_MODELS = ("tiny", "base")  # each spoken dev call as both packaged Whisper models hear it
SUPPORT_L2 = DEFAULT_L2


def pairs(items) -> list[tuple]:
    """(transcript, gold labels) of each EvalItem, as segment.training takes them."""
    return [(item.transcript, item.gold_labels) for item in items]


def support_examples(calls: list[str] | None = None, spoken: tuple[str, ...] = SUPPORT_MODELS, encoder=None):
    """(examples, weights) from support-set dev calls (ids `calls`, default all dev): as text (weight 1)
    and through each ASR model of `spoken` (weight SPOKEN_WEIGHT)."""
    from . import support

    encoder = encoder or load_embedder()
    text = examples_of(pairs(support.text_items("dev", calls)), encoder)
    speech = [e for model in spoken for e in examples_of(pairs(support.spoken_items("dev", model, calls)), encoder)]
    return text + speech, [1.0] * len(text) + [float(SPOKEN_WEIGHT)] * len(speech)


def build_support(out: Path | None = None) -> dict[str, int]:
    """Train the bundled `support` model on the support set's dev calls (text, tiny and base transcripts)."""
    from . import support

    examples, weights = support_examples()
    model = train(examples, support.SPEC.names, l2=SUPPORT_L2, weights=weights, roles=True)
    model.aliases = True
    model.save(out or Path(phasemodel.__file__).with_name(phasemodel.SUPPORT_MODEL))
    get_phase_model.cache_clear()
    labels = [label for e in examples for label in e[3]]
    return {n: labels.count(n) for n in support.SPEC.names}


def curve(sizes=(2, 4, 8, 16, 23), repeats: int = 3, model: str = "base", seed: int = 0) -> list[dict]:
    """How many labelled calls a model trained from scratch needs to beat the default. Dev calls are cut in
    two halves by domain (bank, shop, sub vs tech, tel, trav, util); a model trained on k calls of one half
    (as text and through `model`, as `callphase train` would get them, `repeats` random draws) is scored
    through `model` on the other half, against the default there: similarity alone, and the `support`
    model trained on the first half only (what the bundled one is to calls of another company)."""
    from ..segment.embedding import EmbeddingSegmenter
    from . import support
    from .runner import evaluate

    encoder = load_embedder()
    dev = [c for c in support.scripts() if c["split"] == "dev"]
    halves = ([c["id"] for c in dev if c["domain"] in ("card_bank", "ecommerce", "subscriptions")],
              [c["id"] for c in dev if c["domain"] not in ("card_bank", "ecommerce", "subscriptions")])
    rows = []

    def score(seg, ids):
        return evaluate(support.spoken_items("dev", model, ids), seg)["overall"]

    for half, (a, b) in enumerate((halves, halves[::-1])):
        plain = score(EmbeddingSegmenter(encoder=encoder), b)
        examples, weights = support_examples(a, (model,), encoder)
        bundled = train(examples, support.SPEC.names, l2=SUPPORT_L2, weights=weights, roles=True)
        rows.append({"scored_on": sorted({i.split("-")[0] for i in b}), "calls": 0, "similarity": plain,
                     "support_other_half": score(EmbeddingSegmenter(model=bundled, encoder=encoder), b)})
        rng = random.Random(seed)
        for k in sizes:
            if k > len(b):
                continue
            runs = []
            for _ in range(repeats):
                pick = rng.sample(b, k)
                examples, weights = support_examples(pick, (model,), encoder)
                own = train(examples, support.SPEC.names, l2=SUPPORT_L2, weights=weights, roles=True)
                rest = [i for i in b if i not in pick]
                runs.append(score(EmbeddingSegmenter(model=own, encoder=encoder), rest))
            rows.append({"scored_on": half, "calls": k, **{m: statistics.median(r[m] for r in runs)
                                                           for m in ("utterance_accuracy", "boundary_mae")}})
    return rows


if __name__ == "__main__":
    if sys.argv[1:] == ["build"]:
        print(build())
    elif sys.argv[1:] == ["build-support"]:
        print(build_support())
    elif sys.argv[1:] == ["curve"]:
        print(json.dumps(curve(), indent=1))
    else:
        print("usage: python -m callphase.evaluation.training build | build-support | curve")
