"""Kaldi-style log mel filter banks, as CAM++ was trained on and as senko's C++ extractor computes them:
80 mel bins, 25 ms frames every 10 ms, no dither, DC removal, pre-emphasis 0.97, povey window, 512-point
FFT, 20 Hz to Nyquist, power spectrum, log floored at float epsilon, frames inside the signal only
(snip_edges). numpy only: its FFT and BLAS pick their instruction set at run time.

Speaker windows overlap (1.5 s every 0.6 s), so frames are computed once per distinct start sample and
shared between the windows that contain them, in chunks that bound memory for long calls.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

SAMPLE_RATE = 16000
FRAME_LENGTH = 400  # 25 ms
FRAME_SHIFT = 160  # 10 ms
FFT_SIZE = 512
MEL_BINS = 80
LOW_FREQ = 20.0
PREEMPHASIS = 0.97
# frames computed at once: bounds the transient arrays (1024 frames: about 6 MB)
CHUNK_FRAMES = 1024


def _mel(f):
    return 1127.0 * np.log(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


@lru_cache(maxsize=1)
def mel_banks() -> np.ndarray:
    """(MEL_BINS, FFT_SIZE // 2) triangular weights on the mel scale (Kaldi's MelBanks, no VTLN)."""
    bins = FFT_SIZE // 2
    low, high = _mel(LOW_FREQ), _mel(SAMPLE_RATE / 2)
    delta = (high - low) / (MEL_BINS + 1)
    mel = _mel(SAMPLE_RATE / FFT_SIZE * np.arange(bins))
    left = low + delta * np.arange(MEL_BINS)[:, None]
    centre, right = left + delta, left + 2 * delta
    up = (mel - left) / (centre - left)
    down = (right - mel) / (right - centre)
    weights = np.where(mel <= centre, up, down)
    weights[(mel <= left) | (mel >= right)] = 0.0
    return weights.astype(np.float32)


@lru_cache(maxsize=1)
def povey_window() -> np.ndarray:
    i = np.arange(FRAME_LENGTH, dtype=np.float64)
    return ((0.5 - 0.5 * np.cos(2 * np.pi * i / (FRAME_LENGTH - 1))) ** 0.85).astype(np.float32)


def frame_count(samples: int) -> int:
    """Frames of a signal this many samples long (snip_edges; a signal shorter than one frame is
    zero-padded to one, as senko does)."""
    return 1 + (max(samples, FRAME_LENGTH) - FRAME_LENGTH) // FRAME_SHIFT


def frames_at(samples: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Log mel energies (len(starts), MEL_BINS) of the 25 ms frames starting at these sample indices of
    mono float `samples`; samples past the end count as zeros."""
    x = np.asarray(samples, dtype=np.float32)
    out = np.empty((len(starts), MEL_BINS), dtype=np.float32)
    window, banks = povey_window(), mel_banks().T
    floor = np.finfo(np.float32).eps
    offsets = np.arange(FRAME_LENGTH)
    padded = x
    if len(starts) and int(np.max(starts)) + FRAME_LENGTH > len(x):
        padded = np.concatenate([x, np.zeros(int(np.max(starts)) + FRAME_LENGTH - len(x), np.float32)])
    for a in range(0, len(starts), CHUNK_FRAMES):
        frames = padded[starts[a:a + CHUNK_FRAMES, None] + offsets]
        frames = frames - frames.mean(axis=1, keepdims=True)
        frames[:, 1:] -= PREEMPHASIS * frames[:, :-1]
        frames[:, 0] *= 1.0 - PREEMPHASIS
        spectrum = np.fft.rfft(frames * window, n=FFT_SIZE)[:, : FFT_SIZE // 2]
        power = (spectrum.real ** 2 + spectrum.imag ** 2).astype(np.float32)
        out[a:a + CHUNK_FRAMES] = np.log(np.maximum(power @ banks, floor))
    return out


def window_features(samples: np.ndarray, windows: list[tuple[int, int]]) -> list[np.ndarray]:
    """Mean-normalised fbank features (frames, MEL_BINS) of each (start sample, length) window of
    `samples`, each frame computed once however many windows share it."""
    starts = [s + FRAME_SHIFT * np.arange(frame_count(n)) for s, n in windows]
    if not starts:
        return []
    unique, inverse = np.unique(np.concatenate(starts), return_inverse=True)
    feats = frames_at(samples, unique)
    out, k = [], 0
    for s in starts:
        f = feats[inverse[k:k + len(s)]]
        k += len(s)
        out.append(f - f.mean(axis=0, keepdims=True))
    return out
