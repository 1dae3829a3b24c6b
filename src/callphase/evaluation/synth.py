"""Render a scripted dialogue as a phone call with known times: two espeak-ng voices, 300-3400 Hz band
(sox), 8 kHz, natural pauses. Gold phase times follow from where each turn was placed.

Needs the `espeak-ng` and `sox` programs (Debian: apt-get install espeak-ng sox).
"""
from __future__ import annotations

import random
import shutil
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .gold import gold_from_labels

VOICES = {"agent": ("en-us", 165), "customer": ("en-gb+m3", 150)}


@dataclass
class Turn:
    speaker: str
    text: str
    phase: str | None = None
    start: float = 0.0
    end: float = 0.0


@dataclass
class RenderedCall:
    turns: list[Turn]
    duration: float
    sample_rate: int
    samples: np.ndarray = field(repr=False)  # float32, (channels, n)

    def gold_phases(self) -> list[dict]:
        """Contiguous phases covering [0, duration]; each starts where its first turn starts."""
        labelled = [t for t in self.turns if t.phase is not None]
        return gold_from_labels([t.start for t in labelled], [t.phase for t in labelled], self.duration)

    def truth(self) -> dict:
        return {
            "duration": self.duration,
            "phases": [{k: (round(v, 3) if isinstance(v, float) else v) for k, v in p.items()} for p in self.gold_phases()],
            "turns": [{**asdict(t), "start": round(t.start, 3), "end": round(t.end, 3)} for t in self.turns],
        }


def require_tools() -> None:
    missing = [t for t in ("espeak-ng", "sox") if shutil.which(t) is None]
    if missing:
        raise RuntimeError(f"needs {' and '.join(missing)} on PATH (apt-get install espeak-ng sox)")


def speak(text: str, voice: str, speed: int, sample_rate: int = 8000, phone_band: bool = True) -> np.ndarray:
    """One utterance as float32 mono at `sample_rate`."""
    wav = subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(speed), "--stdout", text], check=True, capture_output=True
    ).stdout
    effects = ["sinc", "300-3400"] if phone_band else []
    # -D: no dither, so the same script always renders the same samples (tests depend on it)
    out = subprocess.run(
        ["sox", "-D", "-t", "wav", "-", "-t", "raw", "-e", "signed", "-b", "16", "-r", str(sample_rate), "-c", "1", "-",
         *effects],
        input=wav, check=True, capture_output=True,
    ).stdout
    x = np.frombuffer(out, dtype="<i2").astype(np.float32) / 32768.0
    # espeak pads with silence: trim so the turn's time is its speech
    loud = np.flatnonzero(np.abs(x) > 0.01)
    return x[loud[0] : loud[-1] + 1] if len(loud) else x


def render_call(
    turns: list[Turn] | list[dict],
    *,
    sample_rate: int = 8000,
    stereo: bool = False,
    pause: tuple[float, float] = (0.35, 1.1),
    lead_in: float = 0.6,
    tail: float = 0.8,
    seed: int = 0,
    voices: dict[str, tuple[str, int]] | None = None,
) -> RenderedCall:
    """Place the turns one after another with random pauses. Stereo puts the agent on the left channel."""
    require_tools()
    voices = voices or VOICES
    rng = random.Random(seed)
    turns = [t if isinstance(t, Turn) else Turn(**{k: t[k] for k in ("speaker", "text", "phase") if k in t}) for t in turns]
    pieces, t = [], lead_in
    for turn in turns:
        voice, speed = voices.get(turn.speaker, voices["customer"])
        audio = speak(turn.text, voice, speed, sample_rate)
        turn.start, turn.end = t, t + len(audio) / sample_rate
        pieces.append((turn, audio))
        t = turn.end + rng.uniform(*pause)
    duration = turns[-1].end + tail if turns else tail
    n = int(round(duration * sample_rate))
    channels = 2 if stereo else 1
    samples = np.zeros((channels, n), np.float32)
    for turn, audio in pieces:
        i = int(round(turn.start * sample_rate))
        ch = 0 if not stereo or turn.speaker == "agent" else 1
        samples[ch, i : i + len(audio)] += audio[: n - i]
    # a little line noise: real calls are never digitally silent
    samples += np.random.default_rng(seed).normal(0, 0.0015, samples.shape).astype(np.float32)
    return RenderedCall(turns, n / sample_rate, sample_rate, np.clip(samples, -1, 1))


def write_audio(samples: np.ndarray, sample_rate: int, path: str | Path) -> Path:
    """Write float32 (channels, n) audio; the container and codec follow the file suffix
    (.wav .mp3 .m4a .flac .ogg)."""
    import av

    path = Path(path)
    samples = np.atleast_2d(samples).astype(np.float32)
    layout = "stereo" if samples.shape[0] == 2 else "mono"
    codec, fmt = {
        ".wav": ("pcm_s16le", "wav"), ".mp3": ("libmp3lame", "mp3"), ".m4a": ("aac", "mp4"),
        ".aac": ("aac", "adts"), ".flac": ("flac", "flac"), ".ogg": ("libopus", "ogg"),
    }[path.suffix.lower()]
    rate = 48000 if codec == "libopus" else sample_rate  # opus only runs at 8/12/16/24/48 kHz; keep it simple
    with av.open(str(path), "w", format=fmt) as container:
        stream = container.add_stream(codec, rate=rate, layout=layout)
        frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout=layout)
        frame.sample_rate = sample_rate
        resampler = av.AudioResampler(format=stream.codec_context.format, layout=layout, rate=rate,
                                      frame_size=stream.codec_context.frame_size or None)
        for chunk in resampler.resample(frame) + resampler.resample(None):
            for packet in stream.encode(chunk):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def hold_music(seconds: float, sample_rate: int = 8000, level: float = 0.25) -> np.ndarray:
    """A chord melody (one chord a second), like a hold loop."""
    t = np.arange(int(sample_rate)) / sample_rate
    chords = []
    for f in [261.6, 329.6, 392.0, 349.2, 293.7, 440.0] * int(seconds // 6 + 1):
        chord = sum(np.sin(2 * np.pi * f * m * t) for m in (1.0, 1.5, 2.0)) / 3
        chords.append(chord * np.minimum(1, np.minimum(t, t[::-1]) * 20))  # soft edges, no clicks
    return (level * np.concatenate(chords)[: int(seconds * sample_rate)]).astype(np.float32)


def dtmf(digits: str, sample_rate: int = 8000, level: float = 0.25) -> np.ndarray:
    """Keypad tones, 0.2 s each with 0.2 s gaps, as an IVR hears them."""
    rows, cols = (697, 770, 852, 941), (1209, 1336, 1477)
    keys = "123456789*0#"
    t = np.arange(int(0.2 * sample_rate)) / sample_rate
    out = []
    for d in digits:
        i = keys.index(d)
        out += [level / 2 * (np.sin(2 * np.pi * rows[i // 3] * t) + np.sin(2 * np.pi * cols[i % 3] * t)),
                np.zeros(len(t))]
    return np.concatenate(out).astype(np.float32)
