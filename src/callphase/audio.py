"""Decode any audio container with PyAV (its wheels bundle ffmpeg) to float32 at 16 kHz, whole or in blocks."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from .errors import AudioError

SAMPLE_RATE = 16000  # what Whisper expects
# Long calls are decoded and transcribed in blocks of about this length, so memory stays bounded.
BLOCK_SECONDS = 600.0
# Each block ends at the quietest moment of its last this-many seconds, so no word is cut in two.
CUT_SEARCH_SECONDS = 20.0
# What `callphase batch` takes for a recording when it walks a folder (any container PyAV reads works
# when named directly).
AUDIO_SUFFIXES = (".mp3", ".wav", ".m4a", ".flac", ".ogg", ".opus", ".webm", ".aac", ".wma", ".mp4", ".amr")


@dataclass
class Audio:
    samples: np.ndarray  # float32, shape (channels, n)
    sample_rate: int
    source_rate: int
    source_channels: int
    path: str = ""
    offset: float = 0.0  # seconds from the start of the file to samples[:, 0] (blocks of a long file)

    @property
    def duration(self) -> float:
        return self.samples.shape[1] / self.sample_rate

    @property
    def channels(self) -> int:
        return self.samples.shape[0]

    def mono(self) -> np.ndarray:
        return self.samples.mean(axis=0) if self.channels > 1 else self.samples[0]


def wav_bytes(samples: np.ndarray, sample_rate: int) -> bytes:
    """Float samples (mono, or (channels, n)) as a 16-bit PCM WAV file in memory (what an ASR service is sent). Samples that
    came from 16-bit audio come back bit for bit (x * 32768, rounded). A block of BLOCK_SECONDS at 16 kHz
    is 19.2 MB, under OpenAI's 25 MB upload limit."""
    import io
    import wave

    x = np.asarray(samples, dtype=np.float64)
    x = x[None] if x.ndim == 1 else x  # (channels, n)
    pcm = np.clip(np.round(x * 32768.0), -32768, 32767).astype("<i2").T  # interleaved
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as w:
        w.setnchannels(x.shape[0])
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(pcm.tobytes())
    return buffer.getvalue()


def decode(path: str | Path, sample_rate: int = SAMPLE_RATE, keep_channels: bool = False) -> Audio:
    """Decode the first audio stream of `path` whole, resampled to `sample_rate`.

    Mono by default (all channels mixed); `keep_channels` keeps both channels of a stereo call (one party
    per channel) and refuses more than two. Raises AudioError with a one-line reason for anything that is
    not decodable audio.
    """
    parts = list(blocks(path, sample_rate, keep_channels, block_seconds=float("inf")))
    if len(parts) == 1:
        return parts[0]
    first = parts[0]
    return Audio(np.concatenate([p.samples for p in parts], axis=1), sample_rate, first.source_rate,
                 first.source_channels, first.path)


def blocks(
    path: str | Path,
    sample_rate: int = SAMPLE_RATE,
    keep_channels: bool = False,
    block_seconds: float = BLOCK_SECONDS,
) -> Iterator[Audio]:
    """Decode `path` in blocks of about `block_seconds` (the last one shorter), each with its `offset`.

    A block ends at the quietest 0.1 s of its last CUT_SEARCH_SECONDS. At most one block and the
    decoder's frames are in memory at a time, so a two-hour call needs no more than a ten-minute one.
    Errors are raised where they are found: a file that turns out truncated fails after its last block.
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
        if keep_channels and source_channels > 2:
            raise AudioError(
                f"{path.name} has {source_channels} audio channels: callphase reads mono calls and two-party "
                "stereo (one party per channel); the speaker option `mono` mixes all channels into one",
                option="speakers.mono",
            )
        layout = "stereo" if keep_channels and source_channels == 2 else "mono"
        resampler = av.AudioResampler(format="fltp", layout=layout, rate=sample_rate)
        block_n = block_seconds * sample_rate
        pending: list[np.ndarray] = []
        pending_n, offset_n = 0, 0

        def frames() -> Iterator[np.ndarray]:
            try:
                for frame in container.decode(stream):
                    frame.pts = None  # let the resampler count samples; broken timestamps must not drop audio
                    for out in resampler.resample(frame):
                        yield out.to_ndarray()
                for out in resampler.resample(None):
                    yield out.to_ndarray()
            except av.FFmpegError as e:
                raise AudioError(f"{path.name} is corrupt: {_reason(e)}") from None

        def make(samples: np.ndarray, start_n: int) -> Audio:
            return Audio(samples.astype(np.float32, copy=False), sample_rate, source_rate, source_channels,
                         str(path), offset=start_n / sample_rate)

        for chunk in frames():
            pending.append(chunk)
            pending_n += chunk.shape[1]
            if pending_n >= block_n + CUT_SEARCH_SECONDS * sample_rate:
                buffered = np.concatenate(pending, axis=1)
                cut = _quiet_cut(buffered, int(block_n), int(CUT_SEARCH_SECONDS * sample_rate), sample_rate)
                yield make(buffered[:, :cut], offset_n)
                offset_n += cut
                pending, pending_n = [buffered[:, cut:]], buffered.shape[1] - cut
        declared = _riff_seconds(path) or _declared_seconds(stream)
    decoded = (offset_n + pending_n) / sample_rate
    if decoded == 0:
        raise AudioError(f"{path.name} contains no audio samples (0 seconds)")
    # A cut-off file still decodes up to the cut; its header tells us more was promised.
    if declared is not None and decoded < declared - max(2.0, 0.1 * declared):
        raise AudioError(
            f"{path.name} looks truncated: its header says {declared:.1f} s, only {decoded:.1f} s decoded"
        )
    if pending_n:
        yield make(np.concatenate(pending, axis=1), offset_n)


def _quiet_cut(samples: np.ndarray, end: int, search: int, sample_rate: int) -> int:
    """The sample index of the quietest 0.1 s frame in samples[end - search : end]."""
    frame = sample_rate // 10
    lo = max(end - search, frame)
    region = np.abs(samples[:, lo:end]).sum(axis=0)
    n = len(region) // frame
    if n == 0:
        return end
    energy = region[: n * frame].reshape(n, frame).sum(axis=1)
    return lo + int(energy.argmin()) * frame + frame // 2


def declared_duration(path: str | Path) -> float | None:
    """The length the file's header states (for progress bars), or None."""
    try:
        with av.open(str(path)) as container:
            if container.streams.audio:
                seconds = _declared_seconds(container.streams.audio[0])
                if seconds:
                    return seconds
            return container.duration / 1e6 if container.duration else None
    except (av.FFmpegError, OSError):
        return None


def _riff_seconds(path: Path) -> float | None:
    """The length a WAV header declares (data chunk size / byte rate). ffmpeg reports a WAV's length from
    the file's size, so a cut-off WAV would otherwise pass as a shorter call."""
    import struct

    try:
        with open(path, "rb") as f:
            head = f.read(1 << 16)
    except OSError:
        return None
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    byte_rate, i = None, 12
    while i + 8 <= len(head):
        kind, size = head[i:i + 4], struct.unpack("<I", head[i + 4:i + 8])[0]
        if kind == b"fmt " and i + 16 <= len(head):
            byte_rate = struct.unpack("<I", head[i + 16:i + 20])[0] if i + 20 <= len(head) else None
        elif kind == b"data":
            # 0 and 0xFFFFFFFF: written by a stream that did not know its length
            if not byte_rate or size in (0, 0xFFFFFFFF):
                return None
            return size / byte_rate
        i += 8 + size + (size & 1)
    return None


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
    return float(loud_frames(audio.mono(), audio.sample_rate, threshold_db, frame).sum() * frame)


def loud_frames(x: np.ndarray, sample_rate: int, threshold_db: float = -45.0, frame: float = 0.03) -> np.ndarray:
    """One bool per `frame` seconds of mono `x`: louder than `threshold_db` dBFS."""
    n = int(frame * sample_rate)
    if len(x) < n:
        return np.zeros(0, bool)
    frames = x[: len(x) // n * n].reshape(-1, n)
    rms = np.sqrt(np.mean(frames.astype(np.float64) ** 2, axis=1))
    return 20 * np.log10(np.maximum(rms, 1e-10)) > threshold_db


def download(url: str, target: Path, timeout: float = 60.0) -> Path:
    """Fetch an http(s) recording into `target` (the server's and the batch runner's URLs); AudioError
    saying why when it cannot be had."""
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp, open(target, "wb") as out:
            while block := resp.read(1 << 20):
                out.write(block)
    except (OSError, ValueError) as e:
        Path(target).unlink(missing_ok=True)
        raise AudioError(f"cannot fetch audio_url {url}: {getattr(e, 'reason', e)}") from None
    return Path(target)
