"""A misbehaving OpenAI-compatible chat server on loopback: the edge callphase does not own, faked as a real
HTTP server. Each POST gets the next fault of its script (the last one repeats)."""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# name: what the server does with the request
FAULTS = {
    "500": "HTTP 500 with a JSON error",
    "429": "HTTP 429 with Retry-After: 0",
    "html": "HTTP 200 with an HTML page",
    "cut": "HTTP 200, Content-Length promised, connection closed half way (IncompleteRead)",
    "slow": "answers after longer than the client's timeout",
    "garbage": "HTTP 200 with a body that is not JSON",
    "no-choices": "HTTP 200 with choices: []",
    "context": "HTTP 400: the prompt exceeds the context (llama.cpp's error)",
    "bad-content": "HTTP 200 with a completion whose content is not what the schema asked for",
}


class FaultServer:
    def __init__(self, *script: str, ok_content: str = '{"1": "A fine summary of what was said."}', slow: float = 1.0):
        self.script, self.requests = list(script), []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _reply(self, status: int, body: bytes, ctype: str = "application/json", length: int | None = None,
                       headers: dict | None = None):
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(length if length is not None else len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                owner.requests.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                fault = owner.script.pop(0) if len(owner.script) > 1 else owner.script[0]
                done = json.dumps({"choices": [{"message": {"role": "assistant", "content": ok_content}}]}).encode()
                if fault == "ok":
                    return self._reply(200, done)
                if fault == "500":
                    return self._reply(500, b'{"error": {"message": "internal error"}}')
                if fault == "429":
                    return self._reply(429, b'{"error": {"message": "slow down"}}', headers={"Retry-After": "0"})
                if fault == "html":
                    return self._reply(200, b"<html><body>Bad gateway</body></html>", "text/html")
                if fault == "cut":
                    self._reply(200, done[: len(done) // 2], length=len(done))
                    self.wfile.flush()
                    self.connection.shutdown(2)
                    return
                if fault == "slow":
                    time.sleep(slow)
                    return self._reply(200, done)
                if fault == "garbage":
                    return self._reply(200, b"{not json at all")
                if fault == "no-choices":
                    return self._reply(200, b'{"choices": []}')
                if fault == "context":
                    return self._reply(400, b'{"error": {"code": 400, "message": "request (7554 tokens) exceeds the '
                                            b'available context size (4096 tokens)", "type": "exceed_context_size_error"}}')
                if fault == "bad-content":
                    bad = json.dumps({"choices": [{"message": {"role": "assistant", "content": '{"phases": 7}'}}]})
                    return self._reply(200, bad.encode())
                raise ValueError(f"unknown fault {fault}")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
