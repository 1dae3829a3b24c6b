"""An OpenAI-shaped speech-to-text server on loopback for the ASR backend tests: `POST /v1/audio/transcriptions`
(multipart: file, model, response_format=verbose_json, timestamp_granularities[]) answered with faster-whisper
tiny.en results with word timestamps, as speaches/faster-whisper-server give them (the audio whole, no VAD
of its own: callphase sends only the speech). A real HTTP server in a thread; `faults` are answered
first, one per request (the edge callphase does not own: a misbehaving service)."""
from __future__ import annotations

import io
import json
import threading
import wave
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
from threadpoolctl import threadpool_limits


def read_wav(data: bytes) -> tuple[np.ndarray, int]:
    with wave.open(io.BytesIO(data)) as w:
        assert w.getsampwidth() == 2 and w.getnchannels() == 1, "the test server takes 16-bit mono WAV"
        pcm = np.frombuffer(w.readframes(w.getnframes()), "<i2")
        return (pcm.astype(np.float32) / 32768.0), w.getframerate()


def transcribe(samples: np.ndarray, rate: int, language: str | None, prompt: str | None, openai_words: bool) -> dict:
    from callphase.asr.local import LocalASR

    keyterms = [t.strip() for t in prompt.rstrip(".").split(",")] if prompt else []
    with threadpool_limits(limits=1, user_api="blas"):  # as callphase's own runs (pipeline._one_blas_thread)
        heard = LocalASR("tiny").recognize(samples, rate, None, language, keyterms)
        heard = list(heard.segments)
    segments, words = [], []
    for i, seg in enumerate(heard):
        if not seg:
            continue
        segments.append({"id": i, "start": seg[0].start, "end": seg[-1].end, "text": "".join(w.text for w in seg)})
        for w in seg:
            if openai_words:  # OpenAI's shape: words without the space before them, no probability
                words.append({"word": w.text.strip(), "start": w.start, "end": w.end})
            else:  # speaches' shape
                words.append({"word": w.text, "start": w.start, "end": w.end, "probability": w.probability})
    return {"task": "transcribe", "language": "english", "duration": len(samples) / rate,
            "text": "".join(s["text"] for s in segments).strip(), "segments": segments, "words": words}


class OpenAIASRServer:
    def __init__(self, *faults: str, openai_words: bool = True, key: str | None = None):
        self.faults, self.requests = list(faults), []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _reply(self, status: int, body: dict, headers: dict | None = None):
                data = json.dumps(body).encode()
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.path != "/v1/audio/transcriptions":
                    return self._reply(404, {"error": {"message": f"no route {self.path}"}})
                if key and self.headers.get("Authorization") != f"Bearer {key}":
                    return self._reply(401, {"error": {"message": "Incorrect API key provided"}})
                form = BytesParser(policy=HTTP).parsebytes(
                    f"Content-Type: {self.headers['Content-Type']}\r\n\r\n".encode() + body)
                fields: dict[str, list] = {}
                for part in form.iter_parts():
                    fields.setdefault(part.get_param("name", header="content-disposition"), []).append(
                        part.get_payload(decode=True))
                owner.requests.append({k: v if k == "file" else [x.decode() for x in v] for k, v in fields.items()})
                if owner.faults:
                    fault = owner.faults.pop(0)
                    if fault == "500":
                        return self._reply(500, {"error": {"message": "the GPU is busy"}})
                    if fault == "429":
                        return self._reply(429, {"error": {"message": "slow down"}}, {"Retry-After": "0"})
                    if fault == "text-only":  # response_format ignored: no word times
                        return self._reply(200, {"text": "hello there"})
                    raise ValueError(f"unknown fault {fault}")
                samples, rate = read_wav(fields["file"][0])
                text = lambda name: fields[name][0].decode() if name in fields else None  # noqa: E731
                self._reply(200, transcribe(samples, rate, text("language"), text("prompt"), openai_words))

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> OpenAIASRServer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
