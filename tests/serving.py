"""`callphase serve` as a real process on a free loopback port, for the server's tests and the pages' tests.
Every test stops the servers it started (the `server` fixture in conftest.py)."""
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

KEY = "sesame"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, data, *args):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "callphase", "serve", "--port", str(self.port), "--data", str(data),
             "--model", "tiny", "--api-key-env", "CALLPHASE_TEST_KEY", *args],
            env={**os.environ, "CALLPHASE_TEST_KEY": KEY}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for _ in range(300):
            try:
                urllib.request.urlopen(self.url + "/health", timeout=1)
                return
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError(self.proc.stdout.read()) from None
                time.sleep(0.1)
        raise RuntimeError("the server did not start")

    def request(self, method, path, body=None, headers=None):
        data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"authorization": KEY, **(headers or {})})
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def wait(self, job_id, seconds=120):
        """The job once it is completed or failed."""
        for _ in range(seconds * 5):
            job = json.loads(self.request("GET", f"/v2/transcript/{job_id}")[1])
            if job["status"] in ("completed", "error"):
                return job
            time.sleep(0.2)
        raise AssertionError(f"job {job_id} still {job['status']}")

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
