"""The support-call set: 70 call scripts written for callphase (src/callphase/evaluation/calls/*.yaml), in
seven domains (card and bank, telecom, online shopping, subscriptions, utilities, travel, tech support),
ten each, with the variety real support calls have: verification before or after the complaint, the
caller interrupting, a hold, a transfer, an unresolved call, small talk, a call that never complains, an
angry caller, two problems in one call.

Gold phase per turn, in the sense of the seed guide's example output (phases Introduction, Complaint,
Resolution, Goodbye):
  - Introduction: the greeting, names, identity checks asked before the caller's problem, and a one-line
    purpose said in the caller's greeting turn ("Hi, I want to know the status of my order refund");
  - Complaint: from the caller's problem statement: the agent asking for and confirming the caller's
    details, questions about the problem, holds and transfers while it is looked into;
  - Resolution: from the agent giving the answer or the fix (a refusal too), and the caller's questions
    about it;
  - Goodbye: from the caller accepting ("Okay, thanks") or the agent asking whether there is anything
    else, to the end.
A call that never complains (a request done at once) goes Introduction -> Resolution -> Goodbye; an
unresolved one may have no Resolution.

Split: in the d-th domain file (sorted by name), the i-th call (from 0) is `test` when (d + i) % 3 == 0,
else `dev`: 24 test calls, 46 dev, every variant in both. Tune on dev only.

As text, turns get times from reading speed (0.4 s per word + 0.5 s pause, as the STAR text set). Spoken,
each call is rendered mono at 8 kHz in the phone band with a pair of espeak-ng voices chosen from the call
id (synth.py), and transcribed with callphase's default speaker path (diarization into two speakers, the
role heuristic); an ASR utterance's gold phase is the gold phase at its midpoint.
"""
from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from importlib import resources
from pathlib import Path

import yaml

from ..types import PhaseSpec, Transcript
from .datasets import EvalItem, eval_cache, read_aloud, transcribe_rendered
from .gold import gold_from_labels, label_at

PHASES = {"I": "Introduction", "C": "Complaint", "R": "Resolution", "G": "Goodbye"}
SPEC = PhaseSpec.parse(list(PHASES.values()))  # names only, as the seed guide gives them
SPEAKERS = {"a": "agent", "c": "customer"}
# (agent, customer) espeak-ng voices and speeds; a call takes one pair, chosen from its id
VOICE_PAIRS = [
    (("en-us+f3", 165), ("en-gb+m3", 150)),
    (("en-gb+f2", 160), ("en-us+m1", 155)),
    (("en-us", 170), ("en-gb-scotland+f4", 150)),
    (("en-gb-x-rp+f4", 160), ("en-029", 145)),
    (("en-us+m3", 165), ("en-gb+f3", 155)),
]


@lru_cache(maxsize=1)
def scripts() -> tuple[dict, ...]:
    """Every call script: {id, domain, variant, split, turns: [{speaker, phase, text}]}, in file order."""
    out = []
    files = sorted(f for f in resources.files(__package__).joinpath("calls").iterdir() if f.name.endswith(".yaml"))
    for d, f in enumerate(files):
        for i, call in enumerate(yaml.safe_load(f.read_text(encoding="utf-8"))):
            turns = [{"speaker": SPEAKERS[s], "phase": PHASES[p], "text": t} for s, p, t in call["turns"]]
            out.append({"id": call["id"], "domain": f.name[:-5], "variant": call["variant"],
                        "split": "test" if (d + i) % 3 == 0 else "dev", "turns": turns})
    return tuple(out)


def _pick(split: str | None, ids) -> list[dict]:
    calls = [c for c in scripts() if split in (None, "both") or c["split"] == split]
    return [c for c in calls if ids is None or c["id"] in ids]


def text_item(call: dict) -> EvalItem:
    transcript = read_aloud(call["turns"], f"support:{call['id']}")
    labels = [turn["phase"] for turn in call["turns"]]
    gold = gold_from_labels([u.start for u in transcript.utterances], labels, transcript.duration)
    return EvalItem(call["id"], call["domain"], transcript, SPEC, gold, labels)


def text_items(split: str | None = "dev", ids=None) -> list[EvalItem]:
    return [text_item(c) for c in _pick(split, ids)]


def voices(call_id: str) -> dict[str, tuple[str, int]]:
    agent, customer = VOICE_PAIRS[int(hashlib.sha256(call_id.encode()).hexdigest(), 16) % len(VOICE_PAIRS)]
    return {"agent": agent, "customer": customer}


def render(call: dict):
    """The call as audio (synth.RenderedCall), the same every time."""
    from .synth import render_call

    seed = int(hashlib.sha256(call["id"].encode()).hexdigest()[:8], 16)
    return render_call([dict(t) for t in call["turns"]], seed=seed,
                       voices=voices(call["id"]))


def spoken_items(split: str | None = "dev", model: str = "base", ids=None, cache_dir: str | Path | None = None,
                 speakers: int = 2) -> list[EvalItem]:
    """The calls rendered and transcribed by `model` (cached per call, model and script text)."""
    cache = eval_cache(cache_dir)
    items = []
    for call in _pick(split, ids):
        digest = hashlib.sha256(json.dumps([call["turns"], voices(call["id"])]).encode()).hexdigest()[:10]
        key = cache / f"support-{call['id']}-{model.replace('/', '_')}-s{speakers}-{digest}.json"
        if key.is_file():
            saved = json.loads(key.read_text())
        else:
            rendered = render(call)
            transcript = transcribe_rendered(rendered, model, speakers)
            saved = {"transcript": transcript.model_dump(), "turns": [[t.start, t.end] for t in rendered.turns]}
            key.write_text(json.dumps(saved))
        transcript = Transcript.model_validate(saved["transcript"])
        gold = gold_from_labels([s for s, _ in saved["turns"]], [t["phase"] for t in call["turns"]], transcript.duration)
        labels = [label_at(gold, (u.start + u.end) / 2) for u in transcript.utterances]
        items.append(EvalItem(call["id"], call["domain"], transcript, SPEC, gold, labels))
    return items
