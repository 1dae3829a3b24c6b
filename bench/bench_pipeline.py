"""End to end against bare faster-whisper: what callphase costs beyond recognising the speech once.

    python bench/bench_pipeline.py [--model base] [--cases demo,5min,pyannote,hold] [--runs 3]

For each case, in one run of this script and paired (the commands back to back, `--runs` times; medians
quoted), whole fresh processes:
  - bare: a faster-whisper script that transcribes the file with the same model and the options callphase
    uses for it: int8, 1 thread, word timestamps, language="en", and callphase's beam for the file (5 for
    audio recorded at 8 kHz or less, else greedy); everything else faster-whisper's defaults;
  - segment: `callphase segment FILE --phases ... --no-llm --speakers 1` (no --language: detection is part
    of what a user waits for);
  - diarized: the same with the default --speakers 2;
  - for phone audio also bare_greedy and segment_greedy: both with beam 1 (`--beam-size 1`), the
    configuration issue 21 first measured.
Wall time and peak RSS of each process, and the ratios to the bare run with the same beam. Then one
profiled in-process run of the diarized path: seconds per stage (decode, VAD, Whisper's encoder / decoder
/ word alignment, speakers, segment, summaries; "other" is the rest of recognition: mel features,
packing, utterances), encoder passes per minute of audio, and the import time of `callphase --help` and
of a `--no-llm` run.

Cases: demo (the bundled 76 s call), 5min (the demo script and the suite's card call alternated: 5.7
minutes), pyannote (the real 30 s two-speaker recording in the pyannote.audio wheel), hold (the demo call
with 40 s of hold music and keypad tones in the middle: a third of the call is not speech).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
PHASES = "Introduction,Complaint,Resolution,Goodbye"
BARE = """
import sys
from faster_whisper import WhisperModel
from callphase.models import resolve_whisper
where, local = resolve_whisper(sys.argv[2])
model = WhisperModel(where, device="cpu", compute_type="int8", cpu_threads=1, local_files_only=local)
segments, info = model.transcribe(sys.argv[1], beam_size=int(sys.argv[3]), word_timestamps=True, language="en")
print(sum(len(s.words) for s in segments))
"""


def five_minute_call() -> Path:
    """The demo script and the test suite's card call, alternated to about 5 minutes (rendered once)."""
    path = OUT / "five_minutes.mp3"
    if path.is_file():
        return path
    from callphase.evaluation.synth import render_call, write_audio

    sys.path.insert(0, str(ROOT / "tests"))
    from conftest import CARD_CALL

    demo = yaml.safe_load((ROOT / "src" / "callphase" / "demo" / "call.yaml").read_text())["turns"]
    turns = (demo + CARD_CALL) * 2 + demo
    call = render_call(turns, seed=11)
    OUT.mkdir(parents=True, exist_ok=True)
    write_audio(call.samples, call.sample_rate, path)
    return path


def hold_call() -> Path:
    """The demo call with 36 s of hold music and 4 s of keypad tones after its Complaint (8 kHz mp3)."""
    path = OUT / "demo_with_hold.mp3"
    if path.is_file():
        return path
    import numpy as np

    from callphase.audio import decode
    from callphase.evaluation.synth import dtmf, hold_music, write_audio

    x = decode(ROOT / "src" / "callphase" / "demo" / "call.mp3", sample_rate=8000).samples[0]
    cut = 42 * 8000  # the demo's Complaint ends at 42.2 s
    gap = np.concatenate([hold_music(36.0, 8000), dtmf("12345678", 8000)])[:40 * 8000]
    OUT.mkdir(parents=True, exist_ok=True)
    write_audio(np.concatenate([x[:cut], gap, x[cut:]])[None], 8000, path)
    return path


def pyannote() -> Path:
    sys.path.insert(0, str(ROOT / "bench"))
    from bench_speakers import pyannote_sample

    return pyannote_sample() / "sample.wav"


CASES = {"demo": lambda: ROOT / "src" / "callphase" / "demo" / "call.mp3", "5min": five_minute_call,
         "pyannote": pyannote, "hold": hold_call}


def timed(cmd: list[str]) -> tuple[float, float]:
    """(wall seconds, peak RSS MB) of a whole process."""
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{cmd} failed: {proc.stderr.read().decode()[-2000:]}")
    proc.stderr.close()
    return wall, usage.ru_maxrss / 1024


def beam(path: Path) -> int:
    """The beam callphase chooses for this file (from the rate it was recorded at)."""
    import av

    from callphase.transcribe import beam_for

    with av.open(str(path)) as f:
        return beam_for(f.streams.audio[0].codec_context.sample_rate)


def ratios(path: Path, model: str, runs: int) -> dict:
    py = sys.executable
    cli = [py, "-m", "callphase", "segment", str(path), "--phases", PHASES, "--no-llm", "--model", model, "-q"]
    width = beam(path)
    commands = {"bare": [py, "-c", BARE, str(path), model, str(width)], "segment": cli + ["--speakers", "1"],
                "diarized": cli}
    if width != 1:
        commands |= {"bare_greedy": [py, "-c", BARE, str(path), model, "1"],
                     "segment_greedy": cli + ["--speakers", "1", "--beam-size", "1"]}
    got: dict[str, list] = {k: [] for k in commands}
    for _ in range(runs):
        for name, cmd in commands.items():
            got[name].append(timed(cmd))
    med = {k: (statistics.median(w for w, _ in v), statistics.median(r for _, r in v)) for k, v in got.items()}
    out = {"beam": width} | {f"{k}_s": round(v[0], 2) for k, v in med.items()}
    out |= {f"{k}_rss_mb": round(v[1]) for k, v in med.items()}
    out["segment_ratio"] = round(med["segment"][0] / med["bare"][0], 3)
    out["diarized_ratio"] = round(med["diarized"][0] / med["bare"][0], 3)
    if width != 1:
        out["segment_greedy_ratio"] = round(med["segment_greedy"][0] / med["bare_greedy"][0], 3)
    out["runs"] = {k: [round(w, 2) for w, _ in v] for k, v in got.items()}
    return out


def profile(path: Path, model: str) -> dict:
    """One diarized run in this process, with its stages timed (wrapping the functions that do them)."""
    import callphase
    from callphase import audio, models, speakers, vad
    from callphase.asr import local

    spent: dict[str, float] = {}
    counts = {"encoder_passes": 0}

    def timer(owner, name, stage, count=None):
        inner = getattr(owner, name)

        def wrapped(*a, **k):
            t = time.perf_counter()
            try:
                return inner(*a, **k)
            finally:
                spent[stage] = spent.get(stage, 0.0) + time.perf_counter() - t
                if count:
                    counts[count] += 1
        setattr(owner, name, wrapped)

    # _Counted passes these through __getattr__: give it methods of its own to wrap
    for name in ("generate", "align"):
        setattr(local._Counted, name, (lambda n: lambda self, *a, **k: getattr(self._model, n)(*a, **k))(name))
    timer(local._Counted, "encode", "encoder", "encoder_passes")
    timer(local._Counted, "generate", "decoder")
    timer(local._Counted, "align", "alignment")
    timer(vad, "speech_regions", "vad")
    timer(models, "new_whisper", "whisper load")
    timer(speakers.SpeakerEmbedder, "embed", "speakers")
    timer(speakers, "diarize", "speakers")
    blocks = audio.blocks

    def timed_blocks(*a, **k):
        it = blocks(*a, **k)
        while True:
            t = time.perf_counter()
            try:
                block = next(it)
            except StopIteration:
                return
            finally:
                spent["decode"] = spent.get("decode", 0.0) + time.perf_counter() - t
            yield block

    import callphase.transcribe as tr

    tr.blocks = timed_blocks
    result = callphase.analyze(path, PHASES, {"asr": {"model": model}, "llm": {"backend": "none"}})
    recognition = result.timings["transcribe"]
    known = sum(v for k, v in spent.items())
    minutes = result.transcript.duration / 60
    return {"audio_s": round(result.transcript.duration, 1), "stages_s": {
        **{k: round(v, 2) for k, v in sorted(spent.items())},
        "other recognition": round(recognition - known, 2),
        "segment": round(result.timings["segment"], 2), "summaries": round(result.timings["summarize"], 2)},
        "encoder_passes": counts["encoder_passes"],
        "encoder_passes_per_minute": round(counts["encoder_passes"] / minutes, 2), "language": result.transcript.language}


def import_times() -> dict:
    """The modules `callphase --help` and a --no-llm run import, and the heaviest (with what they import)."""
    out = {}
    for label, code in (("callphase --help", "import sys; sys.argv=['callphase','--help']; from callphase.cli import app\n"
                                             "try:\n app()\nexcept SystemExit: pass"),
                        ("segment --no-llm imports", "import callphase, callphase.cli, callphase.transcribe, "
                                                     "callphase.asr.local, callphase.segment.embedding")):
        t = time.perf_counter()
        r = subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True, check=True)
        wall = time.perf_counter() - t
        rows = []
        for line in r.stderr.splitlines():
            parts = line.split("|")
            if len(parts) == 3 and parts[0].strip().startswith("import time:") and parts[1].strip().isdigit():
                rows.append((int(parts[1]), parts[2].strip()))
        top = sorted(rows, reverse=True)[:8]
        out[label] = {"wall_s": round(wall, 2), "modules": len(rows),
                      "heaviest_cumulative_ms": {name: round(us / 1000, 1) for us, name in top}}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="base")
    ap.add_argument("--cases", default="demo,5min,pyannote,hold")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--profile-only", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.profile_only:
        print(json.dumps(profile(Path(args.profile_only), args.model)))
        return
    rows = {}
    for case in args.cases.split(","):
        path = CASES[case]()
        row = ratios(path, args.model, args.runs)
        child = subprocess.run([sys.executable, __file__, "--profile-only", str(path), "--model", args.model],
                               capture_output=True, text=True, check=True)
        row["profile"] = json.loads(child.stdout.strip().splitlines()[-1])
        rows[case] = row
        print(case, json.dumps(row), flush=True)
    rows["imports"] = import_times()
    print(json.dumps(rows["imports"], indent=1))
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"pipeline-{args.model}.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
