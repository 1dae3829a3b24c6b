"""Phone audio and speakers: stereo split per channel, mono diarization, VAD and non-speech, roles,
per-speaker metrics, long files in blocks, bad channel layouts. Real espeak audio, real models."""
import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import CARD_CALL, DISTINCT_VOICES

from callphase import speakers as spk
from callphase.audio import blocks, decode
from callphase.captions import parse_srt, parse_vtt
from callphase.errors import AudioError, CallphaseError
from callphase.evaluation.metrics import diarization_error_rate
from callphase.evaluation.synth import render_call, write_audio
from callphase.options import ASROptions, SpeakerOptions
from callphase.segment import check, segment
from callphase.talk import call_metrics
from callphase.transcribe import transcribe_file
from callphase.types import PhaseSpec, Transcript, Utterance, Word

TINY = ASROptions(model="tiny", language="en")
GOLD_NAME = {"agent": "A", "customer": "B"}


def gold_speaker(call, t: float) -> str | None:
    """The speaker whose rendered turn is nearest time t."""
    turn = min(call.turns, key=lambda x: max(x.start - t, t - x.end, 0.0))
    return turn.speaker


def word_speaker_accuracy(transcript, call, names: dict[str, str]) -> float:
    words = [(w, u.speaker) for u in transcript.utterances for w in u.words]
    right = sum(names[gold_speaker(call, (w.start + w.end) / 2)] == s for w, s in words)
    return right / len(words)


def run_cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "callphase", *args], capture_output=True, text=True, cwd=cwd)


def test_stereo_call_is_split_by_channel(stereo_call):
    path, call = stereo_call
    t = transcribe_file(path, TINY)
    assert t.channels == "stereo" and "two-party stereo" in t.notes[0]
    assert {u.channel for u in t.utterances} == {0, 1}
    assert word_speaker_accuracy(t, call, GOLD_NAME) == 1.0
    # merged in time order, indexed afresh
    assert [u.start for u in t.utterances] == sorted(u.start for u in t.utterances)
    assert [u.index for u in t.utterances] == list(range(len(t.utterances)))
    # the agent greets ("This is Mark speaking. How may I help?"): the heuristic finds it
    roles = {s.speaker: s.role for s in t.metrics.speakers}
    assert roles == {"A": "agent", "B": "customer"}


def test_stereo_channel_names_reach_vtt_and_srt(stereo_call, tmp_path):
    path, call = stereo_call
    result = run_cli("transcribe", str(path), "--model", "tiny", "--language", "en", "--channels", "agent,customer",
                     "--out", str(tmp_path), "-q", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    vtt = (tmp_path / "stereo_call.vtt").read_text()
    assert "<v Agent>" in vtt and "<v Customer>" in vtt
    srt = (tmp_path / "stereo_call.srt").read_text()
    assert "[Agent] " in srt and "[Customer] " in srt
    back = parse_vtt(vtt)
    assert [u.speaker for u in back.utterances] == [u.speaker for u in parse_srt(srt).utterances]
    saved = json.loads((tmp_path / "stereo_call.transcript.json").read_text())
    assert {s["speaker"]: s["role"] for s in saved["metrics"]["speakers"]} == {"Agent": "agent", "Customer": "customer"}
    bad = run_cli("transcribe", str(path), "--channels", "agent", cwd=tmp_path)
    assert bad.returncode == 2 and "give 2 different names" in bad.stderr and bad.stderr.strip().endswith("(--channels)")


def test_identical_or_one_silent_channel_is_mono(tmp_path):
    call = render_call(CARD_CALL[:3], seed=1)
    mixed = call.samples[0]
    same = write_audio(np.vstack([mixed, mixed]), 8000, tmp_path / "same.wav")
    one = write_audio(np.vstack([mixed, np.zeros_like(mixed)]), 8000, tmp_path / "one.wav")
    for path, why in ((same, "same signal"), (one, "silent")):
        t = transcribe_file(path, TINY, SpeakerOptions(speakers=1))
        assert t.channels == "mono" and why in t.notes[0]
        assert t.utterances and all(u.channel is None for u in t.utterances)


def test_cross_talk_is_kept_only_on_the_louder_channel(tmp_path):
    call = render_call(CARD_CALL[:4], seed=2, stereo=True)
    echo = call.samples.copy()
    echo[1] += 0.08 * call.samples[0]  # the agent leaks into the customer's line, 22 dB down
    echo[0] += 0.08 * call.samples[1]
    path = write_audio(np.clip(echo, -1, 1), 8000, tmp_path / "echo.wav")
    t = transcribe_file(path, TINY)
    assert t.channels == "stereo"
    assert word_speaker_accuracy(t, call, GOLD_NAME) >= 0.95
    texts = [u.text.lower() for u in t.utterances]
    assert sum("how may i help" in x for x in texts) <= 1


needs_speaker_model = pytest.mark.skipif(not spk.embedder_available(), reason="speaker model not installed")


@needs_speaker_model
def test_mono_call_is_diarized_into_two_speakers(tmp_path):
    call = render_call(CARD_CALL, seed=5, voices=DISTINCT_VOICES)
    path = write_audio(call.samples, 8000, tmp_path / "mono.wav")
    t = transcribe_file(path, TINY)
    assert t.channels == "mono" and any("diarization into 2" in n for n in t.notes)
    names = {u.speaker for u in t.utterances}
    assert names == {"A", "B"}
    # A is whoever speaks first: the agent here. 96% measured when written.
    assert word_speaker_accuracy(t, call, GOLD_NAME) >= 0.85
    one = transcribe_file(path, TINY, SpeakerOptions(speakers=1))
    assert {u.speaker for u in one.utterances} == {None}


@needs_speaker_model
def test_diarizer_turns_have_a_low_error_rate():
    from callphase.evaluation.datasets import _to_16k

    call = render_call(CARD_CALL, seed=6, voices=DISTINCT_VOICES)
    turns = spk.diarize_samples(_to_16k(call.samples, 8000)[0], 2)
    reference = [(x.start, x.end, x.speaker) for x in call.turns]
    der = diarization_error_rate([(x.start, x.end, x.speaker) for x in turns], reference, collar=0.25)
    assert der["der"] < 0.15, der


def test_without_a_speaker_model_mono_calls_say_so(tmp_path, monkeypatch):
    monkeypatch.setattr(spk, "embedder_available", lambda: False)
    call = render_call(CARD_CALL[:3], seed=1)
    t = transcribe_file(write_audio(call.samples, 8000, tmp_path / "m.wav"), TINY)
    assert any("callphase[speakers]" in n for n in t.notes)
    assert {u.speaker for u in t.utterances} == {None}


def test_hold_music_and_silence_are_non_speech_with_no_words(hold_call):
    path, start, end = hold_call
    t = transcribe_file(path, TINY, SpeakerOptions(speakers=1))
    long = [n for n in t.non_speech if n.end - n.start > 10]
    assert len(long) == 1, t.non_speech
    span = long[0]
    assert span.kind == "sound"
    assert abs(span.start - start) < 1.5 and abs(span.end - end) < 1.5
    for u in t.utterances:
        for w in u.words:
            assert not (span.start + 1 < (w.start + w.end) / 2 < span.end - 1), (w, span)
    # both halves of the call were heard
    assert any(u.end < start for u in t.utterances) and any(u.start > end for u in t.utterances)


def test_long_non_speech_becomes_its_own_phase(hold_call, tmp_path):
    path, start, end = hold_call
    result = run_cli("segment", str(path), "--phases", "Introduction,Complaint,Resolution,Goodbye", "--other", "Hold",
                     "--model", "tiny", "--language", "en", "--speakers", "1", "-q", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    phases = json.loads(result.stdout)["phases"]
    hold = [p for p in phases if p["name"] == "Hold"]
    assert len(hold) == 1 and "music, tones or noise" in hold[0]["summary"]
    assert abs(hold[0]["start_time"] - start) < 1.5 and abs(hold[0]["end_time"] - end) < 1.5
    assert phases[0]["start_time"] == 0 and all(a["end_time"] == b["start_time"] for a, b in zip(phases, phases[1:]))


def test_non_speech_phase_keeps_every_invariant():
    utts = [Utterance(index=i, start=s, end=e, text=f"u{i}") for i, (s, e) in enumerate([(0.5, 3), (3.5, 6), (40, 43), (44, 50)])]
    t = Transcript(duration=52.0, utterances=utts, non_speech=[{"start": 6.2, "end": 39.8, "kind": "sound"}])
    spec = PhaseSpec.parse("Open,Close")
    from callphase.segment import Labels

    class Fixed:
        name = "fixed"

        def label(self, transcript, spec):
            return Labels(["Open", "Open", "Open", "Close"])

    seg = segment(t, spec, Fixed())
    assert [(p.name, p.start_time, p.end_time) for p in seg.phases] == [
        ("Open", 0.0, 6.0), ("Other", 6.0, 40.0), ("Open", 40.0, 44.0), ("Close", 44.0, 52.0)]
    assert check(seg, t, spec) == []
    assert any("non-speech" in r for r in seg.repairs)


def test_call_metrics():
    def u(i, s, e, who):
        return Utterance(index=i, start=s, end=e, text="x", speaker=who, words=[Word(text="x", start=s, end=e)])

    t = Transcript(duration=30.0, utterances=[
        u(0, 0.0, 4.0, "A"), u(1, 4.5, 6.0, "A"),   # one turn of A: 0-6 s
        u(2, 7.0, 12.0, "B"),                      # B
        u(3, 11.0, 13.0, "A"),                     # A breaks in 1 s before B ends
        u(4, 20.0, 22.0, "B"),
    ])
    m = call_metrics(t, {"A": "agent", "B": "customer"})
    a, b = m.speakers
    assert (a.speaker, a.turns, b.turns) == ("A", 2, 2)
    assert a.interruptions == 1 and b.interruptions == 0
    assert a.longest_monologue == 6.0 and b.longest_monologue == 5.0
    assert a.talk_time == pytest.approx(8.0) and b.talk_time == pytest.approx(7.0)
    assert m.overlap_time == pytest.approx(1.0)
    assert m.talk_time == pytest.approx(13.0 - 0.0 - 0.0 - 0.5 - 1.0 + 0.5 + 2.0)  # 0-6 (gap 0.5 joined), 7-13, 20-22
    assert m.non_talk_time == pytest.approx(30.0 - m.talk_time)
    assert a.share + b.share > 1.0  # overlap counts for both


def test_role_heuristic():
    def t(lines):
        return Transcript(duration=60.0, utterances=[Utterance(index=i, start=i * 5.0, end=i * 5.0 + 4, text=x, speaker=s)
                                                     for i, (s, x) in enumerate(lines)])

    roles, why = spk.guess_roles(t([("A", "Hello?"), ("B", "Thank you for calling Acme, this is Jo speaking, how can I help?"),
                                    ("A", "I'm calling about my order.")]))
    assert roles == {"A": "customer", "B": "agent"} and "B says more" in why
    roles, why = spk.guess_roles(t([("A", "Hi."), ("B", "Hi.")]))
    assert roles == {"A": "agent", "B": "customer"} and "speaks first" in why


def test_der_metric():
    ref = [(0.0, 10.0, "x"), (10.0, 20.0, "y")]
    assert diarization_error_rate([(0.0, 10.0, "B"), (10.0, 20.0, "A")], ref)["der"] == 0.0
    swapped_half = diarization_error_rate([(0.0, 20.0, "A")], ref)
    assert swapped_half["confusion"] == pytest.approx(0.5, abs=0.01)
    missed = diarization_error_rate([(0.0, 10.0, "A")], ref)
    assert missed["missed"] == pytest.approx(0.5, abs=0.01)


def test_long_file_is_decoded_in_blocks(tmp_path):
    call = render_call(CARD_CALL, seed=3)
    path = write_audio(call.samples, 8000, tmp_path / "c.wav")
    whole = decode(path)
    parts = list(blocks(path, block_seconds=15.0))
    assert len(parts) >= 3
    assert np.allclose(np.concatenate([p.samples for p in parts], axis=1), whole.samples)
    for a, b in zip(parts, parts[1:]):
        assert b.offset == pytest.approx(a.offset + a.duration)
        # cut in a pause: quiet around the cut
        edge = np.abs(np.concatenate([a.samples[0, -400:], b.samples[0, :400]]))
        assert edge.max() < 0.05
    t_whole = transcribe_file(path, TINY, SpeakerOptions(speakers=1))
    import callphase.transcribe as tr

    t_blocks = tr.transcribe_blocks(blocks(path, block_seconds=15.0), TINY, SpeakerOptions(speakers=1))
    assert t_blocks.duration == pytest.approx(t_whole.duration, abs=0.01)
    starts = [u.start for u in t_blocks.utterances]
    assert starts == sorted(starts) and starts[-1] > 45
    words_whole = sum(len(u.words) for u in t_whole.utterances)
    words_blocks = sum(len(u.words) for u in t_blocks.utterances)
    assert abs(words_whole - words_blocks) <= 0.1 * words_whole


def test_bad_channel_layouts_and_empty_audio(tmp_path):
    import av

    x = np.random.default_rng(0).normal(0, 0.1, (3, 16000)).astype(np.float32)
    path = tmp_path / "three.wav"
    with av.open(str(path), "w", format="wav") as c:
        s = c.add_stream("pcm_s16le", rate=8000, layout="2.1")
        frame = av.AudioFrame.from_ndarray(x, format="fltp", layout="2.1")
        frame.sample_rate = 8000
        for p in list(s.encode(frame)) + list(s.encode(None)):
            c.mux(p)
    with pytest.raises(AudioError, match="3 audio channels.*option `mono`") as e:
        list(blocks(path, keep_channels=True))
    assert e.value.option == "speakers.mono" and "--" not in str(e.value)  # the library knows no flags
    assert decode(path).channels == 1  # --mono mixes them
    result = run_cli("transcribe", str(path), "--model", "tiny", cwd=tmp_path)
    assert result.returncode == 2 and "3 audio channels" in result.stderr and result.stdout == ""
    assert result.stderr.strip().endswith("(--mono)")  # the CLI adds the flag
    assert run_cli("transcribe", str(path), "--model", "tiny", "--mono", "-q", cwd=tmp_path).returncode == 0

    import wave

    empty = tmp_path / "zero.wav"  # a valid header and no samples
    with wave.open(str(empty), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(8000)
    with pytest.raises(AudioError, match="0 seconds"):
        decode(empty)
    result = run_cli("segment", str(empty), "--phases", "A,B", "--model", "tiny", cwd=tmp_path)
    assert result.returncode == 2 and "0 seconds" in result.stderr


def test_channel_names_are_checked():
    assert spk.parse_names("agent, customer") == ["Agent", "Customer"]
    for bad in ("agent", "a,a", "a,,b", "a,b,c"):
        with pytest.raises(CallphaseError):
            spk.parse_names(bad)


def test_a_transcript_depends_on_the_call_alone(stereo_call, card_call):
    """Whisper's temperature fallback samples; CTranslate2 seeds a model's sampler once per thread, so a
    model kept for the process gave a call another transcript after another call (models.new_whisper)."""
    def words(t):
        return [(w.text, w.start, w.end, u.speaker) for u in t.utterances for w in u.words]

    first = words(transcribe_file(stereo_call[0], TINY))
    transcribe_file(card_call[0], TINY, SpeakerOptions(speakers=1))  # its fallback draws samples
    assert words(transcribe_file(stereo_call[0], TINY)) == first
