"""Screenshots for the README, in Debian's chromium driven by playwright: the demo call's page
(docs/demo-page*.png, `callphase demo --no-llm --out` into a temporary folder) and the server's list of
calls (docs/server-jobs.png: `callphase serve` on a free loopback port, the demo call sent to it through
the API with its phases).

    python tools/screenshot_page.py
"""
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

DOCS = Path(__file__).resolve().parents[1] / "docs"


def main() -> None:
    out = Path(tempfile.mkdtemp())
    subprocess.run([sys.executable, "-m", "callphase", "demo", "--no-llm", "--quiet", "--out", str(out)], check=True)
    DOCS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1100, "height": 760})
        page.goto((out / "call.html").as_uri())
        page.screenshot(path=str(DOCS / "demo-page.png"))
        page.locator("#phase-2").scroll_into_view_if_needed()
        first = page.locator("#phase-2 li").first.get_attribute("data-start")
        page.evaluate(f"document.getElementById('audio').currentTime = {first}")
        page.wait_for_selector("li.current")
        page.screenshot(path=str(DOCS / "demo-page-transcript.png"))
        browser.close()
    server_list(out)
    print("wrote", DOCS / "demo-page.png", DOCS / "demo-page-transcript.png", DOCS / "server-jobs.png")


def server_list(scratch: Path) -> None:
    from callphase import demo

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "-m", "callphase", "serve", "--port", str(port), "--data",
                               str(scratch / "data")])
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(url + "/health", timeout=1)
                break
            except OSError:
                time.sleep(0.1)

        def post(path, body, kind="application/json"):
            req = urllib.request.Request(url + path, data=body, method="POST", headers={"content-type": kind})
            return json.loads(urllib.request.urlopen(req, timeout=30).read())

        with demo.audio() as audio:
            upload = post("/v2/upload", audio.read_bytes(), "application/octet-stream")["upload_url"]
        body = {"audio_url": upload, "title": "call.mp3", "phases": ", ".join(demo.spec().names),
                "speaker_labels": True, "language_code": "en"}
        job = post("/v2/transcript", json.dumps(body).encode())
        status = f"{url}/v2/transcript/{job['id']}"
        while json.loads(urllib.request.urlopen(status).read())["status"] not in ("completed", "error"):
            time.sleep(0.5)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1100, "height": 640})
            page.goto(url + "/")
            page.screenshot(path=str(DOCS / "server-jobs.png"))
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=20)


if __name__ == "__main__":
    main()
