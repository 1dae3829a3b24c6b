"""Faults at the edges: a misbehaving LLM endpoint (a real HTTP server, tests/fault_server.py), the disk, and
the results folder. Whatever fails, the phases come out valid, or the run stops with one clear error before
any work; finished work is never lost to an optional step."""
import json
import os
import subprocess
import sys

import pytest
from conftest import PHASES
from fault_server import FAULTS, FaultServer

import callphase
from callphase.captions import to_vtt
from callphase.llm import OpenAILLM
from callphase.segment import check
from callphase.types import PhaseSpec

SPEC = PhaseSpec.parse(PHASES)


@pytest.fixture
def fault():
    servers = []

    def make(*script, **kw):
        s = FaultServer(*script, **kw)
        servers.append(s)
        return s

    yield make
    for s in servers:
        s.close()


def run_cli(*args, **kw):
    return subprocess.run([sys.executable, "-m", "callphase", *map(str, args)], capture_output=True, text=True,
                          timeout=300, **kw)


PATHS = {  # what uses the LLM: (phases, segmenter)
    "summaries": (PHASES, "embedding"),
    "llm segmenter": (PHASES, "llm"),
    "hybrid segmenter": (PHASES, "hybrid"),
    "chapter titles": (None, "embedding"),
}


@pytest.mark.parametrize("kind", FAULTS)
@pytest.mark.parametrize("path", PATHS)
def test_every_llm_path_survives_every_fault(path, kind, fault, card_text):
    transcript, _ = card_text
    server = fault(kind, slow=0.6)
    llm = OpenAILLM("m", base_url=server.url, api_key="k", timeout=0.3, retries=1, backoff=0.01)
    phases, segmenter = PATHS[path]
    result = callphase.analyze(transcript, phases, {"segmenter": {"name": segmenter}, "llm": {"backend": llm},
                                                    "chapters": {"min_size": 3}})
    seg = result.segmentation
    assert server.requests, "the LLM was asked"
    if phases is not None:
        assert check(seg, result.transcript, SPEC) == []
    assert seg.phases[0].start_time == 0 and seg.phases[-1].end_time == transcript.duration
    assert all(p.summary for p in seg.phases)
    # what happened is on record: a fallback in repairs, and a failed request also in the run's notes
    said = " ".join(seg.repairs + result.notes)
    assert "LLM" in said and ("kept" in said or "fallback" in seg.method), said
    if kind not in ("bad-content",):
        assert seg.summary_method == "extractive"


def test_a_connection_closed_mid_response_is_retried(fault):
    server = fault("cut", "ok")
    reply = OpenAILLM("m", base_url=server.url, api_key="k", backoff=0.01).chat([{"role": "user", "content": "hi"}])
    assert json.loads(reply.content) == {"1": "A fine summary of what was said."} and len(server.requests) == 2


@pytest.fixture
def card_vtt(tmp_path, card_text):
    path = tmp_path / "card.vtt"
    path.write_text(to_vtt(card_text[0]))
    return path


def test_the_cli_keeps_the_phases_when_the_summaries_llm_fails_and_shows_its_waits(fault, card_vtt):
    server = fault("500")
    r = run_cli("segment", card_vtt, "--phases", PHASES, "--llm", "openai:m", "--llm-base-url", server.url)
    assert r.returncode == 0, r.stderr
    assert [p["name"] for p in json.loads(r.stdout)["phases"]] == SPEC.names
    assert "retrying in" in r.stderr and "(attempt 2 of 4)" in r.stderr  # the waits, as they happen
    assert "LLM summaries failed" in r.stderr and "kept the extractive summaries" in r.stderr
    assert len(server.requests) == 4


def test_out_never_overwrites_a_file_callphase_did_not_write(card_vtt, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    mine = out / "card.srt"
    mine.write_text("the user's own subtitles\n")
    r = run_cli("segment", card_vtt, "--phases", PHASES, "--out", out)
    assert r.returncode == 2 and "was not written by callphase" in r.stderr and "(--force)" in r.stderr
    assert mine.read_text() == "the user's own subtitles\n" and sorted(p.name for p in out.iterdir()) == ["card.srt"]
    assert run_cli("segment", card_vtt, "--phases", PHASES, "--out", out, "--force").returncode == 0
    assert mine.read_text().startswith("1\n")
    # its own earlier results callphase replaces without --force; the same files once changed by hand, not
    assert run_cli("segment", card_vtt, "--phases", PHASES, "--out", out).returncode == 0
    (out / "card.phases.json").write_text("{}")
    assert run_cli("segment", card_vtt, "--phases", PHASES, "--out", out).returncode == 2


def test_a_full_disk_leaves_the_previous_results_as_they_were(card_vtt, tmp_path):
    out = tmp_path / "out"
    assert run_cli("segment", card_vtt, "--phases", PHASES, "--out", out).returncode == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    # a file-size limit: the biggest result (the transcript) cannot be written, as on a full disk
    code = ("import resource, signal, sys; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
            "resource.setrlimit(resource.RLIMIT_FSIZE, (600, 600)); sys.argv = ['callphase'] + sys.argv[1:]; "
            "from callphase.cli import main; main()")
    r = subprocess.run([sys.executable, "-c", code, "segment", str(card_vtt), "--phases", "Introduction,Goodbye",
                        "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "nothing was replaced" in r.stderr, r.stderr
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # no temporary files left either


@pytest.mark.parametrize("where, message", [
    ("card.vtt", "is a file, not a folder"),
    ("/dev/null/results", "cannot write into /dev/null/results"),
])
def test_a_bad_destination_fails_before_any_work(card_vtt, where, message):
    r = run_cli("segment", card_vtt, "--phases", PHASES, "--out", where, "--model", "/no/model/needed", cwd=card_vtt.parent)
    assert r.returncode == 2 and message in r.stderr and "(--out)" in r.stderr and "Traceback" not in r.stderr


def test_llm_serve_answers_bad_requests_with_4xx_and_bounds_its_queue(fault):
    import threading
    import urllib.error
    import urllib.request

    from callphase.llm.serve import serve

    upstream = fault("slow", slow=1.5)
    server = serve(OpenAILLM("m", base_url=upstream.url, api_key="k", retries=0, timeout=10), port=0, max_queue=2)
    url = f"http://127.0.0.1:{server.server_address[1]}/v1/chat/completions"

    def post(body):
        req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=20) as resp:
                return resp.status, dict(resp.headers), json.loads(resp.read())
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), json.loads(e.read())

    try:
        hi = [{"role": "user", "content": "hi"}]
        for body in ({"messages": hi, "max_tokens": -5}, {"messages": hi, "temperature": "hot"},
                     {"messages": hi, "response_format": {"type": "json_schema", "json_schema": {"schema": "nope"}}},
                     {"messages": hi, "response_format": "json"}, [1, 2]):
            status, _, data = post(body)
            assert status == 400 and data["error"]["message"].startswith("bad request"), (body, data)
        answers = []
        threads = [threading.Thread(target=lambda: answers.append(post({"messages": hi}))) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        codes = sorted(a[0] for a in answers)
        assert codes == [200, 200, 429, 429], codes
        assert all(a[1].get("Retry-After") for a in answers if a[0] == 429)
    finally:
        server.shutdown()
        server.server_close()


def test_a_huge_caption_cue_is_split_into_bounded_utterances(tmp_path):
    import time

    # 2,000 words in one cue, sentences of 17 words, and one run-on stretch of 300 words without an end
    words = " ".join(f"word{i % 50}" + ("." if i % 17 == 16 and not 1000 <= i < 1300 else "") for i in range(2_000))
    vtt = tmp_path / "huge.vtt"
    vtt.write_text(f"WEBVTT\n\n00:00:00.000 --> 00:10:00.000\n<v Agent>{words}\n")
    t = time.perf_counter()
    result = callphase.analyze(vtt, PHASES, {"llm": {"backend": "none"}})
    seconds = time.perf_counter() - t
    utts = result.transcript.utterances
    assert len(utts) > 100 and max(len(u.text.split()) for u in utts) <= 60
    assert utts[0].start == 0 and utts[-1].end == 600 and all(a.end <= b.start + 1e-6 for a, b in zip(utts, utts[1:]))
    assert " ".join(u.text for u in utts) == words
    print(f"2,000-word cue: {seconds:.1f} s")  # linear in the words now: about 60 ms an utterance (note)


def test_os_errors_on_given_paths_are_one_line(tmp_path):
    locked = tmp_path / "locked.vtt"
    locked.write_text("WEBVTT\n")
    os.chmod(locked, 0)
    r = run_cli("segment", tmp_path, "--phases", PHASES)  # a folder given as the call
    assert r.returncode == 2 and r.stderr.startswith("error: ") and "Traceback" not in r.stderr


def test_long_prompts_are_split_or_trimmed_to_fit_the_context():
    from conftest import text_transcript

    from callphase.segment.llm import MIN_LINE_WORDS, fitted_segment_request
    from callphase.summarize import MAX_PHASES_PER_REQUEST, fits, summary_batches, summary_request

    turns = [{"speaker": "agent", "text": " ".join(f"word{i}" for i in range(60))} for _ in range(60)]
    transcript = text_transcript(turns)
    groups = [[u] for u in transcript.utterances]  # 60 phases of one long utterance each
    names = [f"Phase {i}" for i in range(60)]
    assert not fits(summary_request(names, groups), 4096)  # one request would overflow a 4096-token model
    batches = summary_batches(names, groups, 4096)
    assert sorted(j for b, _ in batches for j in b) == list(range(60)) and len(batches) > 1
    for b, request in batches:
        assert len(b) <= MAX_PHASES_PER_REQUEST and fits(request, 4096)
        assert fits(summary_request(names, [g if j in b else [] for j, g in enumerate(groups)]), 4096)
    spec = PhaseSpec.parse(PHASES)
    request = fitted_segment_request(transcript, spec, 4096)
    assert request is not None and fits(request, 4096) and "word5 " in request.messages[1]["content"]
    assert fitted_segment_request(text_transcript(turns * 30), spec, 4096) is None  # 1,800 lines: too many
    assert MIN_LINE_WORDS >= 4
