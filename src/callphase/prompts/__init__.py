"""Prompts and output schemas live in versioned YAML files beside this module (`NAME.vN.yaml`).

Each file holds `system` and `user` templates (str.format fields) and the JSON schema pieces the caller
assembles. Changing a prompt means adding a new version file, so results can say which prompt made them.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).parent


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


@lru_cache(maxsize=None)
def load_prompt(name: str, version: int | None = None) -> Prompt:
    """The given version of a prompt, or its newest."""
    files = sorted(HERE.glob(f"{name}.v*.yaml"), key=lambda p: int(p.stem.rsplit(".v", 1)[1]))
    if version is not None:
        files = [p for p in files if p.stem == f"{name}.v{version}"]
    if not files:
        raise KeyError(f"no prompt {name!r}" + (f" version {version}" if version else ""))
    data = yaml.safe_load(files[-1].read_text(encoding="utf-8"))
    return Prompt(name, int(files[-1].stem.rsplit(".v", 1)[1]), data["system"], data["user"], data.get("schema", {}))
