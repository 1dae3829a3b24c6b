"""The default segmenter: sentence embeddings of utterances against phase descriptions, decoded as the
best path under the ordering constraint. Deterministic, offline, well under a second per call."""
from __future__ import annotations

import numpy as np

from ..models import load_embedder
from ..types import PhaseSpec, Transcript
from . import Labels
from .phasemodel import PhaseModel, utterance_roles
from .validate import best_path

# Bare phase names say little to an embedding model. Common contact-centre names get a line of typical
# wording, added after the user's own description (on the demo call the keywords helped even when the
# user described the phase too).
KNOWN_DESCRIPTIONS = {
    "introduction": "greeting at the start of the call: hello, thank you for calling, my name is, how can I help you",
    "greeting": "greeting at the start of the call: hello, thank you for calling, my name is, how can I help you",
    "opening": "greeting at the start of the call: hello, thank you for calling, my name is, how can I help you",
    "verification": "checking identity: name, account number, date of birth, address, security question",
    "identification": "checking identity: name, account number, date of birth, address, security question",
    "complaint": "the customer describes a problem: it is broken, not working, wrong, charged, frustrated",
    "problem": "the customer describes a problem: it is broken, not working, wrong, charged, frustrated",
    "issue": "the customer describes a problem: it is broken, not working, wrong, charged, frustrated",
    "request": "the customer says what they want: I would like to, I need, can you",
    "resolution": "the agent solves the problem: I have fixed, refunded, reset, booked, sent; it should work now",
    "solution": "the agent solves the problem: I have fixed, refunded, reset, booked, sent; it should work now",
    "troubleshooting": "the agent investigates: let me check, can you try, please restart, what do you see",
    "hold": "waiting: please hold, one moment, I will put you on hold",
    "goodbye": "end of the call: anything else, thank you, have a nice day, goodbye, bye",
    "closing": "end of the call: anything else, thank you, have a nice day, goodbye, bye",
    "farewell": "end of the call: anything else, thank you, have a nice day, goodbye, bye",
}


# Words of one utterance the embedder sees: its time grows faster than the text (a 10,000-word caption cue
# took 54 s), and an utterance's first 128 words say what it is about. ASR utterances are far shorter
# (cut at sentence ends and pauses); this bounds what a caption file or a given Transcript can hold.
EMBED_WORDS = 128


def embed_texts(utterances) -> list[str]:
    """The text of each utterance as the embedder gets it: at most EMBED_WORDS words."""
    return [" ".join(u.text.split()[:EMBED_WORDS]) if len(u.text) > 4 * EMBED_WORDS else u.text for u in utterances]


def phase_queries(spec: PhaseSpec) -> list[str]:
    out = []
    for p in spec.phases:
        parts = [d for d in (p.description, KNOWN_DESCRIPTIONS.get(p.name.casefold(), "")) if d]
        out.append(f"{p.name}: {'; '.join(parts)}" if parts else p.name)
    return out


class EmbeddingSegmenter:
    """Each utterance is compared with each phase's embedded name + description; the best path under the
    ordering constraint picks the labels, a label change costing `switch_cost`.

    Scores: similarities centred per phase over the call (query and passage embeddings sit on different
    levels), then per utterance (which phase fits it best), times `temperature`. With a `model` (a
    PhaseModel: the bundled `support` one is the pipeline's default) that has a column for every phase of the spec, the scores
    become the model's log-probabilities plus `similarity_weight` times the similarity scores, and a label
    change costs `model_switch_cost` (both tuned on the STAR dev split: README).
    When the spec says `require_all`, each phase the path passes over costs `skip_cost`.
    `other` scores `other_score`, below every phase: it is taken only where no phase is allowed.
    Confidence: a logistic of the margin between the chosen label and the best other one."""

    name = "embedding"

    def __init__(
        self,
        switch_cost: float = 0.3,
        temperature: float = 20.0,
        other_score: float = -5.0,
        skip_cost: float = 1.0,
        encoder=None,
        model: PhaseModel | None = None,
        similarity_weight: float = 0.3,
        model_switch_cost: float = 1.0,
        turn_cost: float = 0.0,
    ):
        self.turn_cost = turn_cost
        self.skip_cost = skip_cost
        self.switch_cost = switch_cost
        self.temperature = temperature
        self.other_score = other_score
        self.model = model
        self.similarity_weight = similarity_weight
        self.model_switch_cost = model_switch_cost
        self._encoder = encoder
        self._queries: dict[tuple[str, ...], np.ndarray] = {}  # a batch reuses one phase list

    @property
    def encoder(self):
        if self._encoder is None:
            self._encoder = load_embedder()
        return self._encoder

    def scores(self, transcript: Transcript, spec: PhaseSpec) -> np.ndarray:
        """(utterances, phases + 1) matrix; the last column is `other`."""
        utterances = self.encoder.passage(embed_texts(transcript.utterances))
        queries = tuple(phase_queries(spec))
        if queries not in self._queries:
            self._queries[queries] = self.encoder.query(list(queries))
        sim = utterances @ self._queries[queries].T
        sim = sim - sim.mean(axis=0, keepdims=True)
        z = sim - sim.mean(axis=1, keepdims=True)
        z = z * self.temperature
        columns = self.model.columns(spec) if self.model else None
        if columns is not None:
            roles = utterance_roles(transcript) if self.model.roles else None
            z = (self.model.log_probs(utterances, transcript.utterances, transcript.duration, columns, roles)
                 + self.similarity_weight * z)
        return np.hstack([z, np.full((len(z), 1), self.other_score)])

    def switch_costs(self, transcript: Transcript, cost: float) -> np.ndarray:
        """The cost of a phase change before each utterance: `cost`, plus `turn_cost` where the same
        speaker goes on talking (a phase boundary falls on a turn change unless the text says otherwise)."""
        speakers = [u.speaker for u in transcript.utterances]
        same = np.array([i > 0 and s is not None and s == speakers[i - 1] for i, s in enumerate(speakers)])
        return cost + self.turn_cost * same

    def uses_model(self, spec: PhaseSpec) -> bool:
        return self.model is not None and self.model.columns(spec) is not None

    def label(self, transcript: Transcript, spec: PhaseSpec) -> Labels:
        scores = self.scores(transcript, spec)
        switch_cost = self.model_switch_cost if self.uses_model(spec) else self.switch_cost
        path = best_path(scores, spec.ordered, self.switch_costs(transcript, switch_cost),
                         self.skip_cost if spec.require_all else 0.0)
        chosen = scores[np.arange(len(path)), path]
        rest = scores.copy()
        rest[np.arange(len(path)), path] = -np.inf
        margin = chosen - rest.max(axis=1)
        confidence = (1 / (1 + np.exp(-margin))).round(3).tolist()
        return Labels([spec.allowed[j] for j in path], confidence)
