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


# Two clearly different voices (espeak's two male voices are near each other after the phone band:
# diarization scored 84% of speech on them, 96% on these). See bench/bench_speakers.py.
DISTINCT_VOICES = {"agent": ("en-us+f3", 165), "customer": ("en-gb+m3", 150)}


@pytest.fixture(scope="session")
def stereo_call(tmp_path_factory):
    """(path to an 8 kHz stereo wav: agent left, customer right, the rendered call)."""
    call = render_call(CARD_CALL, seed=3, stereo=True)
    return write_audio(call.samples, call.sample_rate, tmp_path_factory.mktemp("stereo") / "stereo_call.wav"), call


@pytest.fixture(scope="session")
def hold_call(tmp_path_factory):
    """(path, hold start, hold end): the card call's first six turns, 20 s of hold music, keypad tones,
    6 s of silence, then the other six turns. 8 kHz mono."""
    import numpy as np

    from callphase.evaluation.synth import dtmf, hold_music

    first, second = render_call(CARD_CALL[:6], seed=3, tail=0.5), render_call(CARD_CALL[6:], seed=4, lead_in=0.5)
    rate = first.sample_rate
    gap = np.concatenate([hold_music(20.0, rate), dtmf("4321#", rate), np.zeros(6 * rate, np.float32)])
    gap += np.random.default_rng(0).normal(0, 0.0015, gap.shape).astype(np.float32)
    samples = np.concatenate([first.samples[0], gap, second.samples[0]])[None]
    path = write_audio(samples, rate, tmp_path_factory.mktemp("hold") / "hold_call.wav")
    start = first.duration
    return path, start, start + len(gap) / rate


@pytest.fixture
def server(tmp_path):
    """start(*flags, data=None): a `callphase serve --model tiny` process with the API key serving.KEY;
    stopped when the test ends."""
    from serving import Server

    started = []

    def start(*args, data=None):
        s = Server(data or tmp_path / "data", *args)
        started.append(s)
        return s

    yield start
    for s in started:
        s.stop()
