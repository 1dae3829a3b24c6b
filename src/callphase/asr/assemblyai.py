"""`assemblyai` / `assemblyai:SPEECH_MODEL`: the AssemblyAI v2 API, at AssemblyAI or at another
`callphase serve` (so one machine with a GPU serves many thin clients).

The call's file is uploaded once as it is (`POST /v2/upload`, streamed from disk), transcribed with
`speaker_labels` (a mono call with more than one speaker) or `multichannel` (a stereo one), polled until
done, and read back as sentences with words (milliseconds), speakers and channels. SPEECH_MODEL is sent
as `speech_model` (AssemblyAI's `universal`, `slam-1`…; a callphase server's local model, e.g. `tiny`)."""
from __future__ import annotations

import time
from pathlib import Path

from ..errors import ASRError
from ..remote import check_url, headers, request_json
from ..types import Utterance, Word
from . import base_url

DEFAULT_URL = "https://api.assemblyai.com"


class AssemblyAIASR:
    whole_call = True

    def __init__(self, speech_model: str | None = None, url: str | None = None, api_key: str | None = None,
                 timeout: float = 600.0, retries: int = 3, backoff: float = 1.0, poll: float = 3.0,
                 wait: float = 6 * 3600.0):
        self.speech_model = speech_model
        self.name = "assemblyai" + (f":{speech_model}" if speech_model else "")
        self.base_url = check_url(base_url(url, DEFAULT_URL), "ASR base URL", "asr.base_url", "http://127.0.0.1:8000")
        if self.base_url.endswith("/v2"):  # the SDK's base URL has no /v2; either is taken
            self.base_url = self.base_url[:-3]
        self.api_key = api_key
        self.timeout, self.retries, self.backoff = timeout, retries, backoff
        self.poll, self.wait = poll, wait

    def _call(self, method: str, path: str, body=None, content_type: str = "application/json", size: int | None = None):
        sent = headers(content_type, self.api_key, scheme="")
        if size is not None:
            sent["Content-Length"] = str(size)
        data, _ = request_json(f"{self.base_url}{path}", body, sent, method=method, error=ASRError, label="ASR",
                               key_hint="set $CALLPHASE_ASR_API_KEY or $ASSEMBLYAI_API_KEY",
                               timeout=self.timeout, retries=self.retries, backoff=self.backoff)
        if not isinstance(data, dict):
            raise ASRError(f"{self.base_url}{path} answered with JSON that is not an object: {str(data)[:200]}")
        return data

    def recognize_call(self, audio: Path | bytes, stereo: bool, speakers: int, language: str | None,
                       keyterms: list[str]) -> tuple[list[Utterance], str | None]:
        import json

        if isinstance(audio, Path):
            size = audio.stat().st_size
            uploaded = self._call("POST", "/v2/upload", lambda: audio.open("rb"), "application/octet-stream", size)
        else:
            uploaded = self._call("POST", "/v2/upload", audio, "application/octet-stream", len(audio))
        if not isinstance(uploaded.get("upload_url"), str):
            raise ASRError(f"{self.base_url}/v2/upload gave no upload_url: {str(uploaded)[:200]}")
        request: dict = {"audio_url": uploaded["upload_url"], "punctuate": True, "format_text": True}
        if stereo:
            request["multichannel"] = True
        elif speakers > 1:
            request.update(speaker_labels=True, speakers_expected=speakers)
        if language:
            request["language_code"] = language
        else:
            request["language_detection"] = True
        if keyterms:
            request["keyterms_prompt"] = keyterms
        if self.speech_model:
            request["speech_model"] = self.speech_model
        job = self._call("POST", "/v2/transcript", json.dumps(request).encode())
        job_id = job.get("id")
        if not isinstance(job_id, str):
            raise ASRError(f"{self.base_url}/v2/transcript gave no transcript id: {str(job)[:200]}")
        job = self._wait(job_id, job)
        sentences = self._call("GET", f"/v2/transcript/{job_id}/sentences").get("sentences")
        if not isinstance(sentences, list):
            raise ASRError(f"{self.base_url}/v2/transcript/{job_id}/sentences gave no sentences")
        # AssemblyAI numbers channels from 1; a callphase server (it adds its `callphase` results) from 0
        first_channel = 0 if job.get("callphase") is not None else 1
        try:
            return [_utterance(s, first_channel) for s in sentences if s.get("words")], job.get("language_code")
        except (KeyError, TypeError, ValueError) as e:
            raise ASRError(f"{self.base_url}/v2/transcript/{job_id}/sentences: a malformed sentence ({e!r})") from None

    def _wait(self, job_id: str, job: dict) -> dict:
        deadline = time.monotonic() + self.wait
        pause = min(0.25, self.poll)
        while job.get("status") not in ("completed", "error"):
            if time.monotonic() > deadline:
                raise ASRError(f"{self.base_url}: transcript {job_id} not done after {self.wait:.0f} s")
            time.sleep(pause)
            pause = min(pause * 2, self.poll)
            job = self._call("GET", f"/v2/transcript/{job_id}")
        if job["status"] == "error":
            raise ASRError(f"{self.base_url}: transcript {job_id} failed: {job.get('error')}")
        return job


def _utterance(sentence: dict, first_channel: int) -> Utterance:
    words = [Word(text=str(w["text"]), start=w["start"] / 1000, end=w["end"] / 1000,
                  probability=round(float(w["confidence"]), 4) if w.get("confidence") is not None else None)
             for w in sentence["words"]]
    channel = sentence.get("channel") or sentence["words"][0].get("channel")
    return Utterance(index=0, start=sentence["start"] / 1000, end=sentence["end"] / 1000, text=str(sentence["text"]),
                     speaker=sentence.get("speaker"), channel=int(channel) - first_channel if channel is not None else None,
                     words=words)


__all__ = ["AssemblyAIASR"]
