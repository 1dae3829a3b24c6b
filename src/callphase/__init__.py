"""callphase: split phone calls into phases, offline."""
from .errors import AudioError, CallphaseError, CaptionError, ModelError, PhaseSpecError
from .pipeline import analyze, load_transcript, segment_transcript
from .types import CallResult, Phase, PhaseDef, PhaseSpec, Segmentation, Transcript, Utterance, Word

__version__ = "0.1.0"
__all__ = [
    "AudioError", "CallResult", "CallphaseError", "CaptionError", "ModelError", "Phase", "PhaseDef",
    "PhaseSpec", "PhaseSpecError", "Segmentation", "Transcript", "Utterance", "Word",
    "analyze", "load_transcript", "segment_transcript",
]
