"""ONNX import: structure against the zoo, numerics against onnxruntime, clear errors."""

from __future__ import annotations

import numpy as np
import pytest

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from accelsim.errors import ImportErrorOnnx  # noqa: E402
from accelsim.ir.onnx_export import network_to_onnx  # noqa: E402
from accelsim.ir.onnx_import import load_onnx  # noqa: E402
from accelsim.ir.zoo import mobilenet_v1_cifar, mobilenet_v2  # noqa: E402
from accelsim.reference import random_params, run  # noqa: E402
from tests.onnx_models import cifar_mobilenet_onnx, mobilenet_v2_blocks_onnx, single_node_onnx  # noqa: E402,E501

COMPARED = ("name", "op", "input_shapes", "output_shape", "kernel", "stride", "groups",
            "use_bias", "batch_norm", "activation")


def ort_run(model, x_nhwc: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return session.run(None, {name: x_nhwc.transpose(0, 3, 1, 2)})[0]


def assert_close_to_ort(model, net, x, rtol=1e-4):
    want = ort_run(model, x)
    got = run(net, x).outputs[net.outputs[0]]
    assert got.shape == want.shape
    # relative to the largest output: probabilities near 0 carry no relative precision
    assert np.abs(got - want).max() <= rtol * np.abs(want).max()


def test_cifar_import_has_the_zoo_structure_and_counts():
    net = load_onnx(cifar_mobilenet_onnx())
    zoo = mobilenet_v1_cifar()
    assert net.total_macs == zoo.total_macs
    assert net.total_params == zoo.total_params
    assert net.bn_params == zoo.bn_params
    strip = [{k: d[k] for k in COMPARED} for d in net.structure()]
    assert strip == [{k: d[k] for k in COMPARED} for d in zoo.structure()]
    assert net.bn_epsilon == pytest.approx(1e-5)
    assert net.params["conv_dw_1"]["weight"].shape == (3, 3, 1, 32)
    assert net.params["fc"]["weight"].shape == (256, 10)


def test_cifar_float32_matches_onnxruntime():
    model = cifar_mobilenet_onnx(seed=3)
    x = np.random.default_rng(0).standard_normal((3, 28, 28, 3)).astype(np.float32)
    assert_close_to_ort(model, load_onnx(model), x)


def test_mobilenet_v2_blocks_fuse_and_match_onnxruntime(tmp_path):
    model = mobilenet_v2_blocks_onnx(seed=5)
    path = tmp_path / "v2.onnx"
    path.write_bytes(model.SerializeToString())
    net = load_onnx(path)
    ops = [layer.op for layer in net.layers()]
    # stem + 3 blocks x 3 convs, 2 residual adds, pooling, the head: no flatten or reshape
    assert ops.count("add") == 2 and "flatten" not in ops and "batch_norm" not in ops
    assert net.layer("stem").activation == "relu6" and net.layer("stem").batch_norm
    assert net.layer("features_0_project").activation == "none"
    unnamed = [n for n in net.order if n.startswith("globalaveragepool_")]  # op + index
    assert len(unnamed) == 1 and net.layer(unnamed[0]).op == "global_avg_pool"
    assert net.layer("classifier").input_shapes == ((1, 1, 24),)
    x = np.random.default_rng(1).standard_normal((2, 32, 32, 3)).astype(np.float32)
    assert_close_to_ort(model, net, x)


def test_exporter_round_trip_and_spatial_flatten_order():
    # a dense layer over a 2x2 map: the exporter reorders weight rows to ONNX's (c, h, w)
    # flattening and the importer reorders them back; ORT checks the exported model
    net = mobilenet_v2(alpha=0.35, resolution=64, classes=5)
    params = random_params(net, seed=2)
    model = network_to_onnx(net, params)
    back = load_onnx(model)
    assert back.structure() == net.structure()
    x = np.random.default_rng(2).standard_normal((2, 64, 64, 3)).astype(np.float32)
    # ONNX stores epsilon as float32 (1e-3 -> 1.0000000475e-3); the random V2 amplifies it
    np.testing.assert_allclose(run(back, x).outputs["softmax"],
                               run(net, x, params).outputs["softmax"], rtol=1e-4, atol=1e-6)
    assert_close_to_ort(model, back, x)

    from accelsim.ir.builder import NetworkBuilder

    b = NetworkBuilder("spatial")
    h = b.input("input", (4, 4, 3))
    h = b.pool("pool", h, "max_pool", 2)
    b.dense("fc", h, 6)
    small = b.build()
    small_params = random_params(small, seed=1)
    small_model = network_to_onnx(small, small_params)
    xs = np.random.default_rng(3).standard_normal((2, 4, 4, 3)).astype(np.float32)
    np.testing.assert_allclose(ort_run(small_model, xs), run(small, xs, small_params).outputs["fc"],
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(load_onnx(small_model).params["fc"]["weight"],
                               small_params["fc"]["weight"])


def test_unsupported_operator_names_op_and_node():
    with pytest.raises(ImportErrorOnnx, match=r"'my/LRN\.0' \(LRN\): unsupported operator 'LRN'"):
        load_onnx(single_node_onnx("LRN", size=3))


def test_dilated_conv_is_rejected():
    with pytest.raises(ImportErrorOnnx, match=r"dilations \[2, 2\] are not supported"):
        load_onnx(single_node_onnx("Conv", kernel_shape=[3, 3], dilations=[2, 2]))


def test_same_upper_conv_and_missing_file(tmp_path):
    net = load_onnx(single_node_onnx("Conv", kernel_shape=[3, 3], strides=[2, 2],
                                     auto_pad="SAME_UPPER"))
    layer = net.layer("my_Conv_0")
    assert layer.output_shape == (4, 4, 4) and layer.padding == (0, 1, 0, 1)
    with pytest.raises(ImportErrorOnnx, match="no such ONNX file"):
        load_onnx(tmp_path / "absent.onnx")
