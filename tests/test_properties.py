"""Properties over generated input (hypothesis): captions survive a round trip whatever their text and times,
the validator turns any labels into valid phases, and no phase file makes the reader fail other than with a
PhaseSpecError."""
import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from callphase.captions import parse_srt, parse_vtt, to_srt, to_vtt
from callphase.errors import PhaseSpecError
from callphase.segment import check, validate
from callphase.types import PhaseSpec, Transcript, Utterance

# any printable text: no control characters (a caption line cannot hold them), no lone surrogates
TEXT = st.text(st.characters(blacklist_categories=("Cc", "Cs", "Cf", "Zl", "Zp")), min_size=1, max_size=80).filter(
    lambda s: s.split())
NAME = st.text(string.ascii_letters + string.digits + " '-&<>", min_size=1, max_size=12).filter(lambda s: s.strip())
MS = st.integers(0, 10_000_000)  # times in whole milliseconds, as captions hold them


@st.composite
def transcripts(draw, text=TEXT, speaker=st.none() | NAME):
    cues = []
    for _ in range(draw(st.integers(1, 8))):
        start = draw(MS)
        cues.append((start, start + draw(st.integers(0, 30_000)), draw(text), draw(speaker)))
    cues.sort(key=lambda c: (c[0], c[1]))
    utts = [Utterance(index=i, start=s / 1000, end=e / 1000, text=t, speaker=sp) for i, (s, e, t, sp) in enumerate(cues)]
    return Transcript(duration=max(u.end for u in utts), utterances=utts)


def same(back: Transcript, original: Transcript) -> None:
    assert [(u.start, u.end) for u in back.utterances] == [(u.start, u.end) for u in original.utterances]
    assert [u.text for u in back.utterances] == [" ".join(u.text.split()) for u in original.utterances]
    assert [u.speaker for u in back.utterances] == [" ".join(u.speaker.split()) if u.speaker else None
                                                     for u in original.utterances]


@settings(max_examples=300, deadline=None)
@given(transcripts())
def test_vtt_round_trip_keeps_any_text_speaker_and_time(t):
    same(parse_vtt(to_vtt(t)), t)


# SRT has no escapes: its text must not look like markup or an entity, and a line that starts like a
# speaker prefix ("[x] ...") would read as one; with every cue's speaker given, any other text survives.
SRT_TEXT = TEXT.filter(lambda s: "<" not in s and "&" not in s)
SRT_NAME = NAME.filter(lambda s: "]" not in s and "<" not in s and "&" not in s)


@settings(max_examples=300, deadline=None)
@given(transcripts(text=SRT_TEXT, speaker=SRT_NAME))
def test_srt_round_trip_keeps_text_speaker_and_time(t):
    same(parse_srt(to_srt(t)), t)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), ordered=st.booleans(), require_all=st.booleans(), names=st.integers(1, 5))
def test_any_labels_become_valid_phases(data, ordered, require_all, names):
    spec = PhaseSpec.parse([f"P{i}" for i in range(names)], ordered=ordered, require_all=require_all)
    t = data.draw(transcripts(text=st.just("words said")))
    t.duration = data.draw(st.floats(t.duration, t.duration + 100))
    # anything a backend might return: allowed names, unknown ones, wrong types, too few or too many
    label = st.sampled_from(spec.allowed) | st.text(max_size=5) | st.none() | st.integers()
    labels = data.draw(st.lists(label, max_size=len(t.utterances) + 2))
    confidence = data.draw(st.none() | st.lists(st.floats(allow_nan=True), min_size=len(labels), max_size=len(labels)))
    seg = validate(t, spec, labels=labels, confidence=confidence)
    assert check(seg, t, spec) == []


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=st.binary(max_size=300) | st.text(max_size=300).map(str.encode), suffix=st.sampled_from([".yaml", ".json"]))
def test_any_phase_file_is_read_or_refused_with_a_phase_error(tmp_path, content, suffix):
    path = tmp_path / f"phases{suffix}"
    path.write_bytes(content)
    try:
        spec = PhaseSpec.from_file(path)
    except PhaseSpecError as e:
        assert str(e)
    else:
        assert spec.phases and all(p.name for p in spec.phases)
