"""The bundled demo call (`callphase demo`): a 76 s broadband-outage call rendered with espeak-ng
(tools/make_demo.py), its phases and their true times. Read through importlib.resources, so it works
from any install, editable or not."""
from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

import yaml

from ..types import PhaseSpec


def spec() -> PhaseSpec:
    """The demo's phases, with descriptions, as call.yaml gives them."""
    script = yaml.safe_load(resources.files(__package__).joinpath("call.yaml").read_text(encoding="utf-8"))
    return PhaseSpec.parse({"phases": script["phases"], "require_all": script.get("require_all", False)})


def truth() -> dict:
    """The true phase times: {"phases": [{name, start_time, end_time}], "turns": [...], "duration"}."""
    return json.loads(resources.files(__package__).joinpath("call.truth.json").read_text(encoding="utf-8"))


@contextmanager
def audio() -> Iterator[Path]:
    """The demo call's mp3 as a file path, for as long as the `with` block runs."""
    with resources.as_file(resources.files(__package__).joinpath("call.mp3")) as path:
        yield path
