"""Decoding: every container we promise, phone and wideband rates, mono and stereo; bad files fail clearly."""
import numpy as np
import pytest

from callphase.audio import decode, speech_seconds
from callphase.errors import AudioError
from callphase.evaluation.synth import write_audio


def tone(seconds, rate, channels):
    t = np.arange(int(seconds * rate)) / rate
    left = 0.3 * np.sin(2 * np.pi * 440 * t)
    right = 0.3 * np.sin(2 * np.pi * 660 * t) if channels == 2 else None
    return np.vstack([left, right] if channels == 2 else [left]).astype(np.float32)


@pytest.mark.parametrize("suffix", [".wav", ".mp3", ".m4a", ".flac", ".ogg"])
@pytest.mark.parametrize("rate", [8000, 16000, 44100])
@pytest.mark.parametrize("channels", [1, 2])
def test_formats_rates_and_channels_decode_to_16k(tmp_path, suffix, rate, channels):
    path = write_audio(tone(3.0, rate, channels), rate, tmp_path / f"x{suffix}")
    audio = decode(path)
    assert audio.sample_rate == 16000 and audio.channels == 1
    # AAC adds priming and last-frame padding, up to 2 x 1024 samples (0.256 s at 8 kHz); ffmpeg decodes the same
    assert audio.duration == pytest.approx(3.0, abs=0.27 if suffix == ".m4a" else 0.1)
    assert audio.source_channels == channels
    assert 0.1 < np.abs(audio.samples).max() < 1.0
    if channels == 2:
        stereo = decode(path, keep_channels=True)
        assert stereo.channels == 2
        # the two channels carry different tones: they must stay apart
        assert np.corrcoef(stereo.samples[0], stereo.samples[1])[0, 1] < 0.5


def test_missing_empty_and_non_audio(tmp_path):
    with pytest.raises(AudioError, match="no such file"):
        decode(tmp_path / "nope.wav")
    (tmp_path / "empty.mp3").write_bytes(b"")
    with pytest.raises(AudioError, match="file is empty"):
        decode(tmp_path / "empty.mp3")
    (tmp_path / "text.mp3").write_text("this is not audio\n" * 50)
    with pytest.raises(AudioError, match="cannot read"):
        decode(tmp_path / "text.mp3")
    with pytest.raises(AudioError, match="not a file"):
        decode(tmp_path)


def test_truncated_mp3_is_reported_not_silently_shortened(tmp_path):
    whole = write_audio(tone(20.0, 8000, 1), 8000, tmp_path / "whole.mp3").read_bytes()
    (tmp_path / "half.mp3").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(AudioError, match="truncated"):
        decode(tmp_path / "half.mp3")
    (tmp_path / "stub.mp3").write_bytes(whole[:200])
    with pytest.raises(AudioError):
        decode(tmp_path / "stub.mp3")


def test_video_without_audio_stream(tmp_path):
    import av

    path = tmp_path / "video.mp4"
    with av.open(str(path), "w") as c:
        s = c.add_stream("mpeg4", rate=5)
        s.width, s.height = 32, 32
        for _ in range(5):
            frame = av.VideoFrame.from_ndarray(np.zeros((32, 32, 3), np.uint8), format="rgb24")
            for p in s.encode(frame):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    with pytest.raises(AudioError, match="no audio stream"):
        decode(path)


def test_speech_seconds_tells_silence_from_sound(tmp_path):
    quiet = write_audio(np.random.default_rng(0).normal(0, 1e-4, (1, 80000)).astype(np.float32), 8000, tmp_path / "q.wav")
    loud = write_audio(tone(5.0, 8000, 1), 8000, tmp_path / "l.wav")
    assert speech_seconds(decode(quiet)) == 0.0
    assert speech_seconds(decode(loud)) == pytest.approx(5.0, abs=0.1)
