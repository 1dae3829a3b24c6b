"""The server's pages for people: `/` (the jobs, with their status, and a form to upload a recording and
give its phases) and `/calls/{id}` (the call's page, `callphase.page`, or its status while it runs).

Both are built from what the API returns: the job list from the same items as GET /v2/transcript, the
call's page from the same stored CallResult as GET /v2/transcript/{id}; the upload form is a client of the
API itself (POST /v2/upload, then POST /v2/transcript), so page and API cannot disagree. Reading needs no
JavaScript; uploading does (the form says so when it is off).
"""
from __future__ import annotations

import html
from typing import Any

from ..page import STYLE as PAGE_STYLE

DEFAULT_PHASES = "Introduction, Complaint, Resolution, Goodbye"
STYLE = PAGE_STYLE + """
table{border-collapse:collapse;width:100%;font-size:.9rem} th,td{text-align:left;padding:.3rem .5rem;border-bottom:1px solid #ccc}
th{background:#f3f3f3} .status-completed{color:#006b3c} .status-error{color:#a00000;font-weight:600}
.status-queued,.status-processing{color:#7a5b00}
form.upload{display:grid;grid-template-columns:max-content 1fr;gap:.5rem 1rem;align-items:center;max-width:760px;
  padding:1rem;border:1px solid #888;margin:1rem 0} form.upload button{grid-column:2;justify-self:start;padding:.4rem 1.2rem}
input[type=text],input[type=password],select{padding:.3rem;font:inherit} #language{justify-self:start}
[role=alert]{color:#a00000;font-weight:600}
[hidden]{display:none!important}
"""

UPLOAD_SCRIPT = """
(function(){
  var form = document.getElementById('upload'), said = document.getElementById('upload-status');
  form.hidden = false; document.getElementById('upload-needs-js').hidden = true;
  function fail(message){
    said.setAttribute('role', 'alert'); said.textContent = message; form.querySelector('button').disabled = false;
  }
  async function json(response){
    try { return await response.json(); } catch(e){ return {error: response.status + ' ' + response.statusText}; }
  }
  form.addEventListener('submit', async function(e){
    e.preventDefault();
    var file = form.elements.file.files[0];
    if(!file){ fail('Choose a recording first.'); return; }
    form.querySelector('button').disabled = true; said.removeAttribute('role'); said.textContent = 'Uploading ' + file.name + '…';
    try {
      var r = await fetch('v2/upload', {method: 'POST', body: file}), up = await json(r);
      if(!r.ok){ fail('Upload refused: ' + up.error); return; }
      var body = {audio_url: up.upload_url, title: file.name};
      var phases = form.elements.phases.value.trim(), speakers = form.elements.speakers.value;
      if(phases){ body.phases = phases; } else { body.auto_chapters = true; }
      if(speakers === 'stereo'){ body.multichannel = true; }
      else if(speakers !== '1'){ body.speaker_labels = true; body.speakers_expected = parseInt(speakers, 10); }
      if(form.elements.language.value.trim()){ body.language_code = form.elements.language.value.trim(); }
      said.textContent = 'Submitting…';
      r = await fetch('v2/transcript', {method: 'POST', headers: {'content-type': 'application/json'},
                                        body: JSON.stringify(body)});
      var job = await json(r);
      if(!r.ok){ fail('Not submitted: ' + job.error); return; }
      location.href = 'calls/' + encodeURIComponent(job.id);
    } catch(err){ fail('The server could not be reached: ' + err); }
  });
  // statuses change while jobs run: reload when they do, unless a file is being chosen
  var pending = document.querySelectorAll('.status-queued,.status-processing').length;
  if(pending){ setInterval(async function(){
    if(form.elements.file.files.length) return;
    var r = await fetch('v2/transcript?limit=' + document.querySelectorAll('tr[data-id]').length);
    if(!r.ok) return;
    var now = (await r.json()).transcripts, changed = now.some(function(j){
      var row = document.querySelector('tr[data-id="' + j.id + '"]'); return !row || row.dataset.status !== j.status; });
    if(changed) location.reload();
  }, 2000); }
})();
"""


def _head(title: str, refresh: int | None = None) -> str:
    meta = f'<meta http-equiv="refresh" content="{refresh}">' if refresh else ""
    return ('<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width,initial-scale=1">{meta}'
            f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>")


def index(items: list[dict[str, Any]], jobs: list[dict[str, Any]]) -> str:
    """The job list and the upload form. `items`: GET /v2/transcript's entries for `jobs`, in the same order;
    the jobs give what an entry does not carry (title, phases asked, duration)."""
    esc = html.escape
    out = [_head("callphase: calls"), "<header><h1>Calls</h1>",
           '<p class="meta">Recordings sent to this callphase server, newest first. '
           'The same jobs, as JSON: <a href="v2/transcript">GET /v2/transcript</a>; the API: <a href="docs">/docs</a>.</p>'
           "</header><main>",
           '<h2 id="new">New call</h2>',
           '<p id="upload-needs-js" class="small">Uploading from this page needs JavaScript. Without it, send the '
           'recording to <code>POST /v2/upload</code> and then <code>POST /v2/transcript</code> with '
           '<code>{"audio_url": ..., "phases": "A, B, C"}</code>.</p>',
           '<form id="upload" class="upload" hidden aria-labelledby="new">',
           '<label for="file">Recording</label><input id="file" name="file" type="file" required '
           'accept="audio/*,.mp3,.wav,.m4a,.flac,.ogg,.opus,.webm">',
           f'<label for="phases">Phases</label><input id="phases" name="phases" type="text" value="{esc(DEFAULT_PHASES)}" '
           'aria-describedby="phases-help">',
           '<span></span><span id="phases-help" class="small">Comma-separated, in the order a call goes through them; '
           'leave empty to split the call into chapters instead.</span>',
           '<label for="speakers">Speakers</label><select id="speakers" name="speakers">'
           '<option value="2" selected>two, one channel (told apart by voice)</option>'
           '<option value="stereo">stereo: one speaker per channel</option>'
           '<option value="1">one</option><option value="3">three</option></select>',
           '<label for="language">Language</label><input id="language" name="language" type="text" size="6" '
           'placeholder="detect" aria-describedby="language-help">',
           '<span></span><span id="language-help" class="small">A code such as <code>en</code>; empty: detected.</span>',
           '<button type="submit">Upload and analyse</button>',
           '<span></span><p id="upload-status" aria-live="polite"></p>',
           "</form>",
           '<h2 id="jobs">Jobs</h2>']
    if not items:
        out.append("<p>No calls yet.</p>")
    else:
        out.append('<table aria-labelledby="jobs"><thead><tr><th scope="col">Call</th><th scope="col">Status</th>'
                   '<th scope="col">Length</th><th scope="col">Phases</th><th scope="col">Submitted</th></tr></thead><tbody>')
        for item, job in zip(items, jobs):
            duration = (job["result"] or {}).get("transcript", {}).get("duration")
            status = item["status"] + (f": {item['error']}" if item.get("error") else "")
            out.append(f'<tr data-id="{esc(item["id"])}" data-status="{esc(item["status"])}">'
                       f'<td><a href="calls/{esc(item["id"])}">{esc(title_of(job))}</a></td>'
                       f'<td class="status-{esc(item["status"])}">{esc(status)}</td>'
                       f'<td>{f"{duration:.0f} s" if duration is not None else ""}</td>'
                       f"<td>{esc(_asked(job['request']))}</td><td>{esc(item['created'][:19].replace('T', ' '))} UTC</td></tr>")
        out.append("</tbody></table>")
    out.append(f"</main><script>{UPLOAD_SCRIPT}</script></body></html>")
    return "\n".join(out) + "\n"


def login(message: str | None = None) -> str:
    """This server needs its API key: asked once, kept as a cookie for the pages and their API calls."""
    alert = f'<p role="alert">{html.escape(message)}</p>' if message else ""
    return (_head("callphase: API key") + "<main><h1>callphase</h1><p>This server needs its API key.</p>" + alert +
            '<form method="post" action="login" class="upload"><label for="key">API key</label>'
            '<input id="key" name="key" type="password" required autocomplete="current-password">'
            '<button type="submit">Open</button></form></main></body></html>\n')


def pending(job: dict[str, Any], title: str) -> str:
    """A call not finished yet (reloads itself every 2 s, with or without JavaScript), or one that failed."""
    esc = html.escape
    running = job["status"] in ("queued", "processing")
    said = {"queued": "waiting for a worker", "processing": "being transcribed and segmented"}.get(job["status"], "")
    body = (f'<p class="status-{esc(job["status"])}" role="status">{esc(job["status"])}: {esc(said)}. '
            "This page reloads itself until it is done.</p>" if running else
            f'<p class="status-error" role="alert">This call failed: {esc(job["error"] or job["status"])}</p>')
    return (_head(f"{title}: {job['status']}", refresh=2 if running else None) +
            f'<header><p class="small"><a href="../">All calls</a></p><h1>{esc(title)}</h1></header>'
            f"<main>{body}</main></body></html>\n")


def _asked(request: dict[str, Any]) -> str:
    """What a job asked for, as the list shows it: its phases, or chapters, or a transcript only."""
    asked = request.get("phases")
    if isinstance(asked, str):
        return asked
    if isinstance(asked, list):
        return ", ".join(p if isinstance(p, str) else str(p.get("name", "")) for p in asked)
    if asked:
        return "phases"
    return "chapters" if request.get("auto_chapters") else "transcript only"


def title_of(job: dict[str, Any]) -> str:
    request = job["request"]
    return str(request.get("title") or request["audio_url"].rsplit("/", 1)[-1] or job["id"])


def sniff_audio(head: bytes) -> str:
    """The media type of an upload (stored without its name) from its first bytes, for the <audio> element."""
    if head.startswith(b"ID3") or head[:2] in (b"\xff\xfb", b"\xff\xf3", b"\xff\xf2", b"\xff\xe3"):
        return "audio/mpeg"
    if head.startswith(b"RIFF") and head[8:12] == b"WAVE":
        return "audio/wav"
    if head.startswith(b"fLaC"):
        return "audio/flac"
    if head.startswith(b"OggS"):
        return "audio/ogg"
    if head[4:8] == b"ftyp":
        return "audio/mp4"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "audio/webm"
    return "application/octet-stream"
