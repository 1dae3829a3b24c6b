"""The whole job as plain functions: input file -> Transcript -> validated phases -> CallResult."""
from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .audio import declared_duration
from .captions import CAPTION_SUFFIXES, read_captions
from .llm import LLM, get_llm
from .segment import Segmenter, segment
from .summarize import summarize
from .transcribe import ASROptions, SpeakerOptions, add_speaker_info, transcribe_file
from .types import CallResult, PhaseSpec, Transcript

# progress(stage, done, total): `total` in the stage's own unit (seconds of audio for transcription)
Progress = Callable[[str, float, float], None]


def load_transcript(
    path: str | Path,
    asr: ASROptions | None = None,
    progress: Progress | None = None,
    timings: dict[str, float] | None = None,
    speakers: SpeakerOptions | None = None,
) -> Transcript:
    """A .vtt/.srt file is read as is; anything else is decoded and transcribed block by block.

    `timings["transcribe"]` covers decoding, VAD, recognition and speakers (they are interleaved)."""
    path = Path(path)
    timings = timings if timings is not None else {}
    if path.suffix.lower() in CAPTION_SUFFIXES:
        t = time.perf_counter()
        transcript = read_captions(path)
        add_speaker_info(transcript, bool(speakers and speakers.roles))
        timings["captions"] = time.perf_counter() - t
        return transcript
    total = declared_duration(path) or 0.0
    t = time.perf_counter()
    transcript = transcribe_file(
        path, asr, speakers, on_utterance=(lambda u: progress("transcribe", min(u.end, total), total)) if progress else None
    )
    timings["transcribe"] = time.perf_counter() - t
    if progress:
        progress("transcribe", total, total)
    return transcript


def segment_transcript(
    transcript: Transcript,
    phases: Any,
    segmenter: Segmenter | str = "embedding",
    timings: dict[str, float] | None = None,
    llm: "LLM | None" = None,
) -> CallResult:
    """Validated phases with summaries; `llm` writes the summaries (None: extractive)."""
    spec = PhaseSpec.parse(phases)
    timings = timings if timings is not None else {}
    t = time.perf_counter()
    segmentation = segment(transcript, spec, segmenter)
    timings["segment"] = time.perf_counter() - t
    t = time.perf_counter()
    summarize(transcript, segmentation, llm)
    timings["summarize"] = time.perf_counter() - t
    return CallResult(transcript=transcript, segmentation=segmentation, timings=timings)


def analyze(
    path: str | Path,
    phases: Any,
    *,
    model: str = "base",
    language: str | None = None,
    beam_size: int = 1,
    segmenter: Segmenter | str = "embedding",
    progress: Progress | None = None,
    llm: "LLM | str | None" = None,
    speakers: SpeakerOptions | None = None,
) -> CallResult:
    """Transcribe (or read captions) and split the call into `phases`.

    `phases`: "A,B,C", a list of names, a list of {name, description}, or a PhaseSpec.
    `llm`: a backend or a spec ("auto", "local", "local:PATH.gguf", "openai:MODEL", "none") for the
    summaries; None: $CALLPHASE_LLM, else "auto" (the local model when installed, else extractive).
    `speakers`: stereo/mono handling, channel names, diarization speaker count, Agent/Customer naming.
    """
    if llm is None or isinstance(llm, str):
        llm = get_llm(llm)
    spec = PhaseSpec.parse(phases)  # bad phases fail before minutes of transcription
    timings: dict[str, float] = {}
    t = time.perf_counter()
    transcript = load_transcript(path, ASROptions(model=model, language=language, beam_size=beam_size), progress, timings, speakers)
    result = segment_transcript(transcript, spec, segmenter, timings, llm)
    result.timings["total"] = time.perf_counter() - t  # the model holds its own copy of `timings`
    return result
