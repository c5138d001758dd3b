"""Schedule replay: every policy, eviction and tiling compute exactly what direct execution does."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import concat_networks
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accelsim.errors import ReplayError, ScheduleError
from accelsim.ir import build_model
from accelsim.ir.graph import Network
from accelsim.mapping import (
    BUFFERINGS,
    POLICIES,
    Buffering,
    BuildOptions,
    Compute,
    Load,
    Sizes,
    build_schedule,
)
from accelsim.reference.quant import Precision
from accelsim.reference.replay import replay

X = np.random.default_rng(1).standard_normal((2, 28, 28, 3)).astype(np.float32)


@pytest.mark.parametrize("policy", sorted(POLICIES))
@pytest.mark.parametrize("capacity", [1_000_000, 9_000, 4_500])  # whole, tiled, tiny tiles
@pytest.mark.parametrize("mode", ["float32", "int"])
def test_cifar_replay_matches_direct(policy: str, capacity: int, mode: str) -> None:
    net = build_model("mobilenet_v1_cifar", 0.25)
    schedule = build_schedule(net, Sizes(8, 8, 32, batch=2), capacity, policy)
    result = replay(net, schedule, X, mode=mode, precision=Precision(8, 8, 32))  # type: ignore[arg-type]
    assert result.passed, result
    assert result.peak_sram_bytes <= capacity
    if capacity < 10_000:
        assert result.steps > len(schedule.layers)  # some layers really ran as tiles


def test_residual_network_with_eviction_replays() -> None:
    net = build_model("mobilenet_v2", 0.25, 32, 10)
    x = np.random.default_rng(2).standard_normal((1, 32, 32, 3)).astype(np.float32)
    schedule = build_schedule(net, Sizes(8, 8, 32), 6_000, "liveness")
    assert schedule.spills > 0 or any(ls.tiling != "none" for ls in schedule.layers)
    for mode in ("float32", "int"):
        assert replay(net, schedule, x, mode=mode).passed  # type: ignore[arg-type]


@pytest.mark.parametrize("double_buffer", [False, True])
def test_column_tiles_replay(double_buffer: bool) -> None:
    # 2,500 B cannot hold one full-width row band of the 28-wide layers with their
    # filters: the search splits output columns (with a horizontal halo).
    net = build_model("mobilenet_v1_cifar", 0.25)
    schedule = build_schedule(net, Sizes(8, 8, 32, batch=2), 2_500, "liveness",
                              options=BuildOptions("full" if double_buffer else "none"))
    assert any("cols" in ls.tiling for ls in schedule.layers)
    for mode in ("float32", "int"):
        result = replay(net, schedule, X, mode=mode)  # type: ignore[arg-type]
        assert result.passed and result.peak_sram_bytes <= 2_500


def test_a_missing_load_is_caught() -> None:
    net = build_model("mobilenet_v1_cifar", 0.25)
    schedule = build_schedule(net, Sizes(8, 8, 32, batch=2), 1_000_000, "liveness")
    second = schedule.layers[1]
    second.actions = [a for a in second.actions
                      if not (isinstance(a, Load) and a.kind == "weights")]
    with pytest.raises(ReplayError, match="conv_dw_1: buffer w:conv_dw_1 is not resident"):
        replay(net, schedule, X)


def test_capacity_is_enforced() -> None:
    net = build_model("mobilenet_v1_cifar", 0.25)
    schedule = build_schedule(net, Sizes(8, 8, 32, batch=2), 1_000_000, "liveness")
    shrunk = dataclasses.replace(schedule, capacity_bytes=schedule.peak_sram_bytes - 1)
    with pytest.raises(ReplayError, match="exceeds SRAM capacity"):
        replay(net, shrunk, X)


@pytest.mark.parametrize("capacity", [8_192, 40_960])
@pytest.mark.parametrize("double_buffer", [False, True])
def test_grouped_convolutions_tile_and_replay(capacity: int, double_buffer: bool) -> None:
    # Grouped (not depthwise) convs: a channel tile holds the input groups it spans, and
    # rows_outer holds every input channel; both must be sized right to stay in capacity.
    from accelsim.ir import NetworkBuilder

    b = NetworkBuilder("grouped")
    x = b.input("in", (32, 32, 64))
    x = b.conv2d("g1", x, 128, 3, groups=4, batch_norm=True, activation="relu")
    b.conv2d("g2", x, 64, 1, groups=8)
    net = b.build()
    schedule = build_schedule(net, Sizes(8, 8, 32, batch=2), capacity, "liveness",
                              options=BuildOptions("full" if double_buffer else "none"))
    assert all(ls.tiling != "none" for ls in schedule.layers)
    data = np.random.default_rng(4).standard_normal((2, 32, 32, 64)).astype(np.float32)
    for mode in ("float32", "int"):
        result = replay(net, schedule, data, mode=mode)  # type: ignore[arg-type]
        assert result.passed and result.peak_sram_bytes <= capacity


@pytest.mark.parametrize("build", concat_networks.VIEW_NETWORKS,
                         ids=lambda f: f.__name__)
@pytest.mark.parametrize("policy", sorted(POLICIES))
@pytest.mark.parametrize("capacity", [700, 1_800, 100_000])  # tiles, evictions, whole
def test_views_replay_bit_exactly(build: Callable[[], Network], policy: str,
                                  capacity: int) -> None:
    """Producers' slices land where the concat's readers read them: integer replay on a
    tiny SRAM equals direct execution bit for bit (a view's buffer is checked written)."""
    net = build()
    schedule = build_schedule(net, Sizes(8, 8, 32, batch=2), capacity, policy,
                              BuildOptions("full"))
    x = np.random.default_rng(3).standard_normal((2, 8, 8, 4 if net.name != "dense" else 8))
    result = replay(net, schedule, x.astype(np.float32), mode="int")
    assert result.passed and result.max_abs_err == 0
    assert result.peak_sram_bytes <= capacity


def test_views_replay_in_float32_with_evictions() -> None:
    net = concat_networks.evicted_block()
    schedule = build_schedule(net, Sizes(8, 8, 32), 1_900, "liveness")
    assert schedule.spills > 0  # a slice of the concat's buffer goes to DRAM and comes back
    x = np.random.default_rng(5).standard_normal((1, 8, 8, 4)).astype(np.float32)
    for mode in ("float32", "int"):
        assert replay(net, schedule, x, mode=mode).passed  # type: ignore[arg-type]


def test_a_slice_never_written_is_caught() -> None:
    # Drop b's compute: its channels 8-16 of k's buffer are never written, and the reader
    # of the concat must fail on them, not read zeros.
    net = concat_networks.two_branch()
    schedule = build_schedule(net, Sizes(8, 8, 32), 100_000, "liveness")
    b = schedule.layers[1]
    b.actions = [a for a in b.actions if not isinstance(a, Compute)]
    x = np.random.default_rng(1).standard_normal((1, 8, 8, 4)).astype(np.float32)
    with pytest.raises(ReplayError, match=r"layer c: .*channels 0-16 of k .*never written"):
        replay(net, schedule, x)


def test_view_scales_are_shared_in_integer_mode() -> None:
    # A view's integers are its root's: every producer of a concat's buffer quantises at
    # the concat's scale (the largest of theirs), so the concat moves nothing.
    from accelsim.reference.executor import run

    net = concat_networks.two_branch()
    x = np.random.default_rng(1).standard_normal((1, 8, 8, 4)).astype(np.float32)
    result = run(net, x, mode="int")
    scales = {name: result.quant[name].out_scale for name in ("a", "b", "k")}
    assert scales["a"] == scales["b"] == scales["k"]
    np.testing.assert_array_equal(result.int_values["k"], np.concatenate(
        [result.int_values["a"], result.int_values["b"]], axis=-1))


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), capacity=st.integers(500, 6_000),
       policy=st.sampled_from(sorted(POLICIES)), buffering=st.sampled_from(BUFFERINGS))
def test_random_view_networks_replay_bit_exactly(seed: int, capacity: int, policy: str,
                                                 buffering: Buffering) -> None:
    """Random graphs of convs, concats (repeats, the network input), slices and adds: every
    schedule stays in capacity and replays bit for bit in integer mode."""
    net = concat_networks.random_network(seed, 10)
    try:
        schedule = build_schedule(net, Sizes(8, 8, 32, batch=2), capacity, policy,
                                  BuildOptions(buffering))
    except ScheduleError as exc:
        assert "cannot run in" in str(exc)
        return
    x = np.random.default_rng(seed).standard_normal((2, 8, 8, 4)).astype(np.float32)
    result = replay(net, schedule, x, mode="int")
    assert result.passed and result.max_abs_err == 0 and result.peak_sram_bytes <= capacity


def test_exported_densenet_shares_block_buffers_and_replays() -> None:
    # torchvision's DenseNet-121 layout (growth 8, 64x64) as PyTorch exports it: every
    # Concat re-joins [x0..xk], each a prefix of its block's last, so none copies.
    pytest.importorskip("onnx")
    from pathlib import Path

    from accelsim.ir.onnx_import import load_onnx
    from accelsim.reference.weights import random_params

    net = load_onnx(Path(__file__).parent / "data" / "cnn_onnx" /
                    "densenet121_g8_torchscript_op17.onnx")
    concats = [layer.name for layer in net.layers() if layer.op == "concat"]
    assert concats and not net.views.copies and set(concats) <= net.views.views
    schedule = build_schedule(net, Sizes(8, 8, 32), 20_000, "liveness")
    x = np.random.default_rng(0).standard_normal((1, 64, 64, 3)).astype(np.float32)
    result = replay(net, schedule, x, params=random_params(net, 0), mode="int")
    assert result.passed and result.max_abs_err == 0 and result.peak_sram_bytes <= 20_000
