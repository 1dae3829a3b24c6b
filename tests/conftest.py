"""Shared fixtures: real audio rendered with espeak-ng + sox, the packaged tiny.en model for speed."""
from __future__ import annotations

import json
import os

import pytest
import yaml

from callphase.evaluation.synth import render_call, write_audio

# A call unlike the demo's (different domain and wording), with its gold phases.
CARD_CALL = yaml.safe_load("""
- {speaker: agent, phase: Introduction, text: "Hello, you are through to City Bank card services. This is Mark speaking. How may I help?"}
- {speaker: customer, phase: Introduction, text: "Hello Mark, my name is Anna Lopez."}
- {speaker: customer, phase: Complaint, text: "There is a payment on my card that I never made. Someone charged me two hundred pounds at an online shop."}
- {speaker: customer, phase: Complaint, text: "I am very upset about this. I did not buy anything there and my card is still in my wallet."}
- {speaker: agent, phase: Complaint, text: "I understand. So the charge of two hundred pounds is not yours?"}
- {speaker: customer, phase: Complaint, text: "No, it is definitely not mine."}
- {speaker: agent, phase: Resolution, text: "I have blocked your card and ordered a new one. It will arrive within five days."}
- {speaker: agent, phase: Resolution, text: "I have also refunded the two hundred pounds to your account while we investigate."}
- {speaker: customer, phase: Resolution, text: "Thank you, that is a relief."}
- {speaker: agent, phase: Goodbye, text: "Is there anything else I can do for you today?"}
- {speaker: customer, phase: Goodbye, text: "No, that is everything. Thanks for your help. Goodbye."}
- {speaker: agent, phase: Goodbye, text: "You are welcome. Have a good day. Bye."}
""")
PHASES = "Introduction,Complaint,Resolution,Goodbye"


@pytest.fixture(scope="session")
def card_call(tmp_path_factory):
    """(path to an 8 kHz mono mp3, the rendered call with gold times)."""
    folder = tmp_path_factory.mktemp("card_call")
    call = render_call(CARD_CALL, seed=3)
    path = write_audio(call.samples, call.sample_rate, folder / "card_call.mp3")
    (folder / "card_call.truth.json").write_text(json.dumps(call.truth()))
    return path, call


# Tests get no language model unless they ask for one (the CLI's default `auto` would load the 1.1 GB
# local model for every segment run); tests/test_llm.py passes --llm or a backend explicitly.
os.environ["CALLPHASE_LLM"] = "none"


def text_transcript(turns: list[dict], start_index: int = 0, t0: float = 0.0):
    """A transcript of scripted turns timed at reading speed (0.4 s a word, 0.5 s pauses), no audio."""
    from callphase.types import Transcript, Utterance

    t, utts = t0, []
    for i, turn in enumerate(turns, start_index):
        length = 0.4 * len(turn["text"].split())
        utts.append(Utterance(index=i, start=round(t, 2), end=round(t + length, 2), text=turn["text"], speaker=turn["speaker"]))
        t += length + 0.5
    return Transcript(duration=round(t, 2), utterances=utts, source="script")


@pytest.fixture
def card_text():
    """The card call as a text transcript with gold labels (one per utterance)."""
    return text_transcript(CARD_CALL), [turn["phase"] for turn in CARD_CALL]
