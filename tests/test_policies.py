"""Placement policies: hand-worked schedules, eviction, tiling and invariants over many configs."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from networks import two_convs

from accelsim.errors import ScheduleError
from accelsim.ir import NetworkBuilder, build_model
from accelsim.ir.graph import Network
from accelsim.mapping import (
    BUFFERINGS,
    POLICIES,
    Alloc,
    Buffering,
    BuildOptions,
    Compute,
    Free,
    Load,
    Schedule,
    Sizes,
    Store,
    build_schedule,
)

INT8 = Sizes(activation_bits=8, weight_bits=8, accumulator_bits=32)



def replay_occupancy(schedule: Schedule) -> int:
    """Walk every action, check buffers are resident when used, return the peak bytes."""
    resident: dict[str, int] = {}
    peak = 0
    for _, a in schedule.steps():
        if isinstance(a, Load | Alloc):
            assert a.buffer not in resident, a
            resident[a.buffer] = a.bytes
        elif isinstance(a, Free):
            assert resident.pop(a.buffer) == a.bytes
        elif isinstance(a, Store):
            assert a.buffer in resident, a
        elif isinstance(a, Compute):
            for b in (*a.inputs, a.weights, a.output):
                assert b is None or b in resident, (a, b)
        used = sum(resident.values())
        assert used <= schedule.capacity_bytes
        peak = max(peak, used)
    assert not resident, f"left resident at the end: {resident}"
    return peak


def test_liveness_by_hand() -> None:
    # in: 8*8*4 = 256 B; c1: out 8*8*8 = 512 B, filters 3*3*4*8 = 288 B;
    # c2: out 512 B, filters 1*1*8*8 = 64 B. Ample SRAM: read input + both filters once,
    # write the network output once.
    s = build_schedule(two_convs(), INT8, 10_000, "liveness")
    c1, c2 = s.layers
    assert (c1.dram_read_bytes, c1.dram_write_bytes) == (256 + 288, 0)
    assert (c2.dram_read_bytes, c2.dram_write_bytes) == (64, 512)
    assert c1.peak_sram_bytes == 256 + 288 + 512
    assert c2.peak_sram_bytes == 512 + 64 + 512
    assert s.peak_sram_bytes == replay_occupancy(s) == 1088
    assert s.spills == 0


def test_accumulate_by_hand() -> None:
    # Never freed: after c1: 256 + 288 + 512 = 1056 B; c2 adds 64 + 512 -> 1632 B.
    s = build_schedule(two_convs(), INT8, 10_000, "accumulate")
    assert [ls.end_sram_bytes for ls in s.layers] == [1056, 0]  # all freed at the end
    assert s.layers[1].peak_sram_bytes == 1632
    # With 1,200 B the second layer overflows: the 1056 resident bytes are flushed. Only
    # c1's output (512 B) has no DRAM copy and is written; the network input and the
    # filters are clean copies of DRAM and are dropped. c2's input (512 B) is then read
    # back: reads 512 + 64, writes 512 + 512 (its own output, the network output).
    s = build_schedule(two_convs(), INT8, 1_200, "accumulate")
    c2 = s.layers[1]
    assert c2.spills == 1 and "exceeds 1200 B" in c2.spill_reason
    assert (c2.dram_read_bytes, c2.dram_write_bytes) == (512 + 64, 512 + 512)
    replay_occupancy(s)


def test_eviction_furthest_next_use() -> None:
    # A residual: the input of block 1 is read again by the add, after two convs.
    b = NetworkBuilder("res")
    x = b.input("in", (8, 8, 8))  # 512 B
    y = b.conv2d("a", x, 8, 1)  # 512 B out, 64 B filters
    y = b.conv2d("b", y, 8, 1)
    b.add("sum", [x, y])
    net = b.build()
    roomy = build_schedule(net, INT8, 100_000, "liveness")
    # At b: live are in (512, needed by sum later), a (512), b's output (512) + 64 filters
    # = 1600 B. The add then needs in + b + its output = 1536 B. With 1,550 B, 'in' (next
    # use furthest away) must be evicted at b and re-read by the add.
    tight = build_schedule(net, INT8, 1_550, "liveness")
    assert roomy.spills == 0 and tight.spills >= 1
    reasons = " ".join(ls.spill_reason for ls in tight.layers)
    assert "evicted in" in reasons
    extra = sum(ls.dram_read_bytes for ls in tight.layers) - sum(
        ls.dram_read_bytes for ls in roomy.layers)
    assert extra == 512  # the input read a second time (DRAM already had it: no write)
    replay_occupancy(tight)


def test_tiling_when_one_layer_cannot_fit() -> None:
    net = build_model("mobilenet_v1_cifar")
    s = build_schedule(net, INT8, 40_000, "liveness")
    tiled = [ls for ls in s.layers if ls.tiling != "none"]
    assert tiled, "a 40 kB SRAM must tile the 50 kB feature maps"
    assert all(ls.tiles > 1 for ls in tiled)
    assert replay_occupancy(s) <= 40_000


def test_too_small_sram_names_the_layer() -> None:
    with pytest.raises(ScheduleError, match=r"layer '\w+' \(conv2d\) .*in 100 bytes of SRAM"):
        build_schedule(build_model("mobilenet_v1_cifar"), INT8, 100, "liveness")


def test_unknown_policy() -> None:
    known = "known: liveness, accumulate, fused"
    with pytest.raises(ScheduleError, match=f"unknown policy 'lru'; {known}"):
        build_schedule(two_convs(), INT8, 10_000, "lru")


def compulsory(net: Network, sizes: Sizes) -> int:
    """Filters once, the network input once and the network output once."""
    weights = sum(sizes.weight_bytes(layer) for layer in net.layers())
    inp = sizes.fmap_bytes(net.layer(net.inputs[0]).output_shape)
    out = sizes.fmap_bytes(net.layer(net.outputs[0]).output_shape)
    return weights + inp + out


@settings(max_examples=40, deadline=None)
@given(
    model=st.sampled_from(["mobilenet_v1_cifar", "mobilenet_v2"]),
    alpha=st.sampled_from([0.25, 0.5]),
    capacity=st.integers(min_value=3_000, max_value=2_000_000),
    bits=st.sampled_from([4, 8, 16]),
    batch=st.integers(min_value=1, max_value=3),
    policy=st.sampled_from(sorted(POLICIES)),
    buffering=st.sampled_from(BUFFERINGS),
)
def test_invariants(model: str, alpha: float, capacity: int, bits: int, batch: int,
                    policy: str, buffering: Buffering) -> None:
    """Never over capacity; buffers resident when used; traffic >= compulsory; outputs whole;
    loading filters early (with the serial schedule's peaks) moves exactly the same bytes."""
    resolution = 32 if model == "mobilenet_v2" else 28
    net = build_model(model, alpha, resolution)
    sizes = Sizes(bits, bits, 32, batch)
    try:
        serial = build_schedule(net, sizes, capacity, policy)
    except ScheduleError as exc:
        assert "cannot run in" in str(exc)
        return
    peaks = tuple(ls.peak_sram_bytes for ls in serial.layers)
    s = build_schedule(net, sizes, capacity, policy,
                       BuildOptions(buffering, peaks, serial.sub_batch))
    if buffering != "full":
        assert s.traffic() == serial.traffic()
    assert replay_occupancy(s) == s.peak_sram_bytes <= capacity
    traffic = sum(ls.dram_read_bytes + ls.dram_write_bytes for ls in s.layers)
    assert traffic >= compulsory(net, sizes)
    # Every layer finishes its whole output exactly once (tiles partition it; split tiles
    # add several input-channel chunks into one output tile and finish it once), unless
    # it recomputes halo rows: then its tiles cover it and the extra MACs are counted.
    for ls in s.layers:
        layer = net.layer(ls.name)
        h, w = layer.output_shape[:2] if len(layer.output_shape) == 3 else (1, 1)
        samples = ls.sample_count(batch)
        covered = sum(
            (a.tile.samples[1] - a.tile.samples[0]) * (a.tile.rows[1] - a.tile.rows[0])
            * (a.tile.cols[1] - a.tile.cols[0] if a.tile.cols else w)
            * (a.tile.channels[1] - a.tile.channels[0])
            for a in ls.actions if isinstance(a, Compute) and a.output != a.accumulator)
        macs = sum(a.macs for a in ls.actions if isinstance(a, Compute))
        assert macs == layer.macs * samples + ls.recomputed_macs
        if ls.recomputed_macs == 0:
            assert covered == samples * h * w * layer.output_shape[-1]
        else:
            assert covered > samples * h * w * layer.output_shape[-1]
    # The passes of every layer together cover the batch, each sample once.
    for ids in s.passes().values():
        spans = sorted(s.layers[i].samples or (0, batch) for i in ids)
        assert spans[0][0] == 0 and spans[-1][1] == batch
        assert all(a[1] == b[0] for a, b in zip(spans, spans[1:], strict=False))


def test_liveness_with_ample_sram_moves_only_compulsory_bytes() -> None:
    net = build_model("mobilenet_v1_cifar")
    s = build_schedule(net, INT8, 10**9, "liveness")
    traffic = sum(ls.dram_read_bytes + ls.dram_write_bytes for ls in s.layers)
    assert traffic == compulsory(net, INT8)
    # The largest live set: conv_pw_5 holds its 14*14*256 input and output plus 256*256
    # filters and 256 folded batch-norm biases at 4 B: 50,176 * 2 + 65,536 + 1,024 bytes.
    assert s.peak_sram_bytes == 2 * 14 * 14 * 256 + 256 * 256 + 256 * 4 == 166_912
    assert math.isclose(s.peak_sram_bytes / 1e6, 0.166912)


def test_schedules_too_large_to_build_are_refused_quickly() -> None:
    # Batch 16 on 4 KiB: every layer stays under the per-layer cap, but together they would
    # need over half a million tiles (gigabytes to build): refused with the total and the
    # worst layer before anything is emitted.
    with pytest.raises(ScheduleError, match=r"would need [\d,]+ tiles .* batch 16 .*layer '"):
        build_schedule(build_model("mobilenet_v1_cifar"), Sizes(8, 8, 32, 16), 4096,
                       "liveness")
    # One layer alone over its cap: named with its own count.
    with pytest.raises(ScheduleError, match=r"layer '\w+' \(conv2d\) would need [\d,]+ tiles"):
        build_schedule(build_model("mobilenet_v1_cifar"), Sizes(8, 8, 32, 64), 1024,
                       "liveness")
