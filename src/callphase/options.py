"""Everything a run can be asked to do, as one typed object: `Options`, made of one dataclass per stage.

Every door builds an `Options` and calls `callphase.analyze`; none wires stages itself. Each section may be
given as its dataclass or as a plain dict of its fields, and the whole as an `Options` or a dict of
sections: `{"asr": {"model": "tiny"}, "llm": {"backend": "none"}}`. Unknown sections or fields are an
`OptionsError` naming them.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

from .errors import OptionsError

if TYPE_CHECKING:
    from .asr import ASR
    from .llm import LLM


@dataclass
class ASROptions:
    """Speech recognition: local faster-whisper, or the user's own ASR service (asr/)."""

    # "local" (faster-whisper in this process), "openai:MODEL" (any OpenAI-compatible
    # /v1/audio/transcriptions), "assemblyai" or "assemblyai:SPEECH_MODEL" (AssemblyAI's v2 API, or another
    # `callphase serve`), or a backend object (asr.ASR). None: $CALLPHASE_ASR, else "local".
    backend: str | ASR | None = None
    # The service's base URL for openai:/assemblyai (default $CALLPHASE_ASR_BASE_URL, else the vendor's).
    base_url: str | None = None
    # Its key (default $CALLPHASE_ASR_API_KEY, else $OPENAI_API_KEY / $ASSEMBLYAI_API_KEY).
    api_key: str | None = None
    # Names the recogniser should spell right ("Acme Telecom, premium subscription", or a list): Whisper's
    # hotwords locally, the prompt for openai:, keyterms_prompt for assemblyai. Phase files may add some.
    keyterms: list[str] | str | None = None
    # Local: `tiny` / `base` (packaged, offline), a Hugging Face model name, or a local CTranslate2 directory.
    model: str = "base"
    # Local: "cpu", "cuda" (a GPU CTranslate2 can see) or "auto".
    device: str = "cpu"
    # Local: CTranslate2's compute type (int8; float16 or int8_float16 on a GPU).
    compute_type: str = "int8"
    # Spoken language code ("en"); None: Whisper detects it.
    language: str | None = None
    # Local: beam size; None: 5 for phone audio (recorded at 8 kHz or less), 1 (greedy) for wideband.
    # bench/bench_asr.py with base: at 8 kHz beam 5 lowered WER on 10 support calls (0.328 -> 0.301) and
    # on the real pyannote sample in the phone band (0.235 -> 0.222), for 18% more decoding time (the
    # demo: 5.3 vs 4.5 s); on that sample at 16 kHz greedy was better (0.185 vs 0.210).
    beam_size: int | None = None
    # CPU threads of one Whisper model.
    cpu_threads: int = 1
    # Utterances break at sentence ends and at pauses at least this long (seconds).
    split_gap: float = 0.8

    def __post_init__(self) -> None:
        if self.keyterms is not None:
            from .asr import parse_keyterms

            self.keyterms = parse_keyterms(self.keyterms)


@dataclass
class VADOptions:
    """Voice activity detection before recognition (Silero VAD, vad.py)."""

    # Transcribe only around speech; long non-speech (silence, hold music, tones) is reported in
    # `Transcript.non_speech`, never transcribed. False: Whisper hears everything.
    enabled: bool = True


@dataclass
class SpeakerOptions:
    """Who speaks: a party per channel of a stereo call, or diarization of a mono one."""

    # Mix all channels into one (also the way to read files with more than two channels).
    mono: bool = False
    # Stereo: names of channel 0 and 1 (default A, B). A list, or "agent,customer".
    channel_names: list[str] | str | None = None
    # Mono: diarize into this many speakers; 1: no diarization.
    speakers: int = 2
    # Rename two speakers Agent and Customer by the role heuristic (who greets, who asks).
    roles: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.channel_names, str):
            from .speakers import parse_names

            self.channel_names = parse_names(self.channel_names)


@dataclass
class SegmenterOptions:
    """How utterances get their phase (segment/)."""

    # "embedding" (default: sentence embeddings, best ordered path), "llm" or "hybrid" (both need an LLM).
    name: str = "embedding"
    # A phase model that sharpens the embedding scores, used only when it has a phase for every phase
    # asked for: "auto" (the bundled `support` model, for the seed's Introduction, Complaint, Resolution,
    # Goodbye and their aliases), "support", "star" (STAR task dialogues), the path of a .npz from
    # `callphase train`, or "none" (None too): similarity only.
    phase_model: str | None = "auto"


@dataclass
class ChapterOptions:
    """Auto chapters, made when no phases are given (chapters.py)."""

    # Cost of one more chapter; higher: fewer, longer chapters (3: dev Pk 0.25 on joined STAR dialogues).
    penalty: float = 3.0
    # The fewest utterances a chapter has.
    min_size: int = 5


@dataclass
class LLMOptions:
    """The language model for summaries, chapter titles and the llm/hybrid segmenters (llm/)."""

    # "auto" (the packaged local model when installed, else none), "none", "local", "local:PATH.gguf",
    # "openai:MODEL", or a backend object (anything with `name` and `chat`, e.g. `llm.DryRunLLM`).
    # None: $CALLPHASE_LLM, else "auto".
    backend: str | LLM | None = None
    # OpenAI-compatible base URL for "openai:MODEL" (default $CALLPHASE_LLM_BASE_URL or $OPENAI_BASE_URL).
    base_url: str | None = None
    # Key for "openai:MODEL" (default $CALLPHASE_LLM_API_KEY or $OPENAI_API_KEY).
    api_key: str | None = None


@dataclass
class SummaryOptions:
    """One summary per phase (summarize.py)."""

    # Let the LLM write them when one is configured (each checked against its phase's words);
    # False: always extractive (the phase's own most informative utterances).
    llm: bool = True


@dataclass
class Options:
    """One run's options, a section per stage."""

    asr: ASROptions = field(default_factory=ASROptions)
    vad: VADOptions = field(default_factory=VADOptions)
    speakers: SpeakerOptions = field(default_factory=SpeakerOptions)
    segmenter: SegmenterOptions = field(default_factory=SegmenterOptions)
    chapters: ChapterOptions = field(default_factory=ChapterOptions)
    llm: LLMOptions = field(default_factory=LLMOptions)
    summaries: SummaryOptions = field(default_factory=SummaryOptions)

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            kind = _SECTIONS[f.name]
            if isinstance(value, dict):
                setattr(self, f.name, _section(kind, value, f.name))
            elif not isinstance(value, kind):
                raise OptionsError(f"option section {f.name} must be a {kind.__name__} or a dict, not {type(value).__name__}")

    @classmethod
    def coerce(cls, value: Options | dict[str, Any] | None) -> Options:
        """An Options from an Options (returned as is), a dict of sections, or None (the defaults)."""
        if value is None:
            return cls()
        if isinstance(value, cls):
            return value
        if isinstance(value, dict):
            unknown = sorted(set(value) - set(_SECTIONS))
            if unknown:
                raise OptionsError(f"unknown option section(s) {', '.join(unknown)}: use {', '.join(_SECTIONS)}")
            return cls(**value)
        raise OptionsError(f"options must be an Options or a dict, not {type(value).__name__}")


def _section(kind: type, value: dict[str, Any], name: str) -> Any:
    known = {f.name for f in fields(kind)}
    unknown = sorted(set(value) - known)
    if unknown:
        raise OptionsError(f"unknown {name} option(s) {', '.join(unknown)}: use {', '.join(sorted(known))}")
    return kind(**value)


_SECTIONS: dict[str, type] = {
    "asr": ASROptions, "vad": VADOptions, "speakers": SpeakerOptions, "segmenter": SegmenterOptions,
    "chapters": ChapterOptions, "llm": LLMOptions, "summaries": SummaryOptions,
}
__all__ = ["ASROptions", "ChapterOptions", "LLMOptions", "Options", "SegmenterOptions", "SpeakerOptions",
           "SummaryOptions", "VADOptions"]
