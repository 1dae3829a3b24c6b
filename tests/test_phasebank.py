"""The phase bank: aliases, prototypes that load, and prototypes that mean what their names say."""
import numpy as np

from callphase.models import load_embedder
from callphase.segment.embedding import EmbeddingSegmenter
from callphase.segment.phasebank import canonical, prototypes
from callphase.types import PhaseSpec


def test_aliases():
    assert canonical("Introduction") == "Greeting" and canonical(" complaint ") == "Problem"
    assert canonical("GOODBYE") == "Closing" and canonical("Wrap up") == "Closing"
    assert canonical("Upsell") is None


def test_prototypes_load_and_separate_typical_utterances():
    bank = prototypes()
    assert sorted(bank) == ["Closing", "Greeting", "Problem", "Resolution", "Verification"]
    names = list(bank)
    vectors = np.stack([bank[n] for n in names])
    examples = {
        "Greeting": "Hello, thank you for calling, how can I help you today?",
        "Verification": "Could I have your full name and account number, please?",
        "Closing": "Is there anything else I can help you with? Have a nice day, goodbye.",
    }
    sims = load_embedder().passage(list(examples.values())) @ vectors.T
    assert [names[j] for j in sims.argmax(axis=1)] == list(examples)


def test_bank_is_used_only_when_asked_and_every_name_is_known():
    known = PhaseSpec.parse("Introduction,Complaint,Resolution,Goodbye")
    assert EmbeddingSegmenter().bank_vectors(known) is None  # off by default
    assert EmbeddingSegmenter(bank_weight=2).bank_vectors(known).shape == (4, 384)
    assert EmbeddingSegmenter(bank_weight=2).bank_vectors(PhaseSpec.parse("Introduction,Upsell,Goodbye")) is None
