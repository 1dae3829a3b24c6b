"""Recognition choices, measured: key terms, phone-band tuning of the local path, and remote backends.

    python bench/bench_asr.py [--model base] [--calls 10] [--parts keyterms,tuning,remote]

Sets (all in one process run, so that variants are compared on the same machine state):
  - support: callphase's support calls (evaluation/calls, dev split) rendered mono at 8 kHz in the phone
    band with two espeak-ng voices; the reference is the script. Their key terms are the names in the
    script (companies, products, people, places: capitalised words not at a sentence start, days and
    months left out).
  - pyannote: the real 30 s two-speaker recording in the pyannote.audio wheel (STM transcript), cut to
    the phone band at 8 kHz ("8k") and as recorded ("16k").
Every variant transcribes with `transcribe_audio` (VAD on, no diarization, language en) and reports WER,
RTF (transcription seconds / audio seconds, model load included) and, for key terms, the share of the
terms' occurrences heard (term recall).

Parts:
  - keyterms: none / the call's own names / names of another call (absent), as Whisper hotwords (what
    callphase sends) and as an initial prompt;
  - tuning: resampling filter quality from 8 kHz, VAD margin, Whisper's no_speech / log_prob thresholds,
    beam size at 8 and 16 kHz;
  - packing: speech clips packed into Whisper's windows (transcribe.PACK) or each starting its own, at
    beam 1 and 5;
  - remote: the same calls through `openai:` (tests/asr_server.py, tiny.en) and `assemblyai` (a real
    `callphase serve --model tiny`) against the local tiny run.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import re
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))
OUT = ROOT / "bench" / "out"
SKIP = {"I", "I'm", "I'll", "I've", "I'd", "Okay", "OK", "Mr", "Mrs", "Ms", "PIN", "French", "English"}
DAYS = {"Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday", "January", "February",
        "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"}


def names(text: str) -> list[str]:
    """Capitalised runs of words not at a sentence start (companies, products, people, places)."""
    out = []
    for sentence in re.split(r"(?<=[.?!])\s+", text):
        tokens = sentence.split()
        run: list[str] = []
        for i, tok in enumerate(tokens + ["x"]):
            word = tok.strip(",.?!;:\"'")
            capital = i > 0 and word[:1].isupper() and word not in SKIP and word not in DAYS and not word.isupper()
            if capital:
                run.append(word)
            if (not capital or tok[-1:] in ",.?!;:") and run:
                out.append(" ".join(run))
                run = []
    return out


def support_calls(n: int):
    """(id, 16 kHz samples, source rate, reference text, names) of the first n dev support calls."""
    from callphase.evaluation import support
    from callphase.evaluation.datasets import _to_16k

    calls = [c for c in support.scripts() if c["split"] == "dev"][:n]
    for call in calls:
        rendered = support.render(call)
        text = " ".join(t["text"] for t in call["turns"])
        yield call["id"], _to_16k(rendered.samples, rendered.sample_rate)[0], rendered.samples[0], text, \
            list(dict.fromkeys(names(text)))


def pyannote():
    """({"16k": as recorded, "8k": phone band, back at 16 kHz, "8k raw": phone band at 8 kHz}, reference)."""
    import subprocess

    from bench_speakers import pyannote_sample, read_stm

    from callphase.audio import decode
    from callphase.evaluation.datasets import _to_16k

    folder = pyannote_sample()
    x = decode(folder / "sample.wav").samples[0]
    raw = subprocess.run(["sox", "-D", "-t", "f32", "-r", "16000", "-c", "1", "-", "-t", "f32", "-r", "8000", "-",
                          "sinc", "300-3400"], input=x.astype(np.float32).tobytes(), capture_output=True, check=True).stdout
    x8 = np.frombuffer(raw, np.float32).copy()
    ref = " ".join(t[3] for t in read_stm(folder / "sample.stm"))
    return {"16k": x, "8k": _to_16k(x8[None], 8000)[0], "8k raw": x8}, ref


def resample_hq(samples8k: np.ndarray, opts: str) -> np.ndarray:
    """8 kHz -> 16 kHz through ffmpeg's aresample with `opts` (what audio.blocks would do with them)."""
    import av
    from av.filter import Graph

    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples8k, np.float32)[None], format="flt", layout="mono")
    frame.sample_rate = 8000
    graph = Graph()
    src = graph.add_abuffer(format="flt", sample_rate=8000, layout="mono", time_base="1/8000")
    res = graph.add("aresample", f"16000:{opts}" if opts else "16000")
    sink = graph.add("abuffersink")
    src.link_to(res)
    res.link_to(sink)
    graph.configure()
    graph.push(frame)
    graph.push(None)
    out = []
    with contextlib.suppress(av.BlockingIOError, av.EOFError):
        while True:
            out.append(graph.pull().to_ndarray())
    return np.concatenate(out, axis=1)[0].astype(np.float32)


def heard(hypothesis: str, terms: list[str], reference: str) -> tuple[int, int]:
    """(occurrences of the terms in the hypothesis, in the reference), case and punctuation ignored."""
    def norm(t: str) -> str:
        return " " + re.sub(r"[^\w ]", " ", t.casefold()).replace("  ", " ") + " "

    h, r = norm(hypothesis), norm(reference)
    return (sum(min(h.count(norm(t)), r.count(norm(t))) for t in terms), sum(r.count(norm(t)) for t in terms))


def run(samples: np.ndarray, model: str, keyterms=None, beam: int = 1, backend=None, base_url=None, api_key=None):
    from callphase.audio import Audio
    from callphase.options import ASROptions, SpeakerOptions
    from callphase.pipeline import _one_blas_thread
    from callphase.transcribe import transcribe_audio

    audio = Audio(samples[None].astype(np.float32), 16000, 8000, 1)
    opts = ASROptions(model=model, language="en", keyterms=keyterms, beam_size=beam, backend=backend,
                      base_url=base_url, api_key=api_key)
    t = time.perf_counter()
    transcript = _one_blas_thread(transcribe_audio)(audio, opts, speakers=SpeakerOptions(speakers=1))
    return " ".join(u.text for u in transcript.utterances), time.perf_counter() - t


def score(rows, label, items, model, quiet=False, **kw):
    """items: (id, samples, reference, terms). One row: WER over all words, RTF, term recall."""
    from callphase.evaluation.metrics import word_error_rate

    errors = words = seconds = audio = found = total = 0
    for _, x, ref, terms in items:
        hyp, s = run(x, model, **kw)
        n = len(ref.split())
        errors += word_error_rate(hyp, ref) * n
        words += n
        seconds += s
        audio += len(x) / 16000
        if terms:
            f, t = heard(hyp, terms, ref)
            found, total = found + f, total + t
    row = {"variant": label, "model": model, "wer": round(errors / words, 3), "rtf": round(seconds / audio, 3),
           "term_recall": round(found / total, 3) if total else None, "audio_s": round(audio, 1)}
    rows.append(row)
    if not quiet:
        print(json.dumps(row), flush=True)
    return {**row, "words": words, "terms": (found, total)}


@contextlib.contextmanager
def patched(obj, name, value):
    old = getattr(obj, name)
    setattr(obj, name, value)
    try:
        yield
    finally:
        setattr(obj, name, old)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="base")
    ap.add_argument("--calls", type=int, default=10)
    ap.add_argument("--parts", default="keyterms,tuning,packing,remote")
    args = ap.parse_args()
    parts = set(args.parts.split(","))
    from callphase import vad
    from callphase.asr import local

    calls = list(support_calls(args.calls))
    print(f"{len(calls)} support calls, {sum(len(c[1]) for c in calls) / 16000:.0f} s; "
          f"terms per call: {statistics.median(len(c[4]) for c in calls)}", flush=True)
    own = [(i, x, ref, terms) for i, x, _, ref, terms in calls]
    plain = [(i, x, ref, None) for i, x, ref, _ in own]
    pyan, pyref = pyannote()
    rows: list[dict] = []
    model = args.model
    score(rows, "baseline", own, model)  # no key terms given; term recall of the names all the same
    if "keyterms" in parts:
        others = [c[3] for c in own[1:] + own[:1]]  # another call's names: absent from this call
        for label, lists in (("keyterms: own names", [c[3] for c in own]), ("keyterms: another call's names", others)):
            for how in ("hotwords", "prompt"):
                with patched(local, "KEYTERMS_AS", how):
                    sub = [score([], label, [item], model, quiet=True, keyterms=terms) for item, terms in zip(own, lists)]
                rows.append(_pool(sub, f"{label} ({how})", model))
                print(json.dumps(rows[-1]), flush=True)
    if "tuning" in parts:
        for opts in ("filter_size=64:phase_shift=12:cutoff=0.98:linear_interp=0", "filter_size=128:cutoff=0.99"):
            items = [(i, resample_hq(x8, opts), ref, terms) for i, _, x8, ref, terms in calls]
            score(rows, f"resample aresample {opts}", items, model)
        default = vad.MARGIN
        for margin in (0.2, 0.8):
            with patched(vad, "MARGIN", margin):
                score(rows, f"VAD margin {margin} s (default {default})", own, model)
        for label, decode in (("no_speech_threshold None (never skip a window)", {"no_speech_threshold": None}),
                              ("log_prob_threshold -1.5", {"log_prob_threshold": -1.5}),
                              ("no_speech 0.8, log_prob -1.5", {"no_speech_threshold": 0.8, "log_prob_threshold": -1.5})):
            with patched(local, "DECODE", {**local.DECODE, **decode}):
                score(rows, label, own, model)
        for rate in ("8k", "16k"):
            for beam in (1, 5):
                score(rows, f"pyannote {rate}, beam {beam}", [("pyannote", pyan[rate], pyref, None)], model, beam=beam)
        score(rows, "support calls, beam 5", plain, model, beam=5)
    if "packing" in parts:
        from callphase import transcribe

        hq = "filter_size=64:phase_shift=12:cutoff=0.98:linear_interp=0"
        for beam in (1, 5):
            for pack in (True, False):
                with patched(transcribe, "PACK", pack):
                    how = "packed" if pack else "unpacked"
                    score(rows, f"support calls, {how}, beam {beam}", own, model, beam=beam)
                    for rate in ("8k", "16k"):
                        score(rows, f"pyannote {rate}, {how}, beam {beam}", [("pyannote", pyan[rate], pyref, None)],
                              model, beam=beam)
        score(rows, f"support calls, packed, beam 5, resample {hq}",
              [(i, resample_hq(x8, hq), ref, terms) for i, _, x8, ref, terms in calls], model, beam=5)
        score(rows, f"pyannote 8k, packed, beam 5, resample {hq}",
              [("pyannote", resample_hq(pyan["8k raw"], hq), pyref, None)], model, beam=5)
    if "remote" in parts:
        remote(rows, plain)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"asr_{model}.json").write_text(json.dumps(rows, indent=1))


def _pool(sub: list[dict], label: str, model: str) -> dict:
    """Rows of one call each pooled into one (WER weighted by reference words, RTF by audio)."""
    words = sum(r["words"] for r in sub)
    audio = sum(r["audio_s"] for r in sub)
    found, total = sum(r["terms"][0] for r in sub), sum(r["terms"][1] for r in sub)
    return {"variant": label, "model": model, "wer": round(sum(r["wer"] * r["words"] for r in sub) / words, 3),
            "rtf": round(sum(r["rtf"] * r["audio_s"] for r in sub) / audio, 3),
            "term_recall": round(found / total, 3) if total else None, "audio_s": round(audio, 1)}


def remote(rows: list[dict], items) -> None:
    import tempfile

    from asr_server import OpenAIASRServer
    from serving import KEY, Server

    # the audio as 16-bit samples first, as the openai: client sends it (and a 16-bit file decodes), so that
    # the three runs hear the same samples
    items = [(i, (np.round(x * 32768).clip(-32768, 32767) / 32768).astype(np.float32), r, t) for i, x, r, t in items]
    score(rows, "local tiny", items, "tiny")
    with OpenAIASRServer() as service:
        score(rows, "openai:whisper-1 (test server, tiny.en)", items, "tiny", backend="openai:whisper-1",
              base_url=service.url)
    with tempfile.TemporaryDirectory() as data:
        server = Server(Path(data))
        try:
            score(rows, "assemblyai (callphase serve --model tiny)", items, "tiny", backend="assemblyai",
                  base_url=server.url, api_key=KEY)
        finally:
            server.stop()


if __name__ == "__main__":
    main()
