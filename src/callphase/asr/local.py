"""The local backend: faster-whisper in this process (CPU by default; `device="cuda"` with a GPU)."""
from __future__ import annotations

import numpy as np

from . import Clips, RawWord, Recognition

# How key terms reach Whisper: "hotwords" (in every window's prompt) or "prompt" (initial_prompt: the
# first window only, as windows are decoded without the previous one's text). bench/bench_asr.py.
KEYTERMS_AS = "hotwords"
# faster-whisper decoding settings beyond its defaults (bench/bench_asr.py measures candidates)
DECODE: dict = {}


class LocalASR:
    """One call's own Whisper model (`models.new_whisper`: the transcript depends on the call alone)."""

    whole_call = False

    def __init__(self, model: str = "base", cpu_threads: int = 1, device: str = "cpu", compute_type: str = "int8",
                 beam_size: int = 1):
        from ..models import new_whisper

        self.name = f"faster-whisper:{model}"
        self.beam_size = beam_size
        self.model = new_whisper(model, cpu_threads, compute_type, device)

    def recognize(self, samples: np.ndarray, sample_rate: int, clips: Clips | None, language: str | None,
                  keyterms: list[str]) -> Recognition:
        segments, info = self.model.transcribe(
            samples,
            beam_size=self.beam_size,
            language=language,
            word_timestamps=True,
            # Trials on call audio: True invented text at the end of a real clip; Whisper's own VAD dropped
            # whole sentences on phone-band audio (see vad.py for ours). See shared/MODELS.md.
            condition_on_previous_text=False,
            vad_filter=False,
            clip_timestamps=[t for c in clips for t in c] if clips else "0",
            hotwords=", ".join(keyterms) if keyterms and KEYTERMS_AS == "hotwords" else None,
            initial_prompt=", ".join(keyterms) + "." if keyterms and KEYTERMS_AS == "prompt" else None,
            **DECODE,
        )
        words = ([RawWord(w.word, float(w.start), float(w.end), float(w.probability)) for w in s.words or []]
                 for s in segments)
        return Recognition(words, info.language)
