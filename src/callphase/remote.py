"""HTTP to services callphase does not own (an LLM endpoint, an ASR service): one retry loop for all.

Connection errors, timeouts, 429 and 5xx are retried with exponential backoff (honouring Retry-After);
401/403 and other 4xx fail at once with the service's own message. Every wait is logged, so a slow
service is never silent (the CLI shows the `callphase` log on stderr)."""
from __future__ import annotations

import http.client
import json
import logging
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable
from typing import Any

from .errors import CallphaseError, OptionsError

log = logging.getLogger("callphase.remote")


def check_url(url: str, what: str, option: str, example: str) -> str:
    """`url` without a trailing slash; OptionsError (naming `option`) unless it is an http(s) URL."""
    url = url.rstrip("/")
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise OptionsError(f"{what} {url!r} is not an http(s) URL, e.g. {example}", option=option)
    return url


def headers(content_type: str, api_key: str | None, scheme: str = "Bearer ") -> dict[str, str]:
    """Content-Type, and Authorization when there is a key: `Bearer KEY` (OpenAI-shaped services) or, with
    scheme "", the bare key (AssemblyAI's)."""
    out = {"Content-Type": content_type}
    if api_key:
        out["Authorization"] = f"{scheme}{api_key}"
    return out


def request_json(
    url: str,
    body: bytes | Callable[[], Any] | None = None,
    headers: dict[str, str] | None = None,
    *,
    method: str = "POST",
    error: type[CallphaseError] = CallphaseError,
    label: str = "service",
    key_hint: str = "",
    timeout: float = 120.0,
    retries: int = 3,
    backoff: float = 1.0,
) -> tuple[Any, float]:
    """(the JSON answer, seconds the successful attempt took). `body`: bytes, or a function giving a fresh
    body (a file object) per attempt. Fails with `error`: at once for 401/403 (with `key_hint`) and other
    4xx, after `retries` more attempts for the rest."""
    last = ""
    for attempt in range(retries + 1):
        wait = backoff * 2**attempt
        t = time.perf_counter()
        data = body() if callable(body) else body
        try:
            req = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return json.loads(resp.read().decode("utf-8")), time.perf_counter() - t
        except urllib.error.HTTPError as e:
            detail = error_text(e)
            if e.code in (401, 403):
                raise error(f"{url} refused the API key ({e.code}): {detail}" + (f"; {key_hint}" if key_hint else "")) from None
            if e.code != 429 and e.code < 500:
                raise error(f"{url} answered {e.code}: {detail}") from None
            last = f"{e.code} {'rate limited' if e.code == 429 else 'server error'}: {detail}"
            retry_after = e.headers.get("Retry-After") if e.headers else None
            if retry_after and retry_after.replace(".", "", 1).isdigit():
                wait = min(float(retry_after), 60.0)
        except (urllib.error.URLError, TimeoutError, ConnectionError) as e:
            last = f"cannot reach it: {getattr(e, 'reason', e)}"
        except (http.client.HTTPException, OSError) as e:  # e.g. IncompleteRead: closed mid-response
            last = f"the connection broke mid-response: {type(e).__name__}"
        except (json.JSONDecodeError, UnicodeDecodeError):
            last = "the response is not JSON"
        finally:
            if hasattr(data, "close"):
                data.close()
        if attempt < retries:
            log.warning("%s %s: %s; retrying in %.0f s (attempt %d of %d)", label, url, last, wait, attempt + 2, retries + 1)
            time.sleep(wait)
    raise error(f"{url} failed after {retries + 1} attempts; last: {last}")


def error_text(e: urllib.error.HTTPError) -> str:
    """The message of an error answer: OpenAI's {"error": {"message"}}, AssemblyAI's {"error"}, or the reason."""
    try:
        data = json.loads(e.read().decode("utf-8", "replace"))
        err = data.get("error", data.get("detail", data))
        return str(err.get("message", err) if isinstance(err, dict) else err)[:300]
    except Exception:
        return str(e.reason)[:300]


def multipart(fields: list[tuple[str, str]], files: list[tuple[str, str, bytes, str]]) -> tuple[bytes, str]:
    """(body, Content-Type) of a multipart/form-data request: `fields` (name, value), `files`
    (name, filename, bytes, content type)."""
    boundary = f"callphase-{uuid.uuid4().hex}"
    parts: list[bytes] = []
    for name, value in fields:
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    for name, filename, data, ctype in files:
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                     f"Content-Type: {ctype}\r\n\r\n".encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"
