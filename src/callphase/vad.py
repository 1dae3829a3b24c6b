"""Where people speak: Silero VAD (the ONNX copy inside faster-whisper, no torch) finds speech; long gaps
between speech are reported as non-speech (silence, or sound such as hold music and IVR tones).

Whisper is only run on the speech (with margins), so it cannot invent words in a long silence or over
hold music; gaps shorter than NON_SPEECH_MIN stay in, because cutting Whisper's context at every pause
dropped whole sentences on phone audio (shared/MODELS.md).
"""
from __future__ import annotations

import numpy as np

from .audio import loud_frames
from .types import NonSpeech

# Gaps between speech at least this long are non-speech spans (seconds).
NON_SPEECH_MIN = 3.0
# Silero's speech probability threshold: lower than its 0.5 default, because phone-band speech
# scores lower; hold music and tones stayed below 0.2 in trials.
THRESHOLD = 0.35
# Whisper's word times next to silence can be a second off the VAD's edges: words and utterances within
# this of a non-speech span's edge are taken as speech.
WORD_EDGE = 1.0
# Whisper gets this much audio either side of each speech region (seconds).
MARGIN = 0.4


def speech_regions(samples: np.ndarray, sample_rate: int = 16000, threshold: float = THRESHOLD) -> list[tuple[float, float]]:
    """(start, end) seconds of speech in mono `samples`, in time order."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    if len(samples) < sample_rate // 10:
        return []
    options = VadOptions(threshold=threshold, min_speech_duration_ms=150, min_silence_duration_ms=300, speech_pad_ms=100)
    stamps = get_speech_timestamps(np.ascontiguousarray(samples, dtype=np.float32), options, sampling_rate=sample_rate)
    return [(s["start"] / sample_rate, s["end"] / sample_rate) for s in stamps]


Spans = list[tuple[float, float]]


def gaps(regions: Spans, start: float, end: float, min_seconds: float = NON_SPEECH_MIN) -> Spans:
    """Spans of [start, end] at least `min_seconds` long that no region touches."""
    out, t = [], start
    for s, e in sorted(regions):
        if s - t >= min_seconds:
            out.append((t, s))
        t = max(t, e)
    if end - t >= min_seconds:
        out.append((t, end))
    return out


def clips(regions: Spans, duration: float, min_gap: float = NON_SPEECH_MIN, margin: float | None = None) -> Spans:
    """What Whisper transcribes: speech regions widened by `margin` (MARGIN), joined across gaps under `min_gap`."""
    margin = MARGIN if margin is None else margin
    out: list[list[float]] = []
    for s, e in sorted(regions):
        s, e = max(0.0, s - margin), min(duration, e + margin)
        if out and s - out[-1][1] < min_gap:
            out[-1][1] = max(out[-1][1], e)
        else:
            out.append([s, e])
    return [(s, e) for s, e in out]


LOUD_FRAME = 0.03  # seconds per loudness frame


def loudness(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """One bool per LOUD_FRAME seconds: louder than -45 dBFS. Kept for a whole call (a few hundred kB
    for two hours) so that non-speech spans can be classed after the audio blocks are gone."""
    return loud_frames(samples, sample_rate, frame=LOUD_FRAME)


def classify(loud: np.ndarray, start: float, end: float) -> str:
    """"silence" when under a fifth of the span is louder than -45 dBFS, else "sound" (music, tones, noise)."""
    part = loud[int(start / LOUD_FRAME): int(end / LOUD_FRAME)]
    return "sound" if len(part) and part.mean() > 0.2 else "silence"


def intersect(a: Spans, b: Spans, min_seconds: float = NON_SPEECH_MIN) -> Spans:
    """Spans in both `a` and `b` (each sorted, non-overlapping) at least `min_seconds` long: when neither
    party of a stereo call speaks."""
    out, i, j = [], 0, 0
    while i < len(a) and j < len(b):
        s, e = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if e - s >= min_seconds:
            out.append((s, e))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


def non_speech(loud_by_channel: list[np.ndarray], spans: list[tuple[float, float]]) -> list[NonSpeech]:
    """NonSpeech entries for `spans`; "sound" when any channel has sound there."""
    out = []
    for s, e in spans:
        kinds = {classify(loud, s, e) for loud in loud_by_channel}
        out.append(NonSpeech(start=round(s, 3), end=round(e, 3), kind="sound" if "sound" in kinds else "silence"))
    return out


# Between two packed clips (pack): enough quiet for Whisper to hear a pause, far less than the gap it stands for.
PACK_GAP = 1.0


Pieces = list[tuple[float, float, float]]


def pack(samples: np.ndarray, sample_rate: int, spans: Spans, gap: float = PACK_GAP) -> tuple[np.ndarray, Pieces]:
    """The clips of `samples` one after another, `gap` seconds of silence between them, so that Whisper's
    30-second windows are filled with speech: a clip no longer starts a window of its own, and the
    non-speech between clips (hold music, silence) is never heard. Returns (packed samples, pieces) with
    one (packed start, call start, length) in seconds per clip, for `unpack`."""
    parts, pieces, at = [], [], 0
    silence = np.zeros(int(round(gap * sample_rate)), dtype=samples.dtype)
    for s, e in spans:
        a, b = int(round(s * sample_rate)), min(len(samples), int(round(e * sample_rate)))
        if b <= a:
            continue
        if parts:
            parts.append(silence)
            at += len(silence)
        parts.append(samples[a:b])
        pieces.append((at / sample_rate, a / sample_rate, (b - a) / sample_rate))
        at += b - a
    return (np.concatenate(parts) if parts else samples[:0]), pieces


def unpack(t: float, pieces: Pieces) -> float:
    """A time in packed audio as a time in the block: exact inside a clip; in the gap after a clip, that
    clip's end."""
    chosen = pieces[0]
    for piece in pieces:
        if piece[0] > t:
            break
        chosen = piece
    packed, start, length = chosen
    return start + min(max(t - packed, 0.0), length)
