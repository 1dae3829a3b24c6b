"""`callphase batch` for real: worker processes on generated calls, a kill -9 in the middle and the rerun,
and the same batch on a real local Ray cluster (started by the batch, and started with `ray start`)."""
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import CARD_CALL, PHASES, text_transcript

from callphase.captions import to_vtt
from callphase.evaluation.synth import render_call, write_audio

BATCH = [sys.executable, "-m", "callphase", "batch"]
FLAGS = ["--phases", PHASES, "--model", "tiny", "--language", "en", "--no-llm"]


def batch(*args, **kw):
    return subprocess.run([*BATCH, *FLAGS, *map(str, args)], capture_output=True, text=True, **kw)  # args win


def manifest(out: Path) -> dict[str, dict]:
    with sqlite3.connect(out / "batch.sqlite3") as db:
        db.row_factory = sqlite3.Row
        return {r["name"]: dict(r) for r in db.execute("SELECT * FROM calls")}


def results(out: Path) -> dict[str, str]:
    """Every result file under `out`, by path: what two runs must agree on."""
    return {str(p.relative_to(out)): p.read_text() for p in sorted(out.rglob("*"))
            if p.is_file() and p.suffix in (".json", ".vtt", ".srt") and not p.name.startswith(".")}


@pytest.fixture(scope="module")
def short_calls(tmp_path_factory):
    """Five different short calls (parts of the card call, other voices' seeds), 8 kHz mono mp3."""
    folder = tmp_path_factory.mktemp("short_calls")
    for k, part in enumerate([CARD_CALL[:5], CARD_CALL[4:9], CARD_CALL[7:], CARD_CALL[::2], CARD_CALL[1::2]]):
        call = render_call(part, seed=10 + k)
        write_audio(call.samples, call.sample_rate, folder / f"call{k}.mp3")
    return folder


@pytest.fixture
def http_folder():
    """start(folder) -> base URL of a real HTTP server on loopback serving `folder`; stopped after."""
    servers = []

    def start(folder):
        server = ThreadingHTTPServer(("127.0.0.1", 0), partial(QuietHandler, directory=str(folder)))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for s in servers:
        s.shutdown()
        s.server_close()


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *a):
        pass


def test_a_batch_of_folders_lists_and_urls_records_every_call_and_resumes(card_call, card_text, tmp_path, http_folder):
    calls = tmp_path / "calls"
    (calls / "a").mkdir(parents=True)
    (calls / "b").mkdir()
    (calls / "a" / "card.mp3").write_bytes(card_call[0].read_bytes())
    (calls / "b" / "card.vtt").write_text(to_vtt(card_text[0]))  # same stem, another folder: its own name
    (calls / "a" / "broken.mp3").write_text("not audio")
    (calls / "a" / "notes.md").write_text("not a call")
    url = http_folder(card_call[0].parent) + "/card_call.mp3"
    listing = tmp_path / "more.txt"
    listing.write_text(f"# calls from elsewhere\n{url}\nmissing/gone.wav\n")
    out = tmp_path / "out"

    first = batch(calls, listing, "--out", out, "--workers", "2", "--json")
    assert first.returncode == 1, first.stderr  # some calls failed: 1, and the batch went on
    rows = manifest(out)
    assert {n: r["status"] for n, r in rows.items()} == {
        "a/card": "done", "b/card": "done", "a/broken": "failed", "card_call": "done", "gone": "failed"}
    assert "cannot read broken.mp3 as audio" in rows["a/broken"]["error"]
    assert rows["gone"]["error"] == f"no such file: {tmp_path / 'missing' / 'gone.wav'}"
    events = [json.loads(line) for line in first.stderr.splitlines() if line.startswith("{")]
    ends = [e for e in events if e["event"] == "call"]
    assert len(ends) == 5 and ends[-1]["done"] == 3 and ends[-1]["failed"] == 2 and ends[-1]["rtf"] > 0
    assert abs(ends[-1]["audio_hours"] * 3600 - 2 * card_call[1].duration - card_text[0].duration) < 1
    summary = events[-1]
    assert summary["event"] == "summary" and (summary["done"], summary["failed"]) == (3, 2)
    assert {p["phase"] for p in summary["phases"]} <= set(PHASES.split(",")) | {"Other"}

    # every door gives the same result: the batch's files are what `callphase segment` writes
    single = subprocess.run([sys.executable, "-m", "callphase", "segment", str(calls / "a" / "card.mp3"), *FLAGS, "--quiet"],
                            capture_output=True, text=True)
    assert single.returncode == 0 and (out / "a" / "card.phases.json").read_text() == single.stdout
    assert (out / "card_call.phases.json").read_text() == single.stdout  # the same audio, fetched by URL
    assert f'src="{url}"' in (out / "card_call.html").read_text()
    lines = (out / "summary.csv").read_text().splitlines()
    assert lines[0] == "name,source,status,duration_s,phases,talk_share,error" and len(lines) == 6
    assert any(line.startswith("a/card,") and ",done," in line and "Introduction 0.00-" in line for line in lines)
    assert (out / "summary_phases.csv").read_text().startswith("phase,calls,share_of_calls,mean_duration_s\n")

    # a rerun skips what is done and, by default, what failed; nothing is written again
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*.phases.json")}
    again = batch(calls, listing, "--out", out, "--json")
    assert again.returncode == 1
    statuses = [json.loads(line)["status"] for line in again.stderr.splitlines() if '"event": "call"' in line]
    assert sorted(statuses) == ["done before"] * 3 + ["failed before"] * 2
    assert stamps == {p: p.stat().st_mtime_ns for p in out.rglob("*.phases.json")}
    # other phases into the same folder would mix two batches: refused, nothing touched
    other = subprocess.run([*BATCH, *FLAGS, str(calls), "--out", str(out), "--phases", "Greeting,Rest"],
                           capture_output=True, text=True)
    assert other.returncode == 2 and "holds a batch run with other phases or options" in other.stderr
    assert stamps == {p: p.stat().st_mtime_ns for p in out.rglob("*.phases.json")}
    # --retry-failed: the call that was fixed is done now, the one still missing fails again
    (calls / "a" / "broken.mp3").write_bytes(card_call[0].read_bytes())
    (out / "c").mkdir()
    (calls / "c").mkdir()
    (calls / "c" / "mine.vtt").write_text(to_vtt(card_text[0]))
    (out / "c" / "mine.srt").write_text("the user's own file\n")  # where a result would go: never replaced
    retried = batch(calls, listing, "--out", out, "--retry-failed", "--quiet")
    rows = manifest(out)
    assert retried.returncode == 1 and rows["a/broken"]["status"] == "done" and rows["gone"]["status"] == "failed"
    assert rows["c/mine"]["status"] == "skipped" and "not overwritten" in rows["c/mine"]["error"]
    assert (out / "c" / "mine.srt").read_text() == "the user's own file\n" and not (out / "c" / "mine.phases.json").exists()


def test_bad_batch_flags_and_inputs_fail_before_any_work(tmp_path):
    for args, message in ((["nowhere.mp3"], "no such file or folder: nowhere.mp3 (INPUT)"),
                          ([tmp_path, "--engine", "spark"], "--engine must be local or ray"),
                          ([tmp_path, "--ray-address", "127.0.0.1:1"], "--ray-address needs --engine ray"),
                          ([tmp_path, "--phases", "A,a"], "phase names repeat"),
                          ([tmp_path], f"no calls in {tmp_path}: no audio or caption files (INPUT)")):
        r = batch(*args, "--out", tmp_path / "out")
        assert r.returncode == 2 and message in r.stderr, r.stderr
    assert not (tmp_path / "out").exists()


def children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(x) for x in out.split()]


def test_kill_9_mid_batch_then_rerun_gives_the_results_of_an_uninterrupted_run(short_calls, tmp_path):
    out, whole = tmp_path / "out", tmp_path / "whole"
    proc = subprocess.Popen([*BATCH, str(short_calls), "--out", str(out), "--workers", "2", "--json", *FLAGS],
                            stderr=subprocess.PIPE, text=True)
    done, workers = 0, []
    for line in proc.stderr:
        workers = workers or children(proc.pid)
        if '"status": "done"' in line:
            done += 1
        if done == 2:
            break
    os.kill(proc.pid, signal.SIGKILL)  # mid-batch: two calls done, others in flight or queued
    proc.wait()
    proc.stderr.close()
    assert workers and proc.returncode == -signal.SIGKILL
    for _ in range(100):  # the workers notice their driver is gone and stop
        if not any(Path(f"/proc/{w}").exists() and "zombie" not in Path(f"/proc/{w}/status").read_text().lower()
                   for w in workers):
            break
        time.sleep(0.2)
    else:
        raise AssertionError("the worker processes outlived their killed driver")
    rows = manifest(out)
    assert 2 <= sum(r["status"] == "done" for r in rows.values()) < 5
    for path in out.glob("*.phases.json"):  # whatever is there under a result's name is complete
        assert json.loads(path.read_text())["phases"]
    resumed = batch(short_calls, "--out", out, "--workers", "2", "--json")
    assert resumed.returncode == 0, resumed.stderr
    statuses = [json.loads(line)["status"] for line in resumed.stderr.splitlines() if '"event": "call"' in line]
    assert statuses.count("done before") == sum(r["status"] == "done" for r in rows.values())
    assert all(r["status"] == "done" for r in manifest(out).values()) and len(manifest(out)) == 5
    uninterrupted = batch(short_calls, "--out", whole, "--workers", "1", "--quiet")
    assert uninterrupted.returncode == 0, uninterrupted.stderr
    assert results(out) == results(whole) and len(results(whole)) == 5 * 4


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def local_reference(card_call, tmp_path_factory):
    """Two calls (audio and captions) and the local engine's results for them."""
    folder = tmp_path_factory.mktemp("ray_calls")
    (folder / "card.mp3").write_bytes(card_call[0].read_bytes())
    (folder / "card_text.vtt").write_text(to_vtt(text_transcript(CARD_CALL)))
    out = tmp_path_factory.mktemp("local_out")
    r = batch(folder, "--out", out, "--quiet")
    assert r.returncode == 0, r.stderr
    return folder, results(out)


def test_ray_engine_on_a_local_cluster_it_starts_gives_the_local_results(local_reference, tmp_path):
    pytest.importorskip("ray", reason="the ray engine needs callphase[ray]")
    folder, expected = local_reference
    out = tmp_path / "out"
    r = batch(folder, "--out", out, "--engine", "ray", "--workers", "2", "--json")  # ray.init with 2 CPUs
    assert r.returncode == 0, r.stderr
    assert results(out) == expected
    assert all(row["status"] == "done" and row["wall"] > 0 for row in manifest(out).values())


def test_ray_engine_on_a_cluster_started_with_ray_start(local_reference, tmp_path):
    pytest.importorskip("ray", reason="the ray engine needs callphase[ray]")
    folder, expected = local_reference
    ray = str(Path(sys.executable).parent / "ray")
    port = free_port()
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    start = subprocess.run([ray, "start", "--head", "--port", str(port), "--num-cpus", "2", "--include-dashboard=false",
                            "--disable-usage-stats"], capture_output=True, text=True, env=env)
    try:
        assert start.returncode == 0, start.stderr
        out = tmp_path / "out"
        # half of it first, as if an earlier run had been stopped: the rest on the cluster, then nothing left
        first = batch(folder / "card_text.vtt", "--out", out, "--engine", "ray", "--ray-address", f"127.0.0.1:{port}")
        assert first.returncode == 0, first.stderr
        r = batch(folder, "--out", out, "--engine", "ray", "--ray-address", f"127.0.0.1:{port}", "--json", env=env)
        assert r.returncode == 0, r.stderr
        statuses = sorted(json.loads(line)["status"] for line in r.stderr.splitlines() if '"event": "call"' in line)
        assert statuses == ["done", "done before"]
        assert results(out) == expected
    finally:
        subprocess.run([ray, "stop", "--force"], capture_output=True, env=env)
    bad = batch(folder, "--out", tmp_path / "out2", "--engine", "ray", "--ray-address", f"127.0.0.1:{port}")
    assert bad.returncode == 2 and "cannot connect to the Ray cluster" in bad.stderr, bad.stderr
