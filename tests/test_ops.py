"""The operator registry and the operators of common CNNs: counts by hand, tile geometry
against whole-layer kernels, integer/float replay of tiny-SRAM schedules, vector cost."""

from __future__ import annotations

import math

import concat_networks
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accelsim.config import load_run
from accelsim.config.models import ComputeConfig, HardwareConfig, SimulationConfig
from accelsim.ir.builder import NetworkBuilder
from accelsim.ir.layers import OP_NAMES
from accelsim.ir.modelfile import load_model_file
from accelsim.ir.ops import OPS
from accelsim.mapping import BUFFERINGS, POLICIES, BuildOptions, build_schedule
from accelsim.mapping.tiling import Sizes, input_region_rows
from accelsim.reference import kernels
from accelsim.reference.executor import FLOAT_KERNELS, run
from accelsim.reference.quant import INT_KERNELS
from accelsim.reference.replay import replay
from accelsim.sim import simulate
from accelsim.sim.compute import compute_model
from accelsim.sim.pe_array import layer_gemm

MODELS_DIR = __import__("pathlib").Path(__file__).parent.parent / "models"


def test_every_op_has_traits_and_kernels():
    pytest.importorskip("onnx")
    from accelsim.ir.onnx.importer import HANDLED_OPS

    assert set(OP_NAMES) == set(OPS)
    for op, traits in OPS.items():
        assert op in FLOAT_KERNELS, op
        assert op == "input" or op in INT_KERNELS, op
        assert traits.description
        assert set(traits.onnx_ops) <= HANDLED_OPS, op


def test_conv_transpose_counts_and_shape_by_hand():
    b = NetworkBuilder("t")
    x = b.input("x", (4, 4, 8))
    y = b.conv_transpose("up", x, 6, 3, 2, (1, 1, 1, 1), (1, 1), groups=2, use_bias=True)
    layer = b.build().layer(y)
    # (4 - 1) * 2 + 3 - 1 - 1 + 1 output padding = 8 rows and columns
    assert layer.output_shape == (8, 8, 6)
    # every input element (4 * 4 * 8) meets 6 / 2 filters of 3 x 3 taps
    assert layer.macs == 128 * 3 * 9
    assert layer.weight_count == 9 * 8 * 3 and layer.params == 9 * 8 * 3 + 6
    gemm = layer_gemm(layer)
    assert gemm is not None and gemm.m * gemm.n * gemm.k * gemm.repeats == layer.macs


def test_ceil_mode_pool_and_broadcast_shapes():
    b = NetworkBuilder("t")
    x = b.input("x", (14, 14, 4))
    p = b.pool("p", x, "max_pool", 3, 2, ceil_mode=True)  # ceil(11 / 2) + 1 = 7
    s = b.global_avg_pool("s", p)
    m = b.mul("m", [s, p])
    c = b.concat("c", [m, p, m])
    net = b.build()
    assert net.layer(p).output_shape == (7, 7, 4) and net.layer(p).padding == (0, 1, 0, 1)
    assert net.layer(m).output_shape == (7, 7, 4) and net.layer(c).output_shape == (7, 7, 12)
    # m is concatenated twice: one buffer cannot hold it at two offsets, so the concat
    # copies its 7 x 7 x 12 output elements
    assert net.layer(c).concat_copies and net.layer(c).vector_elements == 7 * 7 * 12
    assert net.layer(m).vector_elements == 7 * 7 * 4


def test_vector_work_is_costed_at_vector_rate():
    b = NetworkBuilder("t")
    x = b.input("x", (8, 8, 16))
    p = b.pool("p", x, "avg_pool", 2)
    h = b.conv2d("c", p, 16, 1, activation="hard_swish")
    net = b.build()
    ideal = compute_model(ComputeConfig(mac_rate=1e9, vector_rate=1e6))
    # 4 x 4 x 16 outputs x 4 window elements = 1024 elements at 1e6 elem/s
    assert ideal(net.layer(p), 1).time_s == pytest.approx(1024e-6)
    # the conv: 256 outputs x 16 MACs at 1e9 MAC/s vs 256 hard-swish elements at 1e6 /s
    assert ideal(net.layer(h), 2).time_s == pytest.approx(2 * 256e-6)
    default = ComputeConfig(mac_rate=1.6e10)
    assert default.effective_vector_rate == 1e9
    array = compute_model(ComputeConfig(pe_rows=4, pe_cols=4, clock=1e9))
    assert array(net.layer(p), 1).time_s == pytest.approx(1024 / 1e9)  # 16 G/s / 16


def _tile_geometry_net(kind: str, k: int, s: int, pads: tuple[int, int], h: int) -> tuple:
    b = NetworkBuilder("t")
    x = b.input("x", (h, 3, 2))
    if kind == "conv_transpose":
        y = b.conv_transpose("y", x, 3, (k, 1), (s, 1), (pads[0], pads[1], 0, 0))
    else:
        y = b.resize("y", x, (s, 1), kind)
    return b.build(), y


@settings(max_examples=60, deadline=None)
@given(kind=st.sampled_from(["conv_transpose", "nearest", "bilinear"]), k=st.integers(1, 4),
       s=st.integers(1, 3), top=st.integers(0, 2), bottom=st.integers(0, 2),
       h=st.integers(1, 6), data=st.data())
def test_row_tiles_reproduce_the_whole_layer(kind, k, s, top, bottom, h, data):
    # any band of output rows, computed from input_region_rows' band with the tile padding
    # the registry gives, equals those rows of the whole layer
    from accelsim.ir.ops import traits
    if kind == "conv_transpose" and top + bottom >= (h - 1) * s + k:
        return
    mode = "bilinear" if kind == "bilinear" else "nearest"
    net, name = _tile_geometry_net(kind if kind == "conv_transpose" else mode, k, s,
                                   (top, bottom), h)
    layer = net.layer(name)
    ho = layer.output_shape[0]
    r0 = data.draw(st.integers(0, ho - 1))
    r1 = data.draw(st.integers(r0 + 1, ho))
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, h, 3, 2))
    w = rng.standard_normal((k, 1, 2, 3))
    got = input_region_rows(layer, (r0, r1))
    crop = traits(layer.op).tile_padding(layer, (r0, r1), got, 0) + (0, 0)
    if kind == "conv_transpose":
        whole = kernels.conv_transpose2d(x, w, layer.stride, layer.padding)
        tile = kernels.conv_transpose2d(x[:, got[0]:got[1]], w, layer.stride, crop)
    else:
        whole = kernels.resize(x, layer.stride, mode)
        tile = kernels.resize(x[:, got[0]:got[1]], layer.stride, mode, crop)
    np.testing.assert_allclose(tile, whole[:, r0:r1], rtol=1e-12, atol=1e-12)


def small_unet(up: str) -> object:
    """Two levels, both upsampling kinds' halos, concat skips, a tiny SRAM."""
    b = NetworkBuilder(f"unet_{up}")
    x = b.input("x", (16, 16, 3))
    e1 = b.conv2d("e1", x, 4, 3, batch_norm=True, activation="relu")
    e2 = b.conv2d("e2", b.pool("p1", e1, "max_pool", 2), 8, 3, activation="relu")
    if up == "transposed":
        u = b.conv_transpose("up", e2, 4, 2, 2, use_bias=True)
    else:
        u = b.conv2d("up", b.resize("rs", e2, 2, up), 4, 1)
    c = b.concat("cat", [e1, u])
    d = b.conv2d("d1", c, 4, 3, activation="leaky_relu")
    b.conv2d("head", d, 2, 1, use_bias=True, activation="sigmoid")
    return b.build()


@pytest.mark.parametrize("up", ["transposed", "bilinear", "nearest"])
@pytest.mark.parametrize("mode", ["int", "float32"])
def test_unet_replays_on_a_tiny_sram(up, mode):
    net = small_unet(up)
    schedule = build_schedule(net, Sizes(8, 8, 32), 1200, "liveness")
    assert any(len(ls.actions) > 6 for ls in schedule.layers)  # layers really are tiled
    x = np.random.default_rng(1).standard_normal((1, 16, 16, 3)).astype(np.float32)
    result = replay(net, schedule, x, mode=mode)
    assert result.passed and result.peak_sram_bytes <= 1200
    if mode == "int":
        assert result.max_abs_err == 0


@pytest.mark.parametrize("mode", ["int", "float32"])
def test_squeeze_excite_and_shuffle_blocks_replay(mode):
    b = NetworkBuilder("blocks")
    x = b.input("x", (8, 8, 8))
    y = b.conv2d("expand", x, 16, 1, batch_norm=True, activation="hard_swish")
    s = b.global_avg_pool("se_pool", y)
    s = b.conv2d("se_fc", s, 16, 1, use_bias=True, activation="hard_sigmoid")
    y = b.mul("se_scale", [y, s])
    left, right = b.channel_slice("l", y, 0, 8), b.channel_slice("r", y, 8, 16)
    right = b.conv2d("branch", right, 8, 3, activation="silu")
    y = b.channel_shuffle("shuffle", b.concat("cat", [left, right]), 2)
    y = b.sub("diff", [y, b.global_max_pool("gmp", y)])
    b.prelu("prelu", y)
    net = b.build()
    schedule = build_schedule(net, Sizes(8, 8, 32), 1500, "liveness")
    x = np.random.default_rng(2).standard_normal((1, 8, 8, 8)).astype(np.float32)
    result = replay(net, schedule, x, mode=mode)
    assert result.passed and (mode == "float32" or result.max_abs_err == 0)


def test_float_kernels_by_hand():
    x = np.arange(8, dtype=np.float32).reshape(1, 1, 2, 4)
    assert kernels.channel_shuffle(x, 2)[0, 0, 0].tolist() == [0, 2, 1, 3]
    up = kernels.resize(np.array([[[[0.0], [4.0]]]]), (1, 2), "bilinear")
    # half-pixel centres: columns sit at -0.25, 0.25, 0.75, 1.25 of the input grid
    assert up[0, 0, :, 0].tolist() == [0.0, 1.0, 3.0, 4.0]
    scatter = kernels.conv_transpose2d(np.ones((1, 1, 2, 1)), np.ones((1, 3, 1, 1)),
                                       (1, 2), (0, 0, 0, 0))
    assert scatter[0, 0, :, 0].tolist() == [1, 1, 2, 1, 1]  # taps overlap in column 2


def test_bundled_model_files_build():
    counts = {}
    for name in ("efficientnet_b0", "squeezenet1_1", "unet_small"):
        counts[name] = load_model_file(MODELS_DIR / f"{name}.yaml")
    assert counts["squeezenet1_1"].layer(counts["squeezenet1_1"].outputs[-1]).output_shape[-1] \
        == 1000


def test_mobilenet_v3_runs_in_both_modes():
    from accelsim.ir.zoo import build_model
    net = build_model("mobilenet_v3_small", 0.25, 32, 10)
    x = np.random.default_rng(0).standard_normal((1, 32, 32, 3)).astype(np.float32)
    floats = run(net, x).outputs["softmax"]
    ints = run(net, x, mode="int").outputs["softmax"]
    assert floats.shape == ints.shape == (1, 10)
    assert math.isclose(float(floats.sum()), 1.0, rel_tol=1e-5)
    result = __import__("accelsim").sim.simulate(net, load_run("mobilenet_cifar.yaml").hardware)
    assert result.total.compute_time_s > net.total_macs / 5e11  # vector work shows up


def every_op_network():
    """One network using every op and every activation kind."""
    b = NetworkBuilder("every_op")
    x = b.input("x", (12, 12, 4))
    c = b.conv2d("c", x, 8, 3, batch_norm=True, activation="hard_swish")
    d = b.depthwise_conv2d("dw", c, 3, 2, (1, 1, 1, 1), activation="leaky_relu")
    u = b.conv_transpose("up", d, 8, 3, 2, (1, 1, 1, 1), (1, 1), use_bias=True,
                         activation="silu")
    s = b.global_avg_pool("gap", u)
    s = b.conv2d("se", s, 8, 1, use_bias=True, activation="hard_sigmoid")
    m = b.mul("scale", [u, s])
    g = b.global_max_pool("gmp", m)
    r = b.sub("centre", [m, g], activation="sigmoid")
    cat = b.concat("cat", [r, c])
    sh = b.channel_shuffle("shuffle", cat, 4)
    sl = b.channel_slice("half", sh, 4, 12)
    bn = b.batch_norm("bn", sl)
    pr = b.prelu("prelu", bn)
    a = b.add("sum", [pr, b.activation("act", pr, "relu6")])
    rs = b.resize("near", b.pool("mp", a, "max_pool", 3, 2, ceil_mode=True), 2, "nearest")
    rs = b.resize("bil", b.pool("ap", rs, "avg_pool", 2, 2, "same"), 3, "bilinear")
    f = b.flatten("flat", b.pool("p", rs, "avg_pool", 18))
    b.softmax("softmax", b.dense("fc", f, 5, activation="relu"))
    return b.build()


def test_every_op_matches_onnxruntime_through_the_exporter():
    ort = pytest.importorskip("onnxruntime")
    from accelsim.ir.onnx_export import network_to_onnx
    from accelsim.ir.onnx_import import load_onnx
    from accelsim.reference.weights import random_params

    net = every_op_network()
    assert {layer.op for layer in net.layers()} == set(OP_NAMES)
    params = random_params(net, 4)
    model = network_to_onnx(net, params)
    x = np.random.default_rng(5).standard_normal((2, 12, 12, 4)).astype(np.float32)
    session = ort.InferenceSession(model.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    want = session.run(None, {"x": x.transpose(0, 3, 1, 2)})[0]
    got = run(net, x, params).outputs["softmax"]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    # and the importer reads the exported file back to the same layers and MACs
    back = load_onnx(model)
    assert back.total_macs == net.total_macs
    np.testing.assert_allclose(run(back, x).outputs[back.outputs[-1]], want, rtol=1e-5,
                               atol=1e-6)


def test_exporters_write_transposed_convs_as_their_scatter_gemm():
    import yaml

    from accelsim.export import export_network
    from accelsim.export.scalesim import topology_rows

    net = small_unet("transposed")
    rows = {row[0]: row for row in topology_rows(net)}
    # up: an 8x8x8 input, 2 x 2 taps x 4 filters = 16 filters of a 1x1 conv
    assert rows["up"][1:] == (8, 8, 1, 1, 8, 16, 1)
    assert 8 * 8 * 8 * 16 == net.layer("up").macs
    problems = {name: yaml.safe_load(text)["problem"]["instance"]
                for name, text in export_network(net, "timeloop").items()}
    up = next(v for k, v in problems.items() if k.endswith("_up.yaml"))
    assert (up["C"], up["M"], up["R"], up["S"], up["P"], up["Q"]) == (8, 16, 1, 1, 8, 8)
    (workload,) = export_network(net, "zigzag").values()
    entry = next(e for e in yaml.safe_load(workload) if e["name"] == "up")
    assert entry["loop_sizes"] == [1, 16, 8, 8, 8, 1, 1]


def test_summary_check_lists_every_unsupported_node(tmp_path, capsys):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    from accelsim.cli.app import main

    nodes = [helper.make_node("LRN", ["x"], ["a"], name="n0", size=3),
             helper.make_node("Relu", ["a"], ["b"], name="n1"),
             helper.make_node("Erf", ["b"], ["y"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(
        "x", TensorProto.FLOAT, ["N", 3, 4, 4])], [helper.make_tensor_value_info(
            "y", TensorProto.FLOAT, None)])
    path = tmp_path / "m.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    assert main(["summary", "--check", str(path)]) == 2
    captured = capsys.readouterr()
    lines = [line.split() for line in captured.out.splitlines()]
    assert ["LRN", "n0", "a"] in lines and ["Erf", "(unnamed)", "y"] in lines
    assert captured.err.strip().endswith("2 unsupported ONNX nodes (listed above)")
    assert main(["summary", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "'n0' (LRN): unsupported operator 'LRN' (output 'a') (and 1 more" in err


def test_constant_folding_errors_name_the_node():
    pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    from accelsim.errors import ImportErrorOnnx
    from accelsim.ir.onnx_import import load_onnx

    # Reshape of a (2, 3) constant to [0, 0, 3]: 0 copies the input's dimension, so the
    # target is (2, 3, 3), which 6 elements cannot fill
    inits = [numpy_helper.from_array(np.zeros((2, 3), np.float32), "c"),
             numpy_helper.from_array(np.array([0, 0, 3], np.int64), "shape")]
    nodes = [helper.make_node("Reshape", ["c", "shape"], ["r"], name="bad_reshape"),
             helper.make_node("Add", ["x", "r"], ["y"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(
        "x", TensorProto.FLOAT, ["N", 3, 2, 3])], [helper.make_tensor_value_info(
            "y", TensorProto.FLOAT, None)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    with pytest.raises(ImportErrorOnnx, match=r"'bad_reshape' \(Reshape\): cannot evaluate "
                                              r"this constant node on inputs c \[2, 3\]"):
        load_onnx(model)


def test_vector_rate_reads_unit_strings():
    from accelsim.units import parse_quantity

    assert parse_quantity("16 Gelem/s", "vector_rate") == 16e9
    config = ComputeConfig(mac_rate="1 TMAC/s", vector_rate="250 Melem/s")
    assert config.effective_vector_rate == 2.5e8


@settings(max_examples=12, deadline=None)
@given(net_kind=st.sampled_from(["every_op", "unet_transposed", "unet_bilinear", "v3_small"]),
       capacity=st.integers(1_000, 20_000), bits=st.sampled_from([8, 16]),
       batch=st.integers(1, 2), policy=st.sampled_from(sorted(POLICIES)),
       buffering=st.sampled_from(BUFFERINGS))
def test_schedules_of_every_op_fit_and_replay_exactly(net_kind, capacity, bits, batch, policy,
                                                      buffering):
    """Any SRAM, width, batch and policy: the schedule never exceeds the SRAM and its
    integer replay equals direct execution bit for bit (or the SRAM is refused clearly)."""
    from accelsim.errors import ScheduleError
    from accelsim.ir.zoo import build_model

    net = {"every_op": every_op_network, "unet_transposed": lambda: small_unet("transposed"),
           "unet_bilinear": lambda: small_unet("bilinear"),
           "v3_small": lambda: build_model("mobilenet_v3_small", 0.25, 32, 10)}[net_kind]()
    try:
        schedule = build_schedule(net, Sizes(bits, bits, 32, batch), capacity, policy,
                                  BuildOptions(buffering))
    except ScheduleError as exc:
        assert "cannot run in" in str(exc) or "tiles" in str(exc)
        return
    shape = net.layer(net.inputs[0]).output_shape
    x = np.random.default_rng(3).standard_normal((batch, *shape)).astype(np.float32)
    result = replay(net, schedule, x, mode="int")
    assert result.passed and result.max_abs_err == 0 and result.peak_sram_bytes <= capacity


def test_a_broadcast_first_input_is_sized_by_its_widest_input():
    # scale * x, as torchvision writes squeeze-excite: the (1, 1, C) input comes first, and
    # the tile search must size the tile by the (H, W, C) one
    b = NetworkBuilder("se_first")
    x = b.input("x", (8, 8, 8))
    y = b.conv2d("c", x, 8, 1, activation="relu")
    s = b.conv2d("fc", b.global_avg_pool("pool", y), 8, 1, activation="hard_sigmoid")
    b.mul("scale", [s, y])
    net = b.build()
    schedule = build_schedule(net, Sizes(8, 8, 32, 2), 600, "liveness",
                              BuildOptions("full"))
    x = np.random.default_rng(4).standard_normal((2, 8, 8, 8)).astype(np.float32)
    result = replay(net, schedule, x, mode="int")
    assert result.passed and result.max_abs_err == 0 and result.peak_sram_bytes <= 600


@pytest.mark.parametrize("op", ["AveragePool", "MaxPool"])
@pytest.mark.parametrize("pads", [[0, 0, 0, 0], [1, 1, 1, 1]])
def test_ceil_mode_pools_match_onnxruntime(op, pads):
    ort = pytest.importorskip("onnxruntime")
    from onnx import TensorProto, helper

    from accelsim.ir.onnx_import import load_onnx

    node = helper.make_node(op, ["x"], ["y"], kernel_shape=[3, 3], strides=[2, 2],
                            pads=pads, ceil_mode=1)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info(
        "x", TensorProto.FLOAT, ["N", 2, 8, 8])], [helper.make_tensor_value_info(
            "y", TensorProto.FLOAT, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    net = load_onnx(model)
    x = np.random.default_rng(6).standard_normal((2, 8, 8, 2)).astype(np.float32)
    session = ort.InferenceSession(model.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    want = session.run(None, {"x": x.transpose(0, 3, 1, 2)})[0]
    # ceil((8 + pads - 3) / 2) + 1: 4 without padding, 5 with (floor mode: 3 and 4)
    assert want.shape[2:] == ((5, 5) if any(pads) else (4, 4))
    got = run(net, x).outputs[net.outputs[0]].transpose(0, 3, 1, 2)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


def test_views_take_no_time_and_copies_their_vector_work():
    # 1 B/ns DRAM, 1 GMAC/s, 1 Gelem/s vector unit: a view concat costs nothing (no
    # actions, no work); a concat that copies (its input is the network input) does one
    # vector operation per output element: 8 * 8 * 8 = 512 elements = 512 ns.
    hw = HardwareConfig.model_validate({
        "sram": {"capacity": 100_000}, "dram": {"bandwidth": 1e9},
        "compute": {"mac_rate": 1e9, "vector_rate": 1e9}})
    view = simulate(concat_networks.two_branch(), hw, SimulationConfig()).table()
    row = view.set_index("name").loc["k"]
    assert row.compute_time_s == 0 and row.total_time_s == 0
    copy = simulate(concat_networks.input_concat(), hw, SimulationConfig()).table()
    assert copy.set_index("name").loc["k"].compute_time_s == pytest.approx(512e-9)
