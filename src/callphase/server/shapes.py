"""callphase results in the shape of AssemblyAI's v2 transcript object, as its official SDK parses it:
times as integer milliseconds, `audio_duration` integer seconds, speakers and channels as strings, every
feature not produced null; callphase's own results under `callphase`."""
from __future__ import annotations

from typing import Any

from ..types import CallResult, Segmentation, Transcript


def ms(seconds: float) -> int:
    return int(round(seconds * 1000))


def _mean_confidence(words: list[dict[str, Any]], empty: float | None = 1.0) -> float | None:
    return round(sum(w["confidence"] for w in words) / len(words), 4) if words else empty


def _words(utterance, speakers: bool) -> list[dict[str, Any]]:
    return [{"text": w.text, "start": ms(w.start), "end": ms(w.end),
             "confidence": round(w.probability if w.probability is not None else 1.0, 4),
             "speaker": utterance.speaker if speakers else None,
             "channel": str(utterance.channel) if utterance.channel is not None else None}
            for w in utterance.words]


def _utterance(u, default_speaker: str | None = None) -> dict[str, Any]:
    """An utterance (AssemblyAI: a sentence, or an utterance with `default_speaker` for a missing one)."""
    words = _words(u, True)
    return {"text": u.text, "start": ms(u.start), "end": ms(u.end), "confidence": _mean_confidence(words),
            "speaker": u.speaker or default_speaker, "channel": str(u.channel) if u.channel is not None else None,
            "words": words}


def call_result(job: dict[str, Any]) -> CallResult | None:
    """The CallResult a completed job stored, as the API and the call's page both read it (None before
    that). A transcript-only job has a segmentation with no phases."""
    if job["status"] != "completed" or not job["result"]:
        return None
    stored = job["result"].get("segmentation") or job["result"].get("chapters")  # "chapters": older data folders
    segmentation = Segmentation.model_validate(stored) if stored else Segmentation(phases=[], method="none")
    return CallResult(transcript=Transcript.model_validate(job["result"]["transcript"]), segmentation=segmentation)


def transcript_object(job: dict[str, Any], audio_url: str) -> dict[str, Any]:
    request = job["request"]
    out: dict[str, Any] = {
        "id": job["id"], "status": job["status"], "audio_url": audio_url, "error": job["error"],
        "text": None, "words": None, "utterances": None, "confidence": None, "audio_duration": None,
        "language_code": request.get("language_code"), "speech_model": request.get("speech_model"), "speech_model_used": None,
        "speaker_labels": bool(request.get("speaker_labels")), "multichannel": bool(request.get("multichannel")),
        "auto_chapters": bool(request.get("auto_chapters")), "chapters": None, "webhook_url": request.get("webhook_url"),
        "webhook_status_code": job.get("webhook_status"), "webhook_auth": bool(request.get("webhook_auth_header_name")),
        "callphase": None,
    }
    result = call_result(job)
    if result is None:
        return out
    transcript, segmentation = result.transcript, result.segmentation
    speakers = bool(request.get("speaker_labels") or request.get("multichannel"))
    words = [w for u in transcript.utterances for w in _words(u, speakers)]
    out.update({
        "text": " ".join(u.text for u in transcript.utterances),
        "words": words,
        "confidence": _mean_confidence(words, empty=None),
        "audio_duration": int(round(transcript.duration)),
        "language_code": transcript.language or request.get("language_code"),
        "speech_model_used": transcript.source,
        "callphase": {"non_speech": [n.model_dump() for n in transcript.non_speech],
                      "metrics": transcript.metrics.model_dump() if transcript.metrics else None,
                      "notes": transcript.notes},
    })
    if speakers:
        out["utterances"] = [_utterance(u, default_speaker="A") for u in transcript.utterances]
    if segmentation.phases:
        # the user's phases (callphase's `phases` field) in the seed's shape; AssemblyAI's chapters when
        # asked, from the same segmentation
        out["callphase"]["segmentation"] = segmentation.model_dump()
        if segmentation.kind == "phases":
            out["callphase"]["phases"] = segmentation.to_json()["phases"]
        if request.get("auto_chapters"):
            out["chapters"] = [{"gist": p.name, "headline": p.name, "summary": p.summary,
                                "start": ms(p.start_time), "end": ms(p.end_time)} for p in segmentation.phases]
    return out


def sentences(transcript: Transcript) -> list[dict[str, Any]]:
    return [_utterance(u) for u in transcript.utterances]


def paragraphs(transcript: Transcript) -> list[dict[str, Any]]:
    """Turns: consecutive utterances of one speaker, as one paragraph each."""
    out: list[dict[str, Any]] = []
    for u in transcript.utterances:
        if out and out[-1]["speaker"] == u.speaker:
            p = out[-1]
            p["text"] += " " + u.text
            p["end"] = ms(u.end)
            p["words"] += _words(u, True)
        else:
            out.append({"text": u.text, "start": ms(u.start), "end": ms(u.end), "speaker": u.speaker,
                        "words": _words(u, True)})
    for p in out:
        p["confidence"] = _mean_confidence(p["words"])
    return out


def word_search(transcript: Transcript, terms: list[str]) -> dict[str, Any]:
    """Each term's matches: count, [start, end] in ms and word indexes (case and punctuation ignored)."""
    import re

    def norm(text: str) -> str:
        return re.sub(r"[^\w' ]", "", text.casefold()).strip()

    words = [w for u in transcript.utterances for w in u.words]
    plain = [norm(w.text) for w in words]
    matches = []
    for term in terms:
        parts = norm(term).split()
        if not parts:
            continue
        hits = [i for i in range(len(plain) - len(parts) + 1) if plain[i:i + len(parts)] == parts]
        matches.append({"text": term, "count": len(hits),
                        "timestamps": [[ms(words[i].start), ms(words[i + len(parts) - 1].end)] for i in hits],
                        "indexes": hits})
    return {"total_count": sum(m["count"] for m in matches), "matches": matches}


def caption_transcript(transcript: Transcript, chars: int | None) -> Transcript:
    """The transcript with utterances cut into captions of at most `chars` characters, at word times."""
    if not chars:
        return transcript
    cues = []
    for u in transcript.utterances:
        group: list = []
        for w in u.words or []:
            if group and len(" ".join(x.text for x in group + [w])) > chars:
                cues.append(u.with_words(group))
                group = []
            group.append(w)
        cues.append(u.with_words(group) if group else u)
    return transcript.model_copy(update={"utterances": cues})
