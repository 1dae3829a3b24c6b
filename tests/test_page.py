"""Issue 18, first part: the call's page (CALL.html), opened in a real browser: Debian's chromium driven by
playwright. Positions on the timeline, seeking by click and by keyboard, highlighting while it plays, and
reading with JavaScript off."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import PHASES

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (apt-get install chromium)")


@pytest.fixture(scope="module")
def browser():
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--autoplay-policy=no-user-gesture-required"])
        yield b
        b.close()


@pytest.fixture(scope="module")
def card_page(card_call, tmp_path_factory):
    """The suite's card call segmented into DIR: (DIR/card_call.html, phases JSON, transcript JSON)."""
    out = tmp_path_factory.mktemp("page")
    result = subprocess.run([sys.executable, "-m", "callphase", "segment", str(card_call[0]), "--phases", PHASES,
                             "--model", "tiny", "--no-llm", "--quiet", "--out", str(out)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return (out / "card_call.html", json.loads((out / "card_call.phases.json").read_text()),
            json.loads((out / "card_call.transcript.json").read_text()))


def opened(browser, path: Path, **context):
    page = browser.new_context(**context).new_page()
    page.goto(path.as_uri())
    return page


def test_the_timeline_puts_each_phase_where_it_is(browser, card_page, tmp_path):
    path, phases, transcript = card_page
    page = opened(browser, path, viewport={"width": 1200, "height": 900})
    bar = page.locator(".bar.phases").bounding_box()
    spans = page.locator(".bar.phases > a")
    assert spans.count() == len(phases["phases"])
    duration = transcript["duration"]
    for k, p in enumerate(phases["phases"]):
        box = spans.nth(k).bounding_box()
        assert spans.nth(k).inner_text() == p["name"]
        assert abs((box["x"] - bar["x"]) / bar["width"] - p["start_time"] / duration) <= 0.01
        assert abs((box["x"] + box["width"] - bar["x"]) / bar["width"] - p["end_time"] / duration) <= 0.01
    page.screenshot(path=str(tmp_path / "card_call.png"), full_page=True)
    assert (tmp_path / "card_call.png").stat().st_size > 10_000


def test_clicking_a_phase_or_an_utterance_seeks_and_the_utterance_playing_is_highlighted(browser, card_page):
    path, phases, transcript = card_page
    page = opened(browser, path)
    page.wait_for_function("document.getElementById('audio').readyState >= 1")  # the linked mp3 loaded
    third = phases["phases"][2]
    page.locator(".bar.phases > a").nth(2).click()
    assert abs(page.evaluate("document.getElementById('audio').currentTime") - third["start_time"]) < 0.05
    u = transcript["utterances"][4]
    page.locator(f"#u-{u['index']} a.ts").click()
    assert abs(page.evaluate("document.getElementById('audio').currentTime") - u["start"]) < 0.05
    page.wait_for_selector(f"#u-{u['index']}.current")  # highlighted once the seek lands
    assert page.locator("li.current").count() == 1
    # keyboard: the phases are links in tab order; Enter on one seeks like a click
    page.locator(".bar.phases > a").nth(1).focus()
    page.keyboard.press("Enter")
    assert abs(page.evaluate("document.getElementById('audio').currentTime") - phases["phases"][1]["start_time"]) < 0.05


def test_reading_needs_no_javascript(browser, card_page):
    path, phases, transcript = card_page
    page = opened(browser, path, java_script_enabled=False)
    assert page.locator(".bar.phases > a").count() == len(phases["phases"])
    assert page.locator("ol.utts li").count() == len(transcript["utterances"])
    for k, p in enumerate(phases["phases"]):
        assert page.locator(f"#phase-{k} h2 a").inner_text() == p["name"]
    assert page.locator(".downloads a").count() == 3
    assert page.locator("audio track[kind=captions]").count() == 1
    html = path.read_text()
    assert "http://" not in html and "https://" not in html  # nothing fetched from anywhere


def test_the_page_audio_is_linked_embedded_or_left_out(card_call, card_text, tmp_path):
    """Without a browser: what --page-audio puts into the page, and a bad value refused before any work."""
    from callphase.captions import to_vtt

    def segment(source, *flags):
        out = tmp_path / f"out{len(list(tmp_path.iterdir()))}"
        r = subprocess.run([sys.executable, "-m", "callphase", "segment", str(source), "--phases", PHASES, "--model", "tiny",
                            "--no-llm", "--quiet", "--out", str(out), *flags], capture_output=True, text=True)
        return r, out

    r, out = segment(card_call[0], "--page-audio", "embed")
    assert r.returncode == 0, r.stderr
    html = (out / "card_call.html").read_text()
    assert 'src="data:audio/mpeg;base64,' in html and "card_call.mp3" not in html.split("<audio", 1)[1].split(">", 1)[0]
    vtt = tmp_path / "card.vtt"
    vtt.write_text(to_vtt(card_text[0]))
    r, out = segment(vtt)
    assert r.returncode == 0, r.stderr
    assert "<audio" not in (out / "card.html").read_text()  # captions in: nothing to play
    r, out = segment(vtt, "--page-audio", "loud")
    assert r.returncode == 2 and "--page-audio must be link, embed, none" in r.stderr and not out.exists()


def test_the_servers_page_after_an_upload_from_the_browser(browser, server, card_call, tmp_path):
    """`callphase serve`: log in with the key, upload the card call with its phases from `/`, land on
    /calls/{id}, and find there what the API returns for the same job; then the job list, a bad phase list
    refused with the API's message, and the page read with JavaScript off."""
    import base64
    import re

    pytest.importorskip("fastapi", reason="the server needs callphase[server]")
    from serving import KEY

    s = server()
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    page.goto(s.url + "/")
    page.fill("#key", KEY)  # the key is asked once; the pages and their API calls then carry its cookie
    page.click("button[type=submit]")
    page.wait_for_selector("form#upload:not([hidden])")
    page.set_input_files("#file", str(card_call[0]))
    page.fill("#phases", PHASES)
    page.fill("#language", "en")
    page.click("form#upload button[type=submit]")
    page.wait_for_url(re.compile(r".*/calls/[0-9a-f]+$"))
    job_id = page.url.rsplit("/", 1)[1]
    page.wait_for_selector(".bar.phases", timeout=180_000)  # the status page reloads itself until the job is done
    page.screenshot(path=str(tmp_path / "server_call.png"), full_page=True)
    assert (tmp_path / "server_call.png").stat().st_size > 10_000

    status, body = s.request("GET", f"/v2/transcript/{job_id}/phases")
    assert status == 200, body
    phases = json.loads(body)["phases"]
    assert [p["name"] for p in phases][0] == "Introduction" and {p["name"] for p in phases} <= set(PHASES.split(",")) | {"Other"}
    status, body = s.request("GET", f"/v2/transcript/{job_id}")
    api = json.loads(body)
    assert api["callphase"]["phases"] == phases
    # the page shows the API's phases where they are, and the API's transcript
    duration = phases[-1]["end_time"]  # phases cover the call
    bar = page.locator(".bar.phases").bounding_box()
    spans = page.locator(".bar.phases > a")
    assert [spans.nth(k).inner_text() for k in range(spans.count())] == [p["name"] for p in phases]
    for k, p in enumerate(phases):
        box = spans.nth(k).bounding_box()
        assert abs((box["x"] - bar["x"]) / bar["width"] - p["start_time"] / duration) <= 0.01
        assert abs((box["x"] + box["width"] - bar["x"]) / bar["width"] - p["end_time"] / duration) <= 0.01
    assert page.locator("ol.utts li").count() == len(api["utterances"])
    assert all(u["text"] in li for u, li in zip(api["utterances"], page.locator("ol.utts li").all_inner_texts()))
    href = page.locator('.downloads a[download$=".phases.json"]').get_attribute("href")
    assert json.loads(base64.b64decode(href.split(",", 1)[1])) == {"phases": phases}
    status, vtt = s.request("GET", f"/v2/transcript/{job_id}/vtt")
    href = page.locator('.downloads a[download$=".vtt"]').get_attribute("href")
    assert base64.b64decode(href.split(",", 1)[1]) == vtt
    # the audio comes from the server (with the key's cookie) and seeks
    page.wait_for_function("document.getElementById('audio').readyState >= 1")
    spans.nth(2).click()
    assert abs(page.evaluate("document.getElementById('audio').currentTime") - phases[2]["start_time"]) < 0.05

    page.click("text=All calls")
    row = page.locator(f'tr[data-id="{job_id}"]')
    assert row.get_attribute("data-status") == "completed" and "card_call.mp3" in row.inner_text()
    page.screenshot(path=str(tmp_path / "server_jobs.png"), full_page=True)
    # a bad phase list: the API's 400 message, said on the page
    page.set_input_files("#file", str(card_call[0]))
    page.fill("#phases", "Introduction, introduction")
    page.click("form#upload button[type=submit]")
    page.wait_for_selector("#upload-status[role=alert]")
    assert "phase names repeat" in page.inner_text("#upload-status")
    assert page.locator("tr[data-id]").count() == 1  # nothing was submitted
    context.close()

    # reading needs no JavaScript: the login form posts, the call's page is HTML
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(s.url + f"/calls/{job_id}")
    page.fill("#key", "wrong")
    page.click("button[type=submit]")
    assert "not this server's API key" in page.inner_text("[role=alert]")
    page.fill("#key", KEY)
    page.click("button[type=submit]")
    assert page.locator(f'tr[data-id="{job_id}"] a').count() == 1
    assert page.locator("form#upload").is_hidden() and page.locator("#upload-needs-js").is_visible()
    page.goto(s.url + f"/calls/{job_id}")
    assert page.locator(".bar.phases > a").count() == len(phases)
    assert page.locator("ol.utts li").count() == len(api["utterances"])
    context.close()
