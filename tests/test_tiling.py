"""Tile search: fits the SRAM, and never moves more bytes than the plain row-band fallback."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accelsim.errors import ScheduleError
from accelsim.ir import NetworkBuilder, build_model
from accelsim.ir.layers import Layer
from accelsim.mapping import Sizes, search_tiles

NET = build_model("mobilenet_v1", 0.5, 96)
LAYERS = [layer for layer in NET.layers() if layer.op in ("conv2d", "depthwise_conv2d")]


def row_band_fallback(layer: Layer, sizes: Sizes, capacity: int) -> int | None:
    """Traffic of the simplest tiling: bands of output rows, all channels, filters reloaded
    per band unless they fit beside it; None when even one row does not fit.

    Worked from the layer's shapes, independently of accelsim.mapping.tiling.
    """
    h, w, c = layer.input_shape
    ho, wo, co = layer.output_shape
    kh, sh, top = layer.kernel[0], layer.stride[0], layer.padding[0]
    # Filters at weight_bits plus one bias per output channel at accumulator_bits (the
    # bias folding batch-norm creates).
    filters = math.ceil((layer.weight_count * sizes.weight_bits
                         + co * sizes.accumulator_bits) / 8)
    for rows in range(ho, 0, -1):
        bands = [(r, min(r + rows, ho)) for r in range(0, ho, rows)]
        in_rows = [min((b - 1) * sh - top + kh, h) - max(a * sh - top, 0) for a, b in bands]
        peak = max(i * w * c + (b - a) * wo * co for (a, b), i in zip(bands, in_rows,
                                                                      strict=True))
        if peak + filters <= capacity:
            return sum(in_rows) * w * c + filters + ho * wo * co
    return None


@settings(max_examples=60, deadline=None)
@given(index=st.integers(0, len(LAYERS) - 1), capacity=st.integers(2_000, 200_000))
def test_search_fits_and_beats_the_fallback(index: int, capacity: int) -> None:
    layer, sizes = LAYERS[index], Sizes(8, 8, 32)
    try:
        plan = search_tiles(layer, sizes, capacity)
    except ScheduleError:
        assert row_band_fallback(layer, sizes, capacity) is None
        return
    assert plan.peak_bytes <= capacity
    fallback = row_band_fallback(layer, sizes, capacity)
    if fallback is not None:
        assert plan.read_bytes + plan.write_bytes <= fallback
    # Never less than reading every input and filter byte and writing the output once.
    once = math.prod(layer.input_shape) + layer.weight_count + math.prod(layer.output_shape)
    assert plan.read_bytes + plan.write_bytes >= once


def test_pointwise_by_hand() -> None:
    # 14x14x64 -> 1x1 conv -> 14x14x128: input 12,544 B, filters 8,192 B, output 25,088 B.
    # With 20,000 B: whole rows of input (896 B/row) + output (1,792 B/row) + all filters
    # (8,192 B): r rows need 2,688 r + 8,192 <= 20,000 -> r = 4 (4 bands: 4,4,4,2). No
    # halo for a 1x1 kernel, filters loaded once: 12,544 + 8,192 read, 25,088 written.
    b = NetworkBuilder("pw")
    x = b.input("in", (14, 14, 64))
    b.conv2d("pw", x, 128, 1)
    pw = b.build().layer("pw")
    plan = search_tiles(pw, Sizes(8, 8, 32), 20_000)
    assert (plan.read_bytes, plan.write_bytes) == (12_544 + 8_192, 25_088)
    assert plan.peak_bytes <= 20_000


def test_too_small_names_the_layer() -> None:
    with pytest.raises(ScheduleError, match="cannot run in 50 bytes"):
        search_tiles(LAYERS[0], Sizes(8, 8, 32), 50)


def split_net() -> tuple:
    """input 2x1x256 -> 1x1 conv to 8 channels (bias, relu) -> dense 10."""
    b = NetworkBuilder("split")
    x = b.input("in", (2, 1, 256))
    x = b.conv2d("pw", x, 8, 1, use_bias=True, activation="relu")
    b.dense("fc", x, 10)
    return b.build()


def test_input_channel_split_when_nothing_else_fits() -> None:
    net, sizes = split_net(), Sizes(8, 8, 32)
    pw = net.layer("pw")
    # The smallest unsplit tile, one output pixel of one channel, holds its input pixel
    # (256 B), that channel's filter (256 B) and 32-bit bias (4 B) and its output (1 B):
    # 517 B. With 300 B, input channels must split.
    plan = search_tiles(pw, sizes, 300)
    assert plan.in_channel_step and plan.order == "input_channels_inner"
    assert plan.peak_bytes <= 300
    # Traffic of this loop order, worked from the chosen steps: every channel group re-reads
    # the whole input (1x1 kernel: no halo), every row band re-reads all filters (+ biases
    # at 4 B), the output is written once.
    groups = math.ceil(8 / plan.channel_step)
    bands = math.ceil(2 / plan.row_step)
    assert plan.read_bytes == groups * 2 * 256 + bands * (256 * 8 + 8 * 4)
    assert plan.write_bytes == 2 * 8


@pytest.mark.parametrize("mode", ["float32", "int"])
def test_split_tiles_replay_exactly(mode: str) -> None:
    import numpy as np

    from accelsim.mapping import Compute, build_schedule
    from accelsim.reference.replay import replay

    net = split_net()
    schedule = build_schedule(net, Sizes(8, 8, 32, batch=2), 300, "liveness")
    accumulating = [a for ls in schedule.layers for a in ls.actions
                    if isinstance(a, Compute) and a.accumulator]
    assert accumulating
    x = np.random.default_rng(5).standard_normal((2, 2, 1, 256)).astype(np.float32)
    result = replay(net, schedule, x, mode=mode)  # type: ignore[arg-type]
    assert result.passed and result.peak_sram_bytes <= 300
    if mode == "int":
        assert result.max_abs_err == 0


@settings(max_examples=60, deadline=None)
@given(index=st.integers(min_value=0, max_value=len(LAYERS) - 1),
       batch=st.integers(min_value=1, max_value=4), sample_step=st.integers(1, 4),
       row_step=st.integers(1, 30), channel_step=st.integers(1, 70),
       col_step=st.integers(0, 30), order=st.sampled_from(["weights_outer", "rows_outer"]),
       keep_inputs=st.integers(0, 1), keep_output=st.booleans())
def test_peak_check_equals_the_full_evaluation(index: int, batch: int, sample_step: int,
                                               row_step: int, channel_step: int, col_step: int,
                                               order: str, keep_inputs: int,
                                               keep_output: bool) -> None:
    """The integer peak check the search runs equals the peak of the full evaluation."""
    from accelsim.mapping.tiling import Keep, _evaluate, tile_peak

    layer = LAYERS[index]
    sizes = Sizes(8, 8, 32, batch)
    keep = Keep(keep_inputs, keep_output)
    args = (layer, sizes, min(sample_step, batch), row_step, channel_step, order, col_step,
            keep)
    assert tile_peak(*args) == _evaluate(*args).peak_bytes  # type: ignore[arg-type]
