"""Training phase models from labelled calls: `callphase train` (train_files) and the bundled models'
builds (evaluation/training.py, which adds the data sets; the runtime never imports that).

A model is a multinomial logistic regression (numpy, L2, Adam, full batch) over phasemodel.features.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import CallphaseError
from ..models import load_embedder
from ..types import PhaseSpec, Transcript
from .phasemodel import CONTEXT, GRAMS, PhaseModel, _log_softmax, features, utterance_roles

DEFAULT_L2 = 1e-4  # leave-one-domain-out on the support set's dev calls through base: 0.887 at 1e-4, 0.889 at 1e-5

Example = tuple  # (embeddings, utterances, duration, gold label per utterance, roles per utterance or None)


def examples_of(calls: list[tuple[Transcript, list[str]]], encoder=None) -> list[Example]:
    """Training examples from (transcript, gold label per utterance) pairs; roles from each transcript."""
    from .embedding import embed_texts

    encoder = encoder or load_embedder()
    return [(encoder.passage(embed_texts(t.utterances)), t.utterances, t.duration, labels, utterance_roles(t))
            for t, labels in calls if t.utterances]


def train(examples: list[Example], names: list[str],
          l2: float = 1e-4, epochs: int = 400, lr: float = 0.05, context: int = CONTEXT, grams: int = GRAMS,
          weights: list[float] | None = None, roles: bool = False) -> PhaseModel:
    """Fit on (embeddings, utterances, duration, gold label per utterance[, roles]) per call; `weights`: one
    per call (default 1), how much each of its utterances counts; `roles`: learn from role_features too."""
    def roles_of(example):
        return ((example[4] if len(example) > 4 and example[4] is not None else [None] * len(example[1]))
                if roles else None)

    x = np.vstack([features(e[0], e[1], e[2], context, grams, roles_of(e)) for e in examples])
    y = np.concatenate([[names.index(label) for label in e[3]] for e in examples])
    share = np.concatenate([np.full(len(e[3]), w, np.float32) for e, w in zip(examples, weights or [1.0] * len(examples))])
    share /= share.sum()
    k = len(names)
    onehot = np.eye(k, dtype=np.float32)[y]
    w, b = np.zeros((x.shape[1], k), np.float32), np.zeros(k, np.float32)
    moments = [[np.zeros_like(w), np.zeros_like(w)], [np.zeros_like(b), np.zeros_like(b)]]
    for step in range(1, epochs + 1):
        z = x @ w + b
        p = np.exp(_log_softmax(z))
        g = (p - onehot) * share[:, None]
        for param, grad, (m, v) in ((w, x.T @ g + l2 * w, moments[0]), (b, g.sum(axis=0), moments[1])):
            m *= 0.9
            m += 0.1 * grad
            v *= 0.999
            v += 0.001 * grad * grad
            param -= lr * (m / (1 - 0.9**step)) / (np.sqrt(v / (1 - 0.999**step)) + 1e-8)
    return PhaseModel(list(names), w, b, context, grams=grams, roles=roles)


def _phase_at(phases: list[dict], t: float) -> str:
    """The name of the phase that holds time t (the last one past the end)."""
    return next((p["name"] for p in phases if p["start_time"] <= t < p["end_time"]), phases[-1]["name"])


def _seed_json(path: Path) -> Path | None:
    """CALL.phases.json beside CALL.vtt / CALL.srt / CALL.transcript.json."""
    stem = path.name[: -len(".transcript.json")] if path.name.endswith(".transcript.json") else path.stem
    candidate = path.with_name(stem + ".phases.json")
    return candidate if candidate.is_file() else None


def load_labelled(path: str | Path) -> tuple[Transcript, list[str]]:
    """One labelled call: a callphase transcript JSON whose utterances carry `phase`, or captions (.vtt,
    .srt) or a transcript JSON with the seed JSON (`{"phases": [...]}`) beside it as CALL.phases.json;
    then each utterance gets the phase its midpoint falls in."""
    from ..captions import CAPTION_SUFFIXES, read_captions
    from ..transcribe import add_speaker_info

    path = Path(path)
    if not path.is_file():
        raise CallphaseError(f"no such file: {path}", option="calls")
    labels: list[str | None] = []
    if path.suffix.lower() in CAPTION_SUFFIXES:
        transcript = read_captions(path)
    else:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            transcript = Transcript.model_validate(raw)
        except (ValueError, UnicodeDecodeError) as e:
            raise CallphaseError(f"{path} is not a callphase transcript (CALL.transcript.json) or captions: "
                                 f"{str(e).splitlines()[0]}", option="calls") from None
        labels = [u.get("phase") for u in raw.get("utterances", [])]
    if not transcript.utterances:
        raise CallphaseError(f"{path} has no utterances to learn from", option="calls")
    if not all(isinstance(x, str) and x for x in labels) or len(labels) != len(transcript.utterances):
        seed = _seed_json(path)
        if seed is None:
            raise CallphaseError(f"{path} has no phase labels: give each utterance a `phase`, or put the seed JSON "
                                 f"beside it as {path.name.split('.')[0]}.phases.json", option="calls")
        try:
            phases = json.loads(seed.read_text(encoding="utf-8"))["phases"]
            gold = [{"name": str(p["name"]), "start_time": float(p["start_time"]), "end_time": float(p["end_time"])}
                    for p in phases]
        except (ValueError, KeyError, TypeError, UnicodeDecodeError) as e:
            raise CallphaseError(f"{seed} is not the seed JSON {{\"phases\": [{{name, start_time, end_time}}]}}: {e}",
                                 option="calls") from None
        if not gold:
            raise CallphaseError(f"{seed} has no phases", option="calls")
        labels = [_phase_at(gold, (u.start + u.end) / 2) for u in transcript.utterances]
    if transcript.metrics is None:
        add_speaker_info(transcript)
    PhaseSpec.parse(list(dict.fromkeys(labels)))  # names a phase list can have
    return transcript, list(labels)


def train_files(paths: list[str | Path], l2: float = DEFAULT_L2, encoder=None) -> tuple[PhaseModel, dict[str, int]]:
    """A phase model from labelled calls (load_labelled); its phases in the order they first appear.
    Returns the model and the utterances per phase."""
    calls = [load_labelled(p) for p in paths]
    if not calls:
        raise CallphaseError("no calls to train on", option="calls")
    names = list(dict.fromkeys(label for _, labels in calls for label in labels))
    if len(names) < 2:
        raise CallphaseError(f"the calls have one phase only ({names[0]}): a model needs two or more", option="calls")
    model = train(examples_of(calls, encoder), names, l2=l2, roles=True)
    model.aliases = True
    labels = [label for _, call_labels in calls for label in call_labels]
    return model, {n: labels.count(n) for n in names}


