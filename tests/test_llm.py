"""The LLM layer: the packaged local model through llama.cpp, the OpenAI-compatible client against real HTTP
servers (callphase's own llm-serve, and a scripted one for failures and bad model output), summaries,
the llm and hybrid segmenters, and auto chapters. Every result goes through the validator."""
from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources

import pytest
import yaml
from conftest import CARD_CALL, PHASES, text_transcript

from callphase.captions import to_vtt
from callphase.chapters import auto_chapters
from callphase.errors import LLMError, ModelError, OptionsError
from callphase.llm import OpenAILLM, get_llm, parse_json
from callphase.llm.serve import serve
from callphase.models import PACKAGED_LLM, resolve_llm
from callphase.segment import check, get_segmenter, segment, validate
from callphase.segment.llm import labels_from_ranges
from callphase.summarize import retold, summarize, ungrounded
from callphase.types import PhaseSpec

SPEC = PhaseSpec.parse(PHASES)


@pytest.fixture(scope="module")
def local():
    return get_llm("local")


# --- the local backend -------------------------------------------------------------------------------

def test_packaged_model_is_assembled_once_and_verified():
    path = resolve_llm()
    model = PACKAGED_LLM["qwen2.5-coder-1.5b"]
    assert path.stat().st_size == model.size
    assert (path.parent / ".verified").read_text() == model.sha256
    stamp = path.stat().st_mtime_ns
    assert resolve_llm() == path and path.stat().st_mtime_ns == stamp  # not joined again


def test_local_chat_keeps_to_the_json_schema(local):
    schema = {"title": "pick", "type": "object", "additionalProperties": False, "required": ["phase", "line"],
              "properties": {"phase": {"type": "string", "enum": ["Complaint", "Goodbye"]},
                             "line": {"type": "integer", "minimum": 1, "maximum": 3}}}
    messages = [{"role": "user", "content": "1. The internet is broken.\n2. I am angry.\n3. Bye.\n"
                                            "Which line says goodbye, and what phase is it? Reply with JSON."}]
    reply = local.chat(messages, json_schema=schema, max_tokens=30)
    data = json.loads(reply.content)
    assert set(data) == {"phase", "line"} and data["phase"] in ("Complaint", "Goodbye") and 1 <= data["line"] <= 3
    assert reply.completion_tokens > 0 and reply.seconds > 0


def test_local_gguf_paths(tmp_path, local):
    assert get_llm(f"local:{resolve_llm()}") is local  # the same file is the same loaded model
    with pytest.raises(ModelError, match="no such GGUF"):
        get_llm(f"local:{tmp_path / 'missing.gguf'}")
    fake = tmp_path / "fake.gguf"
    fake.write_bytes(b"not a model")
    with pytest.raises(ModelError, match="not a GGUF"):
        get_llm(f"local:{fake}")
    with pytest.raises(OptionsError, match="unknown LLM backend 'gpt4'") as e:
        get_llm("gpt4")
    assert e.value.option == "llm.backend" and "--" not in str(e.value)  # library errors know no flags
    assert get_llm("none") is None


# --- the OpenAI-compatible client against real HTTP servers ------------------------------------------

def test_openai_client_against_callphase_llm_serve(local):
    server = serve(local, port=0, api_key="sesame")
    base = f"http://127.0.0.1:{server.server_address[1]}/v1"
    try:
        client = OpenAILLM("callphase", base_url=base, api_key="sesame")
        schema = {"title": "yes_no", "type": "object", "properties": {"answer": {"type": "string", "enum": ["yes", "no"]}},
                  "required": ["answer"], "additionalProperties": False}
        reply = client.chat([{"role": "user", "content": "Is the sky blue? Reply with JSON."}], json_schema=schema, max_tokens=30)
        assert json.loads(reply.content)["answer"] in ("yes", "no")
        assert reply.prompt_tokens > 0
        with pytest.raises(LLMError, match="refused the API key \\(401\\)"):
            OpenAILLM("callphase", base_url=base, api_key="wrong").chat([{"role": "user", "content": "hi"}])
        import urllib.request

        req = urllib.request.Request(base + "/models", headers={"Authorization": "Bearer sesame"})
        assert json.loads(urllib.request.urlopen(req).read())["data"][0]["id"] == local.name
    finally:
        server.shutdown()


def test_llm_serve_stops_generating_for_a_client_that_left_and_refuses_an_overlong_prompt(local):
    """A client that times out must not leave the model busy (its retries used to pile up behind it), and a
    prompt over the model's context is the request's fault: 400, not 502."""
    server = serve(local, port=0)
    base = f"http://127.0.0.1:{server.server_address[1]}/v1"
    try:
        count = [{"role": "user", "content": "Count from 1 to 300, one number per line."}]
        with pytest.raises(LLMError):  # leaves after 1 s of a generation that takes about 25 s
            OpenAILLM("m", base_url=base, timeout=1.0, retries=0).chat(count, max_tokens=400)
        t = time.perf_counter()
        reply = OpenAILLM("m", base_url=base, timeout=60, retries=0).chat([{"role": "user", "content": "Say hi."}], max_tokens=4)
        waited = time.perf_counter() - t
        assert reply.content and waited < 10, waited  # measured when written: about 1 s
        with pytest.raises(LLMError, match="answered 400.*exceeds the available context size"):
            OpenAILLM("m", base_url=base, retries=0).chat([{"role": "user", "content": "word " * 6000}], max_tokens=8)
    finally:
        server.shutdown()
        server.server_close()


class Scripted:
    """A real HTTP server that answers each POST with the next scripted (status, content or body, headers)."""

    def __init__(self, script):
        self.script, self.requests = list(script), []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                owner.requests.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                status, content, headers = owner.script.pop(0) if len(owner.script) > 1 else owner.script[0]
                if status == "sleep":
                    time.sleep(content)
                    status, content = 200, "{}"
                body = (json.dumps({"choices": [{"message": {"role": "assistant", "content": content}}]})
                        if status == 200 else json.dumps({"error": {"message": content}})).encode()
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def client(self, **kw) -> OpenAILLM:
        return OpenAILLM("m", base_url=self.url, api_key="k", backoff=0.01, **kw)

    def close(self):
        self.server.shutdown()


@pytest.fixture
def scripted():
    servers = []

    def make(*script):
        s = Scripted(script)
        servers.append(s)
        return s

    yield make
    for s in servers:
        s.close()


def test_client_retries_rate_limits_and_server_errors(scripted):
    s = scripted((429, "slow down", {"Retry-After": "0"}), (500, "oops", None), (200, '{"ok": 1}', None))
    assert json.loads(s.client().chat([{"role": "user", "content": "hi"}]).content) == {"ok": 1}
    assert len(s.requests) == 3 and s.requests[0]["model"] == "m"


def test_client_gives_up_with_the_last_error(scripted):
    s = scripted((503, "overloaded", None))
    with pytest.raises(LLMError, match="failed after 3 attempts; last: 503 server error: overloaded"):
        s.client(retries=2).chat([{"role": "user", "content": "hi"}])
    with pytest.raises(LLMError, match="answered 404"):
        scripted((404, "no such model", None)).client().chat([{"role": "user", "content": "hi"}])


def test_client_timeouts_and_unreachable_hosts(scripted):
    s = scripted(("sleep", 1.0, None))
    with pytest.raises(LLMError, match="cannot reach it|timed out"):
        s.client(timeout=0.2, retries=1).chat([{"role": "user", "content": "hi"}])
    with pytest.raises(LLMError, match="cannot reach it"):
        OpenAILLM("m", base_url="http://127.0.0.1:9/v1", retries=0).chat([{"role": "user", "content": "hi"}])


# --- bad model output never reaches the user ---------------------------------------------------------

BAD_REPLIES = [
    "this is not JSON",
    '{"phases": []}',
    '{"phases": [{"name": "Bogus", "first": 1, "last": 99}]}',
    '{"phases": [{"name": "Resolution", "first": 9, "last": 2}, {"name": "Introduction", "first": 10, "last": 12}]}',
    '{"phases": [{"name": "complaint", "first": -5, "last": 3}, {"name": "Goodbye", "first": 11, "last": 400}]}',
    '{"phases": "Introduction"}',
    "",
]


@pytest.mark.parametrize("content", BAD_REPLIES)
def test_bad_llm_segmentations_are_repaired_or_fall_back(content, scripted, card_text):
    transcript, _ = card_text
    segmenter = get_segmenter("llm", llm=scripted((200, content, None)).client())
    seg = segment(transcript, SPEC, segmenter)
    assert check(seg, transcript, SPEC) == []
    usable = True
    try:
        labels_from_ranges(parse_json(content), len(transcript.utterances), SPEC)
    except ValueError:
        usable = False
    if usable:
        assert seg.method.startswith("llm") and seg.repairs  # what was changed is on record
    else:
        assert seg.method.startswith("embedding (fallback from llm")
        assert any("unusable" in r for r in seg.repairs)


def test_ranges_become_labels():
    labels, repairs = labels_from_ranges(
        {"phases": [{"name": "A", "first": 1, "last": 2}, {"name": "B", "first": 4, "last": 5}]}, 5, SPEC)
    assert labels == ["A", "A", "A", "B", "B"] and repairs  # line 3 was in no range


def test_invented_facts_in_summaries_are_rejected(scripted, card_text):
    transcript, gold = card_text
    seg = segment(transcript, SPEC, "embedding")
    n = len(seg.phases)
    invented = {str(k): "The customer was charged 999 pounds by Mr Smith." for k in range(1, n + 1)}
    invented["1"] = "The agent greets the customer and asks how to help."
    summarize(transcript, seg, scripted((200, json.dumps(invented), None)).client())
    assert seg.phases[0].summary == "The agent greets the customer and asks how to help."
    for phase in seg.phases[1:]:
        assert "999" not in phase.summary
    assert sum("not said in the phase" in r for r in seg.repairs) == n - 1


def test_a_summary_of_the_wrong_phase_is_rejected(scripted, card_text):
    transcript, gold = card_text
    seg = validate(transcript, SPEC, labels=gold)  # the true phases
    resolution = "The agent blocked the card, ordered a new one and refunded the two hundred pounds."
    reply = {"1": "Mark from City Bank card services greets Anna Lopez.", "2": resolution, "3": resolution,
             "4": "The customer needs nothing else and they say goodbye."}
    summarize(transcript, seg, scripted((200, json.dumps(reply), None)).client())
    assert seg.phases[2].summary == resolution  # its own phase
    assert seg.phases[1].summary != resolution  # the Complaint keeps its extractive summary
    assert "phase 2 (Complaint): LLM summary retells phase 3 (Resolution); kept the extractive one" in seg.repairs
    assert seg.phases[0].summary == reply["1"] and seg.phases[3].summary == reply["4"]


def test_retold_needs_more_words_from_the_other_phase():
    own = "My internet has been down since Monday and the router keeps blinking red."
    other = {2: "I have reset your line remotely and booked an engineer for tomorrow morning."}
    assert retold("The agent reset the line remotely and booked an engineer.", own, other) == 2
    assert retold("The internet has been down since Monday; the router blinks red.", own, other) is None
    assert retold("The customer calls.", own, other) is None


def test_ungrounded_finds_names_and_numbers():
    source = "I was charged two hundred pounds at an online shop on Monday, said Anna"
    assert ungrounded("Anna was charged two hundred pounds on Monday.", source) == []
    assert set(ungrounded("Anna was charged 300 pounds on Friday by Visa.", source)) == {"300", "friday", "Visa"}


# --- with the real local model -----------------------------------------------------------------------

def test_local_summaries_are_grounded_and_short(local, card_text):
    transcript, _ = card_text
    seg = segment(transcript, SPEC, "embedding")
    summarize(transcript, seg, local)
    assert "summarize.v1" in seg.summary_method, seg.repairs
    assert seg.llm_stats["completion_tokens"] > 0
    for phase in seg.phases:
        assert 10 <= len(phase.summary) <= 240 and phase.summary.count(". ") < 3
    words = " ".join(u.text for u in transcript.utterances)
    assert all(not ungrounded(p.summary, words) for p in seg.phases)


@pytest.mark.parametrize("name", ["llm", "hybrid"])
def test_llm_and_hybrid_segmenters_with_the_local_model(name, local, card_text):
    transcript, gold = card_text
    seg = segment(transcript, SPEC, get_segmenter(name, llm=local))
    assert check(seg, transcript, SPEC) == []
    assert seg.method.startswith(name), seg.method
    assert all(0 <= p.confidence <= 1 for p in seg.phases)
    predicted = [next(p.name for p in seg.phases if p.first_utterance <= u.index <= p.last_utterance)
                 for u in transcript.utterances]
    assert sum(a == b for a, b in zip(predicted, gold)) / len(gold) >= 0.6


# --- auto chapters -----------------------------------------------------------------------------------

def two_topic_call():
    demo = yaml.safe_load(resources.files("callphase.demo").joinpath("call.yaml").read_text())["turns"]
    return text_transcript(demo + CARD_CALL), len(demo)


def test_auto_chapters_find_the_join_of_two_calls():
    transcript, join = two_topic_call()
    chapters = auto_chapters(transcript)
    assert chapters.kind == "chapters"
    starts = [c.first_utterance for c in chapters.phases]
    # measured: the cut lands 3 lines early, before the first call's generic goodbye lines
    assert 2 <= len(starts) <= 4 and min(abs(s - join) for s in starts[1:]) <= 3
    assert chapters.phases[0].start_time == 0 and chapters.phases[-1].end_time == transcript.duration
    assert all(a.end_time == b.start_time for a, b in zip(chapters.phases, chapters.phases[1:]))
    assert all(c.name and c.summary for c in chapters.phases)
    assert list(chapters.to_json()) == ["chapters"]
    assert [list(c) for c in chapters.to_json()["chapters"]] == [["title", "start_time", "end_time", "summary"]] * len(starts)


def test_auto_chapter_titles_from_the_local_model(local):
    transcript, _ = two_topic_call()
    chapters = auto_chapters(transcript, local)
    assert "chapters.v1" in chapters.method
    assert all(0 < len(c.name) <= 60 for c in chapters.phases)


# --- the command line --------------------------------------------------------------------------------

def run_cli(*args, env=None):
    import os

    return subprocess.run([sys.executable, "-m", "callphase", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=300)


@pytest.fixture
def card_vtt(tmp_path, card_text):
    path = tmp_path / "card.vtt"
    path.write_text(to_vtt(card_text[0]))
    return path


def test_show_prompt_prints_the_requests_and_sends_nothing(card_vtt):
    # the base URL is a closed port: a request actually sent would fail the run
    r = run_cli("segment", str(card_vtt), "--phases", PHASES, "--segmenter", "llm", "--show-prompt",
                "--llm", "openai:some-model", "--llm-base-url", "http://127.0.0.1:9/v1", "-q")
    assert r.returncode == 0, r.stderr
    requests = json.loads(r.stdout)
    # the segmenter's request (its retry repeats the same messages: recorded once), then the summaries'
    assert [q["purpose"] for q in requests] == ["phases", "phase_summaries"]
    first = requests[0]["request"]
    assert first["model"] == "some-model" and "1. agent: Hello" in first["messages"][1]["content"]
    assert first["response_format"]["json_schema"]["schema"]["properties"]["phases"]["items"]["properties"]["name"]["enum"] == \
        SPEC.allowed
    chapters = run_cli("segment", str(card_vtt), "--show-prompt", "-q")
    assert [q["purpose"] for q in json.loads(chapters.stdout)] == ["chapters"]


def test_show_prompt_records_the_hybrid_segmenters_questions(card_vtt):
    from callphase import analyze
    from callphase.llm import DryRunLLM

    dry = DryRunLLM("m")
    # similarity alone, whose boundaries on this call are unsure (with the default support model every
    # boundary of this call is above the 0.9 confidence that sends a question)
    result = analyze(card_vtt, PHASES, {"segmenter": {"name": "hybrid", "phase_model": "none"}, "llm": {"backend": dry}})
    asked = [q for q in dry.requests if q["purpose"] == "boundary"]
    # one question per low-confidence boundary of the embedding path, each bounded to its window
    moved = [r for r in result.segmentation.repairs if "boundary reply unusable" in r]
    assert len(asked) == len(moved) >= 1
    bounds = asked[0]["request"]["response_format"]["json_schema"]["schema"]["properties"]["first_line"]
    assert 1 <= bounds["minimum"] < bounds["maximum"] <= len(result.transcript.utterances)
    assert dry.requests[-1]["purpose"] == "phase_summaries" and result.segmentation.summary_method == "extractive"


def test_cli_llm_errors(card_vtt, scripted):
    r = run_cli("segment", str(card_vtt), "--phases", PHASES, "--segmenter", "hybrid")
    assert r.returncode == 2 and "needs an LLM" in r.stderr
    r = run_cli("segment", str(card_vtt), "--phases", PHASES, "--llm", "claude")
    assert r.returncode == 2 and "unknown LLM backend 'claude'" in r.stderr and "(--llm)" in r.stderr
    r = run_cli("segment", str(card_vtt), "--phases", PHASES, "--llm", "openai:m", "--llm-base-url", "not a url")
    assert r.returncode == 2 and "is not an http(s) URL" in r.stderr and "(--llm-base-url)" in r.stderr
    # a refused key costs the summaries only: the phases come out, extractive, and stderr says why
    s = scripted((401, "invalid key", None))
    r = run_cli("segment", str(card_vtt), "--phases", PHASES, "--llm", "openai:m", "--llm-base-url", s.url)
    assert r.returncode == 0, r.stderr
    assert [p["name"] for p in json.loads(r.stdout)["phases"]] == SPEC.names
    assert "LLM summaries failed" in r.stderr and "refused the API key (401): invalid key" in r.stderr


def test_cli_summaries_and_chapters_through_a_remote_endpoint(card_vtt, scripted):
    """--llm openai:MODEL end to end; the scripted endpoint's summaries are grounded in the card call."""
    reply = {str(k): "The customer reports a payment on the card that they never made." for k in range(1, 6)}
    s = scripted((200, json.dumps(reply), None))
    r = run_cli("segment", str(card_vtt), "--phases", PHASES, "--llm", "openai:m", "--llm-base-url", s.url, "-q")
    assert r.returncode == 0, r.stderr
    phases = json.loads(r.stdout)["phases"]
    assert any(p["summary"] == reply["1"] for p in phases)
    assert s.requests[0]["response_format"]["type"] == "json_schema"
    r = run_cli("segment", str(card_vtt), "--no-llm", "-q")
    assert r.returncode == 0 and json.loads(r.stdout)["chapters"]
