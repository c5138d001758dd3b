"""simulate(): per-layer time, energy and batching worked by hand on a two-layer network."""

from __future__ import annotations

import pytest
from networks import two_convs

from accelsim.config import HardwareConfig, SimulationConfig
from accelsim.sim import simulate

HW = HardwareConfig.model_validate({
    "sram": {"capacity": "1 MB"}, "dram": {"bandwidth": "1 GB/s"},
    "compute": {"mac_rate": "500 GMAC/s"},
})



def test_time_and_energy_by_hand() -> None:
    r = simulate(two_convs(), HW)
    c1, c2 = r.costs
    # MACs: c1 = 8*8*8 outputs x 3*3*4 = 18,432; c2 = 8*8*8 x 8 = 4,096.
    assert (c1.macs, c2.macs) == (18_432, 4_096)
    assert c1.compute_time_s == pytest.approx(18_432 / 5e11)
    # DRAM: c1 reads its input (256 B) and filters (288 B); c2 reads 64 B of filters and
    # writes the 512 B network output.
    assert (c1.dram_read_bytes, c1.dram_write_bytes) == (544, 0)
    assert (c2.dram_read_bytes, c2.dram_write_bytes) == (64, 512)
    assert c2.data_movement_time_s == pytest.approx(576 / 1e9)
    assert c1.total_time_s == pytest.approx(18_432 / 5e11 + 544 / 1e9)
    # SRAM: writes are loads + outputs (c1: 544 + 512); reads are what the compute reads
    # (c1: 256 + 288) plus stores (c2: 512 + 64 read by compute, 512 stored).
    assert (c1.sram_write_bytes, c1.sram_read_bytes) == (1_056, 544)
    assert (c2.sram_write_bytes, c2.sram_read_bytes) == (576, 1_088)
    # Energy with the 45 nm defaults: 0.3 pJ/MAC, 12.5 pJ/B SRAM, 162.5 pJ/B DRAM.
    expected_c1 = 18_432 * 0.3e-12 + (1_056 + 544) * 12.5e-12 + 544 * 162.5e-12
    assert c1.energy_j == pytest.approx(expected_c1)
    assert r.summary()["energy_j"] == pytest.approx(sum(c.energy_j for c in r.costs))


def test_batch_reuses_filters_and_scales_feature_maps() -> None:
    one = simulate(two_convs(), HW).summary()
    four = simulate(two_convs(), HW, SimulationConfig(batch=4)).summary()
    # Batch 4: inputs 4 x 256 B, filters once (288 + 64 B), outputs 4 x 512 B.
    assert four["dram_read_bytes"] == 4 * 256 + 288 + 64
    assert four["dram_write_bytes"] == 4 * 512
    assert four["dram_bytes_per_inference"] == pytest.approx((4 * 256 + 352 + 4 * 512) / 4)
    assert four["dram_bytes_per_inference"] < one["dram_bytes_per_inference"]
    assert four["macs"] == 4 * one["macs"]
    assert four["time_per_inference_s"] == pytest.approx(four["total_time_s"] / 4)


def test_more_bandwidth_is_never_slower() -> None:
    times = []
    for bandwidth in ("0.5 GB/s", "1 GB/s", "4 GB/s", "100 GB/s"):
        hw = HardwareConfig.model_validate({**HW.model_dump(), "dram": {"bandwidth": bandwidth}})
        times.append(simulate(two_convs(), hw).summary()["total_time_s"])
    assert times == sorted(times, reverse=True)
