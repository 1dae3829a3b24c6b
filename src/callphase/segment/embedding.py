"""The default segmenter: sentence embeddings of utterances against phase descriptions, decoded as the
best path under the ordering constraint. Deterministic, offline, well under a second per call."""
from __future__ import annotations

import numpy as np

from ..models import load_embedder
from ..types import PhaseSpec, Transcript
from . import Labels
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


def phase_queries(spec: PhaseSpec) -> list[str]:
    out = []
    for p in spec.phases:
        parts = [d for d in (p.description, KNOWN_DESCRIPTIONS.get(p.name.casefold(), "")) if d]
        out.append(f"{p.name}: {'; '.join(parts)}" if parts else p.name)
    return out


class EmbeddingSegmenter:
    """Scores: cosine similarity of each utterance (mixed with its neighbours) to each phase query,
    standardised per phase over the call. `other` scores `other_score`; a label change costs
    `switch_cost`. Confidence: a logistic of the margin between the chosen label and the best other one."""

    name = "embedding"

    def __init__(self, switch_cost: float = 1.5, other_score: float = -0.5, context: float = 0.5, encoder=None):
        self.switch_cost = switch_cost
        self.other_score = other_score
        self.context = context
        self._encoder = encoder

    @property
    def encoder(self):
        if self._encoder is None:
            self._encoder = load_embedder()
        return self._encoder

    def scores(self, transcript: Transcript, spec: PhaseSpec) -> np.ndarray:
        """(utterances, phases + 1) matrix; the last column is `other`."""
        utts = self.encoder.passage([u.text for u in transcript.utterances])
        # Short turns ("yes", "okay") mean little alone: mix in the neighbours.
        mixed = utts.copy()
        mixed[1:] += self.context * utts[:-1]
        mixed[:-1] += self.context * utts[1:]
        mixed /= np.linalg.norm(mixed, axis=1, keepdims=True)
        queries = self.encoder.query(phase_queries(spec))
        sim = mixed @ queries.T
        # E5 similarities sit in a narrow band (~0.75-0.9): compare each utterance with the rest of the call.
        std = sim.std(axis=0, keepdims=True)
        z = (sim - sim.mean(axis=0, keepdims=True)) / np.where(std > 1e-6, std, 1.0)
        return np.hstack([z, np.full((len(z), 1), self.other_score)])

    def label(self, transcript: Transcript, spec: PhaseSpec) -> Labels:
        scores = self.scores(transcript, spec)
        path = best_path(scores, spec.ordered, self.switch_cost)
        chosen = scores[np.arange(len(path)), path]
        rest = scores.copy()
        rest[np.arange(len(path)), path] = -np.inf
        margin = chosen - rest.max(axis=1)
        confidence = (1 / (1 + np.exp(-2 * margin))).round(3).tolist()
        return Labels([spec.allowed[j] for j in path], confidence)
