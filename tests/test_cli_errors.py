"""Every bad input: exactly one `error:` line on stderr, exit code 2, no traceback, nothing on stdout."""
import subprocess
import sys

import pytest

from callphase.evaluation.synth import write_audio


def run_cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "callphase", *map(str, args)], capture_output=True, text=True, cwd=cwd)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    import numpy as np

    d = tmp_path_factory.mktemp("bad")
    t = np.arange(8000 * 20) / 8000
    good = write_audio((0.3 * np.sin(2 * np.pi * 300 * t))[None].astype(np.float32), 8000, d / "good.mp3")
    (d / "empty.mp3").write_bytes(b"")
    (d / "notes.mp3").write_text("meeting notes, not audio\n" * 40)
    (d / "truncated.mp3").write_bytes(good.read_bytes()[: good.stat().st_size // 3])
    (d / "phases.txt").write_text("Introduction\nGoodbye\n")
    (d / "phases.yaml").write_text("- {name: Introduction\n")
    (d / "empty.yaml").write_text("")
    (d / "noname.json").write_text('[{"description": "no name"}]')
    (d / "bad.vtt").write_text("WEBVTT\n\n00:00:09.000 --> 00:00:02.000\nbackwards\n")
    return d


@pytest.mark.parametrize("args, message", [
    (["segment", "missing.mp3", "--phases", "A,B"], "no such file"),
    (["segment", "empty.mp3", "--phases", "A,B"], "file is empty"),
    (["segment", "notes.mp3", "--phases", "A,B"], "cannot read notes.mp3 as audio"),
    (["segment", "truncated.mp3", "--phases", "A,B"], "truncated"),
    (["segment", "good.mp3", "--phases-file", "phases.txt"], "unknown phase file format '.txt'"),
    (["segment", "good.mp3", "--phases-file", "phases.yaml"], "cannot parse phase file"),
    (["segment", "good.mp3", "--phases-file", "empty.yaml"], "is empty"),
    (["segment", "good.mp3", "--phases-file", "noname.json"], "needs a 'name'"),
    (["segment", "good.mp3", "--phases-file", "missing.json"], "phase file not found"),
    (["segment", "good.mp3", "--phases", ""], "the phase list is empty"),
    (["segment", "good.mp3", "--phases", " , ,"], "the phase list is empty"),
    (["segment", "good.mp3", "--phases", "A,A"], "phase names repeat"),
    (["segment", "good.mp3", "--phases", "A,B", "--segmenter", "magic"], "unknown segmenter 'magic': use embedding, llm, hybrid (--segmenter)"),
    (["segment", "bad.vtt", "--phases", "A,B"], "ends before it starts"),
    (["segment", "good.mp3", "--phases", "A,B", "--model", "/no/such/dir"], "no such model directory: /no/such/dir (--model)"),
    (["transcribe", "notes.mp3"], "cannot read notes.mp3 as audio"),
])
def test_bad_input_is_one_clear_line_and_exit_2(files, args, message):
    result = run_cli(*args, cwd=files)
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_json_mode_reports_errors_as_json(files):
    import json

    result = run_cli("segment", "empty.mp3", "--phases", "A", "--json", cwd=files)
    assert result.returncode == 2
    assert json.loads(result.stderr) == {"event": "error", "message": "file is empty: empty.mp3"}
