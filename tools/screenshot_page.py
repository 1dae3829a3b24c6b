"""Screenshots of the demo call's page for the README (docs/demo-page*.png): `callphase demo --no-llm --out`
into a temporary folder, opened in Debian's chromium by playwright.

    python tools/screenshot_page.py
"""
import shutil
import subprocess
import sys
import tempfile
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
    print("wrote", DOCS / "demo-page.png", DOCS / "demo-page-transcript.png")


if __name__ == "__main__":
    main()
