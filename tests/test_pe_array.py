"""PE-array cycles: SCALE-Sim's fold formulas worked by hand on small layers."""

from __future__ import annotations

from typing import get_args

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accelsim.config.models import ComputeConfig
from accelsim.errors import AccelsimError
from accelsim.ir.layers import Layer
from accelsim.ir.zoo import build_model
from accelsim.sim.pe_array import (
    DATAFLOWS,
    DEPTHWISE_MAPPINGS,
    Gemm,
    PEArray,
    layer_cycles,
    layer_gemm,
    network_cycles,
)

# 3x3 conv, 8x8x4 input, `same` padding, stride 1 -> 8x8x16.
CONV = Layer("conv", "conv2d", ("x",), ((8, 8, 4),), (8, 8, 16),
             kernel=(3, 3), padding=(1, 1, 1, 1))
# 3x3 depthwise conv, 8x8x4 -> 8x8x4 (groups = channels = 4).
DEPTHWISE = Layer("dw", "depthwise_conv2d", ("x",), ((8, 8, 4),), (8, 8, 4),
                  kernel=(3, 3), padding=(1, 1, 1, 1), groups=4)
# Dense 256 -> 10.
DENSE = Layer("fc", "dense", ("x",), ((256,),), (10,))


def test_conv_output_stationary_by_hand() -> None:
    # GEMM: M = 8*8 = 64 output pixels, N = 16 filters, K = 3*3*4 = 36.
    # OS: Sr = 64, Sc = 16, T = 36; folds = ceil(64/4) * ceil(16/4) = 16 * 4 = 64.
    # One fold: rows + cols + T - 2 = 4 + 4 + 36 - 2 = 42 cycles; 64 * 42 = 2688.
    c = layer_cycles(CONV, PEArray(4, 4, "os"))
    assert (c.sr, c.sc, c.t) == (64, 16, 36)
    assert c.folds == 64
    assert c.cycles == 2688
    # MACs 64 * 16 * 36 = 36864; utilisation 36864 / (2688 * 16) = 36864 / 43008 = 6/7.
    assert c.macs == 36864
    assert c.utilization == pytest.approx(6 / 7)


def test_conv_weight_and_input_stationary_by_hand() -> None:
    # WS: Sr = K = 36, Sc = N = 16, T = M = 64; folds = ceil(36/4) * ceil(16/4) = 9 * 4 = 36.
    # One fold: 2*rows + cols + T - 2 = 8 + 4 + 64 - 2 = 74; 36 * 74 = 2664.
    ws = layer_cycles(CONV, PEArray(4, 4, "ws"))
    assert (ws.sr, ws.sc, ws.t, ws.folds, ws.cycles) == (36, 16, 64, 36, 2664)
    # IS: Sr = K = 36, Sc = M = 64, T = N = 16; folds = 9 * 16 = 144.
    # One fold: 8 + 4 + 16 - 2 = 26; 144 * 26 = 3744.
    is_ = layer_cycles(CONV, PEArray(4, 4, "is"))
    assert (is_.sr, is_.sc, is_.t, is_.folds, is_.cycles) == (36, 64, 16, 144, 3744)


def test_rows_and_columns_are_not_interchangeable() -> None:
    # OS on 2 rows x 3 cols: folds = ceil(64/2) * ceil(16/3) = 32 * 6 = 192;
    # one fold 2 + 3 + 36 - 2 = 39; 192 * 39 = 7488.
    assert layer_cycles(CONV, PEArray(2, 3, "os")).cycles == 7488
    # 3 rows x 2 cols: folds = ceil(64/3) * ceil(16/2) = 22 * 8 = 176; 176 * 39 = 6864.
    assert layer_cycles(CONV, PEArray(3, 2, "os")).cycles == 6864


def test_depthwise_runs_channel_by_channel_with_low_utilisation() -> None:
    # Per channel: M = 64, N = 1, K = 9. OS: Sr = 64, Sc = 1, T = 9;
    # folds = ceil(64/4) * 1 = 16, one fold 4 + 4 + 9 - 2 = 15 -> 240; 4 channels -> 960.
    c = layer_cycles(DEPTHWISE, PEArray(4, 4, "os"))
    assert (c.sr, c.sc, c.t, c.repeats) == (64, 1, 9, 4)
    assert c.folds == 64
    assert c.cycles == 960
    # MACs 64 * 4 * 9 = 2304; utilisation 2304 / (960 * 16) = 0.15 (one column of four busy).
    assert c.macs == 2304
    assert c.utilization == pytest.approx(0.15)
    assert c.utilization < 1 / 4 < layer_cycles(CONV, PEArray(4, 4, "os")).utilization


# 3x3 depthwise conv on a 3x3x8 map, `same` padding -> 3x3x8: few output pixels, many
# channels. Per channel M = 9, N = 1, K = 9; G = 8.
SMALL_DW = Layer("dw9", "depthwise_conv2d", ("x",), ((3, 3, 8),), (3, 3, 8),
                 kernel=(3, 3), padding=(1, 1, 1, 1), groups=8)


@pytest.mark.parametrize(("dataflow", "channel", "spatial"), [
    # os, channel: Sr = M = 9, Sc = N = 1, T = K = 9; folds ceil(9/4) * 1 = 3 of
    #   4 + 4 + 9 - 2 = 15 -> 45 per channel, x 8 = 360.
    #   spatial: Sc = G*N = 8 -> folds 3 * ceil(8/4) = 6 of 15 = 90.
    ("os", 360, 90),
    # ws, channel: Sr = K = 9, Sc = 1, T = M = 9; folds 3 of 8 + 4 + 9 - 2 = 19 -> 57,
    #   x 8 = 456. spatial: Sc = 8 -> folds 3 * 2 = 6 of 19 = 114.
    ("ws", 456, 114),
    # is, channel: Sr = K = 9, Sc = M = 9, T = N = 1; folds 3 * 3 = 9 of
    #   8 + 4 + 1 - 2 = 11 -> 99, x 8 = 792. spatial: Sc = G*M = 72 -> folds 3 * 18 = 54
    #   of 11 = 594 (the 9 pixels no longer leave 3 of every 12 columns idle).
    ("is", 792, 594),
])
def test_depthwise_channel_and_spatial_by_hand(dataflow: str, channel: int,
                                               spatial: int) -> None:
    by_channel = layer_cycles(SMALL_DW, PEArray(4, 4, dataflow))  # type: ignore[arg-type]
    across = layer_cycles(SMALL_DW,
                          PEArray(4, 4, dataflow, "spatial"))  # type: ignore[arg-type]
    assert (by_channel.cycles, across.cycles) == (channel, spatial)
    assert (by_channel.repeats, across.repeats) == (8, 1)
    assert by_channel.macs == across.macs == 9 * 8 * 9


def test_spatial_depthwise_spreads_channels_over_the_columns() -> None:
    # DEPTHWISE (8x8x4, 3x3) on 4x4 os: Sr = 64, Sc = G*N = 4, T = 9; folds 16 * 1 = 16 of
    # 15 cycles = 240, a quarter of the 960 channel by channel; utilisation 2304 /
    # (240 * 16) = 0.6.
    c = layer_cycles(DEPTHWISE, PEArray(4, 4, "os", "spatial"))
    assert (c.sr, c.sc, c.t, c.folds, c.cycles) == (64, 4, 9, 16, 240)
    assert c.utilization == pytest.approx(0.6)
    assert layer_gemm(DEPTHWISE, 1, "spatial") == Gemm(64, 1, 9, repeats=1, spread=4)
    # A plain conv has no groups to spread: the same either way.
    assert layer_cycles(CONV, PEArray(4, 4, "os", "spatial")) == layer_cycles(
        CONV, PEArray(4, 4, "os"))


@settings(max_examples=60, deadline=None)
@given(hw=st.integers(1, 12), channels=st.integers(2, 96), multiplier=st.integers(1, 3),
       kernel=st.integers(1, 5), batch=st.integers(1, 3), rows=st.integers(1, 32),
       cols=st.integers(1, 32), dataflow=st.sampled_from(DATAFLOWS))
def test_spatial_depthwise_is_never_slower_than_channel_by_channel(
        hw: int, channels: int, multiplier: int, kernel: int, batch: int, rows: int,
        cols: int, dataflow: str) -> None:
    # By construction: channel by channel takes G * ceil(Sr/R) * ceil(S/C) folds of one
    # length, spatial ceil(Sr/R) * ceil(G*S/C) of the same length, and
    # ceil(G*S/C) <= G * ceil(S/C) for every S; equal when C divides S.
    layer = Layer("dw", "conv2d", ("x",), ((hw, hw, channels),),
                  (hw, hw, channels * multiplier), kernel=(kernel, kernel),
                  padding=((kernel - 1) // 2, kernel // 2) * 2, groups=channels)
    cycles = {mode: layer_cycles(layer, PEArray(rows, cols, dataflow, mode),  # type: ignore[arg-type]
                                 batch) for mode in DEPTHWISE_MAPPINGS}
    assert cycles["spatial"].cycles <= cycles["channel"].cycles
    assert cycles["spatial"].macs == cycles["channel"].macs == batch * layer.macs
    assert 0 < cycles["spatial"].utilization <= 1
    if cycles["channel"].sc % cols == 0:  # the spread columns (N, or M in is) fill folds
        assert cycles["spatial"].cycles == cycles["channel"].cycles


def test_the_config_offers_exactly_the_mappings_the_array_implements() -> None:
    field = ComputeConfig.model_fields["depthwise"]
    assert get_args(field.annotation) == DEPTHWISE_MAPPINGS
    assert field.default == "channel"  # SCALE-Sim's way: results as before the choice
    with pytest.raises(ValueError, match="depthwise: spatial maps onto a PE array"):
        ComputeConfig(mac_rate=1e12, depthwise="spatial")


def test_dense_is_a_single_row_gemm() -> None:
    # M = 1 (batch 1), N = 10, K = 256. OS on 8x8: folds = 1 * ceil(10/8) = 2,
    # one fold 8 + 8 + 256 - 2 = 270 -> 540 cycles; MACs 2560.
    c = layer_cycles(DENSE, PEArray(8, 8, "os"))
    assert (c.sr, c.sc, c.t, c.folds, c.cycles, c.macs) == (1, 10, 256, 2, 540, 2560)
    # utilisation 2560 / (540 * 64) = 2560 / 34560 = 2/27.
    assert c.utilization == pytest.approx(2 / 27)


def test_batch_scales_the_pixel_dimension() -> None:
    # OS, batch 4: Sr = 4 * 64 = 256 -> folds 64 * 4 = 256, 256 * 42 = 10752 = 4 x 2688.
    os_ = layer_cycles(CONV, PEArray(4, 4, "os"), batch=4)
    assert (os_.sr, os_.cycles, os_.macs) == (256, 10752, 4 * 36864)
    # WS, batch 4: T = 256, folds stay 36, one fold 8 + 4 + 256 - 2 = 266 -> 9576,
    # less than 4 x 2664 = 10656 because each fold's fill and drain is paid once.
    ws = layer_cycles(CONV, PEArray(4, 4, "ws"), batch=4)
    assert (ws.t, ws.cycles) == (256, 9576)
    # Dense, batch 3: M = 3 rows of the GEMM.
    assert layer_gemm(DENSE, batch=3) == Gemm(m=3, n=10, k=256)


def test_weightless_layers_cost_nothing() -> None:
    pool = Layer("pool", "max_pool", ("x",), ((8, 8, 4),), (4, 4, 4), kernel=(2, 2), stride=(2, 2))
    c = layer_cycles(pool, PEArray(4, 4, "os"))
    assert (c.cycles, c.folds, c.macs, c.utilization) == (0, 0, 0, 0.0)
    assert layer_gemm(pool) is None


def test_network_cycles_cover_every_mac() -> None:
    net = build_model("mobilenet_v1_cifar")
    cycles = network_cycles(net, PEArray(8, 16, "ws"), batch=2)
    assert list(cycles) == list(net.order)
    assert sum(c.macs for c in cycles.values()) == 2 * net.total_macs
    assert all(0.0 <= c.utilization <= 1.0 for c in cycles.values())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rows": 0, "cols": 4}, "rows must be an integer >= 1, got 0"),
        ({"rows": 4, "cols": -2}, "cols must be an integer >= 1, got -2"),
        ({"rows": 4.5, "cols": 4}, "rows must be an integer >= 1, got 4.5"),
        ({"rows": 4, "cols": 4, "dataflow": "rs"}, "dataflow must be one of os, ws, is"),
        ({"rows": 4, "cols": 4, "depthwise": "rows"},
         "depthwise must be one of channel, spatial, got 'rows'"),
    ],
)
def test_bad_arrays_are_rejected(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(AccelsimError, match=message):
        PEArray(**kwargs)  # type: ignore[arg-type]


def test_bad_batch_is_rejected() -> None:
    with pytest.raises(AccelsimError, match="batch must be an integer >= 1, got 0"):
        layer_cycles(CONV, PEArray(4, 4), batch=0)
