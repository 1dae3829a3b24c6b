"""The default path runs on any x86-64 CPU with AVX2: every native stage, once, under QEMU's emulation of
a Haswell CPU (AVX2 and FMA, no AVX-512). A library that was built for the CPU of its build machine
(`-march=native`) dies there with SIGILL, even when this host has AVX-512. See tests/cpu_guard.py."""
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from callphase import speakers as spk
from callphase.evaluation.synth import render_call, write_audio

GUARD = Path(__file__).parent / "cpu_guard.py"
pytestmark = pytest.mark.skipif(
    platform.machine() != "x86_64" or shutil.which("qemu-x86_64") is None,
    reason="needs an x86-64 host and qemu-x86_64 (Debian's qemu-user; make test installs it)",
)


@pytest.mark.skipif(not spk.embedder_available(), reason="speaker model not installed")
def test_every_native_stage_runs_on_a_cpu_without_avx512(tmp_path):
    from conftest import CARD_CALL

    call = render_call(CARD_CALL[:1], seed=1)
    path = write_audio(call.samples[:, : 2 * call.sample_rate], call.sample_rate, tmp_path / "two_seconds.mp3")
    out = subprocess.run(["qemu-x86_64", "-cpu", "Haswell", sys.executable, "-u", str(GUARD), str(path)],
                         capture_output=True, text=True, timeout=1500)
    ran = [line for line in out.stdout.splitlines() if line.startswith("stage")]
    assert out.returncode == 0, f"died with {out.returncode} after: {ran[-1:]}\n{out.stderr[-2000:]}"
    assert "all stages ran" in out.stdout, out.stdout
