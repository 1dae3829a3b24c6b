"""Prompts and output schemas live in versioned YAML files beside this module (`NAME.vN.yaml`).

Each file holds `system` and `user` templates (str.format fields) and the JSON schema pieces the caller
assembles. Changing a prompt means adding a new version file, so results can say which prompt made them.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml


@dataclass(frozen=True)
class Prompt:
    name: str
    version: int
    system: str
    user: str
    schema: dict[str, Any]

    @property
    def id(self) -> str:
        return f"{self.name}.v{self.version}"

    def messages(self, **fields: Any) -> list[dict[str, str]]:
        return [
            {"role": "system", "content": self.system.format(**fields).strip()},
            {"role": "user", "content": self.user.format(**fields).strip()},
        ]


@cache
def load_prompt(name: str, version: int | None = None) -> Prompt:
    """The given version of a prompt, or its newest."""
    versions = {}
    for entry in resources.files(__package__).iterdir():  # the package's own files, installed or not
        stem, _, version_part = entry.name.removesuffix(".yaml").rpartition(".v")
        if entry.name.endswith(".yaml") and stem == name and version_part.isdigit():
            versions[int(version_part)] = entry
    if version is not None:
        versions = {v: e for v, e in versions.items() if v == version}
    if not versions:
        raise KeyError(f"no prompt {name!r}" + (f" version {version}" if version else ""))
    newest = max(versions)
    data = yaml.safe_load(versions[newest].read_text(encoding="utf-8"))
    return Prompt(name, newest, data["system"], data["user"], data.get("schema", {}))
