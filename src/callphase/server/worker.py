"""Worker processes: each claims the oldest queued job from the store, runs callphase's one pipeline
(`analyze`, or its transcript stage) on it and stores the result. Recognition runs here, never in the
server's event loop; a worker whose server has gone (killed) stops too."""
from __future__ import annotations

import multiprocessing
import os
import time
import traceback
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from ..errors import CallphaseError
from .store import Store


def options_for(request: dict[str, Any], asr: dict[str, Any]) -> dict[str, Any]:
    """Options from an AssemblyAI-shaped transcript request (unknown fields are ignored); `asr`: the
    server's model, device and compute type."""
    speakers = int(request.get("speakers_expected") or 2) if request.get("speaker_labels") else 1
    chosen = request.get("speech_model")  # checked by the app: "best" or a model served here
    return {
        "asr": {**asr, "backend": "local", "model": asr["model"] if chosen in (None, "best") else chosen,
                "language": request.get("language_code") or None, "keyterms": request.get("keyterms_prompt")},
        "speakers": {"speakers": max(1, min(speakers, 10)), "mono": not request.get("multichannel", False)},
        "llm": {"backend": "none"},
    }


def run_job(job: dict[str, Any], asr: dict[str, Any], scratch: Path) -> dict[str, Any]:
    """The job's result as JSON: {"transcript"}, and {"segmentation"} when the request gave `phases` (callphase's
    own field: the user's phases) or `auto_chapters`. Raises CallphaseError for bad input."""
    import callphase

    from ..audio import download

    audio = job["audio"]
    if audio.startswith(("http://", "https://")):
        audio = str(download(audio, scratch / job["id"]))
    try:
        request = job["request"]
        options = options_for(request, asr)
        if request.get("phases") is not None or request.get("auto_chapters"):  # phases win over auto chapters
            result = callphase.analyze(audio, request.get("phases"), options)
            return {"transcript": result.transcript.model_dump(), "segmentation": result.segmentation.model_dump()}
        return {"transcript": callphase.load_transcript(audio, options).model_dump()}
    finally:
        if audio != job["audio"]:
            Path(audio).unlink(missing_ok=True)


def work(folder: str, asr: dict[str, Any], parent: int) -> None:
    from ..models import release_freed_memory
    from ..processes import exit_with_parent

    exit_with_parent(parent)  # the server's restart queues the job this worker had again
    store = Store(Path(folder))
    scratch = Path(folder) / "fetched"
    scratch.mkdir(exist_ok=True)
    while True:  # exit_with_parent ends this process when the server is gone
        job = store.claim(os.getpid())
        if job is None:
            time.sleep(0.3)
            continue
        try:
            store.finish(job["id"], result=run_job(job, asr, scratch))
        except CallphaseError as e:
            store.finish(job["id"], error=str(e))
        except Exception as e:  # a bug of ours: the job says so, the worker goes on
            traceback.print_exc()
            store.finish(job["id"], error=f"internal error: {type(e).__name__}: {e}")
        release_freed_memory()  # a worker runs job after job: give each one's freed heap back (models.py)
        if job["request"].get("webhook_url"):
            store.webhook_answered(job["id"], notify(job["request"], job["id"], store.get(job["id"])["status"]))


def notify(request: dict[str, Any], job_id: str, status: str, attempts: int = 3) -> int | None:
    """POST {"transcript_id", "status"} to the job's webhook_url (with its auth header), retried with
    backoff on connection errors and 5xx; the last HTTP status, or None when it was never reached."""
    import json

    headers = {"Content-Type": "application/json"}
    if request.get("webhook_auth_header_name"):
        headers[str(request["webhook_auth_header_name"])] = str(request.get("webhook_auth_header_value") or "")
    body = json.dumps({"transcript_id": job_id, "status": status}).encode()
    answered = None
    for attempt in range(attempts):
        try:
            req = urllib.request.Request(str(request["webhook_url"]), data=body, headers=headers, method="POST")
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status
        except urllib.error.HTTPError as e:
            answered = e.code
            if e.code < 500:
                return e.code
        except (OSError, ValueError):
            pass
        time.sleep(0.5 * 2**attempt)
    return answered


def start_workers(folder: Path, asr: dict[str, Any], n: int) -> list[multiprocessing.Process]:
    """`asr`: {model, device, compute_type} of the server's local Whisper."""
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: no state shared with the server
    workers = [context.Process(target=work, args=(str(folder), asr, os.getpid()), daemon=True) for _ in range(n)]
    for w in workers:
        w.start()
    return workers
