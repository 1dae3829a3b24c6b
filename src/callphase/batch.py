"""Many calls: `callphase batch`. Worker processes (local) or Ray actors keep their models loaded and run
callphase's one pipeline (`analyze`) on one call at a time; the driver writes each call's results and its
line in the manifest, so a local run and a Ray run are interchangeable and resumable the same way.

- Inputs: files, folders (walked recursively for audio and caption files) and text files (.txt, .list)
  naming one path or http(s) URL per line (relative paths from the list's folder; # starts a comment).
- Each call's results go to OUT/NAME.{transcript.json,vtt,srt,phases.json,html}, NAME being the file's
  path under the folder it was found in (without its suffix), or its stem; a name two calls would share
  gets -2, -3 in the calls' sorted order, so reruns map every call to the same files.
- The manifest (OUT/batch.sqlite3) holds one row per call: done, failed (with the error) or skipped
  (with the reason: a file of the user's is where a result would go). Results are written under
  temporary names and renamed (outputs.write) before the row says done, so a batch killed at any point
  loses only the calls in flight, and a rerun skips what is done and, with `retry_failed`, retries what
  failed.
- A bad file is a failed row with its message; it never stops the batch.

The runtime never imports Ray unless `engine="ray"`.
"""
from __future__ import annotations

import csv
import json
import os
import sqlite3
import tempfile
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .audio import AUDIO_SUFFIXES
from .captions import CAPTION_SUFFIXES
from .errors import CallphaseError, OptionsError
from .options import Options
from .types import CallResult, PhaseSpec

LIST_SUFFIXES = (".txt", ".list", ".lst")
MANIFEST = "batch.sqlite3"
ENGINES = ("local", "ray")
SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    source TEXT PRIMARY KEY,   -- the recording: an absolute path or an http(s) URL
    name TEXT NOT NULL,        -- its results: OUT/NAME.*
    status TEXT NOT NULL,      -- done | failed | skipped
    error TEXT,                -- why it failed or was skipped
    duration REAL,             -- seconds of audio
    wall REAL,                 -- seconds the worker spent on it
    phases TEXT,               -- JSON [[name, start, end], ...]
    talk TEXT,                 -- JSON {speaker: share of talk time}
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS batch (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL        -- "config": the phases and options every call of this folder was run with
);
"""


@dataclass(frozen=True)
class Call:
    source: str  # absolute path or http(s) URL
    name: str  # results: OUT/NAME.*

    @property
    def is_url(self) -> bool:
        return self.source.startswith(("http://", "https://"))


def _stem(path: str) -> str:
    base = path.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0] or "call"
    return base.rsplit(".", 1)[0] if "." in base else base


def collect(inputs: list[str | Path]) -> list[Call]:
    """The calls that `inputs` name, sorted, each once. An input that does not exist raises CallphaseError
    (option "inputs"): it is the command line that is wrong, not a call. A list's entries that do not exist
    are kept: they fail as calls, with their message."""
    found: dict[str, str] = {}  # source -> wanted name

    def add(source: str, name: str) -> None:
        found.setdefault(source, name)

    for item in inputs:
        text = str(item)
        if text.startswith(("http://", "https://")):
            add(text, _stem(text))
            continue
        path = Path(text).expanduser()
        if path.is_dir():
            for f in sorted(path.rglob("*")):
                if f.is_file() and f.suffix.lower() in AUDIO_SUFFIXES + CAPTION_SUFFIXES and not f.name.startswith("."):
                    add(str(f.resolve()), f.relative_to(path).with_suffix("").as_posix())
        elif path.is_file() and path.suffix.lower() in LIST_SUFFIXES:
            try:
                lines = path.read_text(encoding="utf-8").splitlines()
            except (OSError, UnicodeDecodeError) as e:
                raise CallphaseError(f"cannot read the list {path}: {e}", option="inputs") from None
            for line in lines:
                entry = line.split("#", 1)[0].strip() if not line.lstrip().startswith(("http://", "https://")) else line.strip()
                if not entry:
                    continue
                if entry.startswith(("http://", "https://")):
                    add(entry, _stem(entry))
                else:
                    target = Path(entry).expanduser()
                    target = target if target.is_absolute() else path.parent / target
                    add(str(target.resolve()), target.stem)
        elif path.is_file():
            add(str(path.resolve()), path.stem)
        else:
            raise CallphaseError(f"no such file or folder: {path}", option="inputs")
    if not found:
        raise CallphaseError(f"no calls in {', '.join(map(str, inputs))}: no audio or caption files", option="inputs")
    calls, taken = [], set()
    for source in sorted(found):
        name, k = found[source], 1
        while name.casefold() in taken:
            k += 1
            name = f"{found[source]}-{k}"
        taken.add(name.casefold())
        calls.append(Call(source, name))
    return calls


class Manifest:
    """OUT/batch.sqlite3: one row per call, written by the driver only."""

    def __init__(self, folder: Path):
        self.path = Path(folder) / MANIFEST
        self.db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.executescript(SCHEMA)

    def rows(self) -> dict[str, dict[str, Any]]:
        return {r["source"]: dict(r) for r in self.db.execute("SELECT * FROM calls")}

    def record(self, call: Call, status: str, error: str | None = None, duration: float | None = None,
               wall: float | None = None, phases: list | None = None, talk: dict | None = None) -> None:
        self.db.execute("INSERT OR REPLACE INTO calls VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (call.source, call.name, status, error, duration, wall,
                         json.dumps(phases) if phases is not None else None,
                         json.dumps(talk) if talk is not None else None, time.time()))

    def same_config(self, config: str) -> bool:
        """Record the batch's phases and options the first time; afterwards, whether these are the same."""
        row = self.db.execute("SELECT value FROM batch WHERE key = 'config'").fetchone()
        if row is None:
            self.db.execute("INSERT INTO batch VALUES ('config', ?)", (config,))
            return True
        return row["value"] == config

    def close(self) -> None:
        self.db.close()


# --- what a worker does with one call (a local process or a Ray actor) -------------------------------
_WORKER: dict[str, Any] = {}


def init_worker(options: dict[str, Any], spec: dict[str, Any] | None, parent: int | None = None) -> None:
    if parent is not None:  # a local worker: the rerun does its call again when the driver is killed
        from .processes import exit_with_parent

        exit_with_parent(parent)
    _WORKER["options"] = Options.coerce(options)
    _WORKER["spec"] = PhaseSpec.parse(spec) if spec is not None else None


def analyze_call(source: str) -> dict[str, Any]:
    """{"source", "result": CallResult JSON, "wall"} or {"source", "error"}; never raises for a bad call."""
    from .audio import download
    from .models import release_freed_memory
    from .pipeline import analyze

    t = time.perf_counter()
    fetched = None
    try:
        path = source
        if source.startswith(("http://", "https://")):
            fd, fetched = tempfile.mkstemp(prefix="callphase-batch-", suffix=Path(_stem(source)).suffix or ".audio")
            os.close(fd)
            path = str(download(source, Path(fetched)))
        result = analyze(path, _WORKER["spec"], _WORKER["options"])
        return {"source": source, "result": result.model_dump_json(), "wall": time.perf_counter() - t,
                "worker": os.getpid(), "peak_rss_mb": _peak_rss_mb()}
    except CallphaseError as e:
        return {"source": source, "error": str(e)}
    except OSError as e:
        return {"source": source, "error": f"{e.strerror or e}: {e.filename or source}"}
    except Exception as e:  # a bug of ours: this call says so, the batch goes on
        traceback.print_exc()
        return {"source": source, "error": f"internal error: {type(e).__name__}: {e}"}
    finally:
        if fetched:
            Path(fetched).unlink(missing_ok=True)
        release_freed_memory()  # call after call, the heap would otherwise only grow (models.py)


def _peak_rss_mb() -> float:
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # Linux: KiB


class RayWorker:
    """A Ray actor: its models stay loaded for every call it is given."""

    def __init__(self, options: dict[str, Any], spec: dict[str, Any] | None):
        init_worker(options, spec)

    def run(self, source: str) -> dict[str, Any]:
        return analyze_call(source)


# --- the driver ---------------------------------------------------------------------------------------
@dataclass
class Progress:
    total: int
    done: int = 0
    failed: int = 0
    skipped: int = 0  # this run: done before, failed before (not retried), or a user's file in the way
    audio_seconds: float = 0.0
    started: float = field(default_factory=time.monotonic)
    processed: int = 0  # calls this run finished (done or failed), for the ETA

    def event(self, call: Call, status: str, error: str | None = None, duration: float | None = None) -> dict[str, Any]:
        elapsed = time.monotonic() - self.started
        left = self.total - self.done - self.failed - self.skipped
        eta = elapsed / self.processed * left if self.processed else None
        return {"event": "call", "source": call.source, "name": call.name, "status": status, "error": error,
                "duration": duration, "done": self.done, "failed": self.failed, "skipped": self.skipped,
                "total": self.total, "audio_hours": round(self.audio_seconds / 3600, 4),
                "rtf": round(elapsed / self.audio_seconds, 4) if self.audio_seconds else None,
                "eta_s": round(eta, 1) if eta is not None else None}


@dataclass
class Summary:
    calls: list[dict[str, Any]]  # the manifest rows of this batch's calls, in order
    phases: list[dict[str, Any]]  # per phase: name, calls having it, share of done calls, mean duration
    wall: float
    ran: int  # calls processed by this run

    def count(self, status: str) -> int:
        return sum(r["status"] == status for r in self.calls)


def run(
    inputs: Iterable[str | Path],
    out: str | Path,
    phases: Any = None,
    options: Options | dict | None = None,
    workers: int = 1,
    engine: str = "local",
    ray_address: str | None = None,
    retry_failed: bool = False,
    page_audio: str = "link",
    on_event: Callable[[dict[str, Any]], None] | None = None,
) -> Summary:
    """Run every call the inputs name that is not done yet; returns the summary of all of them (also
    written as OUT/summary.csv and OUT/summary_phases.csv). `on_event` gets one dict per call as it ends
    (see Progress.event). Bad options, phases or inputs raise before any work."""
    from . import outputs

    if engine not in ENGINES:
        raise OptionsError(f"engine must be {' or '.join(ENGINES)}, not {engine!r}", option="batch.engine")
    if workers < 1:
        raise OptionsError("workers must be 1 or more", option="batch.workers")
    if page_audio not in outputs.PAGE_AUDIO:
        raise OptionsError(f"page audio must be {', '.join(outputs.PAGE_AUDIO)}, not {page_audio!r}", option="batch.page_audio")
    opts = Options.coerce(options)
    spec = PhaseSpec.parse(phases) if phases is not None else None
    from .pipeline import make_llm

    if opts.llm.backend is not None and not isinstance(opts.llm.backend, str):
        raise OptionsError("a batch needs the LLM backend by name (its workers make their own)", option="llm.backend")
    make_llm(opts.llm)  # an unknown backend fails here, not in every worker
    if opts.asr.backend not in (None, "local"):
        from .asr import get_asr

        get_asr(opts.asr)  # so does an unknown or malformed ASR backend (remote ones load nothing)
    calls = collect(list(inputs))
    out = Path(out)
    outputs.check(out, [], False)
    manifest = Manifest(out)
    config = (asdict(opts), spec.model_dump() if spec is not None else None)
    recorded = {"options": {**config[0], "llm": {**config[0]["llm"], "api_key": None},  # no secret on disk
                            "asr": {**config[0]["asr"], "api_key": None}},
                "phases": config[1], "page_audio": page_audio}
    if not manifest.same_config(json.dumps(recorded, sort_keys=True, default=str)):
        manifest.close()
        raise OptionsError(f"{out} holds a batch run with other phases or options: a rerun there must repeat them "
                           f"(it resumes); choose another folder, or remove {out / MANIFEST} to start over",
                           option="out")
    kind = "chapters" if spec is None else "phases"
    other = spec.other if spec is not None else "Other"
    before = manifest.rows()
    progress = Progress(total=len(calls))
    emit = on_event or (lambda e: None)
    todo: list[Call] = []
    for call in calls:
        row = before.get(call.source)
        if row is not None and (row["status"] == "done" or (row["status"] == "failed" and not retry_failed)):
            progress.skipped += 1
            emit(progress.event(call, f"{row['status']} before", row["error"]))
            continue
        folder, stem = _where(out, call)
        try:
            outputs.check(folder, outputs.names(stem, kind), False, keep=None if call.is_url else Path(call.source))
        except CallphaseError as e:
            manifest.record(call, "skipped", str(e))
            progress.skipped += 1
            emit(progress.event(call, "skipped", str(e)))
            continue
        todo.append(call)
    by_source = {c.source: c for c in todo}

    def failed(call: Call, error: str) -> None:
        manifest.record(call, "failed", error)
        progress.failed += 1
        emit(progress.event(call, "failed", error))

    def finished(answer: dict[str, Any]) -> None:
        call = by_source[answer["source"]]
        progress.processed += 1
        if "error" in answer:
            failed(call, answer["error"])
            return
        result = CallResult.model_validate_json(answer["result"])
        folder, stem = _where(out, call)
        try:
            audio_src = outputs.page_audio(call.source, folder, page_audio)
            files = outputs.result_files(stem, result.transcript, result, audio_src, other)
            outputs.write(folder, files, keep=None if call.is_url else Path(call.source))
        except CallphaseError as e:
            failed(call, str(e))
            return
        t = result.transcript
        talk = {s.speaker: round(s.share, 4) for s in (t.metrics.speakers if t.metrics else [])}
        manifest.record(call, "done", None, t.duration, answer.get("wall"),
                        [[p.name, round(p.start_time, 2), round(p.end_time, 2)] for p in result.segmentation.phases], talk)
        progress.done += 1
        progress.audio_seconds += t.duration
        emit({**progress.event(call, "done", None, t.duration), "wall": round(answer.get("wall", 0.0), 3),
              "worker": answer.get("worker"), "peak_rss_mb": answer.get("peak_rss_mb")})

    t0 = time.monotonic()
    try:
        if todo:
            (_run_ray if engine == "ray" else _run_local)(todo, config, workers, finished, ray_address)
    finally:
        rows = manifest.rows()
        manifest.close()
    summary = _summary([rows[c.source] for c in calls if c.source in rows], time.monotonic() - t0, len(todo))
    _write_summary(out, summary)
    return summary


def _where(out: Path, call: Call) -> tuple[Path, str]:
    path = out / call.name
    return path.parent, path.name


def _run_local(todo: list[Call], config: tuple, workers: int, finished, ray_address) -> None:
    """A pool of `workers` spawned processes. When one dies (out of memory, a crash in native code) the
    pool is lost with every call in it: those calls run again in a new pool, and a call that was in a
    pool lost twice fails with that message."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    context = multiprocessing.get_context("spawn")  # a fresh interpreter: nothing shared with the driver
    queue, lost = list(todo), {c.source: 0 for c in todo}
    while queue:
        with ProcessPoolExecutor(workers, mp_context=context, initializer=init_worker,
                                 initargs=(*config, os.getpid())) as pool:
            pending: dict = {}
            while queue or pending:
                while queue and len(pending) < 2 * workers:  # a few ahead, so no worker waits
                    call = queue.pop(0)
                    pending[pool.submit(analyze_call, call.source)] = call
                ready, _ = wait(pending, return_when="FIRST_COMPLETED")
                try:
                    for future in ready:
                        answer = future.result()
                        pending.pop(future)
                        finished(answer)
                except BrokenProcessPool:
                    for call in pending.values():
                        lost[call.source] += 1
                        if lost[call.source] >= 2:
                            finished({"source": call.source, "error": "a worker process died (out of memory, or a "
                                                                      "crash) twice while this call was running"})
                        else:
                            queue.insert(0, call)
                    break


def _run_ray(todo: list[Call], config: tuple, workers: int, finished, ray_address: str | None) -> None:
    """`workers` actors on the cluster at `ray_address` (None: a local one with `workers` CPUs), each with
    one CPU; the driver hands each a call as soon as it is free."""
    if ray_address:
        _reachable(ray_address)
        token = Path.home() / ".ray" / "auth_token"
        if "RAY_AUTH_MODE" not in os.environ and (os.environ.get("RAY_AUTH_TOKEN") or token.is_file()):
            # `ray start` turns token authentication on by default (Ray 2.60): the driver must send the
            # cluster's token, and Ray reads the mode when it is imported
            os.environ["RAY_AUTH_MODE"] = "token"
    try:
        import ray
    except ImportError:
        raise OptionsError("the ray engine needs Ray: pip install 'callphase[ray]'", option="batch.engine") from None
    started = not ray.is_initialized()
    if started:
        try:
            if ray_address:
                ray.init(address=ray_address, logging_level="warning", log_to_driver=False)
            else:
                ray.init(num_cpus=workers, include_dashboard=False, logging_level="warning", log_to_driver=False)
        except (ConnectionError, RuntimeError, ValueError) as e:
            raise OptionsError(f"cannot connect to the Ray cluster {ray_address or '(local)'}: {e}",
                               option="batch.ray_address") from None
    try:
        actor = ray.remote(num_cpus=1, max_restarts=0)(RayWorker)
        idle = [actor.remote(*config) for _ in range(workers)]
        queue, running = list(todo), {}
        while queue or running:
            while queue and idle:
                a, call = idle.pop(), queue.pop(0)
                running[a.run.remote(call.source)] = (a, call)
            ready, _ = ray.wait(list(running), num_returns=1)
            a, call = running.pop(ready[0])
            try:
                finished(ray.get(ready[0]))
                idle.append(a)
            except ray.exceptions.RayError as e:  # the actor died: this call fails, a new actor takes its place
                finished({"source": call.source, "error": f"the Ray worker failed on this call: {type(e).__name__}"})
                idle.append(actor.remote(*config))
    finally:
        if started:
            ray.shutdown()


def _reachable(address: str, timeout: float = 5.0) -> None:
    """Fail at once, saying so, when nothing answers at a cluster's host:port (Ray itself retries for
    minutes); "auto" and addresses without a port are left to Ray."""
    import socket

    hostport = address.removeprefix("ray://").rstrip("/")
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as e:
        raise OptionsError(f"cannot connect to the Ray cluster {address}: {e.strerror or e}",
                           option="batch.ray_address") from None


def _summary(rows: list[dict[str, Any]], wall: float, ran: int) -> Summary:
    done = [r for r in rows if r["status"] == "done"]
    per: dict[str, list[float]] = {}
    for r in done:
        seen: dict[str, float] = {}
        for name, start, end in json.loads(r["phases"] or "[]"):
            seen[name] = seen.get(name, 0.0) + end - start
        for name, length in seen.items():
            per.setdefault(name, []).append(length)
    phases = [{"phase": name, "calls": len(v), "share_of_calls": round(len(v) / len(done), 4),
               "mean_duration": round(sum(v) / len(v), 2)} for name, v in per.items()]
    return Summary(rows, phases, wall, ran)


def _csv(header: list[str], rows: list[list[Any]]) -> str:
    import io

    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(header)
    writer.writerows(rows)
    return text.getvalue()


def _write_summary(out: Path, summary: Summary) -> None:
    """summary.csv and summary_phases.csv, written like a call's results (outputs.write: all or nothing)."""
    from . import outputs

    rows = []
    for r in summary.calls:
        phases = "; ".join(f"{n} {a:.2f}-{b:.2f}" for n, a, b in json.loads(r["phases"] or "[]"))
        talk = "; ".join(f"{s} {v:.2f}" for s, v in json.loads(r["talk"] or "{}").items())
        rows.append([r["name"], r["source"], r["status"], f"{r['duration']:.2f}" if r["duration"] is not None else "",
                     phases, talk, r["error"] or ""])
    outputs.write(out, {
        "summary.csv": _csv(["name", "source", "status", "duration_s", "phases", "talk_share", "error"], rows),
        "summary_phases.csv": _csv(["phase", "calls", "share_of_calls", "mean_duration_s"],
                                   [[p["phase"], p["calls"], p["share_of_calls"], p["mean_duration"]] for p in summary.phases]),
    })
