"""Parse quantities with units: sizes, bandwidths, MAC rates, frequencies, times, energies.

How each string is read (the table in README.md "Run files and units"; tested exhaustively):

* Decimal prefixes k, M, G, T, P are powers of 1000; binary prefixes Ki, Mi, Gi, Ti, Pi
  are powers of 1024. `1 MB` = 1,000,000 bytes, `1 MiB` = 1,048,576 bytes.
* `B` (or `byte(s)`) is a byte; `b` (or `bit(s)`) is a bit = 1/8 byte. `8 Mb` = 1 MB.
* Bandwidth: a size per second, `1 GB/s`, `8 Gb/s`, `1 GiB/s`, also `Bps`.
* Compute rate: `MAC/s` (also `MACs/s`, `MACS`); `OPS` counts two operations per
  multiply-accumulate, so `1 TOPS` = 0.5 TMAC/s = 5e11 MAC/s.
* Frequency: `Hz`, `500 MHz`. Time: `s`, `ms`, `us`, `ns`. Energy: `J`, `mJ`, `nJ`, `pJ`, `fJ`.
* A plain number is in the base unit: bytes, bytes/s, MAC/s, Hz, seconds, joules.
* Digits are ASCII only (a full-width `１` is refused); infinities and NaN are refused.
"""

from __future__ import annotations

import math
import re
from typing import Literal

from accelsim.errors import UnitError

__all__ = ["Kind", "parse_quantity", "format_quantity", "KINDS", "kind_help",
           "unit_pattern"]

Kind = Literal["size", "bandwidth", "mac_rate", "frequency", "time", "energy", "vector_rate"]
KINDS: tuple[str, ...] = ("size", "bandwidth", "mac_rate", "frequency", "time", "energy",
                          "vector_rate")

_DECIMAL = {"": 1.0, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15}
_BINARY = {"Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40, "Pi": 2.0**50}
_SMALL = {"": 1.0, "m": 1e-3, "u": 1e-6, "µ": 1e-6, "n": 1e-9, "p": 1e-12, "f": 1e-15}

# Unit words per kind, each with its factor to the base unit (before the prefix).
_SIZE_UNITS = {"B": 1.0, "byte": 1.0, "bytes": 1.0, "b": 0.125, "bit": 0.125, "bits": 0.125}
_UNITS: dict[str, dict[str, float]] = {
    "size": _SIZE_UNITS,
    "bandwidth": {
        **{f"{u}/s": f for u, f in _SIZE_UNITS.items()}, "Bps": 1.0, "bps": 0.125,
    },
    "mac_rate": {"MAC/s": 1.0, "MACs/s": 1.0, "MACS": 1.0, "MAC/S": 1.0, "OPS": 0.5,
                 "OP/s": 0.5, "OPs/s": 0.5, "ops/s": 0.5, "FLOPS": 0.5, "FLOP/s": 0.5},
    "frequency": {"Hz": 1.0, "hz": 1.0},
    "time": {"s": 1.0, "sec": 1.0},
    "energy": {"J": 1.0},
    "vector_rate": {"elem/s": 1.0, "elements/s": 1.0, "element/s": 1.0},
}
_BASE = {"size": "bytes", "bandwidth": "bytes/s", "mac_rate": "MAC/s", "frequency": "Hz",
         "time": "s", "energy": "J", "vector_rate": "elem/s"}
_NUMBER_TEXT = r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?"
_NUMBER = re.compile(rf"^\s*({_NUMBER_TEXT})\s*(.*?)\s*$")


def _prefixes(kind: str) -> dict[str, float]:
    """Time and energy take sub-unit prefixes; the rest take decimal and binary ones."""
    if kind in ("time", "energy"):
        return _SMALL
    return {**_DECIMAL, **_BINARY}


def _unit_factor(kind: str, unit: str) -> float | None:
    """Factor from `unit` (prefix + unit word) to the base unit of `kind`, or None."""
    words = _UNITS[kind]
    for prefix, scale in sorted(_prefixes(kind).items(), key=lambda kv: -len(kv[0])):
        if unit.startswith(prefix) and unit[len(prefix):] in words:
            return scale * words[unit[len(prefix):]]
    return None


def parse_quantity(value: object, kind: Kind) -> float:
    """Read `value` (a number or a string such as "1 MiB") as a float in the kind's base unit.

    Raises UnitError naming the value, the kind and examples of what is accepted.
    """
    if kind not in _UNITS:
        raise UnitError(f"unknown quantity kind {kind!r}; known: {', '.join(KINDS)}")
    if isinstance(value, bool):
        raise UnitError(f"expected {_article(kind)} {kind} such as {_example(kind)}, got {value!r}")
    if isinstance(value, int | float):
        try:
            return _finite(float(value), value, kind)
        except OverflowError:  # an integer of hundreds of digits
            raise UnitError(f"must be a finite {kind}, such as {_example(kind)}, got a "
                            f"{len(str(value))}-digit number") from None
    if not isinstance(value, str):
        raise UnitError(f"expected {_article(kind)} {kind} such as {_example(kind)}, got {value!r}")
    match = _NUMBER.match(value)
    if not match:
        raise UnitError(f"cannot read {value!r} as {_article(kind)} {kind}; write it like "
                        f"{_example(kind)}")
    number, unit = _finite(float(match.group(1)), value, kind), match.group(2).replace(" ", "")
    if not unit:
        return number
    factor = _unit_factor(kind, unit)
    if factor is None:
        raise UnitError(
            f"unknown {kind} unit {match.group(2)!r} in {value!r}; write it like "
            f"{_example(kind)} (plain numbers are {_BASE[kind]})"
        )
    return _finite(number * factor, value, kind)


def _article(kind: str) -> str:
    return "an" if kind[0] in "aeiou" else "a"


def _finite(number: float, value: object, kind: str) -> float:
    """`number` when finite; infinities and NaN (YAML `.inf`, `.nan`, `1e400`) are refused."""
    if not math.isfinite(number):
        raise UnitError(f"must be a finite {kind}, such as {_example(kind)}, got {value!r}")
    return number


def unit_pattern(kind: Kind, signed: bool = False) -> str:
    """A regular expression matching exactly the strings `parse_quantity` reads as `kind`.

    Used by the JSON Schema so an editor accepts what the loader accepts. Negative numbers
    are left out unless `signed` (no quantity in a run file may be negative).
    """
    units = sorted({prefix + word for prefix in _prefixes(kind) for word in _UNITS[kind]},
                   key=lambda u: (-len(u), u))
    number = _NUMBER_TEXT if signed else _NUMBER_TEXT.replace("[-+]?", "[+]?", 1)
    alternatives = "|".join(re.escape(u) for u in units)
    return rf"^\s*{number}\s*(?:{alternatives})?\s*$"


def _example(kind: str) -> str:
    return {
        "size": "'1 MiB', '512 KB', '8 Mb' or a number of bytes",
        "bandwidth": "'1 GB/s', '8 Gb/s', '25.6 GiB/s' or a number of bytes/s",
        "mac_rate": "'500 GMAC/s', '1 TOPS' (= 0.5 TMAC/s) or a number of MAC/s",
        "frequency": "'500 MHz', '1 GHz' or a number of Hz",
        "time": "'100 ns', '1 us' or a number of seconds",
        "energy": "'4.6 pJ', '1 nJ' or a number of joules",
        "vector_rate": "'16 Gelem/s' or a number of elements/s",
    }[kind]


def kind_help(kind: Kind) -> str:
    """How a quantity of `kind` is written and read, in one sentence (for docs/config.md)."""
    return f"{_BASE[kind]}; write {_example(kind)}"


def format_quantity(value: float, kind: Kind) -> str:
    """A value in its base unit as a canonical string, e.g. 1e9 bandwidth -> '1e+09 bytes/s'."""
    return f"{value:.12g} {_BASE[kind]}"
