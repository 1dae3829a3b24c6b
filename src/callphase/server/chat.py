"""The OpenAI-shaped chat step (AssemblyAI's LLM Gateway): POST /v1/chat/completions, GET /v1/models.

The seed's request (a phase list in the prompt, a WEBVTT transcript in the message, any model name) is
answered by callphase's own validated segmenter and summaries, with exactly the seed's JSON. Other chats
go to the configured LLM backend, if any.
"""
from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any

from ..captions import parse_vtt
from ..errors import CaptionError

# "…divide it into the following phases:\nIntroduction, Complaint, …" and reasonable variants
_PHASES_AT = re.compile(r"(?:into|following|these|the)\s+(?:the\s+)?(?:following\s+)?(?:phases|sections|segments|stages)"
                        r"\s*(?:\([^)]*\))?\s*:\s*", re.I)
_BULLET = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+(.+?)\s*$")


def seed_request(messages: list[dict[str, Any]]) -> tuple[list[str], str] | None:
    """(phase names, the WEBVTT text) when a message is the seed's segmentation request, else None."""
    text = "\n".join(m.get("content", "") for m in messages if isinstance(m.get("content"), str))
    start = text.find("WEBVTT")
    if start < 0:
        return None
    match = _PHASES_AT.search(text[:start])
    if not match:
        return None
    rest = text[match.end():start].lstrip("\n")
    lines = rest.split("\n")
    bullets = []
    for line in lines:
        b = _BULLET.match(line)
        if not b:
            break
        bullets.append(b.group(1))
    raw = bullets or re.split(r"\s*[,;]\s*|\s+and\s+", lines[0].strip().rstrip("."))
    names = [n.strip().strip("\"'`*") for n in raw if n.strip().strip("\"'`*")]
    names = [n for n in names if n.casefold() != "other"]  # Other is callphase's own label for what fits none
    if not names:
        return None
    return names, text[start:]


def answer_seed(names: list[str], vtt: str, options: dict[str, Any]) -> tuple[str, str]:
    """(the seed's JSON as text, what answered) for a seed request."""
    import callphase

    try:
        transcript = parse_vtt(vtt, "transcript.vtt")
    except CaptionError as e:
        raise ValueError(f"the WEBVTT transcript in the message cannot be read: {e}") from None
    result = callphase.analyze(transcript, names, options)
    return json.dumps(result.to_seed_json(), ensure_ascii=False), f"callphase ({result.segmentation.method})"


def completion(content: str, model: str, prompt_tokens: int = 0, completion_tokens: int = 0) -> dict[str, Any]:
    """A chat.completion body both the openai SDK and the assemblyai SDK's LLMGateway read."""
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}", "object": "chat.completion", "created": int(time.time()),
        "model": model, "request_id": uuid.uuid4().hex,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens,
                  "input_tokens": prompt_tokens, "output_tokens": completion_tokens},
    }


def chunks(body: dict[str, Any]):
    """The same answer as server-sent events: role, content, finish, [DONE]."""
    base = {"id": body["id"], "object": "chat.completion.chunk", "created": body["created"], "model": body["model"]}
    content = body["choices"][0]["message"]["content"]
    for delta, finish in (({"role": "assistant", "content": ""}, None), ({"content": content}, None), ({}, "stop")):
        yield f"data: {json.dumps({**base, 'choices': [{'index': 0, 'delta': delta, 'finish_reason': finish}]})}\n\n"
    yield "data: [DONE]\n\n"
