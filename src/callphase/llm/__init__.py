"""One chat interface, three backends: a GGUF model run in process (llama.cpp through xllamacpp), any
OpenAI-compatible chat-completions endpoint, and a dry run that records requests and sends nothing.
Backends have `name` and `chat(messages, json_schema=None, max_tokens, temperature)` only; the stages
build a `ChatRequest` (prompts/ holds their text) and send it with `chat_object`.

Backend specs (the `llm.backend` option): `local` (the packaged model), `local:PATH.gguf`, `openai:MODEL`
(with `llm.base_url` / $CALLPHASE_LLM_BASE_URL and the key in $CALLPHASE_LLM_API_KEY or $OPENAI_API_KEY),
`none`. `auto` (the default) is `local` when the packaged model is installed, else none.
"""
from __future__ import annotations

import importlib.util
import json
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ..errors import LLMError, ModelError, OptionsError
from ..remote import check_url, headers, request_json

Message = dict[str, str]


@dataclass
class ChatResult:
    content: str
    model: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def tokens_per_second(self) -> float:
        """Generation speed: llama.cpp's own figure when the backend reports it, else tokens / wall time."""
        timings = self.raw.get("timings") or {}
        if timings.get("predicted_per_second"):
            return float(timings["predicted_per_second"])
        return self.completion_tokens / self.seconds if self.seconds > 0 else 0.0

    @property
    def prompt_tokens_per_second(self) -> float | None:
        return (self.raw.get("timings") or {}).get("prompt_per_second")


class LLM(Protocol):
    name: str

    def chat(
        self, messages: list[Message], json_schema: dict | None = None, max_tokens: int = 512, temperature: float = 0.0
    ) -> ChatResult: ...


def request_body(
    messages: list[Message], json_schema: dict | None, max_tokens: int, temperature: float, model: str | None = None
) -> dict[str, Any]:
    """The OpenAI chat-completions request both backends send (what the dry run records)."""
    body: dict[str, Any] = {"messages": messages, "max_tokens": max_tokens, "temperature": temperature}
    if model:
        body["model"] = model
    if json_schema is not None:
        body["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": json_schema.get("title", "result"), "strict": True, "schema": json_schema},
        }
    return body


def result_from_response(data: Any, seconds: float, where: str) -> ChatResult:
    """Read an OpenAI-shaped response; a malformed one is an LLMError naming `where`."""
    try:
        choice = data["choices"][0]
        content = choice["message"]["content"]
    except (KeyError, IndexError, TypeError):
        message = data.get("error", data) if isinstance(data, dict) else data
        error = LLMError(f"{where} returned no chat completion: {str(message)[:200]}")
        # the backend's own status for it, e.g. 400 for a prompt over the context (llm-serve answers with it)
        error.status = message.get("code") if isinstance(message, dict) and isinstance(message.get("code"), int) else None
        raise error from None
    usage = data.get("usage") or {}
    return ChatResult(
        content=content or "",
        model=str(data.get("model", "")),
        prompt_tokens=int(usage.get("prompt_tokens", 0) or 0),
        completion_tokens=int(usage.get("completion_tokens", 0) or 0),
        seconds=seconds,
        raw=data,
    )


class LocalLLM:
    """A GGUF model in this process. Loaded on first use and kept (one instance per path and settings)."""

    def __init__(self, model_path: str | Path, n_ctx: int = 4096, threads: int | None = None):
        self.path = Path(model_path)
        self.name = f"local:{self.path.name}"
        self.n_ctx = n_ctx
        self.context = n_ctx  # tokens a request (prompt + reply) may use: stages fit their prompts to it
        self.threads = threads or min(4, os.cpu_count() or 1)
        self._server = None
        self._lock = threading.Lock()  # one request at a time: a single llama.cpp slot

    def _load(self):
        try:
            import xllamacpp
        except ImportError:
            raise LLMError("the local LLM runtime is not installed: pip install 'callphase[llm]'") from None
        params = xllamacpp.CommonParams()
        params.model.path = str(self.path)
        params.n_ctx = self.n_ctx
        params.n_parallel = 1
        params.cpuparams.n_threads = self.threads
        params.cpuparams_batch.n_threads = self.threads
        params.warmup = False
        params.verbosity = -1  # llama.cpp logs every step on stderr otherwise
        try:
            return xllamacpp.Server(params)
        except Exception as e:
            raise ModelError(f"cannot load the GGUF model {self.path}: {e}") from None

    def chat(self, messages, json_schema=None, max_tokens=512, temperature=0.0, should_stop=None) -> ChatResult:
        """`should_stop`: called after each generated piece; True cancels the generation (LLMError), so a
        server can stop working for a client that has gone."""
        with self._lock:
            if self._server is None:
                self._server = self._load()
            t = time.perf_counter()
            body = request_body(messages, json_schema, max_tokens, temperature)
            if should_stop is None:
                data = self._server.handle_chat_completions(body)
                return result_from_response(data, time.perf_counter() - t, self.name)
            return self._streamed(body, should_stop, t)

    def _streamed(self, body: dict, should_stop, t: float) -> ChatResult:
        parts: list[str] = []
        last: dict[str, Any] = {}
        cancelled = False

        def on_chunk(chunk) -> bool:
            nonlocal cancelled
            if isinstance(chunk, dict):
                if "error" in chunk:
                    last.update(chunk)
                    return True
                for choice in chunk.get("choices") or []:
                    parts.append((choice.get("delta") or {}).get("content") or "")
                last.update({k: v for k, v in chunk.items() if k in ("usage", "timings", "model")})
            cancelled = bool(should_stop())
            return cancelled

        self._server.handle_chat_completions({**body, "stream": True}, on_chunk)
        if "error" in last:
            result_from_response(last, 0.0, self.name)  # raises, with the backend's status
        if cancelled:
            raise LLMError(f"{self.name}: generation cancelled")
        usage = last.get("usage") or {}
        timings = last.get("timings") or {}
        return ChatResult(content="".join(parts), model=str(last.get("model", "")),
                          prompt_tokens=int(usage.get("prompt_tokens") or timings.get("prompt_n") or 0),
                          completion_tokens=int(usage.get("completion_tokens") or timings.get("predicted_n") or 0),
                          seconds=time.perf_counter() - t, raw={"timings": timings})


class OpenAILLM:
    """Any OpenAI-compatible chat-completions endpoint (OpenAI, gateways, Ollama, vLLM, `callphase llm-serve`).

    Retries connection errors, timeouts, 429 and 5xx with exponential backoff (honouring Retry-After);
    401/403/404 and other 4xx fail at once with the server's message."""

    def __init__(
        self,
        model: str,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float = 120.0,
        retries: int = 3,
        backoff: float = 1.0,
    ):
        self.model = model
        self.base_url = check_url(base_url or default_base_url(), "LLM base URL", "llm.base_url",
                                  "http://127.0.0.1:8000/v1")
        self.context = None  # unknown: the endpoint says so when a request is too long
        self.api_key = api_key if api_key is not None else default_api_key()
        self.timeout, self.retries, self.backoff = timeout, retries, backoff
        self.name = f"openai:{model}"

    def chat(self, messages, json_schema=None, max_tokens=512, temperature=0.0) -> ChatResult:
        body = json.dumps(request_body(messages, json_schema, max_tokens, temperature, self.model)).encode()
        url = f"{self.base_url}/chat/completions"
        data, seconds = request_json(url, body, headers("application/json", self.api_key), error=LLMError, label="LLM",
                                     key_hint="set $CALLPHASE_LLM_API_KEY or $OPENAI_API_KEY",
                                     timeout=self.timeout, retries=self.retries, backoff=self.backoff)
        return result_from_response(data, seconds, url)


def default_base_url() -> str:
    return os.environ.get("CALLPHASE_LLM_BASE_URL") or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1"


def default_api_key() -> str | None:
    return os.environ.get("CALLPHASE_LLM_API_KEY") or os.environ.get("OPENAI_API_KEY")


def local_available() -> bool:
    """The runtime and every part of the packaged model are installed (nothing is loaded or joined)."""
    from ..models import DEFAULT_LLM, PACKAGED_LLM, _package_file

    if importlib.util.find_spec("xllamacpp") is None:
        return False
    return all(_package_file(pkg, rel) for pkg, rel in PACKAGED_LLM[DEFAULT_LLM].parts)


_LOCAL: dict[str, LocalLLM] = {}  # one loaded model per GGUF file


def get_llm(spec: str | None = None, base_url: str | None = None, api_key: str | None = None) -> LLM | None:
    """Parse a backend spec into a backend (None for `none`, or `auto` with nothing installed).
    No spec: $CALLPHASE_LLM, else `auto`."""
    spec = (spec or os.environ.get("CALLPHASE_LLM") or "auto").strip()
    if spec in ("none", "off", ""):
        return None
    if spec == "auto":
        return get_llm("local") if local_available() else None
    if spec == "local" or spec.startswith("local:"):
        from ..models import DEFAULT_LLM, resolve_llm

        path = resolve_llm(spec.partition(":")[2] or DEFAULT_LLM)
        if str(path) not in _LOCAL:
            _LOCAL[str(path)] = LocalLLM(path)
        return _LOCAL[str(path)]
    if spec.startswith("openai:") and spec.partition(":")[2]:
        return OpenAILLM(spec.partition(":")[2], base_url=base_url, api_key=api_key)
    raise OptionsError(f"unknown LLM backend {spec!r}: use auto, none, local, local:PATH.gguf or openai:MODEL",
                       option="llm.backend")


@dataclass(frozen=True)
class ChatRequest:
    """One request a stage sends: chat messages, the JSON schema the reply must follow, a token budget."""

    messages: list[Message]
    schema: dict[str, Any]
    max_tokens: int
    prompt: str  # the prompt file it came from, e.g. "summarize.v1", so results can name it
    temperature: float = 0.0


def chat_object(llm: LLM, request: ChatRequest) -> tuple[dict, ChatResult]:
    """Send `request` and return (the reply's JSON object, the reply). ValueError when the reply holds
    no JSON object; backend failures (LLMError) pass through."""
    reply = llm.chat(request.messages, json_schema=request.schema, max_tokens=request.max_tokens,
                     temperature=request.temperature)
    data = parse_json(reply.content)
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    return data, reply


class DryRunLLM:
    """Records every request a run would send and sends nothing (`callphase segment --show-prompt`).

    Its replies are empty, so each stage takes the path it takes when a model's reply is unusable: the
    llm segmenter falls back to the embedding one, summaries and chapter titles stay extractive. A retry
    of the same messages is not recorded again. `model`: the model name the requests carry."""

    def __init__(self, model: str | None = None):
        self.model = model
        self.name = "dry-run" + (f":{model}" if model else "")
        self.requests: list[dict[str, Any]] = []

    def chat(self, messages, json_schema=None, max_tokens=512, temperature=0.0) -> ChatResult:
        purpose = (json_schema or {}).get("title", "chat")
        if not any(r["request"]["messages"] == messages for r in self.requests):
            self.requests.append({"purpose": purpose,
                                  "request": request_body(messages, json_schema, max_tokens, temperature, self.model)})
        return ChatResult(content="", model=self.name)


def parse_json(content: str) -> Any:
    """The JSON object in a model's reply (code fences and surrounding prose tolerated), or raise ValueError."""
    text = content.strip()
    if text.startswith("```"):
        text = text.strip("`")
        text = text.split("\n", 1)[1] if "\n" in text else text
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        start, end = text.find("{"), text.rfind("}")
        if start >= 0 and end > start:
            return json.loads(text[start : end + 1])
        raise ValueError(f"not JSON: {content[:80]!r}") from None


__all__ = ["ChatRequest", "ChatResult", "DryRunLLM", "LLM", "LocalLLM", "OpenAILLM", "chat_object", "get_llm",
           "local_available", "parse_json", "request_body"]
