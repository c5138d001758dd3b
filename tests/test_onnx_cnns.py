"""Common CNNs exported by PyTorch: MACs against forward-hook counts, ONNX Runtime numerics,
simulation on a 1 MB / 1 GB/s accelerator and `accelsim verify --against onnxruntime`.

tests/data/cnn_onnx/make_fixtures.py builds reduced-width MobileNetV3-Small/Large,
EfficientNet-B0, SqueezeNet 1.1, ShuffleNetV2, DenseNet-121, GoogLeNet and U-Nets in plain
torch.nn, exports each with the TorchScript (opset 17) and dynamo (opset 18) exporters and
records the MACs forward hooks count on the torch modules (counts.json). The files have
their weights stripped; `materialise` refills them with seeded values.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")

from onnx_models import materialise  # noqa: E402

from accelsim.cli.app import main  # noqa: E402
from accelsim.config.loader import load_hardware  # noqa: E402
from accelsim.ir.onnx_import import load_onnx  # noqa: E402
from accelsim.reference import run  # noqa: E402
from accelsim.sim import simulate  # noqa: E402

DATA = Path(__file__).parent / "data" / "cnn_onnx"
COUNTS = json.loads((DATA / "counts.json").read_text())
FILES = sorted(p.name for p in DATA.glob("*.onnx"))


def stem(filename: str) -> str:
    return filename.rsplit("_", 2)[0]


def test_every_network_has_both_exports():
    assert sorted({stem(f) for f in FILES}) == sorted(COUNTS)
    assert len(COUNTS) == 10
    assert sum((DATA / f).stat().st_size for f in FILES) < 1_500_000


@pytest.mark.parametrize("filename", FILES)
def test_macs_equal_hook_counts_and_executor_matches_onnxruntime(filename):
    counts = COUNTS[stem(filename)]
    # shapes only (weights stripped): the MACs already equal the independent count
    assert load_onnx(DATA / filename).total_macs == counts["macs"]
    model = materialise(DATA / filename)
    net = load_onnx(model)
    assert net.total_macs == counts["macs"] and not net.missing_weights
    x = np.random.default_rng(3).standard_normal((2, *counts["input"])).astype(np.float32)
    session = ort.InferenceSession(model.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    want = session.run(None, {session.get_inputs()[0].name: x})[0]
    got = run(net, np.ascontiguousarray(x.transpose(0, 2, 3, 1))).outputs[net.outputs[-1]]
    if got.ndim == 4:
        got = got.transpose(0, 3, 1, 2)
    assert np.abs(want).max() > 1e-3
    assert np.abs(got.reshape(want.shape) - want).max() <= 1e-4 * np.abs(want).max()
    result = simulate(net, load_hardware("edge_1mb.yaml"))
    assert result.total.macs == counts["macs"] and result.total.total_time_s > 0


@pytest.mark.parametrize("filename", [f for f in FILES if "torchscript" in f])
def test_cli_run_and_verify_against_onnxruntime(filename, tmp_path, capsys):
    path = tmp_path / filename
    onnx.save(materialise(DATA / filename), str(path))
    runfile = tmp_path / "run.yaml"
    runfile.write_text(f"name: cnn\nmodel: {{path: {path}}}\nhardware: edge_1mb.yaml\n")
    assert main(["run", str(runfile), "--out", str(tmp_path / "report"), "--no-plots",
                 "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["macs"] == COUNTS[stem(filename)]["macs"] and summary["total_time_s"] > 0
    assert main(["verify", str(path), "--against", "onnxruntime"]) == 0
    assert capsys.readouterr().out.strip().endswith("PASS")


@pytest.mark.parametrize("exporter", ["torchscript_op13", "torchscript_op17", "dynamo_op18"])
@pytest.mark.parametrize("name", ["mobilenet_v3_small", "mobilenet_v3_large"])
def test_zoo_mobilenet_v3_is_the_exported_network(name, exporter):
    # the zoo at width 0.25, 64x64, 10 classes and PyTorch's export agree layer for layer:
    # every conv and dense layer's op, shapes, kernel, stride, groups and fused activation
    # (hard-swish, relu, the squeeze-excite's hard-sigmoid), and the squeeze-excite Muls;
    # at opset 13 PyTorch writes hard-swish as x * HardSigmoid(x), which fuses the same
    from accelsim.ir.zoo import build_model

    zoo = build_model(name, 0.25, 64, 10)
    imported = load_onnx(DATA / f"{name}_w025_{exporter}.onnx")

    def signature(net):
        return [(layer.op, layer.input_shapes, layer.output_shape, layer.kernel, layer.stride,
                 layer.groups, layer.activation) for layer in net.layers()
                if layer.is_weighted or layer.op == "mul"]

    assert signature(imported) == signature(zoo)
    assert zoo.total_macs == COUNTS[f"{name}_w025"]["macs"]
