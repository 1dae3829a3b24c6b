"""`openai:MODEL`: any OpenAI-compatible `POST {base}/audio/transcriptions` with word timestamps
(OpenAI's whisper-1, Groq, vLLM, speaches/faster-whisper-server, LocalAI).

Each channel of each audio block is sent once: its speech, packed as for local Whisper (vad.pack: the
clips our VAD found, a second of silence between them; hold music and long silence are never sent), as
16-bit WAV at the block's rate, straight from memory; `response_format=verbose_json` with
`timestamp_granularities[]` word and segment. The service's word times are mapped back onto the call and
become utterances here exactly as local Whisper's do."""
from __future__ import annotations

import os

import numpy as np

from ..audio import wav_bytes
from ..errors import ASRError
from ..remote import check_url, headers, multipart, request_json
from . import Clips, RawWord, Recognition, base_url

DEFAULT_URL = "https://api.openai.com/v1"
# verbose_json gives the language as Whisper's English name; the codes of the common ones
LANGUAGE_NAMES = {
    "english": "en", "german": "de", "spanish": "es", "french": "fr", "italian": "it", "portuguese": "pt",
    "dutch": "nl", "polish": "pl", "russian": "ru", "ukrainian": "uk", "turkish": "tr", "arabic": "ar",
    "hindi": "hi", "chinese": "zh", "japanese": "ja", "korean": "ko", "swedish": "sv", "danish": "da",
    "norwegian": "no", "finnish": "fi", "czech": "cs", "greek": "el", "hebrew": "he", "romanian": "ro",
    "hungarian": "hu", "vietnamese": "vi", "indonesian": "id", "thai": "th", "malay": "ms", "tagalog": "tl",
}


class OpenAIASR:
    whole_call = False

    def __init__(self, model: str, url: str | None = None, api_key: str | None = None, timeout: float = 600.0,
                 retries: int = 3, backoff: float = 1.0):
        self.model = model
        self.name = f"openai:{model}"
        self.base_url = check_url(base_url(url, os.environ.get("OPENAI_BASE_URL") or DEFAULT_URL), "ASR base URL",
                                  "asr.base_url", "http://127.0.0.1:8000/v1")
        self.api_key = api_key
        self.timeout, self.retries, self.backoff = timeout, retries, backoff

    def recognize(self, samples: np.ndarray, sample_rate: int, clips: Clips | None, language: str | None,
                  keyterms: list[str]) -> Recognition:
        fields = [("model", self.model), ("response_format", "verbose_json"),
                  ("timestamp_granularities[]", "word"), ("timestamp_granularities[]", "segment"),
                  ("temperature", "0")]
        if language:
            fields.append(("language", language))
        if keyterms:  # Whisper's prompt: spellings it should prefer
            fields.append(("prompt", ", ".join(keyterms) + "."))
        body, ctype = multipart(fields, [("file", "audio.wav", wav_bytes(samples, sample_rate), "audio/wav")])
        url = f"{self.base_url}/audio/transcriptions"
        data, _ = request_json(url, body, headers(ctype, self.api_key), error=ASRError, label="ASR",
                               key_hint="set $CALLPHASE_ASR_API_KEY or $OPENAI_API_KEY",
                               timeout=self.timeout, retries=self.retries, backoff=self.backoff)
        return read_verbose_json(data, url, language)


def read_verbose_json(data, where: str, language: str | None = None) -> Recognition:
    """A verbose_json answer as segments of words. Words are grouped into the answer's segments (OpenAI
    lists them apart) by the segments' texts, else by their times; an answer without words is an ASRError
    (the endpoint ignored `timestamp_granularities`, and word times are what callphase needs)."""
    if not isinstance(data, dict) or not isinstance(data.get("words"), list):
        text = data.get("text") if isinstance(data, dict) else None
        if text is not None and not str(text).strip():
            return Recognition([], language)  # nothing heard: some servers leave `words` out then
        raise ASRError(f"{where} returned no word timestamps (needs response_format=verbose_json and "
                       f"timestamp_granularities[]=word): {str(data)[:200]}")
    try:
        words = [RawWord(str(w["word"]), float(w["start"]), float(w["end"]),
                         float(w["probability"]) if w.get("probability") is not None else None)
                 for w in data["words"]]
        ends = [float(s["end"]) for s in data.get("segments") or []]
        texts = [str(s.get("text") or "") for s in data.get("segments") or []]
    except (KeyError, TypeError, ValueError) as e:
        raise ASRError(f"{where} returned a malformed word or segment ({e!r})") from None
    segments = _by_text(words, texts) or _by_time(words, ends)
    if words and not any(w.text[:1].isspace() for w in words):  # OpenAI strips the spaces Whisper keeps
        spelled = [t for t in texts if t.strip()]
        for k, segment in enumerate(segments):
            _respace(segment, spelled[k] if len(segments) == len(spelled) else "")
    spoken = data.get("language")
    if isinstance(spoken, str):
        spoken = LANGUAGE_NAMES.get(spoken.lower(), spoken.lower())
    return Recognition(segments, language or spoken or None)


def _by_text(words: list[RawWord], texts: list[str]) -> list[list[RawWord]] | None:
    """Words grouped into segments by the segments' texts (Whisper's segment text is its words' text), or
    None where they do not spell the same. Exact where times are not: a zero-length word on the boundary
    of two segments ("No," at 8.32 s between one ending and the next starting there) belongs to either."""
    targets = ["".join(t.split()) for t in texts if t.strip()]
    segments: list[list[RawWord]] = []
    current: list[RawWord] = []
    have = ""
    for w in words:
        if len(segments) == len(targets):
            return None
        current.append(w)
        have += "".join(w.text.split())
        if have == targets[len(segments)]:
            segments.append(current)
            current, have = [], ""
        elif not targets[len(segments)].startswith(have):
            return None
    return segments if not current and len(segments) == len(targets) and words else None


def _by_time(words: list[RawWord], ends: list[float]) -> list[list[RawWord]]:
    """Words grouped into segments by the segments' end times (an answer whose texts do not match its words)."""
    segments: list[list[RawWord]] = []
    current: list[RawWord] = []
    i = 0
    for w in words:
        while i < len(ends) and w.end > ends[i] + 1e-3:
            i += 1
            if current:
                segments.append(current)
                current = []
        current.append(w)
    if current:
        segments.append(current)
    return segments


def _respace(words: list[RawWord], text: str) -> None:
    """Give stripped words back the space before them where the segment's text has one ("free-lock" stays
    one word of two pieces); without the text, a space before every word."""
    pos = 0
    for w in words:
        piece = w.text.strip()
        at = text.find(piece, pos) if piece else -1
        spaced = at <= 0 or text[at - 1].isspace()
        w.text = (" " if spaced else "") + piece
        if at >= 0:
            pos = at + len(piece)
