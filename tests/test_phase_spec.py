"""Phase lists from strings, lists, YAML and JSON files."""
import pytest

from callphase.errors import PhaseSpecError
from callphase.types import PhaseSpec


def test_comma_string_and_lists():
    assert PhaseSpec.parse("Introduction, Complaint ,Goodbye").names == ["Introduction", "Complaint", "Goodbye"]
    spec = PhaseSpec.parse([{"name": "Intro", "description": "hello"}, "Outro"])
    assert [(p.name, p.description) for p in spec.phases] == [("Intro", "hello"), ("Outro", "")]
    assert spec.allowed == ["Intro", "Outro", "Other"] and spec.ordered


def test_yaml_and_json_files(tmp_path):
    (tmp_path / "p.yaml").write_text("- name: Introduction\n  description: greeting\n- Goodbye\n")
    (tmp_path / "p.json").write_text('{"phases": [{"name": "A"}, {"name": "B"}], "ordered": false}')
    assert PhaseSpec.from_file(tmp_path / "p.yaml").phases[0].description == "greeting"
    spec = PhaseSpec.from_file(tmp_path / "p.json")
    assert spec.names == ["A", "B"] and not spec.ordered


@pytest.mark.parametrize("value, message", [
    ("", "empty"), ([], "empty"), (["A", "A"], "repeat"), (["Other"], "reserved"),
    ([{"description": "x"}], "needs a 'name'"), (42, "must be a list"), ([""], "empty"),
])
def test_bad_phase_lists(value, message):
    with pytest.raises(PhaseSpecError, match=message):
        PhaseSpec.parse(value)


def test_require_all_from_a_file(tmp_path):
    (tmp_path / "p.yaml").write_text("require_all: true\nphases: [A, B]\n")
    assert PhaseSpec.from_file(tmp_path / "p.yaml").require_all
    assert not PhaseSpec.parse("A,B").require_all
