"""Speech recognition backends against real HTTP servers on loopback: an OpenAI-shaped transcription endpoint
serving faster-whisper tiny.en (tests/asr_server.py) and `callphase serve` itself as the `assemblyai`
backend. Word times, speakers and phases must come through identical to a local run on the same audio."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from asr_server import OpenAIASRServer
from conftest import PHASES
from serving import KEY

import callphase
from callphase.asr import get_asr, parse_keyterms
from callphase.asr.openai import OpenAIASR, read_verbose_json
from callphase.audio import decode, wav_bytes
from callphase.errors import ASRError, OptionsError

LOCAL = {"asr": {"model": "tiny", "language": "en"}, "llm": {"backend": "none"}}


def remote(backend: str, url: str, **asr) -> dict:
    return {**LOCAL, "asr": {**LOCAL["asr"], "backend": backend, "base_url": url, **asr}}


def words(result):
    return [(w.text, w.start, w.end, w.probability) for u in result.transcript.utterances for w in u.words]


def utterances(result):
    return [(u.start, u.end, u.speaker, u.channel, u.text) for u in result.transcript.utterances]


def assert_same(local, other, probabilities=True):
    if probabilities:
        assert words(other) == words(local)
    else:  # OpenAI's words carry no probability
        assert [w[:3] for w in words(other)] == [w[:3] for w in words(local)]
        assert all(w[3] is None for w in words(other))
    assert utterances(other) == utterances(local)
    assert other.transcript.non_speech == local.transcript.non_speech
    assert other.segmentation.to_json() == local.segmentation.to_json()
    assert other.transcript.metrics == local.transcript.metrics


@pytest.fixture(scope="module")
def pcm16(card_call, stereo_call, tmp_path_factory):
    """The card call mono and stereo as 16 kHz 16-bit WAV, so that what the client sends (16-bit WAV) is
    bit for bit what a local run decodes."""
    folder = tmp_path_factory.mktemp("pcm16")
    out = {}
    for name, path in (("mono", card_call[0]), ("stereo", stereo_call[0])):
        audio = decode(path, keep_channels=True)
        out[name] = folder / f"{name}.wav"
        out[name].write_bytes(wav_bytes(audio.samples, audio.sample_rate))
    return out


@pytest.mark.parametrize("layout, openai_words", [("mono", True), ("stereo", False)])
def test_openai_backend_gives_what_a_local_run_gives(pcm16, layout, openai_words):
    """Mono (diarized here) with OpenAI's word shape (no spaces, no probability); stereo (a request per
    channel) with speaches' shape (probabilities kept)."""
    path = pcm16[layout]
    local = callphase.analyze(path, PHASES, LOCAL)
    with OpenAIASRServer(openai_words=openai_words) as server:
        other = callphase.analyze(path, PHASES, remote("openai:whisper-1", server.url))
    assert len(server.requests) == (2 if layout == "stereo" else 1)  # each channel sent once
    request = server.requests[0]
    assert request["model"] == ["whisper-1"] and request["response_format"] == ["verbose_json"]
    assert request["timestamp_granularities[]"] == ["word", "segment"] and request["language"] == ["en"]
    assert other.transcript.source == "openai:whisper-1" and local.transcript.source == "faster-whisper:tiny"
    assert len(local.transcript.utterances) >= 8
    assert_same(local, other, probabilities=not openai_words)
    if layout == "stereo":
        assert {u.speaker for u in other.transcript.utterances} == {"A", "B"}


def test_callphase_serve_as_the_assemblyai_backend(server, card_call, stereo_call):
    """Another `callphase serve` (its own diarization, its multichannel split) gives a client exactly what
    the client's own local run gives."""
    s = server()
    for path in (card_call[0], stereo_call[0]):
        local = callphase.analyze(path, PHASES, LOCAL)
        other = callphase.analyze(path, PHASES, remote("assemblyai", s.url, api_key=KEY))
        assert other.transcript.source == "assemblyai" and other.transcript.channels == local.transcript.channels
        assert_same(local, other)
        assert {u.speaker for u in other.transcript.utterances} == {"A", "B"}
    jobs = json.loads(s.request("GET", "/v2/transcript")[1])["transcripts"]
    assert len(jobs) == 2 and all(j["status"] == "completed" for j in jobs)  # one upload and job per call


def test_the_cli_takes_an_openai_shaped_service(pcm16, tmp_path):
    """`callphase segment call.wav --asr openai:whisper-1 --asr-base-url http://127.0.0.1:PORT/v1`."""
    local = callphase.analyze(pcm16["mono"], PHASES, {**LOCAL, "asr": {**LOCAL["asr"], "keyterms": "City Bank, Anna Lopez"}})
    with OpenAIASRServer(key="k-123") as service:
        args = [sys.executable, "-m", "callphase", "segment", str(pcm16["mono"]), "--phases", PHASES, "--no-llm",
                "--language", "en", "--asr", "openai:whisper-1", "--asr-base-url", service.url,
                "--keyterms", "City Bank, Anna Lopez"]
        env = {"CALLPHASE_ASR_API_KEY": "k-123", "PATH": "/usr/bin:/bin"}
        done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=300)
        refused = subprocess.run(args, capture_output=True, text=True, env={**env, "CALLPHASE_ASR_API_KEY": "wrong"},
                                 timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == local.to_json()
    assert service.requests[0]["prompt"] == ["City Bank, Anna Lopez."]  # the key terms, as Whisper's prompt
    assert refused.returncode == 2 and refused.stdout == ""
    assert "refused the API key (401): Incorrect API key provided; set $CALLPHASE_ASR_API_KEY" in refused.stderr


def test_a_failing_service_is_retried_then_reported(pcm16, caplog):
    audio = str(pcm16["mono"])
    with OpenAIASRServer("500", "429") as service:
        backend = OpenAIASR("whisper-1", service.url, retries=2, backoff=0)
        with caplog.at_level("WARNING", logger="callphase"):
            result = callphase.load_transcript(audio, {"asr": {"backend": backend, "language": "en"}, "speakers": {"speakers": 1}})
    assert len(service.requests) == 3 and result.utterances
    assert "500 server error: the GPU is busy; retrying" in caplog.text and "429 rate limited" in caplog.text
    with OpenAIASRServer("text-only") as service:
        backend = OpenAIASR("whisper-1", service.url, retries=0)
        with pytest.raises(ASRError, match="returned no word timestamps"):
            callphase.load_transcript(audio, {"asr": {"backend": backend}, "speakers": {"speakers": 1}})
    with pytest.raises(ASRError, match="failed after 1 attempts; last: cannot reach it"):
        gone = OpenAIASR("whisper-1", service.url, retries=0)  # that server has stopped
        callphase.load_transcript(audio, {"asr": {"backend": gone}, "speakers": {"speakers": 1}})


def test_bad_backend_options_fail_before_any_audio(tmp_path):
    for asr, message in (({"backend": "deepgram"}, "unknown ASR backend 'deepgram'"),
                         ({"backend": "openai:"}, "unknown ASR backend"),
                         ({"backend": "openai:whisper-1", "base_url": "ftp://x"}, "is not an http\\(s\\) URL"),
                         ({"device": "tpu"}, "unknown device 'tpu'")):
        with pytest.raises(OptionsError if "device" not in asr else callphase.ModelError, match=message) as e:
            get_asr(callphase.ASROptions(**asr))
        assert e.value.option.startswith("asr.")
    missing = tmp_path / "missing.wav"
    r = subprocess.run([sys.executable, "-m", "callphase", "transcribe", str(missing), "--asr", "whisperx"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "unknown ASR backend 'whisperx'" in r.stderr and "(--asr)" in r.stderr


def test_key_terms_are_parsed_and_join_the_phase_file(tmp_path, pcm16):
    assert parse_keyterms(" Acme  Telecom, premium subscription,,Acme Telecom ") == ["Acme Telecom", "premium subscription"]
    assert callphase.ASROptions(keyterms="a,b").keyterms == ["a", "b"]
    with pytest.raises(OptionsError, match="at most 100 key terms"):
        parse_keyterms([f"t{i}" for i in range(101)])
    spec = callphase.PhaseSpec.parse({"phases": ["Introduction", "Complaint"], "keyterms": "City Bank"})
    assert spec.keyterms == ["City Bank"]
    options = callphase.Options(**remote("openai:whisper-1", "http://x", keyterms=["Anna Lopez"]))
    with OpenAIASRServer() as service:
        options.asr.base_url = service.url
        callphase.analyze(pcm16["mono"], spec, options)
    assert service.requests[0]["prompt"] == ["Anna Lopez, City Bank."]
    assert options.asr.keyterms == ["Anna Lopez"]  # the caller's options are not changed


def test_verbose_json_words_are_grouped_into_its_segments():
    data = {"language": "german", "segments": [{"start": 0.0, "end": 1.0}, {"start": 1.0, "end": 2.5}],
            "words": [{"word": "Hallo", "start": 0.0, "end": 0.4}, {"word": "Welt.", "start": 0.5, "end": 1.0},
                      {"word": "Wie", "start": 1.2, "end": 1.5}, {"word": "geht's?", "start": 1.6, "end": 2.5}]}
    heard = read_verbose_json(data, "test")
    assert [[w.text for w in s] for s in heard.segments] == [[" Hallo", " Welt."], [" Wie", " geht's?"]]
    assert heard.language == "de"
    assert read_verbose_json({"text": " "}, "test").segments == []
    # a zero-length word where one segment ends and the next starts (seen from faster-whisper on a phone
    # call): the segments' texts place it; by time alone it could go either way
    edge = {"segments": [{"start": 3.56, "end": 8.32, "text": " My name is"},
                         {"start": 8.32, "end": 21.3, "text": " No, it's definitely not mine."}],
            "words": [{"word": w, "start": a, "end": b} for w, a, b in (
                ("My", 3.56, 3.82), ("name", 3.82, 5.56), ("is", 5.56, 8.32), ("No,", 8.32, 8.32),
                ("it's", 8.32, 13.06), ("definitely", 13.06, 13.06), ("not", 13.06, 19.94), ("mine.", 19.94, 21.3))]}
    heard = read_verbose_json(edge, "test")
    assert [[w.text for w in s] for s in heard.segments] == [[" My", " name", " is"],
                                                             [" No,", " it's", " definitely", " not", " mine."]]
    edge["segments"][1]["text"] = " Know, it is definitely not mine."  # texts that are not the words: by time
    assert [len(s) for s in read_verbose_json(edge, "test").segments] == [4, 4]


def test_the_server_takes_speech_model_and_keyterms_per_job(server, card_call):
    s = server()
    status, body = s.request("POST", "/v2/upload", Path(card_call[0]).read_bytes())
    url = json.loads(body)["upload_url"]
    assert s.request("POST", "/v2/transcript", {"audio_url": url, "speech_model": "whisper-large"})[0] == 400
    status, body = s.request("POST", "/v2/transcript", {"audio_url": url, "keyterms_prompt": "City Bank"})
    assert status == 400 and "keyterms_prompt must be a list" in json.loads(body)["error"]
    status, body = s.request("POST", "/v2/transcript", {"audio_url": url, "speech_model": "tiny.en",
                                                        "keyterms_prompt": ["City Bank"]})
    assert status == 200, body
    job = s.wait(json.loads(body)["id"])
    assert job["status"] == "completed" and job["speech_model"] == "tiny.en"
    assert job["speech_model_used"] == "faster-whisper:tiny.en"


def test_clips_are_packed_into_windows_and_times_come_back_exact():
    """vad.pack puts the speech clips one after another (a second of silence between), so Whisper's windows
    are full of speech and never hear the gaps; vad.unpack maps packed times back exactly."""
    import numpy as np

    from callphase import vad

    rate = 16000
    x = np.arange(60 * rate, dtype=np.float32)  # a sample's value is its index
    clips = [(1.0, 4.5), (20.0, 31.25), (50.0, 59.0)]
    packed, pieces = vad.pack(x, rate, clips)
    assert len(packed) == round((3.5 + 11.25 + 9.0 + 2 * vad.PACK_GAP) * rate)
    assert pieces == [(0.0, 1.0, 3.5), (4.5, 20.0, 11.25), (16.75, 50.0, 9.0)]
    for packed_t, call_t in ((0.0, 1.0), (2.0, 3.0), (4.5, 20.0), (10.0, 25.5), (16.75, 50.0), (25.75, 59.0)):
        assert vad.unpack(packed_t, pieces) == pytest.approx(call_t)
        i = int(round(packed_t * rate))
        if i < len(packed) and packed[i]:
            assert packed[i] == round(call_t * rate)  # the audio there is the call's audio at that time
    assert vad.unpack(4.0, pieces) == pytest.approx(4.5)  # in the gap after a clip: that clip's end


def test_a_call_with_hold_music_is_recognised_in_few_windows(hold_call):
    """The hold call: speech, 26 s of music, tones and silence, speech. Whisper runs about as many 30 s
    windows as the speech needs, and hears nothing of the hold."""
    import math

    from callphase import vad
    from callphase.asr.local import LocalASR
    from callphase.transcribe import transcribe

    path, hold_start, hold_end = hold_call
    audio = decode(path)
    clips = vad.clips(vad.speech_regions(audio.samples[0], audio.sample_rate), audio.duration)
    speech = sum(e - s for s, e in clips)
    backend = LocalASR("tiny")
    stream, heard = transcribe(audio, callphase.ASROptions(model="tiny", language="en"), None, clips, backend)
    utterances = list(stream)
    assert utterances and heard.language == "en"
    assert not [u for u in utterances if hold_start + 1 < (u.start + u.end) / 2 < hold_end - 1]
    assert backend.encoder_passes <= math.ceil((speech + vad.PACK_GAP * len(clips)) / 30) + 1
    assert backend.encoder_passes < math.ceil(audio.duration / 30) + 1  # fewer than for the whole file


def test_the_language_is_detected_from_the_first_window_decoded(tmp_path):
    """A multilingual model with no language given: detected in the window decoded anyway (no encoder pass
    of its own), and kept for the call."""
    from callphase.asr.local import LocalASR
    from callphase.evaluation.synth import speak, write_audio

    text = "Guten Tag, ich rufe wegen meiner Rechnung an. Sie ist viel zu hoch, und ich verstehe nicht warum."
    path = write_audio(speak(text, "de", 160)[None], 8000, tmp_path / "de.wav")
    audio = decode(path)
    backend = LocalASR("base")
    heard = backend.recognize(audio.samples[0], audio.sample_rate, None, None, [])
    words = [w for s in heard.segments for w in s]
    assert heard.language == "de" and words
    assert backend.encoder_passes == 1  # one window, and no second pass to detect the language
    transcript = callphase.load_transcript(path, {"asr": {"model": "base"}, "speakers": {"speakers": 1}})
    assert transcript.language == "de"


def test_phone_audio_is_decoded_with_beam_5_and_wideband_greedy(card_call, pcm16):
    """asr.beam_size None: 5 for a call recorded at 8 kHz, greedy for 16 kHz (options.py has the figures);
    key terms do not reach local Whisper, and the notes say so."""
    from callphase.asr.local import LocalASR

    for path, beam in ((card_call[0], 5), (pcm16["mono"], 1)):
        backend = LocalASR("tiny", beam_size=None)
        transcript = callphase.load_transcript(path, {"asr": {"backend": backend, "language": "en", "keyterms": "City Bank"},
                                                      "speakers": {"speakers": 1}})
        assert backend.beam_size == beam and transcript.utterances
        assert any("key terms are not given to faster-whisper:tiny" in n for n in transcript.notes)
