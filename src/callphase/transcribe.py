"""Speech recognition with faster-whisper: utterances with word times, yielded as they are decoded."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from .audio import Audio, speech_seconds
from .models import load_whisper
from .types import Transcript, Utterance, Word

SENTENCE_END = (".", "?", "!", "。", "？", "！")


@dataclass
class ASROptions:
    model: str = "base"
    # Greedy: on real 8 kHz phone speech beam 5 was no more accurate (WER on the
    # pyannote sample band-limited to 8 kHz: beam 5 0.198, greedy 0.185) and 2-4x slower. Beam 5 helps on
    # wideband audio (same sample at 16 kHz: 0.136 vs 0.185).
    beam_size: int = 1
    language: str | None = None
    cpu_threads: int = 1
    # Utterances break at sentence ends and at pauses at least this long (seconds).
    split_gap: float = 0.8


def transcribe(audio: Audio, options: ASROptions | None = None) -> tuple[Iterator[Utterance], str | None]:
    """Return (utterances in time order, as a lazy generator; the spoken language).

    Whisper merges speaker turns on phone audio, so utterances are cut from word times rather than
    taken as Whisper's segments."""
    opts = options or ASROptions()
    if speech_seconds(audio) < 0.2:
        return iter(()), opts.language
    model = load_whisper(opts.model, opts.cpu_threads)
    segments, info = model.transcribe(
        audio.mono(),
        beam_size=opts.beam_size,
        language=opts.language,
        word_timestamps=True,
        # Trials on call audio: True invented text at the end of a real clip; VAD dropped whole
        # sentences on phone-band audio. See shared/MODELS.md.
        condition_on_previous_text=False,
        vad_filter=False,
    )
    return _utterances(segments, opts.split_gap), info.language


def _utterances(segments, split_gap: float) -> Iterator[Utterance]:
    index = 0
    for segment in segments:
        for words in _split(segment.words or [], split_gap):
            text = "".join(w.word for w in words).strip()
            if not text:
                continue
            yield Utterance(
                index=index,
                start=round(float(words[0].start), 3),
                end=round(float(max(words[-1].end, words[0].start)), 3),
                text=text,
                words=[
                    Word(
                        text=w.word.strip(),
                        start=round(float(w.start), 3),
                        end=round(float(w.end), 3),
                        probability=round(float(w.probability), 4),
                    )
                    for w in words
                ],
            )
            index += 1


def _split(words: list, gap: float) -> Iterator[list]:
    current: list = []
    for w in words:
        if current and (w.start - current[-1].end >= gap or current[-1].word.strip().endswith(SENTENCE_END)):
            yield current
            current = []
        current.append(w)
    if current:
        yield current


def transcribe_audio(
    audio: Audio,
    options: ASROptions | None = None,
    on_utterance: Callable[[Utterance], None] | None = None,
) -> Transcript:
    """Collect `transcribe` into a Transcript; `on_utterance` sees each utterance as it arrives."""
    opts = options or ASROptions()
    stream, language = transcribe(audio, opts)
    utterances = []
    for u in stream:
        utterances.append(u)
        if on_utterance:
            on_utterance(u)
    return Transcript(
        duration=round(audio.duration, 3),
        language=language,
        utterances=utterances,
        source=f"faster-whisper:{opts.model}",
    )
