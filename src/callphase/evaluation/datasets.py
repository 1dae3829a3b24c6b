"""Labelled dev sets built reproducibly from STAR (shared/data/star_dev.jsonl; MIT licence). The data stays
outside the repository: point CALLPHASE_STAR at the file, or run from a checkout with the project's
../shared beside it.

Gold labels, per utterance. STAR marks agent turns with a heuristic phase (greeting, verification, problem,
resolution, closing) taken from the agent's action label (hello, ask_*, inform_*, anything_else, goodbye_*),
and leaves customer turns and some agent turns unlabelled. The rule:
  0. agent actions that the heuristic's name patterns missed get the phase their name says (ACTION_PHASES:
     *_bye -> closing; outcomes such as *_reservation_succeeded, *_booking_failed, *_provide_search_result,
     *_unavailable -> resolution; ask_departure_location, plane_request_optional -> problem). Without it
     "OK, I've successfully completed this Hotel booking for you!" inherited Verification from the
     "May I have your name?" before it, and a "Goodbye." inherited Resolution;
  1. an unlabelled agent turn (free text, out_of_scope, no action) continues the phase of the agent turn
     before it (the first ones take the next);
  2. an unlabelled customer turn takes the phase of the agent turn that answers it (the next agent turn);
     customer turns after the last agent turn take the phase before them.
Sets hold the dialogues whose filled labels keep the order Greeting < Verification < Problem < Resolution <
Closing and span at least two phases (2,294 of 4,666: 1,717 dev, 577 test; most others interleave
phases, e.g. verification in the middle of a problem, which an ordered segmentation cannot express).
Split: dialogue id % 5 == 3 is `test`, the rest `dev` (the shared file holds no id divisible by 5);
fixed so figures stay comparable. Anything learned from data (the `star` phase model) is learned from `dev` only.

Text dialogues get times from reading speed (0.4 s per word + 0.5 s pause); spoken calls are rendered with
two espeak-ng voices at 8 kHz (synth.py) and transcribed, and an ASR utterance's gold phase is the gold
phase at its midpoint.
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import CallphaseError
from ..types import PhaseSpec, Transcript, Utterance
from .gold import gold_from_labels, label_at
from .synth import render_call

STAR_PHASES = [
    ("Greeting", "hello, how can I help you"),
    ("Verification", "asking for name, account, code, identity or details needed"),
    ("Problem", "what the customer wants or what is wrong, and questions about it"),
    ("Resolution", "the agent gives the answer, result or solution"),
    ("Closing", "anything else, thank you, goodbye"),
]
STAR_SPEC = PhaseSpec.parse([{"name": n, "description": d} for n, d in STAR_PHASES])
_ORDER = {n.lower(): i for i, (n, _) in enumerate(STAR_PHASES)}


@dataclass
class EvalItem:
    id: str
    domain: str
    transcript: Transcript
    spec: PhaseSpec
    gold_phases: list[dict]  # contiguous {name, start_time, end_time} covering the call
    gold_labels: list[str] = field(default_factory=list)  # one per transcript utterance


STAR_FILE = Path("shared") / "data" / "star_dev.jsonl"


def star_path() -> Path:
    """$CALLPHASE_STAR, else shared/data/star_dev.jsonl in the current directory or the nearest folder
    above it that has one (the project's ../shared beside a checkout), else where it was last looked for."""
    if os.environ.get("CALLPHASE_STAR"):
        return Path(os.environ["CALLPHASE_STAR"])
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / STAR_FILE).is_file():
            return folder / STAR_FILE
    return here.parent / STAR_FILE


def split_of(dialogue_id: int) -> str:
    return "test" if dialogue_id % 5 == 3 else "dev"


# rule 0: STAR actions (domain prefix removed) that carry no heuristic phase but name one
ACTION_PHASES = {
    "bye": "closing",
    **{a: "resolution" for a in (
        "booking_successful", "booking_failed", "reservation_succeeded", "reservation_failed", "provide_search_result",
        "unavailable", "flight_available", "flight_unavailable", "venue_not_available", "no_venue_available",
        "confirm_rsvp", "confirm_booking", "provide_driver_details", "instructions_done")},
    "ask_departure_location": "problem",
    "request_optional": "problem",
}


def action_phase(action: str | None) -> str | None:
    """Rule 0: the phase a STAR agent action names, for the actions the heuristic left unlabelled."""
    if not action:
        return None
    if action in ACTION_PHASES:
        return ACTION_PHASES[action]
    _, _, rest = action.partition("_")  # hotel_reservation_succeeded -> reservation_succeeded
    return ACTION_PHASES.get(rest)


def fill_labels(turns: list[dict]) -> list[str | None]:
    """The labelling rule in the module docstring; None only when the dialogue has no label at all."""
    out = [t.get("phase") or (action_phase(t.get("action")) if t["speaker"] == "agent" else None) for t in turns]
    last = None
    for i, t in enumerate(turns):  # 1. agent turns continue the previous agent phase
        if t["speaker"] == "agent":
            out[i] = out[i] or last
            last = out[i] or last
    following = None
    for i in range(len(turns) - 1, -1, -1):  # 2. customer turns take the answering agent turn's phase
        if turns[i]["speaker"] == "agent":
            following = out[i] or following
        elif out[i] is None:
            out[i] = following
    previous = None
    for i in range(len(out)):  # leftovers: the phase before, else the first phase after
        out[i] = out[i] or previous
        previous = out[i]
    first = next((x for x in out if x), None)
    return [x or first for x in out]


def _records(path: Path) -> Iterator[dict]:
    """The dialogues of a STAR jsonl file; a line that is not one is a CallphaseError naming it."""
    with open(path, encoding="utf-8", errors="replace") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                d = json.loads(line)
                if not isinstance(d, dict) or not isinstance(d["id"], int) or not isinstance(d["turns"], list):
                    raise ValueError("needs an integer id and a list of turns")
            except (ValueError, KeyError) as e:
                raise CallphaseError(f"{path} line {n} is not a STAR dialogue: {e}") from None
            yield d


def star_dialogues(split: str | None = None, path: str | Path | None = None) -> Iterator[dict]:
    """STAR dialogues kept for the sets (ordered, two phases or more), with `labels` added."""
    path = Path(path) if path else star_path()
    if not path.is_file():
        raise FileNotFoundError(f"STAR data not found at {path}; set CALLPHASE_STAR")
    for d in _records(path):
        if split and split_of(d["id"]) != split:
            continue
        labels = fill_labels(d["turns"])
        if any(x is None for x in labels) or len(set(labels)) < 2:
            continue
        order = [_ORDER[x] for x in labels]
        if any(b < a for a, b in zip(order, order[1:])):
            continue
        d["labels"] = [STAR_PHASES[_ORDER[x]][0] for x in labels]
        yield d


def _domain(dialogue: dict) -> str:
    return (dialogue["domains"] or ["none"])[0] or "none"


def read_aloud(turns: list[dict], source: str) -> Transcript:
    """A transcript of {speaker, text} turns with times from reading speed: 0.4 s per word, 0.5 s pauses."""
    t, utts = 0.0, []
    for i, turn in enumerate(turns):
        length = 0.4 * max(1, len(turn["text"].split()))
        utts.append(Utterance(index=i, start=round(t, 3), end=round(t + length, 3), text=turn["text"],
                              speaker=turn["speaker"]))
        t += length + 0.5
    return Transcript(duration=round(t, 3), utterances=utts, source=source)


def text_items(split: str = "dev", limit: int | None = None, path: str | Path | None = None) -> list[EvalItem]:
    items = []
    for d in star_dialogues(split, path):
        transcript = read_aloud(d["turns"], f"star:{d['id']}")
        utts = transcript.utterances
        gold = gold_from_labels([u.start for u in utts], d["labels"], transcript.duration)
        items.append(EvalItem(str(d["id"]), _domain(d), transcript, STAR_SPEC, gold, d["labels"]))
        if limit and len(items) >= limit:
            break
    return items


def spoken_items(
    split: str = "dev",
    limit: int = 20,
    model: str = "tiny",
    cache_dir: str | Path | None = None,
    path: str | Path | None = None,
    skip: int = 0,
) -> list[EvalItem]:
    """The first `limit` dialogues of the split, rendered and transcribed (cached as JSON per dialogue and model).
    `skip` leaves out the first dialogues (the phase model trains on dev dialogues after the evaluated ones)."""
    cache = eval_cache(cache_dir)
    items = []
    for k, d in enumerate(star_dialogues(split, path)):
        if k < skip:
            continue
        # "vad": made with speech-only transcription (older caches transcribed everything)
        key = cache / f"star-{d['id']}-{model.replace('/', '_')}-vad.json"
        saved = json.loads(key.read_text()) if key.is_file() else {}
        if "transcript" not in saved or "turns" not in saved:
            call = render_call([{"speaker": t["speaker"], "text": t["text"]} for t in d["turns"]], seed=d["id"])
            if "transcript" not in saved:
                saved["transcript"] = transcribe_rendered(call, model, speakers=1).model_dump()  # phases need no speakers
            # turn times, not gold phases: gold follows the labelling rule of the day (caches from before
            # rule 0 get their times by rendering again, which is deterministic and takes a fraction of a second)
            saved["turns"] = [[round(t.start, 4), round(t.end, 4)] for t in call.turns]
            saved.pop("gold", None)
            key.write_text(json.dumps(saved))
        transcript = Transcript.model_validate(saved["transcript"])
        gold = gold_from_labels([start for start, _ in saved["turns"]], d["labels"], transcript.duration)
        labels = [label_at(gold, (u.start + u.end) / 2) for u in transcript.utterances]
        items.append(EvalItem(str(d["id"]), _domain(d), transcript, STAR_SPEC, gold, labels))
        if len(items) >= limit:
            break
    return items


def eval_cache(cache_dir: str | Path | None = None) -> Path:
    """Where rendered-and-transcribed calls are cached: `cache_dir`, $CALLPHASE_EVAL_CACHE or
    ~/.cache/callphase/eval (made if missing)."""
    default = Path.home() / ".cache" / "callphase" / "eval"
    cache = Path(cache_dir) if cache_dir else Path(os.environ.get("CALLPHASE_EVAL_CACHE", default))
    cache.mkdir(parents=True, exist_ok=True)
    return cache


def transcribe_rendered(call, model: str, speakers: int) -> Transcript:
    """A rendered call (synth.RenderedCall) through ASR in English, resampled 8 -> 16 kHz by PyAV's
    resampler as any decoded file is; `speakers` as SpeakerOptions takes it (1: no diarization)."""
    from ..audio import Audio
    from ..options import ASROptions, SpeakerOptions
    from ..transcribe import transcribe_audio

    audio = Audio(_to_16k(call.samples, call.sample_rate), 16000, call.sample_rate, 1)
    return transcribe_audio(audio, ASROptions(model=model, language="en"), speakers=SpeakerOptions(speakers=speakers))


def _to_16k(samples, rate: int):
    import av
    import numpy as np

    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples[:1], dtype=np.float32), format="fltp", layout="mono")
    frame.sample_rate = rate
    resampler = av.AudioResampler(format="fltp", layout="mono", rate=16000)
    out = [f.to_ndarray() for f in resampler.resample(frame) + resampler.resample(None)]
    return np.concatenate(out, axis=1)


def chapter_items(
    split: str = "dev", limit: int | None = None, path: str | Path | None = None, per_call: int = 4
) -> list[EvalItem]:
    """Auto-chapter set: `per_call` STAR dialogues of different domains joined into one call (DialSeg711 is
    not obtainable from a package registry); each dialogue is a gold chapter, the joins its boundaries.
    All dialogues of the split count here, ordered or not; times as in text_items."""
    path = Path(path) if path else star_path()
    if not path.is_file():
        raise FileNotFoundError(f"STAR data not found at {path}; set CALLPHASE_STAR")
    pending: list[dict] = []
    items: list[EvalItem] = []
    for d in _records(path):
        if split_of(d["id"]) != split or len(d["turns"]) < 4:
            continue
        if any(_domain(p) == _domain(d) for p in pending):
            continue
        pending.append(d)
        if len(pending) < per_call:
            continue
        t, utts, labels = 0.0, [], []
        for k, dialogue in enumerate(pending):
            for turn in dialogue["turns"]:
                length = 0.4 * max(1, len(turn["text"].split()))
                utts.append(Utterance(index=len(utts), start=round(t, 3), end=round(t + length, 3),
                                      text=turn["text"], speaker=turn["speaker"]))
                labels.append(f"chapter {k + 1}")
                t += length + 0.5
        source = "star:" + "+".join(str(p["id"]) for p in pending)
        transcript = Transcript(duration=round(t, 3), utterances=utts, source=source)
        gold = gold_from_labels([u.start for u in utts], labels, transcript.duration)
        spec = PhaseSpec.parse([f"chapter {k + 1}" for k in range(per_call)])
        items.append(EvalItem("+".join(str(p["id"]) for p in pending), "mixed", transcript, spec, gold, labels))
        pending = []
        if limit and len(items) >= limit:
            break
    return items
