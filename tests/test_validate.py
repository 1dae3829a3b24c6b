"""The validator must turn anything a backend returns into phases that keep every invariant."""
import math

import numpy as np
import pytest

from callphase.segment.validate import best_path, check, phases_from_labels, repair_labels, validate
from callphase.types import Phase, PhaseSpec, Segmentation, Transcript, Utterance

SPEC = PhaseSpec.parse("Introduction,Complaint,Resolution,Goodbye")


def make_transcript(n=8, gap=1.0, length=4.0, duration=None):
    utts = [Utterance(index=i, start=1.0 + i * (length + gap), end=1.0 + i * (length + gap) + length, text=f"u{i}") for i in range(n)]
    return Transcript(duration=duration or (utts[-1].end + 2.0 if utts else 10.0), utterances=utts)


T = make_transcript()


def names(seg):
    return [p.name for p in seg.phases]


def test_clean_labels_become_contiguous_phases_on_utterance_starts():
    labels = ["Introduction"] * 2 + ["Complaint"] * 3 + ["Resolution"] * 2 + ["Goodbye"]
    seg = validate(T, SPEC, labels=labels)
    assert names(seg) == SPEC.names
    assert seg.phases[0].start_time == 0.0 and seg.phases[-1].end_time == T.duration
    assert [p.start_time for p in seg.phases[1:]] == [T.utterances[i].start for i in (2, 5, 7)]
    assert seg.repairs == [] and check(seg, T, SPEC) == []
    assert (seg.phases[1].first_utterance, seg.phases[1].last_utterance) == (2, 4)


@pytest.mark.parametrize(
    "raw, expect_repair",
    [
        # overlapping phases
        ([{"name": "Introduction", "start_time": 0, "end_time": 20}, {"name": "Complaint", "start_time": 10, "end_time": 50}], "overlap"),
        # gaps between phases, and the call's end left uncovered
        ([{"name": "Introduction", "start_time": 0, "end_time": 3}, {"name": "Resolution", "start_time": 20, "end_time": 25}], "nearest"),
        # unknown names
        ([{"name": "Chit-chat", "start_time": 0, "end_time": 100}], "unknown phase"),
        # reversed times
        ([{"name": "Complaint", "start_time": 30, "end_time": 5}, {"name": "Goodbye", "start_time": 30, "end_time": 50}], "swapped"),
        # out of range
        ([{"name": "Introduction", "start_time": -50, "end_time": 12}, {"name": "Goodbye", "start_time": 12, "end_time": 9999}], "clipped"),
        # out of order
        ([{"name": "Goodbye", "start_time": 0, "end_time": 20}, {"name": "Introduction", "start_time": 20, "end_time": 50}], "order"),
        # empty
        ([], ""),
        # garbage entries and types
        ([None, "x", {"name": "Complaint"}, {"name": "Complaint", "start_time": "a", "end_time": 3},
          {"name": "Complaint", "start_time": math.nan, "end_time": 3}, {"name": 7, "start_time": 0, "end_time": 50}], "dropped"),
        # not even a list
        ({"phases": "nope"}, "no phase list"),
    ],
)
def test_adversarial_backend_output_is_repaired_to_valid_phases(raw, expect_repair):
    seg = validate(T, SPEC, phases=raw)
    assert check(seg, T, SPEC) == []
    assert all(p.name in SPEC.allowed for p in seg.phases)
    if expect_repair:
        assert any(expect_repair in r for r in seg.repairs), seg.repairs


def test_case_and_space_variants_of_names_are_read_not_discarded():
    seg = validate(T, SPEC, phases=[{"name": "  introduction ", "start_time": 0, "end_time": 16}, {"name": "GOODBYE", "start_time": 16, "end_time": 60}])
    assert names(seg) == ["Introduction", "Goodbye"]


def test_out_of_order_labels_change_as_few_as_possible():
    labels = ["Introduction", "Introduction", "Complaint", "Introduction", "Complaint", "Resolution", "Goodbye", "Goodbye"]
    fixed, repairs = repair_labels(labels, SPEC)
    assert sum(a != b for a, b in zip(labels, fixed)) == 1
    assert fixed[3] in ("Complaint", "Other") or fixed[2] == "Introduction"
    assert any("order" in r for r in repairs)


def test_other_may_interrupt_and_a_phase_may_resume_when_ordered():
    labels = ["Introduction", "Complaint", "Other", "Other", "Complaint", "Resolution", "Goodbye", "Goodbye"]
    seg = validate(T, SPEC, labels=labels)
    assert names(seg) == ["Introduction", "Complaint", "Other", "Complaint", "Resolution", "Goodbye"]
    assert seg.repairs == []


def test_unordered_spec_keeps_repeats_and_any_order():
    spec = PhaseSpec.parse("Introduction,Complaint,Resolution,Goodbye", ordered=False)
    labels = ["Goodbye", "Complaint", "Complaint", "Resolution", "Complaint", "Introduction", "Introduction", "Goodbye"]
    seg = validate(T, spec, labels=labels)
    assert names(seg) == ["Goodbye", "Complaint", "Resolution", "Complaint", "Introduction", "Goodbye"]
    assert check(seg, T, spec) == []


def test_empty_transcript_is_one_other_phase_over_the_whole_call():
    t = Transcript(duration=12.5, utterances=[])
    seg = validate(t, SPEC, labels=[])
    assert [(p.name, p.start_time, p.end_time) for p in seg.phases] == [("Other", 0.0, 12.5)]


def test_utterances_sharing_a_start_or_past_the_end_never_make_empty_phases():
    utts = [Utterance(index=0, start=0.0, end=2, text="a"), Utterance(index=1, start=0.0, end=3, text="b"),
            Utterance(index=2, start=5.0, end=6, text="c"), Utterance(index=3, start=5.0, end=7, text="d"),
            Utterance(index=4, start=11.0, end=12, text="e")]
    t = Transcript(duration=10.0, utterances=utts)  # the last utterance lies past the end (ASR time drift)
    seg = validate(t, SPEC, labels=["Introduction", "Complaint", "Complaint", "Resolution", "Goodbye"])
    assert check(seg, t, SPEC) == []
    assert seg.phases[-1].end_time == 10.0


def test_wrong_number_of_labels_is_repaired_and_said():
    seg = validate(T, SPEC, labels=["Introduction"] * 3)
    assert check(seg, T, SPEC) == [] and "padded or cut" in seg.repairs[0]


def test_check_reports_each_broken_invariant():
    bad = Segmentation(phases=[
        Phase(name="Complaint", start_time=1.0, end_time=10.0),
        Phase(name="Nope", start_time=11.0, end_time=10.5),
        Phase(name="Introduction", start_time=10.5, end_time=20.0),
        Phase(name="Introduction", start_time=20.0, end_time=30.0),
    ])
    problems = " | ".join(check(bad, T, SPEC))
    for expected in ("not allowed", "empty or reversed", "previous ends", "not an utterance start",
                     "same name", "not 0", "call's end", "order"):
        assert expected in problems, expected
    assert check(Segmentation(phases=[]), T, SPEC) == ["no phases"]


def test_random_labellings_always_validate():
    rng = np.random.default_rng(0)
    for trial in range(200):
        n = int(rng.integers(0, 12))
        t = make_transcript(n=n, gap=float(rng.choice([0.0, 0.5])), length=float(rng.uniform(0.1, 3)))
        ordered = bool(trial % 2)
        spec = PhaseSpec.parse(["A", "B", "C"], ordered=ordered)
        labels = list(rng.choice(["A", "B", "C", "Other", "bogus"], size=n))
        seg = validate(t, spec, labels=labels)
        assert check(seg, t, spec) == [], (labels, seg)


def test_best_path_respects_order_and_switch_cost():
    scores = np.array([[0, 1, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], float)  # columns: A, B, Other
    assert best_path(scores, ordered=True) in ([1, 1, 1, 2], [0, 1, 1, 2], [0, 0, 1, 2], [1, 2, 1, 2])
    path = best_path(scores, ordered=True)
    order = [j for j in path if j < 2]
    assert order == sorted(order)
    assert best_path(scores, ordered=False) == [1, 0, 1, 2]
    assert best_path(scores, ordered=False, switch_cost=5) in ([0] * 4, [1] * 4, [2] * 4)


def test_phases_from_labels_rejects_a_length_mismatch():
    with pytest.raises(ValueError):
        phases_from_labels(T, ["Introduction"], SPEC)


def test_skip_cost_keeps_a_weak_phase_instead_of_passing_over_it():
    # phase B is never the best label, but it is only slightly worse than A on utterances 2-3
    scores = np.array([[1, 0, 0, -9], [1, 0, 0, -9], [1, 0.9, 0, -9], [1, 0.9, 0, -9], [0, 0, 1, -9], [0, 0, 1, -9]], float)
    assert best_path(scores, ordered=True) == [0, 0, 0, 0, 2, 2]
    # with the cost, B takes the one utterance where it loses least (5.9 beats 5.8 for two, 6 - 1 for none)
    assert best_path(scores, ordered=True, skip_cost=1.0) == [0, 0, 0, 1, 2, 2]
    # passing over phases at the start or the end costs too
    first_missing = np.array([[0.0, 1, -9], [0.0, 1, -9]])
    assert best_path(first_missing, ordered=True) == [1, 1]
    assert best_path(first_missing, ordered=True, skip_cost=2.0)[0] == 0
