"""`callphase serve`: AssemblyAI-v2-shaped transcript jobs over callphase's one pipeline (FastAPI).

Routes: GET /health; POST /v2/upload (raw bytes); POST /v2/transcript; GET /v2/transcript (list);
GET/DELETE /v2/transcript/{id}; GET /v2/transcript/{id}/vtt | /srt | /sentences | /paragraphs | /word-search
| /phases (callphase's: the seed JSON of a job that gave `phases`); POST /v1/chat/completions. Pages for
people (pages.py): GET / (jobs and an upload form), GET /calls/{id} (the call's page) and its audio.

With an API key, every route but /health needs `authorization: KEY` or `Authorization: Bearer KEY`, or
the key's cookie that the pages' login form sets (SameSite=Strict, so no other site can use it). Every
error is JSON {"error": "..."}; nothing answers 500 with a traceback.
"""
from __future__ import annotations

import hmac
import os
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from ..asr import parse_keyterms
from ..captions import to_srt, to_vtt
from ..errors import CallphaseError, OptionsError
from ..options import LLMOptions
from ..page import render
from ..pipeline import make_llm
from ..types import CallResult, PhaseSpec, Transcript
from . import chat, pages
from .shapes import call_result, caption_transcript, paragraphs, sentences, transcript_object, word_search
from .store import Store

AUTH_ERROR = "Authentication error, API token missing/invalid"
COOKIE = "callphase_key"
FIELD_TYPES = {"title": str, "speaker_labels": bool, "speakers_expected": int, "multichannel": bool, "language_code": str,
               "auto_chapters": bool, "webhook_url": str, "webhook_auth_header_name": str,
               "webhook_auth_header_value": str, "speech_model": str}
# request bodies, declared for /docs and for fuzzing (the routes read the JSON themselves, so that unknown
# fields are accepted and every refusal is a 400 with a message)
TRANSCRIPT_BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": {
    "type": "object", "required": ["audio_url"],
    "properties": {"audio_url": {"type": "string"},
                   "phases": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
                   "keyterms_prompt": {"type": "array", "items": {"type": "string"}},
                   **{k: {"type": {bool: "boolean", int: "integer", str: "string"}[t]} for k, t in FIELD_TYPES.items()}}}}}}}
CHAT_BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": {
    "type": "object", "required": ["messages"],
    "properties": {"model": {"type": "string"}, "max_tokens": {"type": "integer"}, "stream": {"type": "boolean"},
                   "messages": {"type": "array", "items": {"type": "object", "required": ["role", "content"],
                                "properties": {"role": {"type": "string"}, "content": {"type": "string"}}}}}}}}}}


def create_app(store: Store, api_key: str | None = None, max_upload_mb: int = 2048,
               allowed_dirs: list[Path] | None = None, llm: LLMOptions | None = None, model: str = "base") -> FastAPI:
    """`llm`: the backend for chats that are not the seed's segmentation request, and for the seed
    answer's summaries (None or backend "none": extractive summaries, other chats refused)."""
    app = FastAPI(title="callphase",
                  description="AssemblyAI-v2-shaped transcripts and OpenAI-shaped chat, offline, by callphase.")
    limit = max_upload_mb * (1 << 20)
    allowed = [d.resolve() for d in allowed_dirs or []]
    llm_options = llm or LLMOptions(backend="none")
    backend = make_llm(llm_options)

    def error(status: int, message: str, request: Request | None = None) -> JSONResponse:
        if request is not None and request.url.path.startswith("/v1"):  # the OpenAI shape, and the gateway's
            kind = {401: "authentication_error", 429: "rate_limit_error"}.get(status, "invalid_request_error")
            return JSONResponse({"error": {"message": message, "type": kind}, "message": message}, status_code=status)
        return JSONResponse({"error": message}, status_code=status)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        return error(exc.status_code, str(exc.detail), request)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(x) for x in first.get("loc", ()) if x != "body")
        return error(400, f"bad request: {where + ': ' if where else ''}{first.get('msg', 'invalid')}", request)

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception):  # a bug of ours: said, not shown as a traceback
        return error(500, f"internal error: {type(exc).__name__}", request)

    def key_given(request: Request) -> bool:
        if api_key is None:
            return True
        header = request.headers.get("authorization", "").removeprefix("Bearer ")
        return any(hmac.compare_digest(given.encode(), api_key.encode())
                   for given in (header, request.cookies.get(COOKIE, "")) if given)

    def authorised(request: Request) -> None:
        if not key_given(request):
            raise HTTPException(401, AUTH_ERROR)

    def base(request: Request) -> str:
        return str(request.base_url).rstrip("/")

    def found(job_id: str) -> dict[str, Any]:
        job = store.get(job_id)
        if job is None:
            raise HTTPException(404, f"transcript {job_id} not found")
        return job

    def completed(job_id: str) -> CallResult:
        job = found(job_id)
        result = call_result(job)
        if result is None:
            raise HTTPException(400, f"transcript {job_id} is {job['status']}, not completed")
        return result

    def completed_transcript(job_id: str) -> Transcript:
        return completed(job_id).transcript

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/v2/upload", dependencies=[Depends(authorised)])
    async def upload(request: Request) -> dict[str, str]:
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise HTTPException(413, f"upload larger than {max_upload_mb} MB")
        upload_id, path = store.new_upload()
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
        size = 0
        try:
            with os.fdopen(fd, "wb") as out:
                async for chunk in request.stream():  # chunked bodies too, never more than the limit on disk
                    size += len(chunk)
                    if size > limit:
                        raise HTTPException(413, f"upload larger than {max_upload_mb} MB")
                    out.write(chunk)
            if size == 0:
                raise HTTPException(400, "empty upload: send the audio file as the request body")
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return {"upload_url": f"{base(request)}/v2/upload/{upload_id}"}

    def audio_source(audio_url: str) -> str:
        url = urlparse(audio_url)
        if url.scheme in ("http", "https") and url.path.startswith("/v2/upload/"):
            local = store.upload_path(url.path.rsplit("/", 1)[1])
            if local is not None:
                return str(local)
        if url.scheme == "file":
            path = Path(url.path).resolve()
            if not any(path.is_relative_to(d) for d in allowed):
                raise HTTPException(400, f"audio_url {audio_url}: file:// paths must be under an allowed folder "
                                         "(callphase serve --allow-dir)")
            return str(path)
        if url.scheme in ("http", "https") and url.netloc:
            return audio_url  # fetched by the worker; an unreachable one ends as status "error"
        raise HTTPException(400, f"audio_url {audio_url!r} is not an upload URL, an http(s) URL or an allowed file://")

    @app.post("/v2/transcript", dependencies=[Depends(authorised)], openapi_extra=TRANSCRIPT_BODY)
    async def create(request: Request) -> dict[str, Any]:
        try:
            body = await request.json()
        except ValueError:
            raise HTTPException(400, "the body is not JSON") from None
        if not isinstance(body, dict) or not isinstance(body.get("audio_url"), str) or not body["audio_url"]:
            raise HTTPException(400, "audio_url is required")
        for name, kind in FIELD_TYPES.items():  # the fields callphase honours; others are accepted and ignored
            value = body.get(name)
            if value is not None and (not isinstance(value, kind) or (kind is int and isinstance(value, bool))):
                raise HTTPException(400, f"{name} must be a {kind.__name__}")
        if body.get("speakers_expected") is not None and not 1 <= body["speakers_expected"] <= 10:
            raise HTTPException(400, "speakers_expected must be from 1 to 10")
        speech_models = served_models(model)
        if body.get("speech_model") is not None and body["speech_model"] not in speech_models:
            raise HTTPException(400, f"speech_model {body['speech_model']!r} is not served here: use "
                                     f"{', '.join(sorted(speech_models))} (best: {model})")
        if body.get("keyterms_prompt") is not None:
            try:
                if not isinstance(body["keyterms_prompt"], list):
                    raise OptionsError("keyterms_prompt must be a list of strings")
                parse_keyterms(body["keyterms_prompt"])
            except OptionsError as e:
                raise HTTPException(400, f"keyterms_prompt: {e}") from None
        if body.get("phases") is not None:  # callphase's own field; checked now, not when a worker gets to it
            try:
                PhaseSpec.parse(body["phases"])
            except CallphaseError as e:
                raise HTTPException(400, f"phases: {e}") from None
        job = store.create(body, audio_source(body["audio_url"]))
        return transcript_object(job, body["audio_url"])

    @app.get("/v2/transcript", dependencies=[Depends(authorised)])
    async def listing(request: Request, limit: int = 10, status: str | None = None, before_id: str | None = None,
                      after_id: str | None = None) -> dict[str, Any]:
        items = job_items(store.list(max(1, min(limit, 200)), status, before_id, after_id), base(request))
        return {"page_details": {"limit": limit, "result_count": len(items), "current_url": str(request.url),
                                 "prev_url": None, "next_url": None},
                "transcripts": items}

    @app.get("/v2/transcript/{job_id}", dependencies=[Depends(authorised)])
    async def get(job_id: str) -> dict[str, Any]:
        job = found(job_id)
        return transcript_object(job, job["request"]["audio_url"])

    @app.delete("/v2/transcript/{job_id}", dependencies=[Depends(authorised)])
    async def delete(job_id: str) -> dict[str, Any]:
        job = found(job_id)
        store.delete(job_id)
        return transcript_object({**job, "result": None}, job["request"]["audio_url"])

    @app.get("/v2/transcript/{job_id}/vtt", dependencies=[Depends(authorised)], response_class=PlainTextResponse)
    async def vtt(job_id: str, chars_per_caption: int | None = None) -> str:
        return to_vtt(caption_transcript(completed_transcript(job_id), chars_per_caption))

    @app.get("/v2/transcript/{job_id}/srt", dependencies=[Depends(authorised)], response_class=PlainTextResponse)
    async def srt(job_id: str, chars_per_caption: int | None = None) -> str:
        return to_srt(caption_transcript(completed_transcript(job_id), chars_per_caption))

    @app.get("/v2/transcript/{job_id}/paragraphs", dependencies=[Depends(authorised)])
    async def paragraph_list(job_id: str) -> dict[str, Any]:
        transcript = completed_transcript(job_id)
        return {"id": job_id, "paragraphs": paragraphs(transcript), "confidence": 1.0,
                "audio_duration": int(round(transcript.duration))}

    @app.get("/v2/transcript/{job_id}/word-search", dependencies=[Depends(authorised)])
    async def search(job_id: str, words: str = "") -> dict[str, Any]:
        return {"id": job_id, **word_search(completed_transcript(job_id), [w for w in words.split(",") if w.strip()])}

    @app.get("/v2/transcript/{job_id}/sentences", dependencies=[Depends(authorised)])
    async def sentence_list(job_id: str) -> dict[str, Any]:
        transcript = completed_transcript(job_id)
        return {"id": job_id, "sentences": sentences(transcript), "confidence": 1.0,
                "audio_duration": int(round(transcript.duration))}

    @app.get("/v2/transcript/{job_id}/phases", dependencies=[Depends(authorised)])
    async def phases(job_id: str) -> dict[str, Any]:
        """callphase's: the phases of a job that gave `phases`, exactly in the seed's JSON shape."""
        result = completed(job_id)
        if result.segmentation.kind != "phases" or not result.segmentation.phases:
            raise HTTPException(400, f"transcript {job_id} was not given phases (callphase's `phases` field)")
        return result.to_seed_json()

    # pages for people ------------------------------------------------------------------------------------
    @app.get("/", include_in_schema=False)
    async def index(request: Request):
        if not key_given(request):
            return HTMLResponse(pages.login())
        jobs = store.list(100)
        return HTMLResponse(pages.index(job_items(jobs, base(request)), jobs))

    @app.post("/login", include_in_schema=False)
    async def login(request: Request):
        from urllib.parse import parse_qs

        given = parse_qs((await request.body()).decode("utf-8", "replace")).get("key", [""])[0]
        if api_key is None or hmac.compare_digest(given.encode(), api_key.encode()):
            answer = RedirectResponse("./", status_code=303)
            if api_key is not None:
                answer.set_cookie(COOKIE, given, httponly=True, samesite="strict", secure=request.url.scheme == "https")
            return answer
        return HTMLResponse(pages.login("That is not this server's API key."), status_code=401)

    @app.get("/calls/{job_id}", include_in_schema=False)
    async def call_page(request: Request, job_id: str):
        if not key_given(request):
            return RedirectResponse("../", status_code=303)
        job = found(job_id)
        result = call_result(job)
        if result is None:
            return HTMLResponse(pages.pending(job, pages.title_of(job)))
        return HTMLResponse(render(result, pages.title_of(job), audio_src=f"{job_id}/audio", home="../"))

    @app.get("/calls/{job_id}/audio", dependencies=[Depends(authorised)], include_in_schema=False)
    async def call_audio(job_id: str):
        audio = found(job_id)["audio"]
        if audio.startswith(("http://", "https://")):
            return RedirectResponse(audio, status_code=307)
        if not os.path.isfile(audio):
            raise HTTPException(404, f"the audio of transcript {job_id} is no longer on this server")
        with open(audio, "rb") as f:
            kind = pages.sniff_audio(f.read(16))
        return FileResponse(audio, media_type=kind)  # answers Range requests, so the page can seek

    @app.get("/v1/models", dependencies=[Depends(authorised)])
    async def models() -> dict[str, Any]:
        names = ["callphase"] + ([backend.name] if backend is not None else [])
        return {"object": "list", "data": [{"id": n, "object": "model", "created": 0, "owned_by": "callphase"} for n in names]}

    @app.post("/v1/chat/completions", dependencies=[Depends(authorised)], openapi_extra=CHAT_BODY)
    async def chat_completions(request: Request):
        try:
            body = await request.json()
        except ValueError:
            raise HTTPException(400, "the body is not JSON") from None
        messages = body.get("messages") if isinstance(body, dict) else None
        if not isinstance(messages, list) or not messages or not all(
                isinstance(m, dict) and isinstance(m.get("content"), str) for m in messages):
            raise HTTPException(400, "messages must be a non-empty list of {role, content}")
        seed = chat.seed_request(messages)
        try:
            if seed is not None:
                options = {"llm": {"backend": backend or "none"}}
                content, model = await run_in_threadpool(chat.answer_seed, *seed, options)
                answer = chat.completion(content, model)
            elif backend is None:
                raise HTTPException(400, "this server answers the phase segmentation request (a phase list and a "
                                         "WEBVTT transcript); for other chats start it with --llm")
            else:
                fmt = body.get("response_format") or {}
                schema = (fmt.get("json_schema") or {}).get("schema") if isinstance(fmt, dict) else None
                max_tokens = body.get("max_tokens") or body.get("max_completion_tokens") or 512
                if not isinstance(max_tokens, int) or max_tokens < 1:
                    raise HTTPException(400, "max_tokens must be a positive integer")
                reply = await run_in_threadpool(backend.chat, messages, schema if isinstance(schema, dict) else None,
                                                max_tokens, float(body.get("temperature") or 0.0))
                answer = chat.completion(reply.content, backend.name, reply.prompt_tokens, reply.completion_tokens)
        except ValueError as e:
            raise HTTPException(400, str(e)) from None
        except CallphaseError as e:
            raise HTTPException(400 if getattr(e, "status", None) == 400 else 502, str(e)) from None
        if body.get("stream"):
            return StreamingResponse(chat.chunks(answer), media_type="text/event-stream")
        return answer

    return app


def served_models(model: str) -> set[str]:
    """What a transcript request's `speech_model` may name: "best" (the server's --model), that model, and
    the packaged ones (they load offline)."""
    from ..models import ALIASES, PACKAGED_WHISPER

    return {"best", model, *PACKAGED_WHISPER, *ALIASES}


def job_items(jobs: list[dict[str, Any]], base: str) -> list[dict[str, Any]]:
    """GET /v2/transcript's entries, which the job list page shows too."""
    return [{"id": j["id"], "status": j["status"], "audio_url": j["request"]["audio_url"],
             "created": _iso(j["created"]), "completed": _iso(j["updated"]) if j["status"] == "completed" else None,
             "resource_url": f"{base}/v2/transcript/{j['id']}", "error": j["error"]} for j in jobs]


def _iso(seconds: float) -> str:
    import datetime

    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).isoformat()
