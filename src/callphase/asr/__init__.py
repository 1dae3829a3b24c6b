"""Speech recognition as a choice: one small protocol, three backends, the same `Transcript` out.

A backend recognises one channel of one audio block: `recognize(samples, sample_rate, clips, language,
keyterms) -> Recognition` (segments of words with times in the block's seconds, and the spoken language).
Everything around it stays in transcribe.py for every backend: decoding, VAD, the split of a stereo call
by channel, diarization of a mono one, non-speech spans, utterances cut from word times, call metrics.

A whole-call backend (`whole_call = True`) is given the call's file as it is instead, sent once, and
returns utterances with speakers (`recognize_call`); VAD and non-speech still run here on the decoded audio.

Backend specs (the `asr.backend` option, `--asr`):
  - `local`: faster-whisper in this process (`asr.model`: packaged `tiny`/`base`, a Hugging Face name or a
    CTranslate2 folder; `asr.device`, `asr.compute_type`);
  - `openai:MODEL`: any OpenAI-compatible `POST /v1/audio/transcriptions` (OpenAI, Groq, vLLM,
    speaches/faster-whisper-server, LocalAI) at `asr.base_url`;
  - `assemblyai` or `assemblyai:SPEECH_MODEL`: the AssemblyAI v2 API (upload, transcript, poll) at
    AssemblyAI or at another `callphase serve` (`asr.base_url`), speakers and channels from the service.
Keys: `asr.api_key`, else $CALLPHASE_ASR_API_KEY, else $OPENAI_API_KEY / $ASSEMBLYAI_API_KEY.
"""
from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from ..errors import OptionsError

if TYPE_CHECKING:
    from ..options import ASROptions
    from ..types import Utterance

Clips = list[tuple[float, float]]


@dataclass
class RawWord:
    """A recognised word, times in seconds of the audio given. `text` as Whisper spells words: with the
    space before it (" world"), so that joining a segment's words gives its text."""

    text: str
    start: float
    end: float
    probability: float | None = None


@dataclass
class Recognition:
    """What a backend heard in one channel of one block: segments (lists of words, in time order; may be a
    lazy generator, so that utterances stream out as they are decoded) and the spoken language."""

    segments: Iterable[list[RawWord]]
    language: str | None


class ASR(Protocol):
    name: str  # what `Transcript.source` says, e.g. "faster-whisper:base", "openai:whisper-1"

    def recognize(self, samples: np.ndarray, sample_rate: int, clips: Clips | None, language: str | None,
                  keyterms: list[str]) -> Recognition: ...


class CallASR(Protocol):
    name: str
    whole_call: bool  # True

    def recognize_call(self, audio: Path | bytes, stereo: bool, speakers: int, language: str | None,
                       keyterms: list[str]) -> tuple[list[Utterance], str | None]: ...


BACKENDS = "local, openai:MODEL, assemblyai or assemblyai:SPEECH_MODEL"


def get_asr(options: ASROptions) -> ASR | CallASR:
    """The backend `options` name, made for one call (a local model is loaded now, so that a bad
    `asr.model` fails before any audio is decoded). A backend object given is used as it is."""
    backend = options.backend if options.backend is not None else os.environ.get("CALLPHASE_ASR") or "local"
    if not isinstance(backend, str):
        return backend
    spec = backend.strip()
    kind, _, model = spec.partition(":")
    if spec == "local":
        from .local import LocalASR

        return LocalASR(options.model, options.cpu_threads, options.device, options.compute_type, options.beam_size)
    if kind == "openai" and model:
        from .openai import OpenAIASR

        return OpenAIASR(model, options.base_url, api_key(options, "OPENAI_API_KEY"))
    if kind == "assemblyai":
        from .assemblyai import AssemblyAIASR

        return AssemblyAIASR(model or None, options.base_url, api_key(options, "ASSEMBLYAI_API_KEY"))
    raise OptionsError(f"unknown ASR backend {spec!r}: use {BACKENDS}", option="asr.backend")


def api_key(options: ASROptions, vendor_variable: str) -> str | None:
    if options.api_key is not None:
        return options.api_key
    return os.environ.get("CALLPHASE_ASR_API_KEY") or os.environ.get(vendor_variable)


def base_url(options_url: str | None, default: str) -> str:
    return options_url or os.environ.get("CALLPHASE_ASR_BASE_URL") or default


def parse_keyterms(value: str | Iterable[str] | None) -> list[str]:
    """Key terms from "Acme Telecom, premium subscription" or a list: stripped, blanks and repeats dropped."""
    if value is None:
        return []
    items = value.split(",") if isinstance(value, str) else list(value)
    out: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise OptionsError(f"key terms must be strings, not {type(item).__name__}", option="asr.keyterms")
        term = " ".join(item.split())
        if term and term not in out:
            out.append(term)
    if len(out) > 100 or any(len(t) > 100 for t in out):
        raise OptionsError("at most 100 key terms of at most 100 characters each", option="asr.keyterms")
    return out


__all__ = ["ASR", "BACKENDS", "CallASR", "Clips", "RawWord", "Recognition", "get_asr", "parse_keyterms"]
