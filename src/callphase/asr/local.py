"""The local backend: faster-whisper in this process (CPU by default; `device="cuda"` with a GPU)."""
from __future__ import annotations

import numpy as np

from . import Clips, RawWord, Recognition

# How key terms reach local Whisper: "none", "hotwords" (in every window's prompt) or "prompt"
# (initial_prompt: the first window only, as windows are decoded without the previous one's text).
# bench/bench_asr.py, base, 10 support calls (629 s, WER 0.328 without): the call's own names as hotwords
# heard more of them (44% -> 75%) but raised WER to 0.371 (phrases dropped), as a prompt to 0.371; names
# absent from the call raised it to 0.377 and 0.336. So Whisper here does not get them; remote
# backends do (their models are trained to take them).
KEYTERMS_AS = "none"
# faster-whisper decoding settings beyond its defaults (bench/bench_asr.py measures candidates)
DECODE: dict = {}


class _Counted:
    """The CTranslate2 model under faster-whisper, counting encoder passes, and keeping the language it
    detects in the first window for the rest of the call.

    Without a language, faster-whisper runs the encoder once more on the first 30 s only to detect it
    (2.1 s a call with base in the issue's profile). Asked to detect per window (`multilingual`), it
    detects from the encoder output of the window it decodes anyway; answering every later window with
    the first one's result keeps one language per call, as a detection up front did."""

    def __init__(self, model):
        self._model = model
        self.encoder_passes = 0
        self.first_language = None

    def __getattr__(self, name):
        return getattr(self._model, name)

    def encode(self, *args, **kwargs):
        self.encoder_passes += 1
        return self._model.encode(*args, **kwargs)

    def detect_language(self, *args, **kwargs):
        if self.first_language is None:
            self.first_language = self._model.detect_language(*args, **kwargs)
        return self.first_language


class LocalASR:
    """One call's own Whisper model (`models.new_whisper`: the transcript depends on the call alone)."""

    whole_call = False

    def __init__(self, model: str = "base", cpu_threads: int = 1, device: str = "cpu", compute_type: str = "int8",
                 beam_size: int | None = 1):
        from ..models import new_whisper

        self.name = f"faster-whisper:{model}"
        self.beam_size = beam_size  # None: the caller sets it for the call (transcribe.beam_for)
        self.uses_keyterms = KEYTERMS_AS != "none"
        self.model = new_whisper(model, cpu_threads, compute_type, device)
        self.counted = self.model.model = _Counted(self.model.model)

    @property
    def encoder_passes(self) -> int:
        return self.counted.encoder_passes

    def recognize(self, samples: np.ndarray, sample_rate: int, clips: Clips | None, language: str | None,
                  keyterms: list[str]) -> Recognition:
        detect = language is None and self.counted.is_multilingual  # an English-only model is "en" at no cost
        segments, info = self.model.transcribe(
            samples,
            beam_size=self.beam_size or 1,
            # detecting: a placeholder, replaced by the first window's own detection (_Counted)
            language="en" if detect else language,
            multilingual=detect,
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
        heard = Recognition([], None if detect else info.language)

        def words():
            for s in segments:
                if detect and heard.language is None and self.counted.first_language:
                    heard.language = self.counted.first_language[0][0][0][2:-2]  # "<|de|>" -> "de"
                yield [RawWord(w.word, float(w.start), float(w.end), float(w.probability)) for w in s.words or []]

        heard.segments = words()
        return heard
