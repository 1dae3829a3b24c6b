"""callphase: split phone calls into phases, offline.

    import callphase
    result = callphase.analyze("call.mp3", "Introduction,Complaint,Resolution,Goodbye",
                               options={"asr": {"model": "tiny"}})
    result.to_seed_json()   # {"phases": [{"name", "start_time", "end_time", "summary"}]}

Everything a user imports is listed in `__all__`, every error type included.
"""
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
