"""An OpenAI-compatible chat-completions server over any callphase LLM backend (the packaged local model by
default): `callphase llm-serve`. Scripts written for a hosted endpoint can point their base URL here.

POST /v1/chat/completions (messages, max_tokens, temperature, response_format json_schema), GET /v1/models.
With an API key set, requests need `Authorization: Bearer KEY` (401 otherwise). Errors are JSON:
{"error": {"message", "type"}}: 400 for a request that cannot be answered (bad fields, a prompt over the
model's context), 429 with Retry-After when `max_queue` requests are already waiting, 502 when the
backend fails. A request whose client has gone is dropped before it starts, and a local model's
generation stops when its client disconnects."""
from __future__ import annotations

import inspect
import json
import select
import socket
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from ..errors import CallphaseError
from . import LLM

MAX_BODY = 4 << 20
MAX_QUEUE = 4  # requests waiting or running at once; more get 429 (a client's retries must not pile up)
RETRY_AFTER = 5  # seconds, in the 429's Retry-After


def client_gone(sock: socket.socket) -> bool:
    """The client closed its side (readable, and a peek reads nothing)."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        return bool(readable) and sock.recv(1, socket.MSG_PEEK) == b""
    except (OSError, ValueError):
        return True


def _request(body: dict, context: int | None) -> tuple[list, dict | None, int, float]:
    """(messages, schema, max_tokens, temperature) of a chat-completions body; ValueError says what is wrong."""
    messages = body["messages"]
    if not isinstance(messages, list) or not messages or not all(
        isinstance(m, dict) and isinstance(m.get("content"), str) and m.get("role") for m in messages
    ):
        raise ValueError("messages must be a non-empty list of {role, content}")
    if body.get("stream"):
        raise ValueError("streaming is not supported")
    fmt = body.get("response_format") or {}
    if not isinstance(fmt, dict) or fmt.get("type", "text") not in ("text", "json_object", "json_schema"):
        raise ValueError("response_format must be {type: text | json_object | json_schema}")
    schema = None
    if fmt.get("type") == "json_schema":
        spec = fmt.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        if not isinstance(schema, dict):
            raise ValueError("response_format.json_schema.schema must be a JSON schema object")
    max_tokens = body.get("max_tokens") or body.get("max_completion_tokens") or 512
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or not 1 <= max_tokens <= (context or 1 << 20):
        raise ValueError(f"max_tokens must be an integer from 1 to {context or 1 << 20}")
    temperature = body.get("temperature", 0.0)
    if not isinstance(temperature, (int, float)) or isinstance(temperature, bool) or not 0 <= temperature <= 2:
        raise ValueError("temperature must be a number from 0 to 2")
    return messages, schema, max_tokens, float(temperature)


def make_handler(llm: LLM, api_key: str | None, max_queue: int = MAX_QUEUE):
    busy = threading.BoundedSemaphore(max_queue)
    cancellable = "should_stop" in inspect.signature(llm.chat).parameters
    class Handler(BaseHTTPRequestHandler):
        server_version = "callphase-llm"

        def log_message(self, *args) -> None:  # quiet; the CLI reports what it serves
            pass

        def _send(self, code: int, payload: dict, headers: dict | None = None) -> None:
            body = json.dumps(payload).encode()
            self.send_response(code)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _error(self, code: int, message: str, kind: str = "invalid_request_error") -> None:
            self._send(code, {"error": {"message": message, "type": kind}})

        def _authorised(self) -> bool:
            if not api_key or self.headers.get("Authorization", "") == f"Bearer {api_key}":
                return True
            self._error(401, "invalid or missing API key", "authentication_error")
            return False

        def do_GET(self) -> None:
            if not self._authorised():
                return
            if self.path.rstrip("/") in ("/v1/models", "/models"):
                self._send(200, {"object": "list", "data": [{"id": llm.name, "object": "model", "owned_by": "callphase"}]})
            else:
                self._error(404, f"no route {self.path}")

        def do_POST(self) -> None:
            if not self._authorised():
                return
            if self.path.rstrip("/") not in ("/v1/chat/completions", "/chat/completions"):
                return self._error(404, f"no route {self.path}")
            length = int(self.headers.get("Content-Length") or 0)
            if length <= 0 or length > MAX_BODY:
                return self._error(400 if length <= 0 else 413, "request body missing or too large")
            try:
                body = json.loads(self.rfile.read(length))
                if not isinstance(body, dict):
                    raise ValueError("the body must be a JSON object")
                messages, schema, max_tokens, temperature = _request(body, getattr(llm, "context", None))
            except (ValueError, KeyError, TypeError, AttributeError) as e:
                return self._error(400, f"bad request: {e}")
            if not busy.acquire(blocking=False):
                return self._send(429, {"error": {"message": f"{max_queue} requests are already waiting; retry later",
                                                  "type": "rate_limit_error"}}, {"Retry-After": str(RETRY_AFTER)})
            try:
                if client_gone(self.connection):
                    return  # nobody to answer: do not spend the model on it
                extra = {"should_stop": lambda: client_gone(self.connection)} if cancellable else {}
                result = llm.chat(messages, json_schema=schema, max_tokens=max_tokens, temperature=temperature, **extra)
            except CallphaseError as e:
                if getattr(e, "status", None) == 400:  # e.g. a prompt over the context: the request's fault
                    return self._error(400, str(e))
                if client_gone(self.connection):
                    return
                return self._error(502, str(e), "backend_error")
            except Exception as e:  # a backend's own error type: still an answer, never a dropped connection
                return self._error(502, f"the backend failed: {type(e).__name__}: {e}", "backend_error")
            finally:
                busy.release()
            self._send(200, {
                "id": f"chatcmpl-{uuid.uuid4().hex[:24]}", "object": "chat.completion", "created": int(time.time()),
                "model": body.get("model") or llm.name,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": result.content},
                             "finish_reason": "stop"}],
                "usage": {"prompt_tokens": result.prompt_tokens, "completion_tokens": result.completion_tokens,
                          "total_tokens": result.prompt_tokens + result.completion_tokens},
            })

    return Handler


def serve(llm: LLM, host: str = "127.0.0.1", port: int = 8000, api_key: str | None = None,
          max_queue: int = MAX_QUEUE) -> ThreadingHTTPServer:
    """A started server (in a daemon thread); `server.server_address` has the bound port (port 0: any)."""
    server = ThreadingHTTPServer((host, port), make_handler(llm, api_key, max_queue))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
