"""`callphase serve` for real: a server process on a free loopback port, the official `assemblyai` SDK as the
client, and a kill -9 in the middle of a job."""
import json
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

import callphase

aai = pytest.importorskip("assemblyai", reason="the assemblyai SDK is a test dependency (pip install '.[test]')")
pytest.importorskip("fastapi", reason="the server needs callphase[server]")

from serving import KEY  # noqa: E402  (the server fixture is in conftest.py)


def test_the_official_sdk_transcribes_through_callphase(server, card_call):
    s = server()
    aai.settings.base_url = s.url
    aai.settings.api_key = KEY
    aai.settings.polling_interval = 0.3
    transcriber = aai.Transcriber(config=aai.TranscriptionConfig(speaker_labels=True, language_code="en"))
    t = transcriber.transcribe(str(card_call[0]))
    assert t.status == aai.TranscriptStatus.completed, t.error
    # what a local run with the same model and speaker options gives (the words themselves vary by CPU)
    local = callphase.load_transcript(card_call[0], {"asr": {"model": "tiny", "language": "en"},
                                                     "speakers": {"speakers": 2, "mono": True}})
    assert t.text == " ".join(u.text for u in local.utterances) and t.audio_duration == round(card_call[1].duration)
    assert t.words and all(isinstance(w.start, int) and w.start <= w.end for w in t.words)
    assert {u.speaker for u in t.utterances} <= {"A", "B"} and t.utterances
    assert t.export_subtitles_vtt().startswith("WEBVTT") and "-->" in t.export_subtitles_srt()
    assert [x.text for x in t.get_sentences()] == [u.text for u in t.utterances]
    listed = transcriber.list_transcripts()
    assert [x.id for x in listed.transcripts] == [t.id]
    # an audio_url nobody can fetch: the job ends in status error, the SDK raises nothing
    bad = transcriber.transcribe("http://127.0.0.1:9/none.mp3")
    assert bad.status == aai.TranscriptStatus.error and "cannot fetch audio_url" in bad.error
    aai.Transcript.delete_by_id(t.id)
    status, body = s.request("GET", f"/v2/transcript/{t.id}")
    assert status == 404 and json.loads(body) == {"error": f"transcript {t.id} not found"}


def test_auth_limits_and_errors_are_json(server, tmp_path):
    s = server("--max-upload-mb", "1")
    req = urllib.request.Request(s.url + "/v2/transcript", data=b"{}", method="POST")
    try:
        urllib.request.urlopen(req)
        raise AssertionError("no key, yet answered")
    except urllib.error.HTTPError as e:
        assert e.code == 401 and json.loads(e.read()) == {"error": "Authentication error, API token missing/invalid"}
    assert s.request("GET", "/health", headers={"authorization": ""})[0] == 200
    status, body = s.request("POST", "/v2/upload", b"x" * (2 << 20))
    assert status == 413 and "larger than 1 MB" in json.loads(body)["error"]
    assert s.request("POST", "/v2/upload", b"x" * 100, {"authorization": f"Bearer {KEY}"})[0] == 200
    for body, message in ((b"not json", "not JSON"), ({"speech_models": ["x"]}, "audio_url is required"),
                          ({"audio_url": "file:///etc/passwd"}, "must be under an allowed folder")):
        status, answer = s.request("POST", "/v2/transcript", body, {"Content-Type": "application/json"})
        assert status == 400 and message in json.loads(answer)["error"]
    assert s.request("GET", "/v2/transcript/nope/vtt")[0] == 404
    assert not list((tmp_path / "data" / "uploads").glob(".upload-*"))  # the refused upload left nothing


def wait_done(s, job_id, seconds=120):
    return s.wait(job_id, seconds)


def test_phases_from_the_api_and_the_calls_page_that_shows_them(server, card_call):
    """callphase's `phases` field: checked when the job is created, answered in the seed's shape at
    /v2/transcript/{id}/phases; /calls/{id} is the page of the same stored result, with its audio."""
    import http.client

    s = server()
    for phases, message in (("Introduction, introduction", "phase names repeat"), (5, "phases must be a list"),
                            ([{"description": "x"}], "needs a 'name'")):
        status, answer = s.request("POST", "/v2/transcript", {"audio_url": "http://127.0.0.1:9/a.mp3", "phases": phases})
        assert status == 400 and message in json.loads(answer)["error"], answer
    assert json.loads(s.request("GET", "/v2/transcript")[1])["transcripts"] == []  # nothing was queued
    upload = json.loads(s.request("POST", "/v2/upload", card_call[0].read_bytes())[1])["upload_url"]
    spec = [{"name": "Greeting", "description": "the agent answers and the caller says who they are"},
            {"name": "Problem"}, {"name": "Fix"}, {"name": "Goodbye"}]
    asked = json.loads(s.request("POST", "/v2/transcript", {"audio_url": upload, "phases": spec, "speaker_labels": True,
                                                            "language_code": "en", "title": "card <call>"})[1])
    plain = json.loads(s.request("POST", "/v2/transcript", {"audio_url": upload, "language_code": "en"})[1])
    job, plain = wait_done(s, asked["id"]), wait_done(s, plain["id"])
    assert job["status"] == plain["status"] == "completed", (job["error"], plain["error"])
    seed = json.loads(s.request("GET", f"/v2/transcript/{job['id']}/phases")[1])
    assert list(seed) == ["phases"] and all(list(p) == ["name", "start_time", "end_time", "summary"] for p in seed["phases"])
    assert {p["name"] for p in seed["phases"]} <= {"Greeting", "Problem", "Fix", "Goodbye", "Other"}
    assert seed["phases"][0]["start_time"] == 0 and abs(seed["phases"][-1]["end_time"] - card_call[1].duration) < 0.05
    assert job["callphase"]["phases"] == seed["phases"] and job["chapters"] is None  # no auto_chapters asked
    status, answer = s.request("GET", f"/v2/transcript/{plain['id']}/phases")
    assert status == 400 and "was not given phases" in json.loads(answer)["error"]

    status, page = s.request("GET", f"/calls/{job['id']}")
    page = page.decode()
    assert status == 200 and "<title>card &lt;call&gt;: call phases</title>" in page and "<call>" not in page
    assert all(f">{p['name']}</a>" in page for p in seed["phases"]) and f'src="{job["id"]}/audio"' in page
    status, page = s.request("GET", f"/calls/{plain['id']}")
    assert status == 200 and "transcript only" in page.decode() and plain["words"][0]["text"] in page.decode()
    status, audio = s.request("GET", f"/calls/{job['id']}/audio", headers={"Range": "bytes=0-99"})
    assert status == 206 and audio == card_call[0].read_bytes()[:100]
    conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=10)
    try:
        for path, code in ((f"/calls/{job['id']}", 303), (f"/calls/{job['id']}/audio", 401), ("/", 200)):
            conn.request("GET", path)  # no key: the pages send people to the key form, the audio says 401
            answer = conn.getresponse()
            body = answer.read()
            assert answer.status == code, (path, answer.status)
            if code == 303:
                assert answer.getheader("location") == "../"
            if path == "/":
                assert b'name="key"' in body and job["id"].encode() not in body
        conn.request("GET", "/calls/nope", headers={"authorization": KEY})
        answer = conn.getresponse()
        assert answer.status == 404 and json.loads(answer.read()) == {"error": "transcript nope not found"}
        conn.request("GET", f"/calls/{job['id']}/audio", headers={"authorization": KEY})
        answer = conn.getresponse()
        assert answer.getheader("content-type") == "audio/mpeg" and answer.read() == card_call[0].read_bytes()
    finally:
        conn.close()


def test_a_job_survives_kill_9_of_the_server(server, card_call, tmp_path):
    s = server()
    status, body = s.request("POST", "/v2/upload", card_call[0].read_bytes())
    job = json.loads(s.request("POST", "/v2/transcript", {"audio_url": json.loads(body)["upload_url"]})[1])
    for _ in range(200):  # wait until a worker has it
        if json.loads(s.request("GET", f"/v2/transcript/{job['id']}")[1])["status"] == "processing":
            break
        time.sleep(0.05)
    s.stop(signal.SIGKILL)
    s2 = __import__("callphase.server.store", fromlist=["Store"]).Store(tmp_path / "data")
    assert s2.get(job["id"])["status"] == "processing"  # killed mid-job: left as the server died
    again = server()  # the same data folder
    for _ in range(600):
        state = json.loads(again.request("GET", f"/v2/transcript/{job['id']}")[1])
        if state["status"] in ("completed", "error"):
            break
        time.sleep(0.2)
    assert state["status"] == "completed", state
    assert state["text"]


def seed_guide():
    from callphase.evaluation.datasets import star_path

    guide = star_path().parents[1] / "seed" / "phone-call-segmentation-guide.txt"  # shared/seed beside shared/data
    if not guide.is_file():
        pytest.skip("needs the project's shared/seed guide beside the checkout")
    text = guide.read_text()
    start = text.index("import requests", text.index("Quickstart"))
    return text[start: text.index("print(result)", start) + len("print(result)")]


def test_the_seed_quickstart_runs_unchanged_but_for_its_urls(server, card_call, tmp_path):
    pytest.importorskip("requests")
    s = server()
    script = seed_guide()
    for old, new in (("https://api.assemblyai.com", s.url), ("https://llm-gateway.assemblyai.com", s.url),
                     ("./my-audio.mp3", str(card_call[0])), ("<YOUR_API_KEY>", KEY)):
        assert old in script
        script = script.replace(old, new)
    (tmp_path / "quickstart.py").write_text(script)
    out = subprocess.run([sys.executable, str(tmp_path / "quickstart.py")], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    phases = json.loads(out.stdout)["phases"]
    assert [p["name"] for p in phases] == ["Introduction", "Complaint", "Resolution", "Goodbye"]
    assert phases[0]["start_time"] == 0 and all(a["end_time"] == b["start_time"] for a, b in zip(phases, phases[1:]))
    assert all(list(p) == ["name", "start_time", "end_time", "summary"] and p["summary"] for p in phases)


def test_openai_and_assemblyai_sdks_chat_with_the_server(server, card_text):
    openai = pytest.importorskip("openai")
    from callphase.captions import to_vtt

    s = server()
    client = openai.OpenAI(base_url=s.url + "/v1", api_key=KEY)
    prompt = ("Divide this call into the following phases:\n- Introduction\n- Complaint\n- Resolution\n- Goodbye\n\n"
              "VTT Transcript:\n" + to_vtt(card_text[0]))
    reply = client.chat.completions.create(model="any-model", messages=[{"role": "user", "content": prompt}])
    phases = json.loads(reply.choices[0].message.content)["phases"]
    assert [p["name"] for p in phases][:1] == ["Introduction"] and reply.model.startswith("callphase")
    streamed = "".join(c.choices[0].delta.content or "" for c in client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": prompt}], stream=True) if c.choices)
    assert json.loads(streamed) == json.loads(reply.choices[0].message.content)
    assert [m.id for m in client.models.list()] == ["callphase"]
    with pytest.raises(openai.BadRequestError, match="for other chats start it with --llm"):
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hello"}])
    aai.settings.llm_gateway_base_url = s.url
    aai.settings.api_key = KEY
    answer = aai.LLMGateway().chat.completions.create(model="m", messages=[{"role": "user", "content": prompt}])
    assert json.loads(answer.choices[0].message.content)["phases"][0]["name"] == "Introduction"


def test_sdk_results_word_search_paragraphs_chapters_and_webhook(server, card_call, tmp_path):
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    calls = []

    class Hook(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_POST(self):
            calls.append((self.headers.get("X-Secret"), json.loads(self.rfile.read(int(self.headers["Content-Length"])))))
            self.send_response(204)
            self.end_headers()

    hook = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    try:
        s = server()
        aai.settings.base_url, aai.settings.api_key, aai.settings.polling_interval = s.url, KEY, 0.3
        config = aai.TranscriptionConfig(auto_chapters=True, speaker_labels=True, language_code="en")
        config.set_webhook(f"http://127.0.0.1:{hook.server_address[1]}/done", "X-Secret", "s3")
        t = aai.Transcriber(config=config).transcribe(str(card_call[0]))
        assert t.status == aai.TranscriptStatus.completed, t.error
        assert t.chapters and all(isinstance(c.start, int) and c.headline and c.summary for c in t.chapters)
        assert t.chapters[0].start == 0 and abs(t.chapters[-1].end - card_call[1].duration * 1000) < 50
        word = next(w for w in t.words if len(w.text.strip(",.?!")) > 3)
        found = t.word_search([word.text.strip(",.?!")])
        assert found and found[0].count >= 1 and (word.start, word.end) in [tuple(x) for x in found[0].timestamps]
        assert t.get_paragraphs() and "".join(p.text for p in t.get_paragraphs())
        short = t.export_subtitles_srt(chars_per_caption=20)
        assert all(len(line) <= 20 + len("[A] ") for line in short.splitlines() if line and "-->" not in line and not line.isdigit())
        for _ in range(50):
            if calls:
                break
            time.sleep(0.1)
        assert calls == [("s3", {"transcript_id": t.id, "status": "completed"})]
        assert aai.Transcript.get_by_id(t.id).webhook_status_code == 204
    finally:
        hook.shutdown()
        hook.server_close()


def test_both_pydantic_modes_of_the_sdk_parse_the_transcript(server, card_call):
    """The SDK uses pydantic v2 when pydantic-settings is installed, else pydantic.v1: both must read it."""
    s = server()
    status, body = s.request("POST", "/v2/upload", card_call[0].read_bytes())
    code = ("import sys, time\n"
            "if sys.argv[1] == 'v1': sys.modules['pydantic_settings'] = None\n"
            "import assemblyai as aai, assemblyai.types as T\n"
            f"aai.settings.base_url = {s.url!r}; aai.settings.api_key = {KEY!r}; aai.settings.polling_interval = 0.3\n"
            f"t = aai.Transcriber().transcribe({json.loads(body)['upload_url']!r})\n"
            "print(T.pydantic_v2, t.status.value, len(t.words))")
    for mode in ("v1", "v2"):
        if mode == "v2":
            pytest.importorskip("pydantic_settings")
        out = subprocess.run([sys.executable, "-c", code, mode], capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr
        v2, status, words = out.stdout.split()
        assert (v2 == "True") == (mode == "v2") and status == "completed" and int(words) > 10, out.stdout


def test_serving_beyond_loopback_needs_a_key(tmp_path):
    r = subprocess.run([sys.executable, "-m", "callphase", "serve", "--host", "0.0.0.0", "--data", str(tmp_path)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "without an API key" in r.stderr and "(--api-key-env)" in r.stderr


def test_fuzzing_the_openapi_finds_no_server_error(server, tmp_path):
    """schemathesis, every route of /openapi.json: no 5xx and no traceback in any answer."""
    import shutil

    cli = shutil.which("schemathesis") or str(Path(sys.executable).parent / "schemathesis")
    if not Path(cli).exists():
        pytest.skip("schemathesis is a test dependency")
    s = server()
    out = subprocess.run([cli, "run", f"{s.url}/openapi.json", "--checks", "not_a_server_error",
                          "-H", f"authorization: {KEY}", "--max-examples", "15", "--phases", "examples,fuzzing",
                          "--exclude-path", "/v2/upload"],
                         capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert out.returncode == 0, out.stdout[-3000:]
    assert "Traceback" not in out.stdout


def test_structured_parse_chunked_upload_and_other_chats_through_the_upstream_llm(server, card_text, card_call):
    import http.client

    import openai
    from fault_server import FaultServer
    from pydantic import BaseModel

    from callphase.captions import to_vtt

    upstream = FaultServer("ok", ok_content="Hello from upstream.")
    try:
        s = server("--llm", "openai:m", "--llm-base-url", upstream.url)
        client = openai.OpenAI(base_url=s.url + "/v1", api_key=KEY)

        class Phase(BaseModel):
            name: str
            start_time: float
            end_time: float
            summary: str

        class Phases(BaseModel):
            phases: list[Phase]

        prompt = ("Analyze the following transcript and divide it into the following phases:\n"
                  "Introduction, Complaint, Resolution, Goodbye\n\nVTT Transcript:\n" + to_vtt(card_text[0]))
        parsed = client.beta.chat.completions.parse(model="m", messages=[{"role": "user", "content": prompt}],
                                                    response_format=Phases).choices[0].message.parsed
        # the call as the VTT tells it: it ends with its last cue
        assert [p.name for p in parsed.phases][0] == "Introduction" and parsed.phases[-1].end_time == card_text[0].utterances[-1].end
        other = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hello"}])
        assert other.choices[0].message.content == "Hello from upstream." and other.model == "openai:m"
        assert upstream.requests[-1]["messages"] == [{"role": "user", "content": "hello"}]
        # a chunked upload (no Content-Length), as streaming clients send it
        conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=30)
        data = card_call[0].read_bytes()
        conn.request("POST", "/v2/upload", body=(data[i:i + 65536] for i in range(0, len(data), 65536)),
                     headers={"authorization": KEY}, encode_chunked=True)
        answer = conn.getresponse()
        assert answer.status == 200 and "/v2/upload/" in json.loads(answer.read())["upload_url"]
        conn.close()
    finally:
        upstream.close()
