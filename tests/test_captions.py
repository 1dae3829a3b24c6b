"""WebVTT and SRT: what we write reads back the same; what others write reads sensibly; bad files fail clearly."""
import pytest

from callphase.captions import parse_srt, parse_vtt, read_captions, to_srt, to_vtt
from callphase.errors import CaptionError
from callphase.types import Transcript, Utterance

T = Transcript(duration=3725.5, utterances=[
    Utterance(index=0, start=1.52, end=4.0, text="Thank you for calling, this is Sarah.", speaker="Agent"),
    Utterance(index=1, start=4.2, end=9.999, text="Hi, my internet --> is down.\nSince Monday.", speaker="Customer"),
    Utterance(index=2, start=3600.0, end=3725.25, text="No speaker here.", speaker=None),
])


def as_tuples(t):
    return [(u.start, u.end, " ".join(u.text.replace("-->", "->").split()), u.speaker) for u in t.utterances]


@pytest.mark.parametrize("write, read", [(to_vtt, parse_vtt), (to_srt, parse_srt)])
def test_round_trip_keeps_times_text_and_speakers(write, read):
    back = read(write(T))
    assert as_tuples(back) == as_tuples(T)
    assert back.duration == pytest.approx(3725.25)


def test_vtt_uses_voice_tags_and_hour_timestamps():
    text = to_vtt(T)
    assert text.startswith("WEBVTT\n")
    assert "00:00:01.520 --> 00:00:04.000\n<v Agent>Thank you" in text
    assert "01:00:00.000 --> 01:02:05.250\nNo speaker here." in text


def test_srt_uses_bracket_prefixes_and_commas():
    text = to_srt(T)
    assert text.startswith("1\n00:00:01,520 --> 00:00:04,000\n[Agent] Thank you")


def test_foreign_vtt_with_header_notes_styles_settings_and_tags():
    text = """\ufeffWEBVTT - exported by a cloud ASR
Kind: captions

NOTE this is a comment
spanning lines

STYLE
::cue { color: yellow }

intro-cue
00:01.000 --> 00:04.500 align:start position:10%
<v.loud Agent Smith>Hello <b>there</b>,
how can I <c.x>help</c>?

00:05.000 --> 00:06.000
<00:05.100>Fine<00:05.500> thanks
"""
    t = parse_vtt(text)
    assert [(u.start, u.end, u.text, u.speaker) for u in t.utterances] == [
        (1.0, 4.5, "Hello there, how can I help?", "Agent Smith"),
        (5.0, 6.0, "Fine thanks", None),
    ]


@pytest.mark.parametrize("text, message", [
    ("1\n00:00:01,000 --> 00:00:02,000\nhello\n", "must start with 'WEBVTT'"),
    ("WEBVTT\n\n", "no caption cues"),
    ("WEBVTT\n\n00:00:xx.000 --> 00:00:02.000\nhello\n", "bad cue timing"),
    ("WEBVTT\n\n00:00:05.000 --> 00:00:02.000\nhello\n", "ends before it starts"),
])
def test_bad_vtt_fails_with_a_reason(text, message):
    with pytest.raises(CaptionError, match=message):
        parse_vtt(text)


def test_read_captions_rejects_binary_and_missing(tmp_path):
    (tmp_path / "x.vtt").write_bytes(b"\xff\xfe\x00\x81binary")
    with pytest.raises(CaptionError, match="not UTF-8"):
        read_captions(tmp_path / "x.vtt")
    with pytest.raises(CaptionError, match="no such file"):
        read_captions(tmp_path / "missing.srt")


def test_entities_are_decoded_and_angle_brackets_kept_as_text():
    vtt = "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\n<v Agent>Fish &amp; chips, x &lt; y --&gt; z, <i>really</i>\n"
    u = parse_vtt(vtt).utterances[0]
    assert u.text == "Fish & chips, x < y --> z, really" and u.speaker == "Agent"
    back = parse_vtt(to_vtt(parse_vtt(vtt)))
    assert back.utterances[0].text == u.text and "&amp;" in to_vtt(back) and "-->" not in to_vtt(back).split("\n", 4)[4]
    srt = "1\n00:00:01,000 --> 00:00:02,000\n[Agent] x < y --> z &amp; <b>bold</b>\n"
    assert parse_srt(srt).utterances[0].text == "x < y --> z & bold"  # SRT's own markup only is removed
    assert parse_srt(to_srt(parse_srt(srt))).utterances[0].text == "x < y --> z & bold"
