"""Render src/callphase/demo/call.yaml into call.mp3 and call.truth.json beside it (needs espeak-ng and
sox). The three files ship inside the package; `callphase demo` reads them through importlib.resources."""
import json
from pathlib import Path

import yaml

from callphase.evaluation.synth import render_call, write_audio

here = Path(__file__).resolve().parents[1] / "src" / "callphase" / "demo"
script = yaml.safe_load((here / "call.yaml").read_text())
call = render_call(script["turns"], seed=7)
write_audio(call.samples, call.sample_rate, here / "call.mp3")
truth = {"phases_spec": script["phases"], **call.truth()}
(here / "call.truth.json").write_text(json.dumps(truth, indent=1) + "\n")
print(f"demo call: {call.duration:.1f} s, {len(call.turns)} turns")
for p in truth["phases"]:
    print(f"  {p['name']:<13} {p['start_time']:6.2f} - {p['end_time']:6.2f}")
