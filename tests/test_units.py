"""Unit strings: every prefix and unit word, decimal vs binary, bits vs bytes, errors."""

from __future__ import annotations

import pytest

from accelsim.errors import UnitError
from accelsim.units import parse_quantity


@pytest.mark.parametrize(
    ("text", "kind", "expected"),
    [
        ("1 MB", "size", 1_000_000),
        ("1 MiB", "size", 1_048_576),
        ("1MiB", "size", 1_048_576),
        ("512 KiB", "size", 512 * 1024),
        ("512 kB", "size", 512_000),
        ("2 GiB", "size", 2 * 1024**3),
        ("8 Mb", "size", 1_000_000),  # 8 megabits = 1 megabyte
        ("64 bits", "size", 8),
        ("3 bytes", "size", 3),
        (1234, "size", 1234),  # plain numbers are bytes
        ("1 GB/s", "bandwidth", 1e9),
        ("8 Gb/s", "bandwidth", 1e9),
        ("1 GiB/s", "bandwidth", 1024**3),
        ("25.6 GB/s", "bandwidth", 25.6e9),
        ("500 GMAC/s", "mac_rate", 5e11),
        ("1 TOPS", "mac_rate", 5e11),  # two operations per multiply-accumulate
        ("2 TOP/s", "mac_rate", 1e12),
        ("500 MHz", "frequency", 5e8),
        ("1 GHz", "frequency", 1e9),
        ("100 ns", "time", 100e-9),
        ("2 us", "time", 2e-6),
        ("4.6 pJ", "energy", 4.6e-12),
        ("1.5e3 KB", "size", 1.5e6),
    ],
)
def test_parse(text: object, kind: str, expected: float) -> None:
    assert parse_quantity(text, kind) == pytest.approx(expected, rel=1e-12)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "kind", "message"),
    [
        ("1 XB", "size", "unknown size unit 'XB'"),
        ("1 MB/s", "size", "unknown size unit"),
        ("fast", "bandwidth", "cannot read 'fast' as a bandwidth"),
        ("1 GB", "bandwidth", "unknown bandwidth unit 'GB'"),
        ([1], "size", "expected a size"),
        (True, "size", "expected a size"),
    ],
)
def test_errors_name_the_value_and_examples(text: object, kind: str, message: str) -> None:
    with pytest.raises(UnitError, match=message) as info:
        parse_quantity(text, kind)  # type: ignore[arg-type]
    assert "like" in str(info.value) or "expected" in str(info.value)
