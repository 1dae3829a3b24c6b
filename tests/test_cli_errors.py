"""Every bad input: exactly one `error:` line on stderr, exit code 2, no traceback, nothing on stdout."""
import json
import subprocess
import sys

import numpy as np
import pytest

from callphase.evaluation.synth import write_audio


def run_cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "callphase", *map(str, args)], capture_output=True, text=True, cwd=cwd)


@pytest.fixture(scope="module")
def files(tmp_path_factory):

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
    (d / "card.vtt").write_text("WEBVTT\n\n00:00:00.000 --> 00:00:02.000\n<v Agent>Hello, how can I help?\n")
    (d / "latin1.yaml").write_bytes("- {name: Begrüßung}\n".encode("latin-1"))
    (d / "folder.yaml").mkdir()
    (d / "badbool.yaml").write_text("phases: [A, B]\nordered: maybe\n")
    (d / "long.json").write_text(json.dumps([{"name": "A", "description": "word " * 40_000}, "B"]))
    (d / "notstar.jsonl").write_text("this is not JSON\n")
    wav = write_audio((0.3 * np.sin(2 * np.pi * 300 * t))[None].astype(np.float32), 8000, d / "good.wav").read_bytes()
    (d / "truncated.wav").write_bytes(wav[: len(wav) // 2])  # as `head -c` cuts it
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
    # issue 15: each of these was a traceback, a wrong answer or a silent acceptance
    (["segment", "truncated.wav", "--phases", "A,B"], "truncated.wav looks truncated: its header says 20.0 s"),
    (["segment", "good.mp3", "--phases", "A,B", "--language", "xx"], "unknown language code 'xx'"),
    (["segment", "card.vtt", "--phases", "A,B", "--segmenter", "llm", "--llm", "openai:m", "--llm-base-url", "not a url"],
     "is not an http(s) URL"),
    (["segment", "card.vtt", "--phases", "A,B", "--llm", "openai:m", "--llm-base-url", "not a url"], "(--llm-base-url)"),
    (["segment", "card.vtt", "--phases-file", "latin1.yaml"], "is not UTF-8 text"),
    (["segment", "card.vtt", "--phases-file", "folder.yaml"], "is a folder, not a file"),
    (["segment", "card.vtt", "--phases-file", "badbool.yaml"], "ordered: Input should be a valid boolean"),
    (["segment", "card.vtt", "--phases-file", "long.json"], "at most 1000"),
    (["segment", "card.vtt", "--phases", "Introduction,introduction"], "phase names repeat (case does not count)"),
    (["segment", "card.vtt", "--phases", "A,other"], "is reserved for speech that fits no phase"),
    (["segment", "card.vtt", "--phases", "A,B", "--out", "card.vtt"], "is a file, not a folder"),
    (["segment", "card.vtt", "--phases", "A,B", "--other", "a"], "'A' is taken"),
    (["eval", "--star", "notstar.jsonl"], "line 1 is not a STAR dialogue"),
    (["segment", ".", "--phases", "A,B"], "not a file"),
])
def test_bad_input_is_one_clear_line_and_exit_2(files, args, message):
    """Every case: exit 2, one `error:` line that says what is wrong, no traceback, nothing on stdout."""
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
