"""Evaluation: metrics on hand-checked cases, the STAR labelling rule, the split, and `callphase eval`."""
import json
import subprocess
import sys

import pytest

from callphase.evaluation.datasets import (
    action_phase,
    fill_labels,
    gold_from_labels,
    split_of,
    spoken_items,
    star_dialogues,
    text_items,
)
from callphase.evaluation.metrics import (
    boundary_mae,
    pk,
    time_accuracy,
    utterance_accuracy,
    window_diff,
    window_k,
    word_error_rate,
)

GOLD = list("AAAABBBBCCCC")


def test_pk_and_window_diff_hand_checked():
    assert window_k(GOLD) == 2  # segments of 4 utterances
    assert pk(GOLD, GOLD) == 0 and window_diff(GOLD, GOLD) == 0
    shifted = list("AAAAABBBBCCC")  # both boundaries one utterance late
    # pairs (i, i+2), i = 0..9: the labellings disagree at i = 2, 4, 6, 8 (counted by hand): 4 of 10
    assert pk(shifted, GOLD) == pytest.approx(0.4)
    assert window_diff(shifted, GOLD) == pytest.approx(0.4)
    one_segment = list("A" * 12)
    assert pk(one_segment, GOLD) == pytest.approx(0.4)  # the 4 pairs that straddle a gold boundary
    # a repeated phase is a new segment: splitting an A run with a boundary is an error
    assert pk(list("AABBAABBCCCC"), list("AAAAAAAACCCC")) > 0


def test_utterance_and_time_accuracy_and_boundaries():
    assert utterance_accuracy(list("AABB"), list("ABBB")) == 0.75
    gold = [{"name": "A", "start_time": 0, "end_time": 10}, {"name": "B", "start_time": 10, "end_time": 20}]
    pred = [{"name": "A", "start_time": 0, "end_time": 12}, {"name": "B", "start_time": 12, "end_time": 20}]
    assert time_accuracy(pred, gold) == pytest.approx(0.9)
    assert boundary_mae(pred, gold) == pytest.approx(2.0)
    assert word_error_rate("the cat sat", "the cat sat down") == pytest.approx(0.25)
    assert word_error_rate("The, cat!", "the cat") == 0


def test_labelling_rule():
    turns = [
        {"speaker": "customer", "phase": None},   # answered by the next agent turn: verification
        {"speaker": "agent", "phase": "verification"},
        {"speaker": "customer", "phase": None},   # next agent turn is unlabelled: it continues verification
        {"speaker": "agent", "phase": None},
        {"speaker": "customer", "phase": None},   # answered by problem
        {"speaker": "agent", "phase": "problem"},
        {"speaker": "customer", "phase": None},   # after the last agent turn: the phase before
    ]
    assert fill_labels(turns) == ["verification"] * 4 + ["problem"] * 3
    assert fill_labels([{"speaker": "customer", "phase": None}]) == [None]


def test_labelling_rule_0_reads_actions_the_heuristic_missed():
    """A booking confirmation after "May I have your name?" is the resolution, not more verification, and a
    bare "Goodbye!" (ride_bye) closes the call; free-text agent turns still continue the phase before."""
    turns = [
        {"speaker": "agent", "action": "hotel_ask_name", "phase": "verification"},
        {"speaker": "customer", "action": None, "phase": None},
        {"speaker": "agent", "action": "hotel_reservation_succeeded", "phase": None},
        {"speaker": "customer", "action": None, "phase": None},
        {"speaker": "agent", "action": "custom", "phase": None},
        {"speaker": "customer", "action": None, "phase": None},
        {"speaker": "agent", "action": "ride_bye", "phase": None},
    ]
    assert fill_labels(turns) == ["verification", "resolution", "resolution", "resolution", "resolution",
                                  "closing", "closing"]
    assert action_phase("plane_request_optional") == "problem"
    assert action_phase("ask_departure_location") == "problem"
    assert action_phase("hotel_inform_price") is None  # STAR labels these itself
    assert action_phase("out_of_scope") is None and action_phase(None) is None


def test_gold_phases_are_contiguous_from_zero():
    gold = gold_from_labels([0.5, 2.0, 4.0, 6.0], ["Greeting", "Problem", "Problem", "Closing"], 8.0)
    assert gold == [{"name": "Greeting", "start_time": 0.0, "end_time": 2.0},
                    {"name": "Problem", "start_time": 2.0, "end_time": 6.0},
                    {"name": "Closing", "start_time": 6.0, "end_time": 8.0}]


@pytest.fixture
def star_file(tmp_path):
    """A small STAR-shaped file: ordered, interleaved, single-phase and unlabelled dialogues."""
    def turn(speaker, text, phase=None):
        return {"speaker": speaker, "text": text, "action": None, "phase": phase}

    rows = []
    for i in range(1, 13):
        rows.append({"id": i, "domains": ["bank" if i % 2 else "hotel"], "happy": True, "turns": [
            turn("agent", "Hello, how can I help you?", "greeting"),
            turn("customer", "I want to check my balance."),
            turn("agent", "Could I have your name and account number?", "verification"),
            turn("customer", "Anna Lopez, account four four seven."),
            turn("agent", "Your balance is two hundred dollars.", "resolution"),
            turn("customer", "Thanks."),
            turn("agent", "Is there anything else? Goodbye.", "closing"),
        ]})
    rows.append({"id": 14, "domains": ["bank"], "happy": True, "turns": [  # interleaved: left out
        turn("agent", "What is wrong?", "problem"), turn("agent", "Your name?", "verification"),
        turn("agent", "And what else is wrong?", "problem")]})
    rows.append({"id": 16, "domains": ["bank"], "happy": True, "turns": [turn("customer", "hi")]})  # no label
    path = tmp_path / "star.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def test_sets_keep_ordered_dialogues_and_split_by_id(star_file):
    kept = [d["id"] for d in star_dialogues(path=star_file)]
    assert kept == list(range(1, 13))
    assert [d["id"] for d in star_dialogues("test", star_file)] == [3, 8]
    assert split_of(3) == "test" and split_of(4) == "dev"
    item = text_items("test", path=star_file)[0]
    # "Thanks." is answered by the closing turn, so it is Closing
    assert item.gold_labels == ["Greeting", "Verification", "Verification", "Resolution", "Resolution", "Closing", "Closing"]
    assert item.gold_phases[0]["start_time"] == 0 and item.gold_phases[-1]["end_time"] == item.transcript.duration


def test_eval_command_reports_every_metric(star_file, tmp_path):
    report = tmp_path / "report.json"
    result = subprocess.run([sys.executable, "-m", "callphase", "eval", "--star", str(star_file), "--by-domain",
                             "--phase-model", "star", "--out", str(report)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["dev"]["calls"] == 10 and summary["test"]["calls"] == 2
    for part in ("dev", "test"):
        assert summary[part]["validity"] == 1.0
        assert set(summary[part]) >= {"utterance_accuracy", "time_accuracy", "boundary_mae", "pk", "window_diff", "seconds_per_call"}
    # these dialogues are easy: the STAR phase model gets most utterances right
    assert summary["dev"]["utterance_accuracy"] >= 0.7
    full = json.loads(report.read_text())
    assert set(full["reports"]["dev"]["by_domain"]) == {"bank", "hotel"}
    assert len(full["reports"]["dev"]["items"]) == 10
    assert "boundary MAE" in result.stderr  # the table


def test_eval_command_reports_an_empty_split_without_failing(star_file, tmp_path):
    dev_only = tmp_path / "dev_only.jsonl"
    dev_only.write_text("".join(line + "\n" for line in star_file.read_text().splitlines()
                                if json.loads(line)["id"] % 5 != 3))
    result = subprocess.run([sys.executable, "-m", "callphase", "eval", "--star", str(dev_only), "--split", "test"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["test"]["calls"] == 0


def test_eval_command_scores_auto_chapters():
    from callphase.evaluation.datasets import star_path

    if not star_path().is_file():
        pytest.skip("needs the STAR file (../shared/data/star_dev.jsonl or $CALLPHASE_STAR)")
    result = subprocess.run([sys.executable, "-m", "callphase", "eval", "--set", "star-chapters", "--split", "dev",
                             "--limit", "2", "-q"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    dev = json.loads(result.stdout)["dev"]
    assert dev["calls"] == 2 and dev["gold_chapters"] == 4 and 0 <= dev["pk"] <= 1 and dev["chapters"] >= 1


def test_eval_command_rejects_a_missing_set(tmp_path):
    result = subprocess.run([sys.executable, "-m", "callphase", "eval", "--star", str(tmp_path / "none.jsonl")],
                            capture_output=True, text=True)
    assert result.returncode == 2 and result.stderr.startswith("error: STAR data not found")


def test_spoken_set_renders_transcribes_and_keeps_turn_times(star_file, tmp_path):
    """The spoken set: a real espeak-ng render of each dialogue through tiny.en; the cache keeps the turn times,
    so gold phases follow the labelling rule of the day, and a cache from before (gold, no turn times) is
    brought up to date by rendering again, keeping its transcript."""
    cache = tmp_path / "cache"
    item = spoken_items("test", limit=1, cache_dir=cache, path=star_file)[0]
    assert item.id == "3"
    words = " ".join(u.text for u in item.transcript.utterances).lower()
    assert "how can i help" in words and "goodbye" in words  # tiny.en on espeak at 8 kHz: the rest is rough
    saved = json.loads((cache / "star-3-tiny-vad.json").read_text())
    assert len(saved["turns"]) == 7 and "gold" not in saved
    assert [p["name"] for p in item.gold_phases] == ["Greeting", "Verification", "Resolution", "Closing"]
    # gold phases start where their first turn starts (Verification: the customer's request it answers)
    assert item.gold_phases[1]["start_time"] == pytest.approx(saved["turns"][1][0], abs=1e-3)
    assert len(item.gold_labels) == len(item.transcript.utterances)
    assert item.gold_labels[0] == "Greeting" and item.gold_labels[-1] == "Closing"

    # an old cache: marked transcript, stale gold, no turn times
    old = dict(saved, gold=[{"name": "Greeting", "start_time": 0.0, "end_time": 1.0}])
    del old["turns"]
    old["transcript"]["utterances"][0]["text"] = "MARKED"
    (cache / "star-3-tiny-vad.json").write_text(json.dumps(old))
    again = spoken_items("test", limit=1, cache_dir=cache, path=star_file)[0]
    assert again.transcript.utterances[0].text == "MARKED"  # not transcribed again
    assert again.gold_phases == item.gold_phases
    assert json.loads((cache / "star-3-tiny-vad.json").read_text())["turns"] == saved["turns"]
