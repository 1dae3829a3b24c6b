"""Decode any audio container with PyAV (its wheels bundle ffmpeg) to float32 at 16 kHz."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from .errors import AudioError

SAMPLE_RATE = 16000  # what Whisper expects


@dataclass
class Audio:
    samples: np.ndarray  # float32, shape (channels, n)
    sample_rate: int
    source_rate: int
    source_channels: int
    path: str = ""

    @property
    def duration(self) -> float:
        return self.samples.shape[1] / self.sample_rate

    @property
    def channels(self) -> int:
        return self.samples.shape[0]

    def mono(self) -> np.ndarray:
        return self.samples.mean(axis=0) if self.channels > 1 else self.samples[0]


def decode(path: str | Path, sample_rate: int = SAMPLE_RATE, keep_channels: bool = False) -> Audio:
    """Decode the first audio stream of `path`, resampled to `sample_rate`.

    Mono by default; `keep_channels` keeps up to two channels (stereo calls carry one party per channel).
    Raises AudioError with a one-line reason for anything that is not decodable audio.
    """
    path = Path(path)
    if not path.exists():
        raise AudioError(f"no such file: {path}")
    if not path.is_file():
        raise AudioError(f"not a file: {path}")
    if path.stat().st_size == 0:
        raise AudioError(f"file is empty: {path}")
    try:
        container = av.open(str(path))
    except av.FFmpegError as e:
        raise AudioError(f"cannot read {path.name} as audio: {_reason(e)}") from None
    with container:
        if not container.streams.audio:
            raise AudioError(f"{path.name} has no audio stream")
        stream = container.streams.audio[0]
        source_rate = stream.codec_context.sample_rate or stream.rate or 0
        source_channels = stream.codec_context.channels or 1
        layout = "stereo" if keep_channels and source_channels >= 2 else "mono"
        resampler = av.AudioResampler(format="fltp", layout=layout, rate=sample_rate)
        chunks: list[np.ndarray] = []
        try:
            for frame in container.decode(stream):
                frame.pts = None  # let the resampler count samples; broken timestamps must not drop audio
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray())
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray())
        except av.FFmpegError as e:
            raise AudioError(f"{path.name} is corrupt: {_reason(e)}") from None
        declared = _declared_seconds(stream)
    if not chunks:
        raise AudioError(f"{path.name} contains no audio samples")
    samples = np.concatenate(chunks, axis=1).astype(np.float32, copy=False)
    decoded = samples.shape[1] / sample_rate
    # A cut-off file still decodes up to the cut; its header tells us more was promised.
    if declared is not None and decoded < declared - max(2.0, 0.1 * declared):
        raise AudioError(
            f"{path.name} looks truncated: its header says {declared:.1f} s, only {decoded:.1f} s decoded"
        )
    if samples.shape[1] == 0:
        raise AudioError(f"{path.name} contains no audio samples")
    return Audio(samples, sample_rate, source_rate, source_channels, str(path))


def _declared_seconds(stream) -> float | None:
    if stream.duration is None or stream.time_base is None:
        return None
    seconds = float(stream.duration * stream.time_base)
    return seconds if seconds > 0 else None


def _reason(e: Exception) -> str:
    return getattr(e, "strerror", None) or str(e).splitlines()[0]


def speech_seconds(audio: Audio, threshold_db: float = -45.0, frame: float = 0.03) -> float:
    """Seconds of frames louder than `threshold_db` dBFS: a cheap test for silence-only input.

    Whisper invents words ("Thank you.") in pure silence, so silent files skip recognition entirely.
    """
    x = audio.mono()
    n = int(frame * audio.sample_rate)
    if len(x) < n:
        return 0.0
    frames = x[: len(x) // n * n].reshape(-1, n)
    rms = np.sqrt(np.mean(frames.astype(np.float64) ** 2, axis=1))
    loud = 20 * np.log10(np.maximum(rms, 1e-10)) > threshold_db
    return float(loud.sum() * frame)
