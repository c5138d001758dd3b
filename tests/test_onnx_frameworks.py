"""ONNX MobileNets exported by real frameworks: structure, counts, numerics, simulation.

The fixtures in tests/data/framework_onnx/ were written by PyTorch 2.13.0's TorchScript
(opsets 13, 17) and dynamo (opset 18) exporters and by tf2onnx 1.17.0 from Keras 3.15.1
(opset 13); tests/data/framework_onnx/make_fixtures.py regenerates them (it needs torch or
tensorflow, so CI never runs it). Exporters fold every batch-norm into its conv (dynamo,
TorchScript) or split it into Mul + Add (tf2onnx, after depthwise convs), so an imported
conv carries a bias and no batch-norm: its MACs and weights equal the zoo's, its params
are the zoo's weights plus one bias per batch-normed channel.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from onnx_models import materialise  # noqa: E402

from accelsim.cli.app import main  # noqa: E402
from accelsim.config import load_run  # noqa: E402
from accelsim.errors import ImportErrorOnnx  # noqa: E402
from accelsim.ir.graph import Network  # noqa: E402
from accelsim.ir.onnx_import import load_onnx  # noqa: E402
from accelsim.ir.zoo import mobilenet_v1, mobilenet_v1_cifar, mobilenet_v2  # noqa: E402
from accelsim.reference import run  # noqa: E402
from accelsim.sim import simulate  # noqa: E402

DATA = Path(__file__).parent / "data" / "framework_onnx"
V1_CIFAR = mobilenet_v1_cifar(0.25)
V2 = mobilenet_v2(0.35, 64, 10)
KERAS_V1 = mobilenet_v1(0.25, 128, 10)
# file -> (the zoo network of the same architecture, activation, NHWC input, classifier bias)
FIXTURES: dict[str, tuple[Network, str, bool, bool]] = {
    "mobilenet_v1_cifar_a025_torchscript_op13.onnx": (V1_CIFAR, "relu", False, True),
    "mobilenet_v1_cifar_a025_torchscript_op17.onnx": (V1_CIFAR, "relu", False, True),
    "mobilenet_v1_cifar_a025_dynamo_op18.onnx": (V1_CIFAR, "relu", False, True),
    "mobilenet_v2_a035_r64_torchscript_op13.onnx": (V2, "relu6", False, True),
    "mobilenet_v2_a035_r64_torchscript_op17.onnx": (V2, "relu6", False, True),
    "mobilenet_v2_a035_r64_dynamo_op18.onnx": (V2, "relu6", False, True),
    # tf2onnx drops the all-zero bias of Keras' conv_preds classifier
    "keras_mobilenet_a025_r128_tf2onnx_op13.onnx": (KERAS_V1, "relu6", True, False),
}


def onnxruntime_output(model: onnx.ModelProto, x_nhwc: np.ndarray, nhwc: bool) -> np.ndarray:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    feed = x_nhwc if nhwc else np.ascontiguousarray(x_nhwc.transpose(0, 3, 1, 2))
    return session.run(None, {session.get_inputs()[0].name: feed})[0]


def weighted(net: Network) -> list:
    return [layer for layer in net.layers() if layer.is_weighted]


def signature(layer) -> tuple:
    """What must agree with the zoo; a 1x1 conv on a 1x1 map (Keras' classifier) is dense."""
    op, out = layer.op, math.prod(layer.output_shape)
    if op == "conv2d" and layer.input_shape[:2] == (1, 1) and layer.kernel == (1, 1):
        op = "dense"
    return (op, layer.input_shape, out, layer.kernel, layer.stride, layer.groups, layer.macs,
            layer.weight_count)


@pytest.mark.parametrize("filename", sorted(FIXTURES))
def test_framework_export_matches_zoo_onnxruntime_and_simulates(filename):
    zoo, activation, nhwc, classifier_bias = FIXTURES[filename]
    model = materialise(DATA / filename)
    net = load_onnx(model)

    # structure: the zoo's weighted layers one for one, batch-norms folded away
    ours, theirs = weighted(net), weighted(zoo)
    assert [signature(a) for a in ours] == [signature(b) for b in theirs]
    assert net.total_macs == zoo.total_macs
    assert "batch_norm" not in [layer.op for layer in net.layers()] and net.bn_params == 0
    # the zoo's v1 uses relu; Keras' MobileNet relu6 (its Clip(0, 6)s must fuse as such)
    assert [a.activation for a in ours] == \
        [activation if b.activation != "none" else "none" for b in theirs]
    # params: the zoo's weights + one bias per batch-normed channel (+ the classifier's bias)
    bn_channels = zoo.bn_params // 4
    dense_bias = theirs[-1].bias_count if classifier_bias else 0
    assert net.total_params == sum(b.weight_count for b in theirs) + bn_channels + dense_bias
    assert ours[-1].input_shape[-1] == theirs[-1].input_shape[-1]

    # numerics: the reference executor against ONNX Runtime on the same input
    shape = net.layer(net.inputs[0]).output_shape
    x = np.random.default_rng(7).standard_normal((2, *shape)).astype(np.float32)
    want = onnxruntime_output(model, x, nhwc)
    got = run(net, x).outputs[net.outputs[-1]].reshape(want.shape)
    assert np.abs(want).max() > 1e-3  # the activations did not vanish
    assert np.abs(got - want).max() <= 1e-4 * np.abs(want).max()

    # simulation on the bundled hardware
    result = simulate(net, load_run("mobilenet_cifar.yaml").hardware)
    assert result.total.macs == net.total_macs * result.simulation.batch
    assert result.total.total_time_s > 0


def test_padding_is_kept_as_exported():
    # PyTorch pads 1 on every side of a stride-2 3x3 conv; Keras pads 0 top/left and 1
    # bottom/right (ZeroPadding2D merged into the 'valid' conv), TF 'same' as in the zoo
    torch_net = load_onnx(DATA / "mobilenet_v1_cifar_a025_torchscript_op13.onnx")
    strided = [layer for layer in weighted(torch_net) if layer.stride == (2, 2)]
    assert [layer.padding for layer in strided] == [(1, 1, 1, 1)] * 2
    keras_net = load_onnx(materialise(DATA / "keras_mobilenet_a025_r128_tf2onnx_op13.onnx"))
    assert [a.padding for a in weighted(keras_net)] == [b.padding for b in weighted(KERAS_V1)]
    assert keras_net.layer(keras_net.inputs[0]).output_shape == (128, 128, 3)


@pytest.mark.parametrize("filename", ["mobilenet_v1_cifar_a025_torchscript_op13.onnx",
                                      "mobilenet_v1_cifar_a025_dynamo_op18.onnx"])
def test_verify_against_onnxruntime_passes(filename, capsys):
    assert main(["verify", str(DATA / filename), "--against", "onnxruntime"]) == 0
    assert capsys.readouterr().out.strip().endswith("PASS")


# ---- exporter patterns, one small graph each ------------------------------------------------
def small_model(nodes, inits, shape=("N", 4, 8, 8), out_shape=None, opset=13):
    graph = helper.make_graph(
        nodes, "small", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, out_shape)],
        [numpy_helper.from_array(np.asarray(v), k) for k, v in inits.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model


def check_against_ort(model, nhwc=False):
    net = load_onnx(model)
    shape = net.layer(net.inputs[0]).output_shape
    x = np.random.default_rng(1).standard_normal((3, *shape)).astype(np.float32)
    want = onnxruntime_output(model, x, nhwc)
    got = run(net, x).outputs[net.outputs[-1]]
    if got.ndim == 4 and not nhwc and want.ndim == 4:
        got = got.transpose(0, 3, 1, 2)
    np.testing.assert_allclose(got.reshape(want.shape), want, rtol=1e-4, atol=1e-5)
    return net


def test_relu_min_chain_squeeze_and_matmul_bias():
    rng = np.random.default_rng(0)
    inits = {"w": rng.standard_normal((6, 4, 3, 3)).astype("f4"),
             "six": np.array(6.0, "f4"), "axes": np.array([2, 3], np.int64),
             "m": rng.standard_normal((6, 5)).astype("f4"),
             "b": rng.standard_normal(5).astype("f4")}
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("Min", ["r", "six"], ["r6"]),
             helper.make_node("ReduceMean", ["r6"], ["g"], axes=[2, 3], keepdims=1),
             helper.make_node("Squeeze", ["g", "axes"], ["s"]),
             helper.make_node("MatMul", ["s", "m"], ["mm"]),
             helper.make_node("Add", ["mm", "b"], ["y"])]
    net = check_against_ort(small_model(nodes, inits))
    assert [layer.op for layer in net.layers()] == ["input", "conv2d", "global_avg_pool", "dense"]
    assert list(net.layers())[1].activation == "relu6" and list(net.layers())[-1].use_bias


def test_nhwc_input_pad_and_decomposed_batch_norm():
    rng = np.random.default_rng(1)
    inits = {"pads": np.array([0, 0, 0, 0, 0, 0, 1, 1], np.int64),
             "w": rng.standard_normal((4, 1, 3, 3)).astype("f4"),
             "scale": rng.uniform(0.5, 1.5, (1, 4, 1, 1)).astype("f4"),
             "shift": rng.standard_normal((1, 4, 1, 1)).astype("f4"),
             "lo": np.array(0.0, "f4"), "hi": np.array(6.0, "f4"),
             "shape": np.array([-1, 16], np.int64)}
    nodes = [helper.make_node("Transpose", ["x"], ["t"], perm=[0, 3, 1, 2]),
             helper.make_node("Pad", ["t", "pads"], ["p"]),
             helper.make_node("Conv", ["p", "w"], ["c"], group=4, strides=[2, 2]),
             helper.make_node("Mul", ["c", "scale"], ["m"]),
             helper.make_node("Add", ["m", "shift"], ["a"]),
             helper.make_node("Clip", ["a", "lo", "hi"], ["r"]),
             helper.make_node("Transpose", ["r"], ["back"], perm=[0, 2, 3, 1]),
             helper.make_node("Reshape", ["back", "shape"], ["y"])]
    net = check_against_ort(small_model(nodes, inits, ("N", 4, 4, 4)), nhwc=True)
    dw = list(net.layers())[1]
    assert dw.op == "depthwise_conv2d" and dw.padding == (0, 1, 0, 1) and dw.use_bias
    assert dw.activation == "relu6" and list(net.layers())[-1].op == "flatten"


def test_unoptimised_dynamo_bias_subgraph_is_folded():
    # torch.onnx.export(dynamo=True, optimize=False) builds a zero conv bias from
    # Shape(weight, end=1) -> Expand(CastLike(Constant 0, x)), and keeps BatchNormalization
    rng = np.random.default_rng(2)
    inits = {"w": rng.standard_normal((6, 4, 3, 3)).astype("f4"), "one": np.array([1]),
             "g": rng.uniform(0.5, 1.5, 6).astype("f4"), "b": np.zeros(6, "f4"),
             "mu": rng.standard_normal(6).astype("f4"), "var": np.ones(6, "f4")}
    zero = helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0])
    nodes = [helper.make_node("Shape", ["w"], ["n"], start=0, end=1),
             helper.make_node("Constant", [], ["z"], value=zero),
             helper.make_node("CastLike", ["z", "x"], ["zc"]),
             helper.make_node("Expand", ["zc", "n"], ["bias"]),
             helper.make_node("Conv", ["x", "w", "bias"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("BatchNormalization", ["c", "g", "b", "mu", "var"], ["y"])]
    net = check_against_ort(small_model(nodes, inits, opset=18))
    conv = list(net.layers())[1]
    assert conv.use_bias and conv.batch_norm and not net.params[conv.name]["bias"].any()


def test_unsupported_patterns_name_op_and_node():
    inits = {"pads": np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64),
             "k": np.ones((1, 4, 1, 1), "f4")}
    reflect = small_model([helper.make_node("Pad", ["x", "pads"], ["y"], name="pad0",
                                            mode="reflect")], inits)
    with pytest.raises(ImportErrorOnnx, match=r"'pad0' \(Pad\): only a zero Pad"):
        load_onnx(reflect)
    mul = small_model([helper.make_node("Mul", ["x", "k"], ["y"], name="scale0")], inits)
    with pytest.raises(ImportErrorOnnx, match=r"'scale0' \(Mul\): Mul of a feature map"):
        load_onnx(mul)
    perm = small_model([helper.make_node("Transpose", ["x"], ["y"], name="t0",
                                         perm=[0, 1, 3, 2])], inits)
    with pytest.raises(ImportErrorOnnx, match=r"'t0' \(Transpose\): Transpose perm"):
        load_onnx(perm)
    lpn = small_model([helper.make_node("LpNormalization", ["x"], ["y"], name="n0")], inits)
    with pytest.raises(ImportErrorOnnx, match=r"'n0' \(LpNormalization\): unsupported operator"):
        load_onnx(lpn)


def test_verify_feeds_nhwc_models_in_their_layout(tmp_path, capsys):
    # tf2onnx keeps Keras' NHWC input; verify must feed ONNX Runtime that layout.
    path = tmp_path / "keras.onnx"
    onnx.save(materialise(DATA / "keras_mobilenet_a025_r128_tf2onnx_op13.onnx"), str(path))
    assert main(["verify", str(path), "--against", "onnxruntime", "--mode", "float32"]) == 0
    assert "onnxruntime vs executor (float64)" in capsys.readouterr().out


def test_weight_stripped_model_summarises_and_runs_but_verify_needs_weights(capsys, tmp_path):
    # The stripped fixtures keep shapes but no weights: summary and run work from the
    # shapes; executing (verify) says in one line that it needs the weights, exit code 2.
    path = DATA / "mobilenet_v2_a035_r64_torchscript_op13.onnx"
    net = load_onnx(path)
    assert net.total_macs == V2.total_macs and net.missing_weights and not net.params
    assert main(["summary", str(path)]) == 0
    runfile = tmp_path / "run.yaml"
    runfile.write_text(f"name: stripped\nmodel: {{path: {path.resolve()}}}\n"
                       "hardware: edge_1mb.yaml\n")
    assert main(["run", str(runfile), "--out", str(tmp_path / "out"), "--no-plots"]) == 0
    capsys.readouterr()
    assert main(["verify", str(path), "--mode", "float32"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "needs the weights" in err[0] and "shapes only" in err[0]
