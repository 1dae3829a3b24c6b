"""The call as a page an analyst looks at: one self-contained HTML file (no network, no framework; style,
script and downloads inlined) with a timeline of phases, speaker turns and non-speech, the audio with
the captions as a <track>, each phase's summary and confidence, the transcript grouped by phase, and the
talk metrics as small bar charts.

Everything is readable with JavaScript off (timeline and transcript are HTML, links jump to the phase or
utterance); with it on, clicking a phase or an utterance seeks the audio and the utterance being played is
highlighted. Colours are the Okabe-Ito palette (distinguishable with the common colour-vision
deficiencies), and every coloured span also carries its name as text and a title.
"""
from __future__ import annotations

import base64
import html
import json
import mimetypes

from .captions import to_srt, to_vtt
from .types import CallResult, Phase

# Okabe-Ito (https://jfly.uni-koeln.de/color/), then grey for `other`; dark text stays readable on each
PALETTE = ["#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7"]
OTHER_COLOUR = "#BBBBBB"
SPEAKER_COLOURS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7"]

STYLE = """
body{font:15px/1.45 system-ui,sans-serif;margin:0 auto;max-width:1100px;padding:1rem;color:#111}
h1{font-size:1.4rem;margin:.2rem 0} h2{font-size:1.1rem;margin:1.2rem 0 .3rem}
.meta,.small{color:#444;font-size:.9rem}
.timeline{margin:1rem 0}
.bar{position:relative;height:2.2rem;background:#f3f3f3;border:1px solid #888;margin:.15rem 0;overflow:hidden}
.bar.thin{height:1rem}
.bar>a,.bar>span{position:absolute;top:0;bottom:0;box-sizing:border-box;overflow:hidden;white-space:nowrap;
  text-overflow:ellipsis;font-size:.8rem;padding:.1rem .25rem;color:#000;text-decoration:none;border-right:2px solid #fff}
.bar>a:focus-visible,a:focus-visible,button:focus-visible{outline:3px solid #000;outline-offset:1px;z-index:2}
.phase.other{background:repeating-linear-gradient(45deg,#ddd,#ddd 6px,#bbb 6px,#bbb 12px)!important}
.ns{background:repeating-linear-gradient(135deg,#999,#999 4px,#ccc 4px,#ccc 8px)}
.axis{display:flex;justify-content:space-between;font-size:.75rem;color:#444}
.legend span{display:inline-block;margin-right:1rem} .legend i{display:inline-block;width:.9rem;height:.9rem;
  vertical-align:middle;margin-right:.3rem;border:1px solid #555}
audio{width:100%;margin:.5rem 0}
.metrics{display:grid;grid-template-columns:repeat(auto-fit,minmax(260px,1fr));gap:1rem}
.chart div{display:flex;align-items:center;gap:.4rem;font-size:.85rem;margin:.15rem 0}
.chart b{font-weight:normal;width:6rem;overflow:hidden;text-overflow:ellipsis}
.chart span.v{height:.8rem;background:#0072B2}
section.phase-block{border-left:.45rem solid;padding-left:.7rem;margin:1rem 0}
ol.utts{list-style:none;padding:0;margin:.3rem 0}
ol.utts li{padding:.15rem .3rem;border-radius:3px}
ol.utts li.current{background:#fff3b0;outline:2px solid #c90}
.ts{font-variant-numeric:tabular-nums;color:#0b4f8a;margin-right:.4rem}
.spk{font-weight:600;margin-right:.3rem}
.downloads a{margin-right:1rem}
"""

SCRIPT = """
(function(){
  var audio = document.getElementById('audio');
  var items = Array.prototype.slice.call(document.querySelectorAll('ol.utts li'));
  var starts = items.map(function(li){ return parseFloat(li.dataset.start); });
  function seek(t){ if(!audio) return; audio.currentTime = t; }
  document.addEventListener('click', function(e){
    var a = e.target.closest('[data-seek]');
    if(!a || !audio) return;
    seek(parseFloat(a.dataset.seek));
  });
  var current = null;
  function highlight(){
    var t = audio.currentTime, lo = 0, hi = starts.length - 1, k = -1;
    while(lo <= hi){ var mid = (lo + hi) >> 1; if(starts[mid] <= t){ k = mid; lo = mid + 1; } else { hi = mid - 1; } }
    var li = k >= 0 && t < parseFloat(items[k].dataset.end) + 0.5 ? items[k] : null;
    if(li === current) return;
    if(current){ current.classList.remove('current'); current.removeAttribute('aria-current'); }
    current = li;
    if(li){ li.classList.add('current'); li.setAttribute('aria-current', 'true'); }
  }
  if(audio){ audio.addEventListener('timeupdate', highlight); audio.addEventListener('seeked', highlight); }
})();
"""


def _clock(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def _pct(value: float, duration: float) -> str:
    return f"{100 * value / duration:.4f}%" if duration > 0 else "0%"


def _data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def audio_data_uri(path) -> str:
    """The audio file itself as a data: URI, for --page-audio embed."""
    from pathlib import Path

    mime = mimetypes.guess_type(str(path))[0] or "application/octet-stream"
    return _data_uri(Path(path).read_bytes(), mime)


def render(result: CallResult, title: str, audio_src: str | None = None, other_name: str = "Other",
           home: str | None = None) -> str:
    """The page of one call. `audio_src`: a URL relative to the page, a data: URI, or None for no audio;
    `other_name`: the spec's name for what fits no phase (drawn grey and hatched); `home`: a link back to
    a list of calls (the server's). A result with no phases (a transcript-only server job) shows its
    transcript as one block."""
    t, seg = result.transcript, result.segmentation
    duration = max(t.duration, max((p.end_time for p in seg.phases), default=0.0), 1e-9)
    esc = html.escape
    colour: dict[str, str] = {}
    for p in seg.phases:
        colour.setdefault(p.name, PALETTE[len(colour) % len(PALETTE)])
    speakers = list(dict.fromkeys(u.speaker or "speaker" for u in t.utterances))
    spk_colour = {s: SPEAKER_COLOURS[i % len(SPEAKER_COLOURS)] for i, s in enumerate(speakers)}
    roles = {s.speaker: s.role for s in (t.metrics.speakers if t.metrics else []) if s.role}

    def who(speaker: str | None) -> str:
        name = speaker or "speaker"
        role = roles.get(name)
        return f"{name} ({role})" if role and role.casefold() != name.casefold() else name

    def is_other(p) -> bool:  # `other` (or the name --other gave it): what fits no phase, long non-speech
        return seg.kind == "phases" and (p.name.casefold() == "other" or p.name == other_name)

    out = ["<!doctype html>", '<html lang="en"><head><meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width,initial-scale=1">',
           f"<title>{esc(title)}: call phases</title><style>{STYLE}</style></head><body>",
           "<header>" + (f'<p class="small"><a href="{esc(home)}">All calls</a></p>' if home else ""),
           f"<h1>{esc(title)}</h1>",
           f'<p class="meta">{_clock(t.duration)} ({t.duration:.1f} s), {len(t.utterances)} utterances, '
           f'{len(speakers)} speaker(s), '
           + (f'{len(seg.phases)} {"phases" if seg.kind == "phases" else "chapters"}'
              f"{', ' + esc(seg.method) if seg.method else ''}" if seg.phases else "transcript only (no phases asked)")
           + "</p>"]
    # downloads: always inlined, so the page still has them when it is mailed on its own
    seed = json.dumps(result.to_json(), indent=1, ensure_ascii=False)
    links = [(f"{title}.{seg.kind}.json", seed, "application/json", f"{seg.kind} JSON")] if seg.phases else []
    links += [(f"{title}.vtt", to_vtt(t), "text/vtt", "WebVTT"), (f"{title}.srt", to_srt(t), "application/x-subrip", "SRT")]
    out.append('<p class="downloads">Download: ' + "".join(
        f'<a download="{esc(name)}" href="{_data_uri(text.encode(), mime)}">{label}</a>' for name, text, mime, label in links)
        + "</p>")
    out.append("</header>")
    # timeline
    out.append('<section class="timeline" aria-label="Timeline of the call">')
    out.append('<div class="bar phases" role="list" aria-label="Phases">')
    for j, p in enumerate(seg.phases):
        style = f"left:{_pct(p.start_time, duration)};width:{_pct(p.end_time - p.start_time, duration)};" \
                f"background:{OTHER_COLOUR if is_other(p) else colour[p.name]}"
        label = f"{p.name} {_clock(p.start_time)}-{_clock(p.end_time)}"
        out.append(f'<a role="listitem" class="phase{" other" if is_other(p) else ""}" id="bar-{j}" href="#phase-{j}" '
                   f'data-seek="{p.start_time:.3f}" data-start="{p.start_time:.3f}" data-end="{p.end_time:.3f}" '
                   f'style="{style}" title="{esc(label)}">{esc(p.name)}</a>')
    out.append("</div>")
    out.append('<div class="bar thin speakers" aria-label="Speaker turns">')
    turns: list[list] = []
    for u in t.utterances:
        s = u.speaker or "speaker"
        if turns and turns[-1][0] == s and u.start - turns[-1][2] < 1.0:
            turns[-1][2] = max(turns[-1][2], u.end)
        else:
            turns.append([s, u.start, u.end])
    for s, a, b in turns:
        out.append(f'<span class="turn" style="left:{_pct(a, duration)};width:{_pct(max(b - a, 0.05), duration)};'
                   f'background:{spk_colour[s]}" title="{esc(who(s))} {_clock(a)}-{_clock(b)}"></span>')
    out.append("</div>")
    out.append('<div class="bar thin nonspeech" aria-label="Non-speech">')
    for ns in t.non_speech:
        out.append(f'<span class="ns" style="left:{_pct(ns.start, duration)};width:{_pct(ns.end - ns.start, duration)}" '
                   f'title="{esc(ns.kind)} {_clock(ns.start)}-{_clock(ns.end)}"></span>')
    out.append("</div>")
    ticks = [duration * k / 4 for k in range(5)]
    out.append('<div class="axis" aria-hidden="true">' + "".join(f"<span>{_clock(x)}</span>" for x in ticks) + "</div>")
    legend = "".join(f'<span><i style="background:{spk_colour[s]}"></i>{esc(who(s))}</span>' for s in speakers)
    out.append(f'<p class="legend small">Speakers: {legend}<span><i class="ns"></i>non-speech (silence, hold, tones)</span></p>')
    out.append("</section>")
    if audio_src:
        vtt = _data_uri(to_vtt(t).encode(), "text/vtt")
        out.append(f'<audio id="audio" controls preload="metadata" src="{esc(audio_src)}">'
                   f'<track kind="captions" srclang="en" label="Transcript" src="{vtt}" default></audio>')
    # metrics
    m = t.metrics
    if m is not None and m.speakers:
        out.append('<section class="metrics" aria-label="Talk metrics">')
        out.append('<div class="chart"><h2>Talk share</h2>' + "".join(
            f'<div><b title="{esc(who(s.speaker))}">{esc(who(s.speaker))}</b><span class="v" style="width:{150 * s.share:.1f}px;'
            f'background:{spk_colour.get(s.speaker, "#0072B2")}"></span>{100 * s.share:.0f}%</div>'
            for s in m.speakers) + "</div>")
        top = max([s.interruptions for s in m.speakers] + [1])
        out.append('<div class="chart"><h2>Interruptions</h2>' + "".join(
            f'<div><b>{esc(who(s.speaker))}</b><span class="v" style="width:{150 * s.interruptions / top:.1f}px"></span>'
            f"{s.interruptions}</div>" for s in m.speakers) + "</div>")
        out.append(f'<div class="chart"><h2>Time</h2><div>talk {m.talk_time:.0f} s</div><div>overlap {m.overlap_time:.0f} s</div>'
                   f'<div>non-talk {m.non_talk_time:.0f} s ({100 * m.non_talk_time / duration:.0f}%)</div></div>')
        out.append("</section>")
    # phases with their transcript: each utterance under the phase it starts in (one pass, both in time order)
    blocks = seg.phases or [Phase(name="Transcript", start_time=0.0, end_time=t.duration)]
    inside: list[list] = [[] for _ in blocks]
    j = 0
    for u in t.utterances:
        while j + 1 < len(blocks) and u.start >= blocks[j].end_time:
            j += 1
        if u.start >= blocks[j].start_time or not seg.phases:
            inside[j].append(u)
    out.append("<main>")
    for j, p in enumerate(blocks):
        c = OTHER_COLOUR if is_other(p) else colour.get(p.name, OTHER_COLOUR)
        conf = f", confidence {p.confidence:.2f}" if p.confidence is not None else ""
        out.append(f'<section class="phase-block" id="phase-{j}" style="border-color:{c}">'
                   f'<h2><a href="#phase-{j}" data-seek="{p.start_time:.3f}">{esc(p.name)}</a> '
                   f'<span class="small">{_clock(p.start_time)}-{_clock(p.end_time)}{conf}</span></h2>')
        if p.summary:
            out.append(f'<p class="summary">{esc(p.summary)}</p>')
        if inside[j]:
            out.append('<ol class="utts">')
            for u in inside[j]:
                out.append(f'<li id="u-{u.index}" data-start="{u.start:.3f}" data-end="{u.end:.3f}">'
                           f'<a class="ts" href="#u-{u.index}" data-seek="{u.start:.3f}">{_clock(u.start)}</a>'
                           f'<span class="spk">{esc(who(u.speaker))}</span>{esc(u.text)}</li>')
            out.append("</ol>")
        out.append("</section>")
    out.append("</main>")
    out.append(f"<script>{SCRIPT}</script></body></html>")
    return "\n".join(out) + "\n"
