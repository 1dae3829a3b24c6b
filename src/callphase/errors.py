"""Errors callphase raises for bad input. Messages speak of options (`Options` in options.py), never of
command-line flags: each door translates them (the CLI into one `error:` line with the flag that fixes
it and exit code 2; the server into a 4xx JSON body)."""
from __future__ import annotations


class CallphaseError(Exception):
    """Base class: something the user gave us cannot be used; the message says what and why.

    `option`: the option that fixes it, as `section.field` of `callphase.Options` (e.g. "asr.model"), or
    "phases"; None when no option does."""

    def __init__(self, message: str, option: str | None = None):
        super().__init__(message)
        self.option = option


class AudioError(CallphaseError):
    """The audio file is missing, empty, corrupt, truncated or not audio."""


class CaptionError(CallphaseError):
    """A VTT/SRT file cannot be parsed."""


class PhaseSpecError(CallphaseError):
    """The phase list or phase file is empty, malformed or in an unknown format."""

    def __init__(self, message: str, option: str | None = "phases"):
        super().__init__(message, option)


class OptionsError(CallphaseError):
    """An option has a value callphase does not know (an unknown segmenter, backend or section)."""


class OutputError(CallphaseError):
    """Results cannot be written where asked: not a folder, not writable, full, or a file callphase did
    not write is in the way."""


class ModelError(CallphaseError):
    """A model cannot be found, assembled, verified or loaded."""


class LLMError(CallphaseError):
    """A language model backend failed: unreachable, refused the key, rate-limited, or kept failing."""


class ASRError(CallphaseError):
    """A speech recognition service failed: unreachable, refused the key, kept failing, or answered
    without the word times callphase needs."""
