"""WebVTT and SRT: write a Transcript as captions, and read captions back as a Transcript.

Speakers travel as WebVTT voice tags (`<v Agent>text`) and SRT prefixes (`[Agent] text`). WebVTT text is
escaped (`&amp;`, `&lt;`, `&gt;`) as the format requires, so any text survives a round trip; entities
in either format are decoded on reading. A cue longer than MAX_CUE_WORDS is split into utterances at its
sentence ends (times shared out by length), so one huge cue cannot make the later stages slow.
"""
from __future__ import annotations

import html
import re
from pathlib import Path

from .errors import CaptionError
from .types import Transcript, Utterance

_TIME = r"(?:(\d+):)?(\d{1,2}):(\d{2})[.,](\d{1,3})"
_CUE_TIMES = re.compile(rf"^\s*{_TIME}\s*-->\s*{_TIME}(?:\s+.*)?$")
_VOICE = re.compile(r"^<v(?:\.[^\s>]*)?\s+([^>]+)>")
# The markup the two formats define (WebVTT: c i b u v ruby rt lang and <00:01.000> timestamps; SRT: b i u
# font). Anything else with angle brackets is text ("x < y --> z").
_TAG = re.compile(r"</?(?:c|i|b|u|v|ruby|rt|lang|font)(?:[.\s][^<>]*)?>|<\d{1,2}:\d{2}(?::\d{2})?\.\d{3}>", re.I)
MAX_CUE_WORDS = 60
_SRT_SPEAKER = re.compile(r"^\[([^\]]+)\]\s*")


def _stamp(seconds: float, sep: str) -> str:
    ms = int(round(max(seconds, 0.0) * 1000))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def _clean(text: str) -> str:
    # One line: a blank line would end the cue.
    return " ".join(text.split())


def _escape(text: str) -> str:
    # WebVTT cue text: & and < must be escaped, and > too so that "-->" never appears in it
    return html.escape(_clean(text), quote=False)


def to_vtt(transcript: Transcript) -> str:
    lines = ["WEBVTT", ""]
    for n, u in enumerate(transcript.utterances, 1):
        voice = f"<v {_escape(u.speaker)}>" if u.speaker else ""
        lines += [str(n), f"{_stamp(u.start, '.')} --> {_stamp(u.end, '.')}", voice + _escape(u.text), ""]
    return "\n".join(lines)


def to_srt(transcript: Transcript) -> str:
    """SRT has no escapes: text goes as it is (our reader takes the first "-->" line as the timing)."""
    lines = []
    for n, u in enumerate(transcript.utterances, 1):
        prefix = f"[{_clean(u.speaker)}] " if u.speaker else ""
        lines += [str(n), f"{_stamp(u.start, ',')} --> {_stamp(u.end, ',')}", prefix + _clean(u.text), ""]
    return "\n".join(lines)


def _split_long(u: Utterance) -> list[Utterance]:
    """A cue of more than MAX_CUE_WORDS words as several utterances: at sentence ends, and a long sentence
    every MAX_CUE_WORDS words; times shared out by characters."""
    words = u.text.split()
    if len(words) <= MAX_CUE_WORDS:
        return [u]
    pieces, current = [], []
    for w in words:
        current.append(w)
        if len(current) >= MAX_CUE_WORDS or (w.endswith((".", "?", "!")) and len(current) >= 3):
            pieces.append(current)
            current = []
    if current:
        pieces.append(current)
    total = sum(len(" ".join(p)) for p in pieces)
    out, t = [], u.start
    for p in pieces:
        text = " ".join(p)
        end = t + (u.end - u.start) * len(text) / total
        out.append(u.model_copy(update={"start": round(t, 3), "end": round(end, 3), "text": text}))
        t = end
    out[-1].end = u.end
    return out


def _seconds(groups: tuple) -> float:
    h, m, s, frac = groups
    # in whole milliseconds first: 6 + 0.56 would be 6.5600000000000005
    return (int(h or 0) * 3_600_000 + int(m) * 60_000 + int(s) * 1000 + int(frac.ljust(3, "0"))) / 1000


def _parse(text: str, kind: str, name: str) -> Transcript:
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    if kind == "vtt" and not text.startswith("WEBVTT"):
        raise CaptionError(f"{name}: not a WebVTT file (it must start with 'WEBVTT')")
    utterances: list[Utterance] = []
    for block in re.split(r"\n\s*\n", text):
        lines = [ln for ln in block.split("\n") if ln.strip()]
        timing = next((i for i, ln in enumerate(lines) if "-->" in ln), None)
        if timing is None:
            continue  # header, NOTE, STYLE, REGION blocks, stray numbers
        match = _CUE_TIMES.match(lines[timing])
        if not match:
            raise CaptionError(f"{name}: bad cue timing line: {lines[timing].strip()!r}")
        start, end = _seconds(match.groups()[:4]), _seconds(match.groups()[4:])
        if end < start:
            raise CaptionError(f"{name}: cue ends before it starts: {lines[timing].strip()!r}")
        body = " ".join(lines[timing + 1 :]).strip()
        speaker = None
        voice = _VOICE.match(body)
        if voice:
            speaker = html.unescape(voice.group(1)).strip()
        body = _TAG.sub("", body).strip()
        if kind == "srt" and speaker is None:
            prefix = _SRT_SPEAKER.match(body)
            if prefix:
                speaker, body = prefix.group(1).strip(), body[prefix.end() :]
        body = " ".join(html.unescape(body).split())
        if not body:
            continue
        utterances += _split_long(Utterance(index=0, start=start, end=end, text=body, speaker=speaker or None))
    if not utterances:
        raise CaptionError(f"{name}: no caption cues found")
    utterances.sort(key=lambda u: (u.start, u.end))
    for i, u in enumerate(utterances):
        u.index = i
    return Transcript(
        duration=max(u.end for u in utterances), utterances=utterances, source=f"{kind}:{name}"
    )


def parse_vtt(text: str, name: str = "captions.vtt") -> Transcript:
    return _parse(text, "vtt", name)


def parse_srt(text: str, name: str = "captions.srt") -> Transcript:
    return _parse(text, "srt", name)


CAPTION_SUFFIXES = (".vtt", ".srt")


def read_captions(path: str | Path) -> Transcript:
    path = Path(path)
    if not path.is_file():
        raise CaptionError(f"no such file: {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise CaptionError(f"{path.name}: not UTF-8 text") from None
    kind = path.suffix.lower().lstrip(".")
    if kind not in ("vtt", "srt"):
        raise CaptionError(f"{path.name}: captions must be .vtt or .srt")
    return _parse(text, kind, path.name)
