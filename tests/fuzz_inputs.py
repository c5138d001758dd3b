"""Random run and model files, good and bad, and the judge of what accelsim did with them.

Shared by tests/test_fuzz_configs.py (hypothesis drives the `random.Random`, a bounded
number of examples) and benchmarks/fuzz_configs.py (>= 10,000 files, hang detection).
Each field is drawn from values the loader must accept or from values it must refuse
(infinities, absurd sizes, quoted numbers, wrong units, wrong types); some files are then
damaged as text (a tab, a duplicated line, a cut). The judge loads and simulates a file:

* `ok`: it ran, and the result's invariants hold (finite, positive times; no-overlap total
  equal to compute + data movement; overlap total between their max and their sum;
  peak SRAM within capacity; DRAM traffic at least the compulsory bytes; MACs = network
  MACs x batch; energy the sum of its parts);
* `rejected`: an AccelsimError starting with the file's name (or, for a built-in model too
  large for the limits, the model's name, alpha and resolution; a too-small SRAM may name
  only the layer: the CLI adds the file);
* `unlocated`: an AccelsimError whose message names neither the run file nor the model;
* `violation`: it ran, but an invariant failed; `crash`: any other exception.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from accelsim.config.loader import load_run
from accelsim.config.models import POLICIES
from accelsim.errors import AccelsimError, ScheduleError
from accelsim.pipeline import run_config
from accelsim.sim.pe_array import DEPTHWISE_MAPPINGS

__all__ = ["Outcome", "damage", "judge", "pick", "random_model", "random_run", "write_case"]

INF, NAN = float("inf"), float("nan")
#: Values of every kind that must be refused wherever a number is expected.
NOT_A_NUMBER: tuple[Any, ...] = (INF, -INF, NAN, True, None, [1], {"a": 1}, "", "fast", "１")
GOOD: dict[str, tuple[Any, ...]] = {
    "size": ("1 MB", "256 KiB", "8 Mb", 4096, 600, "1.5 KiB", 1e6, "64 kB", 2**20, "2 KiB"),
    "capacity": ("1 MB", "256 KiB", "64 KiB", "128 KiB", "512 KiB", 2**20),
    "bandwidth": ("1 GB/s", "8 Gb/s", "25.6 GiB/s", 1e9, "100 MB/s", "1e9 B/s"),
    "mac_rate": ("500 GMAC/s", "1 TOPS", 1e12, "10 GMAC/s", "2 TOP/s"),
    "frequency": ("500 MHz", "1 GHz", 2e8),
    "time": (0, "100 ns", "1 us", 1e-7),
    "energy": ("0.3 pJ", 1e-12, 0, "1 nJ"),
    "bits": (8, 4, 16, 32),
    "batch": (1, 2, 4),
    "pe": (4, 8, 16, 32),
    "bool": (True, False),
    "policy": POLICIES,
    "dataflow": ("os", "ws", "is"),
    "depthwise": DEPTHWISE_MAPPINGS,
}
BAD: dict[str, tuple[Any, ...]] = {
    "size": (0, -1, "-1 MB", 1e30, "1e30 B", "1 MQ", "1 MB/s", "１ MB", "1.5 B", 2**41,
             "0.3 B"),
    "capacity": (0, -1, "-1 MB", 1e30, "1 MQ", "１ MB", "1.5 B", 2**41),
    "bandwidth": (0, 1e-30, "1 GBs", "1 MHz", "1 GB", -1e9, 1e30, "1e400 B/s"),
    "mac_rate": ("500 GB/s", 0, 1e30, "1 MHz", -5),
    "frequency": ("1 GB/s", 0, 1e30, "500 mhz x"),
    "time": (-1, "1 GB", 5, ".inf"),
    "energy": (-1e-12, "1 J", 1, "0.3 pF"),
    "bits": ("8", 0, 65, 8.5, 1e30),
    "batch": ("4", 4.0, 1e30, 0, -1, 10**6),
    "pe": (0, 10**8, "16", 16.5),
    "bool": (1, 0, "yes", "true", "no"),
    "policy": ("lifetime", "", 3, "LIVENESS"),
    "dataflow": ("rs", "", 1),
    "depthwise": ("channels", "", True),
}


def pick(rng: random.Random, kind: str, bad_rate: float) -> Any:
    """A value of `kind`: usually a good one, sometimes a bad one or a non-number."""
    roll = rng.random()
    if roll < bad_rate * 0.7:
        return rng.choice(BAD[kind])
    if roll < bad_rate:
        return rng.choice(NOT_A_NUMBER)
    return rng.choice(GOOD[kind])


# ---- model files --------------------------------------------------------------------------
def _layer(rng: random.Random, bad: float, index: int) -> dict[str, Any]:
    """One layer mapping `{op: {fields}}`, its fields sometimes out of range or mistyped."""
    def value(good: Any, wrong: tuple[Any, ...]) -> Any:
        return rng.choice(wrong) if rng.random() < bad else good

    spatial = ["conv2d", "conv2d", "depthwise_conv2d", "max_pool", "avg_pool", "batch_norm",
               "activation"]
    op = rng.choice(spatial + ["dense", "flatten"] if rng.random() < bad else spatial)
    fields: dict[str, Any] = {"name": f"l{index}"}
    if op == "conv2d":
        fields["filters"] = value(rng.randint(1, 16), (0, -1, "8", 10**12, 8.5, True))
    if op in ("conv2d", "depthwise_conv2d", "max_pool", "avg_pool"):
        fields["kernel"] = value(rng.randint(1, 3), (0, [0, 3], 2000, "3", [3]))
        fields["stride"] = value(rng.randint(1, 2), (0, 10**6, [1, 2, 3]))
        fields["padding"] = value(rng.choice(["same", "valid", 0, 1]), (-1, "full", 10**6))
    if op == "dense":
        fields["units"] = value(rng.randint(1, 16), (0, 10**12, "10"))
    if op == "activation":
        fields["kind"] = value(rng.choice(["relu", "relu6", "none"]), ("gelu", 1))
    if rng.random() < bad / 3:
        fields[rng.choice(["filter", "strides", "bias"])] = 1  # an unknown key
    if rng.random() < bad / 5:
        op = rng.choice(["conv3d", "Conv2D", "repeat"])
    return {op: fields}


def random_model(rng: random.Random, bad_rate: float = 0.15) -> dict[str, Any]:
    """A small model file's data (inputs up to 16 x 16 x 8, up to 7 layers, repeat blocks)."""
    shape: Any = [rng.randint(1, 16), rng.randint(1, 16), rng.randint(1, 8)]
    if rng.random() < bad_rate:
        shape = rng.choice([[0, 8, 3], [100000, 100000, 3], "x", [8, 8], [8.5, 8, 3], []])
    layers: list[Any] = [_layer(rng, bad_rate, i) for i in range(rng.randint(1, 5))]
    if rng.random() < 0.5:  # a classifier head
        layers += [{"global_avg_pool": None}, {"dense": {"units": rng.randint(1, 12)}}]
    if rng.random() < 0.3:
        count: Any = rng.choice([1, 2, 3]) if rng.random() >= bad_rate else rng.choice(
            [0, 10**9, "2", 2.5])
        layers.insert(rng.randint(0, len(layers)), {
            "repeat": count, "layers": [{"conv2d": {"name": "r${i}", "filters": 4,
                                                    "kernel": 1}}]})
    return {"name": "fuzz", "input": {"shape": shape}, "layers": layers}


# ---- run files ----------------------------------------------------------------------------
def random_run(rng: random.Random, model_path: str, bad_rate: float = 0.08) -> dict[str, Any]:
    """A run file's data: the model at `model_path` or a small built-in, random hardware.

    The built-in CIFAR MobileNet gets SRAMs of 64 KiB and more (a few KiB make its
    schedule search take seconds); the small model files get any size.
    """
    capacity = "size"
    if rng.random() < 0.7:
        model: dict[str, Any] = {"path": model_path}
    else:
        capacity = "capacity"
        model = {"name": rng.choice(["mobilenet_v1_cifar"] * 5 + ["mobilenet_v1_cifr"])}
        if rng.random() < 0.5:
            model["alpha"] = rng.choice([0.25, 0.5, 1.0] if rng.random() >= bad_rate
                                        else [0, -1, 1e30, "0.5", INF])
        if rng.random() < 0.3:
            model["resolution"] = rng.choice([16, 28, 32] if rng.random() >= bad_rate
                                             else [0, 100000, "32", 32.5])
    if rng.random() < 0.6:
        compute: dict[str, Any] = {"mac_rate": pick(rng, "mac_rate", bad_rate)}
    else:
        compute = {"pe_rows": pick(rng, "pe", bad_rate), "pe_cols": pick(rng, "pe", bad_rate),
                   "clock": pick(rng, "frequency", bad_rate),
                   "dataflow": pick(rng, "dataflow", bad_rate),
                   "depthwise": pick(rng, "depthwise", bad_rate)}
        if rng.random() < bad_rate:
            compute["mac_rate"] = "1 TOPS"  # both compute forms
    hardware: dict[str, Any] = {
        "sram": {"capacity": pick(rng, capacity, bad_rate)},
        "dram": {"bandwidth": pick(rng, "bandwidth", bad_rate),
                 "latency": pick(rng, "time", bad_rate)},
        "compute": compute,
        "precision": {k: pick(rng, "bits", bad_rate)
                      for k in ("activation_bits", "weight_bits", "accumulator_bits")},
        "energy": {k: pick(rng, "energy", bad_rate) for k in ("mac", "dram_read_byte")},
    }
    simulation = {"policy": pick(rng, "policy", bad_rate),
                  "overlap": pick(rng, "bool", bad_rate), "batch": pick(rng, "batch", bad_rate)}
    data = {"name": "fuzz", "model": model, "hardware": hardware, "simulation": simulation}
    if rng.random() < bad_rate:
        data[rng.choice(["hardwre", "simulaton"])] = {}
    return data


def damage(rng: random.Random, text: str) -> str:
    """The YAML text with one random edit: a tab, a cut, a repeated or shifted line."""
    lines = text.splitlines(keepends=True)
    i = rng.randrange(len(lines))
    edit = rng.choice(["tab", "cut", "repeat", "shift", "alias"])
    if edit == "tab":
        lines[i] = "\t" + lines[i]
    elif edit == "cut":
        return text[:rng.randrange(len(text))]
    elif edit == "repeat":
        lines.insert(i, lines[i])
    elif edit == "shift":
        lines[i] = " " + lines[i]
    else:  # an alias bomb: 10**8 values from eight lines
        names = ["a", *(f"a{k}" for k in range(7))]
        lines.append("bomb: &a [x, x, x, x, x, x, x, x, x, x]\n")
        lines += [f"b{k}: &{name} [{', '.join([f'*{prev}'] * 10)}]\n"
                  for k, (prev, name) in enumerate(zip(names[:-1], names[1:], strict=True))]
    return "".join(lines)


def write_case(rng: random.Random, folder: Path, damage_rate: float = 0.05) -> Path:
    """Write a random model file and a run file using it into `folder`; return the run file.

    Half the cases have no bad value at all (they exercise the invariants), the rest a
    few per file.
    """
    model = folder / "model.yaml"
    run = folder / "run.yaml"
    bad = rng.choice([0.0, 0.0, 0.03, 0.1])
    model_text = yaml.safe_dump(random_model(rng, bad), sort_keys=False, allow_unicode=True)
    run_text = yaml.safe_dump(random_run(rng, str(model), bad / 2), sort_keys=False,
                              allow_unicode=True)
    if rng.random() < damage_rate:
        model_text = damage(rng, model_text)
    if rng.random() < damage_rate:
        run_text = damage(rng, run_text)
    model.write_text(model_text, encoding="utf-8")
    run.write_text(run_text, encoding="utf-8")
    return run


# ---- the judge ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Outcome:
    """What happened to one file: kind (ok, rejected, unlocated, violation, crash) and why."""

    kind: str
    detail: str = ""


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-18)


def _violations(summary: dict[str, Any], network_macs: int, overlap: bool) -> list[str]:
    """The invariants of a finished run that do not hold."""
    bad = []
    total, compute, moving = (summary[k] for k in ("total_time_s", "compute_time_s",
                                                    "data_movement_time_s"))
    numbers = [v for v in summary.values() if isinstance(v, float)]
    if not all(math.isfinite(v) for v in numbers if v is not summary.get("inferences_per_s")):
        bad.append("a non-finite figure")
    if not (total > 0 and compute >= 0 and moving >= 0):
        bad.append(f"times not positive: {total}, {compute}, {moving}")
    if not overlap and not _close(total, compute + moving):
        bad.append(f"total {total} != compute {compute} + data movement {moving}")
    if overlap and not (max(compute, moving) * (1 - 1e-9) <= total
                        <= (compute + moving) * (1 + 1e-9)):
        bad.append(f"overlapped total {total} outside [{max(compute, moving)}, "
                   f"{compute + moving}]")
    if summary["peak_sram_bytes"] > summary["sram_capacity_bytes"]:
        bad.append(f"peak SRAM {summary['peak_sram_bytes']} over the capacity")
    traffic = summary["dram_read_bytes"] + summary["dram_write_bytes"]
    if traffic < summary["compulsory_dram_bytes"]:
        bad.append(f"DRAM traffic {traffic} below the compulsory bytes")
    if summary["macs"] != network_macs * summary["batch"]:
        bad.append(f"MACs {summary['macs']} != {network_macs} x batch {summary['batch']}")
    parts = sum(summary[k] for k in ("energy_mac_j", "energy_sram_j", "energy_dram_j"))
    if summary["energy_j"] < 0 or not _close(summary["energy_j"], parts):
        bad.append(f"energy {summary['energy_j']} != its parts {parts}")
    return bad


def judge(run: Path) -> Outcome:
    """Load and simulate a run file as `accelsim run` does; classify what happened."""
    model = run.parent / "model.yaml"
    try:
        config = load_run(run)
        result = run_config(config)
    except ScheduleError as exc:
        return Outcome("rejected", str(exc))
    except AccelsimError as exc:
        message = str(exc)
        if not message.startswith((str(run), str(model), "model mobilenet")):
            return Outcome("unlocated", f"{type(exc).__name__}: {message}")
        return Outcome("rejected", message)
    except Exception as exc:  # noqa: BLE001 - every other exception is what we count
        return Outcome("crash", f"{type(exc).__name__}: {exc}")
    summary = result.summary()
    problems = _violations(summary, result.network.total_macs, config.simulation.overlap)
    if problems:
        return Outcome("violation", "; ".join(problems))
    return Outcome("ok")
