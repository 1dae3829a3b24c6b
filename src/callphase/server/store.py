"""Jobs and uploads under the server's data folder: uploads as files, jobs in SQLite (WAL), shared by the
server process and its worker processes. The database is also the queue: a worker claims the oldest
queued job in one statement, so no job is run twice and none is lost when a process dies."""
from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
import uuid
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,           -- queued | processing | completed | error
    request TEXT NOT NULL,          -- the POST /v2/transcript body, as given
    audio TEXT NOT NULL,            -- what the worker reads: a local path or an http(s) URL
    result TEXT,                    -- callphase's CallResult, as JSON, when completed
    error TEXT,
    worker INTEGER,                 -- pid of the process running it
    webhook_status INTEGER,         -- what the webhook_url answered when the job ended
    created REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status, created);
"""


class Store:
    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.uploads = self.folder / "uploads"
        self.uploads.mkdir(parents=True, exist_ok=True)
        self.path = self.folder / "jobs.sqlite3"
        self._local = threading.local()
        with self._db() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(SCHEMA)
            columns = {r["name"] for r in db.execute("PRAGMA table_info(jobs)")}
            if "webhook_status" not in columns:  # a data folder from before webhooks
                db.execute("ALTER TABLE jobs ADD COLUMN webhook_status INTEGER")

    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            db.row_factory = sqlite3.Row
            self._local.db = db
        return db

    # uploads -------------------------------------------------------------------------------------------
    def new_upload(self) -> tuple[str, Path]:
        upload_id = uuid.uuid4().hex
        return upload_id, self.uploads / upload_id

    def upload_path(self, upload_id: str) -> Path | None:
        if not upload_id.isalnum():
            return None
        path = self.uploads / upload_id
        return path if path.is_file() else None

    # jobs ----------------------------------------------------------------------------------------------
    def create(self, request: dict[str, Any], audio: str) -> dict[str, Any]:
        now = time.time()
        job_id = uuid.uuid4().hex
        self._db().execute("INSERT INTO jobs (id, status, request, audio, created, updated) VALUES (?, 'queued', ?, ?, ?, ?)",
                           (job_id, json.dumps(request), audio, now, now))
        return self.get(job_id)

    def get(self, job_id: str) -> dict[str, Any] | None:
        row = self._db().execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return _job(row) if row else None

    def list(self, limit: int = 10, status: str | None = None, before: str | None = None,
             after: str | None = None) -> list[dict[str, Any]]:
        where, args = [], []
        if status:
            where.append("status = ?")
            args.append(status)
        for job_id, op in ((before, "<"), (after, ">")):
            if job_id:
                where.append(f"created {op} (SELECT created FROM jobs WHERE id = ?)")
                args.append(job_id)
        sql = "SELECT * FROM jobs" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY created DESC LIMIT ?"
        return [_job(r) for r in self._db().execute(sql, (*args, limit)).fetchall()]

    def delete(self, job_id: str) -> bool:
        return self._db().execute("DELETE FROM jobs WHERE id = ?", (job_id,)).rowcount > 0

    def claim(self, worker: int) -> dict[str, Any] | None:
        """The oldest queued job, now `processing` by `worker`; None when the queue is empty."""
        row = self._db().execute(
            "UPDATE jobs SET status = 'processing', worker = ?, updated = ? WHERE id = "
            "(SELECT id FROM jobs WHERE status = 'queued' ORDER BY created LIMIT 1) RETURNING *",
            (worker, time.time())).fetchone()
        return _job(row) if row else None

    def finish(self, job_id: str, result: dict[str, Any] | None = None, error: str | None = None) -> None:
        self._db().execute("UPDATE jobs SET status = ?, result = ?, error = ?, updated = ? WHERE id = ?",
                           ("error" if error is not None else "completed", json.dumps(result) if result else None,
                            error, time.time(), job_id))

    def webhook_answered(self, job_id: str, status: int | None) -> None:
        self._db().execute("UPDATE jobs SET webhook_status = ? WHERE id = ?", (status, job_id))

    def recover(self, alive: set[int]) -> int:
        """Jobs left `processing` by a process that is gone (the server or a worker was killed) go back to
        the queue, once; a job that was already resumed once and lost again becomes an error. Returns how many."""
        rows = self._db().execute("SELECT id, worker, error FROM jobs WHERE status = 'processing'").fetchall()
        n = 0
        for row in rows:
            if row["worker"] in alive:
                continue
            if row["error"] == RESUMED:
                self.finish(row["id"], error="the server stopped twice while this job ran; submit it again")
            else:
                self._db().execute("UPDATE jobs SET status = 'queued', worker = NULL, error = ?, updated = ? WHERE id = ?",
                                   (RESUMED, time.time(), row["id"]))
            n += 1
        return n


RESUMED = "resumed after a restart"


def _job(row: sqlite3.Row) -> dict[str, Any]:
    job = dict(row)
    job["request"] = json.loads(job["request"])
    job["result"] = json.loads(job["result"]) if job["result"] else None
    if job["status"] != "error" and job["error"] == RESUMED:
        job["error"] = None
    return job


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False
