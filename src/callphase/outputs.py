"""Result files in a folder (`--out`), written so that a failure never leaves a set that looks complete.

- `check` runs before any work: the folder can be made and written to, and no file about to be written
  is one callphase did not write (a user's own `call.srt` beside the input) unless `force`.
- `write` puts every file under a temporary name first and renames them only when all are written: a
  full disk or a lost permission leaves the previous set as it was, never a mix.
- The folder's `.callphase-files.json` records the sha256 of each file callphase wrote there, so a rerun
  may replace its own earlier results (unchanged since) without `force`.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import OutputError

if TYPE_CHECKING:
    from .types import CallResult, Transcript

MANIFEST = ".callphase-files.json"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _manifest(folder: Path) -> dict[str, str]:
    try:
        data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _reason(e: OSError) -> str:
    return e.strerror or str(e)


def check(folder: Path, names: list[str], force: bool = False, keep: Path | None = None) -> None:
    """Raise OutputError unless `names` can be written into `folder` (made if missing). `keep`: the input
    file, which is never overwritten (a name that is the input is skipped by `write`)."""
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"{folder} is a file, not a folder for the results", option="out")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".callphase-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise OutputError(f"cannot write into {folder}: {_reason(e)}", option="out") from None
    if force:
        return
    ours = _manifest(folder)
    for name in names:
        target = folder / name
        if not target.exists() or (keep is not None and target.resolve() == keep.resolve()):
            continue
        if ours.get(name) != _sha256(target):
            raise OutputError(f"{target} exists and was not written by callphase (or was changed since): "
                              "not overwritten; choose another folder, or force to replace it", option="force")


def write(folder: Path, files: dict[str, str], keep: Path | None = None) -> list[Path]:
    """Write `files` (name -> text) into `folder` all or nothing; returns the paths written. A name that
    is the input file `keep` is skipped."""
    skipped = {n for n in files if keep is not None and (folder / n).exists() and (folder / n).resolve() == keep.resolve()}
    staged: dict[str, str] = {}
    try:
        for name, text in files.items():
            if name in skipped:
                continue
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.")
            staged[name] = tmp
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
    except OSError as e:
        for tmp in staged.values():
            try:
                os.unlink(tmp)
            except OSError:
                pass
        raise OutputError(f"cannot write the results into {folder}: {_reason(e)}; nothing was replaced",
                          option="out") from None
    ours = _manifest(folder)
    written = []
    mode = 0o644 & ~_umask()  # what a plainly opened file would get (mkstemp makes them 0600)
    for name, tmp in staged.items():
        os.chmod(tmp, mode)
        os.replace(tmp, folder / name)
        ours[name] = hashlib.sha256(files[name].encode("utf-8")).hexdigest()
        written.append(folder / name)
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f"{MANIFEST}.")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(ours, f, indent=1, sort_keys=True)
        os.replace(tmp, folder / MANIFEST)
    except OSError:
        pass  # the results are in place; without the record a rerun needs `force` to replace them
    return written


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# --- what a call's results are (segment --out, transcribe --out, demo --out, batch) ---------------------
PAGE_AUDIO = ("link", "embed", "none")


def names(stem: str, kind: str | None) -> list[str]:
    """The files a call gets: transcript, captions, and the phases or chapters with the call's page (kind
    None: transcript and captions only)."""
    return [f"{stem}.transcript.json", f"{stem}.vtt", f"{stem}.srt"] + ([f"{stem}.{kind}.json", f"{stem}.html"] if kind else [])


def page_audio(source: Path | str, folder: Path, how: str) -> str | None:
    """The page's audio: the recording referenced relative to the page (an http(s) source as its URL),
    embedded, or none (also for captions, which have nothing to play)."""
    from .captions import CAPTION_SUFFIXES

    url = isinstance(source, str) and source.startswith(("http://", "https://"))
    if how == "none" or (not url and Path(source).suffix.lower() in CAPTION_SUFFIXES):
        return None
    if url:
        return str(source)
    if how == "embed":
        from .page import audio_data_uri

        return audio_data_uri(source)
    from urllib.parse import quote

    return quote(os.path.relpath(Path(source).resolve(), folder.resolve()).replace(os.sep, "/"))


def result_files(stem: str, transcript: Transcript, result: CallResult | None, audio_src: str | None = None,
                 other: str = "Other") -> dict[str, str]:
    """name -> text of a call's results (see `names`), as `write` takes them."""
    from .captions import to_srt, to_vtt

    texts = [transcript.model_dump_json(indent=1), to_vtt(transcript), to_srt(transcript)]
    if result is not None:
        from .page import render

        texts.append(json.dumps(result.to_json(), indent=1, ensure_ascii=False))
        texts.append(render(result, stem, audio_src, other).rstrip("\n"))
    kind = result.segmentation.kind if result is not None else None
    return {name: text + "\n" for name, text in zip(names(stem, kind), texts)}
