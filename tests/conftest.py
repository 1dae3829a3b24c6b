"""Shared fixtures: real audio rendered with espeak-ng + sox, the packaged tiny.en model for speed."""
from __future__ import annotations

import json

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
