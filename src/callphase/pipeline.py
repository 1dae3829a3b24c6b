"""The one pipeline run: `analyze(source, phases, options, progress) -> CallResult`.

Every door (the CLI, the Python API, the server and batch runner to come) builds `Options` and calls
`analyze`; none wires stages itself. Data flows one way: source -> Transcript -> phases (or chapters) ->
summaries -> CallResult.
"""
from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .audio import declared_duration
from .captions import CAPTION_SUFFIXES, read_captions
from .options import LLMOptions, Options
from .types import CallResult, PhaseDef, PhaseSpec, Segmentation, Transcript

if TYPE_CHECKING:
    from .llm import LLM
    from .segment import Segmenter

# progress(stage, done, total): `total` in the stage's own unit (seconds of audio for transcription)
Progress = Callable[[str, float, float], None]
# What `phases` may be: "A,B,C", a list of names, a list of {name, description}, a dict with `phases`
# and spec fields (ordered, require_all, other), or a PhaseSpec. None: auto chapters.
Phases = PhaseSpec | str | Sequence[str | Mapping | PhaseDef] | Mapping | None
Source = str | Path | Transcript


def _one_blas_thread(run):
    """numpy's BLAS on one thread while a run lasts. With more threads a matmul sums in another order,
    and that moved word times (the suite's card call: 110 lines of its captions differed between
    OPENBLAS_NUM_THREADS=1, which Ray workers run with, and the default on 2 cores). With one, a call's
    result does not depend on the machine's core count or the door it came through. The demo ran in the
    same time either way (7.5-8.2 s vs 7.7-7.9 s, two runs each)."""

    @functools.wraps(run)
    def wrapped(*args, **kwargs):
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1, user_api="blas"):
            return run(*args, **kwargs)

    return wrapped


@_one_blas_thread
def analyze(
    source: Source,
    phases: Phases = None,
    options: Options | dict | None = None,
    progress: Progress | None = None,
) -> CallResult:
    """Transcribe a call (or read its captions, or take a Transcript) and split it into `phases`; with
    no phases, into auto chapters. Summaries by the LLM when one is configured, else extractive.

    `source`: an audio file (mp3, wav, m4a, flac, ogg…), a .vtt/.srt file, or a Transcript (not changed).
    `options`: an Options, a dict of its sections, or None for the defaults (see options.py).
    Bad phases or options fail before any audio is decoded."""
    opts = Options.coerce(options)
    spec = None if phases is None else PhaseSpec.parse(phases)
    if spec is not None and spec.keyterms:  # the phase file's key terms join the options' (theirs unchanged)
        terms = list(dict.fromkeys((opts.asr.keyterms or []) + spec.keyterms))
        opts = dataclasses.replace(opts, asr=dataclasses.replace(opts.asr, keyterms=terms))
    llm = make_llm(opts.llm)
    segmenter = make_segmenter(opts, llm) if spec is not None else None
    notes = []
    if spec is not None and opts.segmenter.phase_model not in NO_MODEL + ("auto",) and _phase_model(opts).columns(spec) is None:
        notes.append(f"phase model {opts.segmenter.phase_model} has no phase for some of {', '.join(spec.names)}: "
                     "similarity only")
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    if isinstance(source, Transcript):
        transcript = source.model_copy(deep=True)
    else:
        transcript = load_transcript(source, opts, progress, timings)
    writer = llm if opts.summaries.llm else None
    t = time.perf_counter()
    if spec is None:
        segmentation = _chapters(transcript, writer, opts, notes)
        timings["chapters"] = time.perf_counter() - t
    else:
        segmentation = _phases(transcript, spec, segmenter, writer, timings, notes)
    timings["total"] = time.perf_counter() - t0
    return CallResult(transcript=transcript, segmentation=segmentation, timings=timings, notes=notes)


@_one_blas_thread
def load_transcript(
    source: str | Path,
    options: Options | dict | None = None,
    progress: Progress | None = None,
    timings: dict[str, float] | None = None,
) -> Transcript:
    """The transcript stage of `analyze` alone (`callphase transcribe`): a .vtt/.srt file is read as is;
    anything else is decoded and transcribed block by block.

    `timings["transcribe"]` covers decoding, VAD, recognition and speakers (they are interleaved)."""
    from .transcribe import add_speaker_info, transcribe_file

    opts = Options.coerce(options)
    path = Path(source)
    timings = timings if timings is not None else {}
    if path.suffix.lower() in CAPTION_SUFFIXES:
        t = time.perf_counter()
        transcript = read_captions(path)
        add_speaker_info(transcript, opts.speakers.roles)
        timings["captions"] = time.perf_counter() - t
        return transcript
    total = declared_duration(path) or 0.0
    t = time.perf_counter()
    on_utterance = (lambda u: progress("transcribe", min(u.end, total), total)) if progress else None
    transcript = transcribe_file(path, opts.asr, opts.speakers, on_utterance, opts.vad)
    timings["transcribe"] = time.perf_counter() - t
    if progress:
        progress("transcribe", total, total)
    return transcript


def make_llm(options: LLMOptions) -> LLM | None:
    """The backend `options` name (an object given is used as is); None: no LLM."""
    if options.backend is not None and not isinstance(options.backend, str):
        return options.backend
    from .llm import get_llm

    return get_llm(options.backend, base_url=options.base_url, api_key=options.api_key)


def make_segmenter(options: Options, llm: LLM | None = None) -> Segmenter:
    """The segmenter `options.segmenter` names, with its phase model (`callphase eval` scores this too)."""
    from .segment import get_segmenter
    from .segment.embedding import EmbeddingSegmenter

    embedding = EmbeddingSegmenter(model=_phase_model(options))
    return get_segmenter(options.segmenter.name, llm=llm, embedding=embedding)


NO_MODEL = (None, "", "none")


def _phase_model(options: Options):
    """The phase model options name: "auto" is the bundled `support` model (the embedding segmenter uses a
    model only for specs it has every phase of, so other phase lists get similarity alone)."""
    from .segment.phasemodel import get_phase_model

    name = options.segmenter.phase_model
    if name in NO_MODEL:
        return None
    return get_phase_model("support" if name == "auto" else name)


def _phases(transcript: Transcript, spec: PhaseSpec, segmenter: Segmenter, llm: LLM | None,
            timings: dict[str, float], notes: list[str]) -> Segmentation:
    """Validated phases, then their summaries. An LLM that fails costs its part only: the segmenter falls
    back to the embedding one, the summaries stay extractive, and `notes` says so."""
    from .segment import segment
    from .summarize import summarize

    t = time.perf_counter()
    segmentation = segment(transcript, spec, segmenter, notes)
    timings["segment"] = time.perf_counter() - t
    t = time.perf_counter()
    summarize(transcript, segmentation, llm, notes)
    timings["summarize"] = time.perf_counter() - t
    return segmentation


def _chapters(transcript: Transcript, llm: LLM | None, options: Options, notes: list[str]) -> Segmentation:
    from .chapters import TopicSegmenter, auto_chapters

    segmenter = TopicSegmenter(options.chapters.penalty, options.chapters.min_size)
    return auto_chapters(transcript, llm, segmenter, notes)


__all__ = ["Phases", "Progress", "Source", "analyze", "load_transcript", "make_llm", "make_segmenter"]
