"""Layer formulas worked by hand, op naming, graph checks and tensor bookkeeping."""

from __future__ import annotations

import pytest

from accelsim.errors import GraphError
from accelsim.ir.builder import NetworkBuilder
from accelsim.ir.graph import Network
from accelsim.ir.layers import Layer


def _conv_on(size: int, channels: int, **kwargs: object) -> Layer:
    """Build input(size x size x channels) -> one conv2d named 'c' and return its record."""
    b = NetworkBuilder("t")
    x = b.input("x", (size, size, channels))
    b.conv2d("c", x, **kwargs)  # type: ignore[arg-type]
    return b.build().layer("c")


# ---- one 3x3 conv ------------------------------------------------------------------------
def test_conv3x3_same_stride1() -> None:
    # 8x8x16 -> 32 filters, 3x3, same: output 8x8x32, pad 1 on every side.
    # MACs = output elements * (3*3*16) = (8*8*32) * 144 = 2048 * 144 = 294,912
    # weights = 3*3*16*32 = 4,608
    layer = _conv_on(8, 16, filters=32, kernel=3, stride=1, padding="same")
    assert layer.op == "conv2d"
    assert layer.output_shape == (8, 8, 32)
    assert layer.padding == (1, 1, 1, 1)
    assert layer.macs == 294_912
    assert layer.weight_count == 4_608
    assert layer.params == 4_608  # no bias by default


def test_conv3x3_valid_and_explicit_padding() -> None:
    # valid: (8 - 3) // 1 + 1 = 6 -> 6x6x32; MACs = 36*32*144 = 165,888
    valid = _conv_on(8, 16, filters=32, kernel=3, padding="valid")
    assert valid.output_shape == (6, 6, 32)
    assert valid.padding == (0, 0, 0, 0)
    assert valid.macs == 165_888
    # explicit 2 on every side: (8 + 2 + 2 - 3) // 1 + 1 = 10 -> 10x10x32
    # MACs = 100*32*144 = 460,800
    explicit = _conv_on(8, 16, filters=32, kernel=3, padding=2)
    assert explicit.output_shape == (10, 10, 32)
    assert explicit.padding == (2, 2, 2, 2)
    assert explicit.macs == 460_800
    # [top, bottom, left, right] = [0, 1, 2, 0]: rows (8+0+1-3)+1 = 7, cols (8+2+0-3)+1 = 8
    asym = _conv_on(8, 16, filters=4, kernel=3, padding=[0, 1, 2, 0])
    assert asym.output_shape == (7, 8, 4)


def test_conv_stride2_same_odd_and_even_inputs() -> None:
    # TF same, stride 2: out = ceil(n / 2); total pad = (out - 1) * 2 + k - n, extra at the end.
    # n=7, k=3: out 4, total (4-1)*2 + 3 - 7 = 2 -> (1, 1)
    odd = _conv_on(7, 8, filters=8, kernel=3, stride=2)
    assert odd.output_shape == (4, 4, 8)
    assert odd.padding == (1, 1, 1, 1)
    # n=8, k=3: out 4, total (4-1)*2 + 3 - 8 = 1 -> (0, 1): the odd pad goes bottom/right
    even = _conv_on(8, 8, filters=8, kernel=3, stride=2)
    assert even.output_shape == (4, 4, 8)
    assert even.padding == (0, 1, 0, 1)
    # n=7, k=2: out 4, total (4-1)*2 + 2 - 7 = 1 -> (0, 1)
    k2 = _conv_on(7, 8, filters=8, kernel=2, stride=2)
    assert k2.output_shape == (4, 4, 8)
    assert k2.padding == (0, 1, 0, 1)
    # valid, n=7, k=3, s=2: (7 - 3) // 2 + 1 = 3; MACs = 3*3*8 * 3*3*8 = 72 * 72 = 5,184
    valid = _conv_on(7, 8, filters=8, kernel=3, stride=2, padding="valid")
    assert valid.output_shape == (3, 3, 8)
    assert valid.macs == 5_184


# ---- depthwise and pointwise ----------------------------------------------------------------
def test_depthwise_layer() -> None:
    # 14x14x64, 3x3 depthwise, stride 1: output 14x14x64.
    # MACs = D_K^2 * M * D_F^2 = 9 * 64 * 196 = 112,896; weights = 9 * 64 = 576
    b = NetworkBuilder("t")
    b.depthwise_conv2d("dw", b.input("x", (14, 14, 64)), 3, 1, batch_norm=True)
    layer = b.build().layer("dw")
    assert layer.op == "depthwise_conv2d"
    assert layer.groups == 64
    assert layer.output_shape == (14, 14, 64)
    assert layer.macs == 112_896
    assert layer.weight_count == 576
    assert layer.bn_params == 4 * 64  # scale, shift, mean, variance per channel


def test_pointwise_layer() -> None:
    # 14x14x64 -> 128, 1x1: MACs = M * N * D_F^2 = 64 * 128 * 196 = 1,605,632
    # weights = 64 * 128 = 8,192; with a bias: + 128 = 8,320
    layer = _conv_on(14, 64, filters=128, kernel=1, use_bias=True)
    assert layer.output_shape == (14, 14, 128)
    assert layer.padding == (0, 0, 0, 0)
    assert layer.macs == 1_605_632
    assert layer.weight_count == 8_192
    assert layer.bias_count == 128
    assert layer.params == 8_320


def test_op_name_depthwise_only_when_groups_equal_in_and_out() -> None:
    # groups 16, in 16, out 16: depthwise. 3*3*(16/16)*16 = 144 weights
    assert _conv_on(8, 16, filters=16, groups=16).op == "depthwise_conv2d"
    # groups 16, in 16, out 32 (channel multiplier 2): a grouped conv2d; 3*3*1*32 = 288
    multiplier = _conv_on(8, 16, filters=32, groups=16)
    assert multiplier.op == "conv2d"
    assert multiplier.weight_count == 288
    # groups 2: grouped conv2d; weights 3*3*(16/2)*16 = 1,152; MACs 8*8*16 * 3*3*8 = 73,728
    grouped = _conv_on(8, 16, filters=16, groups=2)
    assert grouped.op == "conv2d"
    assert grouped.weight_count == 1_152
    assert grouped.macs == 73_728
    with pytest.raises(GraphError, match="multiples of groups"):
        _conv_on(8, 16, filters=16, groups=3)


# ---- dense and pools -------------------------------------------------------------------------
def test_dense_and_pools() -> None:
    b = NetworkBuilder("t")
    x = b.input("x", (7, 7, 256))
    avg = b.pool("avg", x, "avg_pool", 7)
    fc = b.dense("fc", avg, 10)
    mx = b.pool("max", x, "max_pool", 3, 2)
    gap = b.global_avg_pool("gap", x)
    flat = b.flatten("flat", x)
    net = b.build()
    # avg 7x7 window, stride = window, valid: (7 - 7) // 7 + 1 = 1 -> 1x1x256, no work counted
    assert net.layer(avg).output_shape == (1, 1, 256)
    assert (net.layer(avg).macs, net.layer(avg).params) == (0, 0)
    # dense over 1*1*256 inputs to 10: MACs = 256 * 10 = 2,560; params 2,560 + 10 bias = 2,570
    assert net.layer(fc).output_shape == (10,)
    assert net.layer(fc).macs == 2_560
    assert net.layer(fc).params == 2_570
    # max 3x3 stride 2 valid on 7: (7 - 3) // 2 + 1 = 3
    assert net.layer(mx).output_shape == (3, 3, 256)
    assert net.layer(gap).output_shape == (1, 1, 256)
    # flatten: 7 * 7 * 256 = 12,544
    assert net.layer(flat).output_shape == (12_544,)


# ---- graph checks ----------------------------------------------------------------------------
def _act(name: str, src: str, shape: tuple[int, ...] = (4, 4, 3)) -> Layer:
    return Layer(name, "activation", (src,), (shape,), shape, activation="relu")


def test_cycle_is_rejected_naming_the_nodes() -> None:
    layers = [Layer("x", "input", (), (), (4, 4, 3)), _act("a", "b"), _act("b", "a")]
    with pytest.raises(GraphError, match=r"loop: the graph has a cycle: (a -> b -> a|b -> a -> b)"):
        Network.from_layers("loop", layers)


def test_unknown_input_is_rejected() -> None:
    layers = [Layer("x", "input", (), (), (4, 4, 3)), _act("a", "ghost")]
    with pytest.raises(GraphError, match="layer 'a' reads unknown input 'ghost'"):
        Network.from_layers("t", layers)
    b = NetworkBuilder("t")
    b.input("x", (4, 4, 3))
    with pytest.raises(GraphError, match="unknown input 'ghost'"):
        b.activation("a", "ghost", "relu")


def test_recorded_shapes_must_match_producers() -> None:
    layers = [Layer("x", "input", (), (), (4, 4, 3)), _act("a", "x", (5, 5, 3))]
    with pytest.raises(GraphError, match="layer 'a' expects inputs"):
        Network.from_layers("t", layers)


def test_add_with_mismatched_shapes_names_both_inputs() -> None:
    b = NetworkBuilder("t")
    x = b.input("x", (8, 8, 16))
    wide = b.conv2d("wide", x, 32, 1)
    with pytest.raises(GraphError, match=r"add layer 'sum' has mismatched shapes: x .*wide"):
        b.add("sum", [x, wide])


def test_duplicate_names_are_rejected() -> None:
    b = NetworkBuilder("t")
    x = b.input("x", (4, 4, 3))
    b.activation("a", x, "relu")
    with pytest.raises(GraphError, match="'a' is used twice"):
        b.activation("a", x, "relu")


# ---- tensors ---------------------------------------------------------------------------------
def test_residual_tensor_has_two_consumers_in_order() -> None:
    b = NetworkBuilder("res")
    x = b.input("x", (8, 8, 16))
    a = b.conv2d("a", x, 16, 1)
    c = b.conv2d("b", a, 16, 3)
    b.add("sum", [a, c])
    net = b.build()
    tensors = net.tensors()
    assert tensors["a"].producer == "a"
    assert tensors["a"].consumers == ("b", "sum")
    assert tensors["b"].consumers == ("sum",)
    assert tensors["sum"].consumers == ()
    assert net.outputs == ("sum",)
    assert net.order == ("x", "a", "b", "sum")
    # the 8x8x16 input at 8 bits: 1,024 elements * 8 = 8,192 bits
    assert tensors["x"].elements == 1_024
    assert tensors["x"].size_bits(8) == 8_192
