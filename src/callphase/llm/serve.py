"""An OpenAI-compatible chat-completions server over any callphase LLM backend (the packaged local model by
default): `callphase llm-serve`. Scripts written for a hosted endpoint can point their base URL here.

POST /v1/chat/completions (messages, max_tokens, temperature, response_format json_schema), GET /v1/models.
With an API key set, requests need `Authorization: Bearer KEY` (401 otherwise). Errors are JSON:
{"error": {"message", "type"}}."""
from __future__ import annotations

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from ..errors import CallphaseError
from . import LLM

MAX_BODY = 4 << 20


def make_handler(llm: LLM, api_key: str | None):
    class Handler(BaseHTTPRequestHandler):
        server_version = "callphase-llm"

        def log_message(self, *args) -> None:  # quiet; the CLI reports what it serves
            pass

        def _send(self, code: int, payload: dict) -> None:
            body = json.dumps(payload).encode()
            self.send_response(code)
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
                messages = body["messages"]
                if not isinstance(messages, list) or not messages or not all(
                    isinstance(m, dict) and isinstance(m.get("content"), str) and m.get("role") for m in messages
                ):
                    raise ValueError("messages must be a non-empty list of {role, content}")
                if body.get("stream"):
                    raise ValueError("streaming is not supported")
                fmt = body.get("response_format") or {}
                schema = fmt.get("json_schema", {}).get("schema") if fmt.get("type") == "json_schema" else None
                max_tokens = int(body.get("max_tokens") or body.get("max_completion_tokens") or 512)
                temperature = float(body.get("temperature", 0.0))
            except (ValueError, KeyError, TypeError, AttributeError) as e:
                return self._error(400, f"bad request: {e}")
            try:
                result = llm.chat(messages, json_schema=schema, max_tokens=max_tokens, temperature=temperature)
            except CallphaseError as e:
                return self._error(502, str(e), "backend_error")
            self._send(200, {
                "id": f"chatcmpl-{uuid.uuid4().hex[:24]}", "object": "chat.completion", "created": int(time.time()),
                "model": body.get("model") or llm.name,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": result.content},
                             "finish_reason": "stop"}],
                "usage": {"prompt_tokens": result.prompt_tokens, "completion_tokens": result.completion_tokens,
                          "total_tokens": result.prompt_tokens + result.completion_tokens},
            })

    return Handler


def serve(llm: LLM, host: str = "127.0.0.1", port: int = 8000, api_key: str | None = None) -> ThreadingHTTPServer:
    """A started server (in a daemon thread); `server.server_address` has the bound port (port 0: any)."""
    server = ThreadingHTTPServer((host, port), make_handler(llm, api_key))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
