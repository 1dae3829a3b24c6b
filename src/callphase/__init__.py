"""callphase: split phone calls into phases, offline.

    import callphase
    result = callphase.analyze("call.mp3", "Introduction,Complaint,Resolution,Goodbye",
                               options={"asr": {"model": "tiny"}})
    result.to_seed_json()   # {"phases": [{"name", "start_time", "end_time", "summary"}]}

Everything a user imports is listed in `__all__`, every error type included.
"""
from typing import TYPE_CHECKING

from .errors import (
    ASRError,
    AudioError,
    CallphaseError,
    CaptionError,
    LLMError,
    ModelError,
    OptionsError,
    OutputError,
    PhaseSpecError,
)
from .options import ASROptions, ChapterOptions, LLMOptions, Options, SegmenterOptions, SpeakerOptions, SummaryOptions, VADOptions

# The pipeline and the data types (numpy, PyAV, pydantic) load on first use, so `import callphase` and
# `callphase --help` stay light; `from callphase import analyze` works as before.
_LAZY = {"analyze": "pipeline", "load_transcript": "pipeline", **dict.fromkeys(
    ("CallResult", "Phase", "PhaseDef", "PhaseSpec", "Segmentation", "Transcript", "Utterance", "Word"), "types")}
if TYPE_CHECKING:
    from .pipeline import analyze, load_transcript
    from .types import CallResult, Phase, PhaseDef, PhaseSpec, Segmentation, Transcript, Utterance, Word

__version__ = "0.1.0"
__all__ = [
    # the one entry, and the transcript stage alone
    "analyze", "load_transcript",
    # options
    "ASROptions", "ChapterOptions", "LLMOptions", "Options", "SegmenterOptions", "SpeakerOptions",
    "SummaryOptions", "VADOptions",
    # data
    "CallResult", "Phase", "PhaseDef", "PhaseSpec", "Segmentation", "Transcript", "Utterance", "Word",
    # errors
    "ASRError", "AudioError", "CallphaseError", "CaptionError", "LLMError", "ModelError", "OptionsError", "OutputError",
    "PhaseSpecError",
]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
