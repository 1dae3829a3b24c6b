"""Load on `callphase serve`: N concurrent uploads of a one-minute call with one worker (all must complete,
none lost), the server's peak RSS (server and workers), and the queue's throughput against `callphase
transcribe` run serially on the same calls, in the same run.

    python bench/bench_server.py [--calls 20] [--model tiny] [--workers 1]
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children (MB)."""
    total = 0
    out = subprocess.run(["ps", "-o", "rss=", "--ppid", str(pid), "-p", str(pid)], capture_output=True, text=True).stdout
    for line in out.split():
        total += int(line)
    return total / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()

    from conftest import CARD_CALL
    from test_server import Server

    from callphase.evaluation.synth import render_call, write_audio

    folder = Path(tempfile.mkdtemp())
    rendered = render_call(CARD_CALL + CARD_CALL[1:3], seed=11)  # about a minute
    call = write_audio(rendered.samples, rendered.sample_rate, folder / "call.mp3")
    print(f"call: {rendered.duration:.1f} s; {args.calls} calls; model {args.model}; {args.workers} worker(s)")

    t = time.perf_counter()
    for _ in range(args.calls):
        subprocess.run([sys.executable, "-m", "callphase", "transcribe", str(call), "--model", args.model, "--speakers", "1",
                        "-q"], check=True, capture_output=True)
    serial = time.perf_counter() - t

    server = Server(folder / "data", "--workers", str(args.workers), "--model", args.model)
    peak = [0.0]
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], rss_mb(server.proc.pid))
            time.sleep(0.5)

    threading.Thread(target=watch, daemon=True).start()
    try:
        t = time.perf_counter()
        ids: list[str] = []

        def submit() -> None:
            _, body = server.request("POST", "/v2/upload", call.read_bytes())
            _, job = server.request("POST", "/v2/transcript", {"audio_url": json.loads(body)["upload_url"]})
            ids.append(json.loads(job)["id"])

        threads = [threading.Thread(target=submit) for _ in range(args.calls)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        done: dict[str, str] = {}
        while len(done) < len(ids):
            for job_id in ids:
                if job_id not in done:
                    status = json.loads(server.request("GET", f"/v2/transcript/{job_id}")[1])["status"]
                    if status in ("completed", "error"):
                        done[job_id] = status
            time.sleep(0.5)
        queued = time.perf_counter() - t
    finally:
        stop.set()
        server.stop()
    statuses = statistics.multimode(done.values())
    print(json.dumps({
        "submitted": args.calls, "accepted": len(ids), "completed": sum(s == "completed" for s in done.values()),
        "errors": sum(s == "error" for s in done.values()), "most_common": statuses,
        "serial_transcribe_s": round(serial, 1), "server_queue_s": round(queued, 1),
        "throughput_ratio": round(serial / queued, 2), "server_peak_rss_mb": round(peak[0]),
        "audio_s_per_wall_s": round(args.calls * rendered.duration / queued, 2),
    }, indent=1))


if __name__ == "__main__":
    main()
