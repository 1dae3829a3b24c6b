"""Errors callphase raises for bad input. The CLI turns each into one line and exit code 2."""


class CallphaseError(Exception):
    """Base class: something the user gave us cannot be used; the message says what and why."""


class AudioError(CallphaseError):
    """The audio file is missing, empty, corrupt, truncated or not audio."""


class CaptionError(CallphaseError):
    """A VTT/SRT file cannot be parsed."""


class PhaseSpecError(CallphaseError):
    """The phase list or phase file is empty, malformed or in an unknown format."""


class ModelError(CallphaseError):
    """A model cannot be found, assembled, verified or loaded."""


class LLMError(CallphaseError):
    """A language model backend failed: unreachable, refused the key, rate-limited, or kept failing."""
