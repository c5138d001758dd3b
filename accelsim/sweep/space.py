"""Sweep files and their designs: which run-file fields vary, over which values, in what order.

A sweep file names a base run file and axes keyed by dotted paths into it::

    base: mobilenet_cifar.yaml
    axes:
      hardware.sram.capacity: [256 KiB, 512 KiB, 1 MiB]
      hardware.dram.bandwidth: {start: 0.5 GB/s, stop: 8 GB/s, num: 5, scale: log}
    mode: grid          # or random / latin-hypercube, with samples and seed

Every axis value is checked by applying it alone to the base and validating the result, so
a wrong field, value or unit fails before any work. Values are kept in base units (bytes,
bytes/s, MAC/s, ...), exactly as the validated RunConfig holds them.

A design gives every point a stable `point_id` (its index in the design): grid points in
`itertools.product` order of the axes as written, random and Latin-hypercube points in the
order they are drawn from `seed`. Points are grouped by the *key* axes (those a schedule or
a PE-array cycle count depends on); the other axes are evaluated vectorised.
"""

from __future__ import annotations

import math
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from accelsim.config.loader import (
    apply_overrides,
    check_model_name,
    find_config,
    item_index,
    load_run,
    load_run_data,
    validate,
)
from accelsim.config.memory import per_cycle_levels
from accelsim.config.models import RunConfig
from accelsim.errors import AccelsimError, ConfigError
from accelsim.limits import MAX_AXIS_VALUES, MAX_GRID_POINTS, MAX_SAMPLES
from accelsim.units import parse_quantity
from accelsim.yamlio import LineMap, load_yaml

__all__ = [
    "FAST_PATHS",
    "MODES",
    "Axis",
    "Design",
    "Points",
    "SweepSpec",
    "get_path",
    "load_sweep",
    "overridden",
    "with_values",
]

MODES: tuple[str, ...] = ("grid", "random", "latin-hypercube")
SCALES: tuple[str, ...] = ("linear", "log")
SWEEP_KEYS: tuple[str, ...] = ("base", "axes", "mode", "samples", "seed")
RANGE_KEYS: tuple[str, ...] = ("start", "stop", "num", "scale")

#: Fields that change neither the schedule nor the compute cycles: evaluated vectorised.
FAST_PATHS: frozenset[str] = frozenset({
    "name",
    "hardware.name",
    "hardware.dram.bandwidth",
    "hardware.dram.latency",
    "hardware.compute.mac_rate",
    "hardware.compute.clock",
    "hardware.energy.mac",
    "hardware.energy.sram_read_byte",
    "hardware.energy.sram_write_byte",
    "hardware.energy.dram_read_byte",
    "hardware.energy.dram_write_byte",
})


def get_path(config: BaseModel, dotted: str) -> Any:
    """The value at a dotted path of a (validated) config."""
    value: Any = config
    for part in dotted.split("."):
        if isinstance(value, tuple):  # a list of records, e.g. hardware.memory.ifmap
            value = value[item_index(list(value), part, dotted)]
        else:
            value = getattr(value, part)
    return value


def _field_info(dotted: str) -> FieldInfo | None:
    """The pydantic field a dotted path names in RunConfig, or None."""
    model: Any = RunConfig
    info: FieldInfo | None = None
    for part in dotted.split("."):
        if isinstance(model, list):  # an item of a list of records: the record's fields
            model = model[0]
            continue
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return None
        info = model.model_fields.get(part)
        if info is None:
            return None
        candidates = [info.annotation, *typing.get_args(info.annotation)]
        items = [a for c in candidates if typing.get_origin(c) is tuple
                 for a in typing.get_args(c) if isinstance(a, type) and issubclass(a, BaseModel)]
        if items:
            model = items[:1]
            continue
        model = next((c for c in candidates
                      if isinstance(c, type) and issubclass(c, BaseModel)), None)
    return info


def _unit_kind(dotted: str) -> Any:
    """The unit kind ('size', 'bandwidth', ...) of a field, or None for plain numbers."""
    info = _field_info(dotted)
    if info is None:
        return None
    extras = [info.json_schema_extra]
    for arg in typing.get_args(info.annotation):
        extras += [m.json_schema_extra for m in getattr(arg, "__metadata__", ())
                   if isinstance(m, FieldInfo)]
    for extra in extras:
        if isinstance(extra, dict) and "unit_kind" in extra:
            return extra["unit_kind"]
    return None


@dataclass(frozen=True)
class Axis:
    """One swept field: its validated values, or a numeric range to sample from."""

    path: str
    values: tuple[Any, ...]
    fast: bool
    low: float | None = None
    high: float | None = None
    scale: str = "linear"
    integer: bool = False

    @property
    def is_range(self) -> bool:
        """True when random/LHS modes sample a continuous range rather than a list."""
        return self.low is not None


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep: the base config, the axes and how points are drawn."""

    source: str
    base_file: str
    base: RunConfig
    axes: tuple[Axis, ...]
    mode: str = "grid"
    samples: int | None = None
    seed: int = 0
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def stem(self) -> str:
        """Name of the default output folder: the sweep file's stem."""
        return Path(self.source).stem if self.source != "<spec>" else "sweep"

    def record(self) -> dict[str, Any]:
        """What was asked, as written to DIR/sweep.yaml (resume compares it)."""
        return {
            "sweep": self.raw,
            "base": self.base.model_dump(mode="json", exclude_none=True),
            "axes": {a.path: [_plain(v) for v in a.values] for a in self.axes},
            "mode": self.mode, "samples": self.samples, "seed": self.seed,
        }


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def overridden(data: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """`data` with dotted paths set, like apply_overrides, copying only the mappings and
    lists along each path (a sweep applies thousands of values to one base)."""
    out = dict(data)
    for dotted, value in overrides.items():
        parts = dotted.split(".")
        node: Any = out
        for part in parts[:-1]:
            key: Any = item_index(node, part, dotted) if isinstance(node, list) else part
            child = node[key] if isinstance(node, list) else node.get(part)
            if not isinstance(child, dict | list):  # a new or wrong branch: the general rules
                return apply_overrides(data, overrides)
            node[key] = child = list(child) if isinstance(child, list) else dict(child)
            node = child
        key = item_index(node, parts[-1], dotted) if isinstance(node, list) else parts[-1]
        node[key] = value
    return out


class _Setter:
    """A validated config whose models along some paths are opened into plain containers
    (everything else stays a validated instance, which pydantic accepts as it is), so a
    value set there is validated again at the cost of those few models only."""

    def __init__(self, base: RunConfig) -> None:
        self._made: set[int] = set()  # containers opened here (the rest are instances)
        self.root = self._open(base)

    def _open(self, node: Any) -> Any:
        if isinstance(node, BaseModel):
            opened: Any = {name: getattr(node, name) for name in type(node).model_fields}
        elif isinstance(node, tuple):
            opened = list(node)
        else:
            return None
        self._made.add(id(opened))
        return opened

    def set(self, dotted: str, value: Any) -> bool:
        """Set one path; False when it leaves the models' fields (unknown, or unset)."""
        node, parts = self.root, dotted.split(".")
        for depth, part in enumerate(parts):
            if isinstance(node, list):
                names = [getattr(item, "name", None) if not isinstance(item, dict)
                         else item.get("name") for item in node]
                key: Any = int(part) if part.isdigit() and int(part) < len(node) else (
                    names.index(part) if part in names else None)
            else:
                key = part if part in node else None
            if key is None:
                return False
            if depth == len(parts) - 1:
                node[key] = value
                return True
            child = node[key]
            if id(child) not in self._made:
                child = node[key] = self._open(child)
                if child is None:
                    return False
            node = child
        return False

    def validate(self) -> RunConfig | None:
        """The config as now set, or None when pydantic rejects it."""
        try:
            return RunConfig.model_validate(self.root)
        except ValidationError:
            return None


def with_values(base: RunConfig, data: Mapping[str, Any], overrides: Mapping[str, Any],
                source: str, setter: _Setter | None = None) -> RunConfig:
    """`base` with dotted-path overrides, validated; `data` is base's dumped data.

    Only the models along the paths are validated again (see _Setter; `setter` may be one
    kept for the same paths), so thousands of axis values cost little; any path or value
    it cannot take goes through the general rules (overridden + validate), which give the
    one-line errors.
    """
    setter = setter or _Setter(base)
    if all(setter.set(dotted, value) for dotted, value in overrides.items()):
        config = setter.validate()
        if config is not None:
            return config
    return validate(RunConfig, overridden(data, overrides), source)


class _Checker:
    """Applies one axis value to the base and validates it; errors name sweep file and line."""

    def __init__(self, base: RunConfig, source: str, lines: LineMap, base_dir: Path) -> None:
        self.base = base
        self.data = base.model_dump(mode="json", exclude_none=True)
        self.setters: dict[str, _Setter] = {}  # one per axis path, reused for every value
        self.source, self.lines, self.base_dir = source, lines, base_dir

    def where(self, *path: str | int) -> str:
        line = self.lines.line(("axes", *path))
        return f"{self.source}:{line}" if line else self.source

    def check(self, path: str, value: Any) -> Any:
        """The validated (base-unit) value of `path` when set to `value` alone."""
        if path == "model.path" and isinstance(value, str):
            local = self.base_dir / value
            value = str(local.resolve()) if local.exists() else value
        if path not in self.setters:
            self.setters[path] = _Setter(self.base)
        setter = self.setters[path]
        config = with_values(self.base, self.data, {path: value}, f"{self.where(path)}: axes",
                             setter)
        check_model_name(config, f"{self.where(path)}: axes")
        return get_path(config, path)


def _range_values(checker: _Checker, path: str, spec: Mapping[str, Any], mode: str) -> Axis:
    unknown = [k for k in spec if k not in RANGE_KEYS]
    if unknown or "start" not in spec or "stop" not in spec:
        raise ConfigError(
            f"{checker.where(path)}: axes: {path}: a range needs start and stop "
            f"(keys: {', '.join(RANGE_KEYS)}), got keys {', '.join(map(str, spec))}")
    scale = spec.get("scale", "linear")
    if scale not in SCALES:
        raise ConfigError(f"{checker.where(path)}: axes: {path}.scale: must be one of "
                          f"{', '.join(SCALES)}, got {scale!r}")
    kind = _unit_kind(path)
    ends = []
    for key in ("start", "stop"):
        raw = spec[key]
        try:
            number = parse_quantity(raw, kind) if kind else raw
        except AccelsimError as exc:
            raise ConfigError(f"{checker.where(path)}: axes: {path}.{key}: {exc}") from None
        if isinstance(number, bool) or not isinstance(number, int | float):
            raise ConfigError(f"{checker.where(path)}: axes: {path}.{key}: expected a number, "
                              f"got {raw!r}")
        ends.append(checker.check(path, number))
    low, high = (float(e) for e in ends)
    integer = all(isinstance(e, int) and not isinstance(e, bool) for e in ends)
    if scale == "log" and (low <= 0 or high <= 0):
        raise ConfigError(f"{checker.where(path)}: axes: {path}: a log range needs start and "
                          f"stop > 0, got {low:g} and {high:g}")
    num = spec.get("num")
    if num is None:
        if mode == "grid":
            raise ConfigError(f"{checker.where(path)}: axes: {path}.num: a grid range needs "
                              "num (the number of values)")
        return Axis(path, tuple(ends), path in FAST_PATHS, low, high, scale, integer)
    if isinstance(num, bool) or not isinstance(num, int) or not 1 <= num <= MAX_AXIS_VALUES:
        raise ConfigError(f"{checker.where(path)}: axes: {path}.num: must be an integer from 1 "
                          f"to {MAX_AXIS_VALUES:,}, got {num!r}")
    if num == 1 and low != high:
        raise ConfigError(f"{checker.where(path)}: axes: {path}.num: 1 value cannot span "
                          f"{low:g} to {high:g}; give num >= 2, or list the single value")
    grid = np.geomspace(low, high, num) if scale == "log" else np.linspace(low, high, num)
    if integer:
        grid = np.round(grid)
    numbers = list(dict.fromkeys(float(g) for g in grid))
    values = tuple(checker.check(path, int(v) if integer else v) for v in numbers)
    return Axis(path, values, path in FAST_PATHS, low, high, scale, integer)


def _axis(checker: _Checker, path: Any, spec: Any, mode: str) -> Axis:
    if not isinstance(path, str) or not path:
        raise ConfigError(f"{checker.source}: axes: keys must be dotted paths such as "
                          f"hardware.sram.capacity, got {path!r}")
    if isinstance(spec, Mapping):
        return _range_values(checker, path, spec, mode)
    items = list(spec) if isinstance(spec, list | tuple) else [spec]
    if not 1 <= len(items) <= MAX_AXIS_VALUES:
        raise ConfigError(f"{checker.where(path)}: axes: {path}: needs from 1 to "
                          f"{MAX_AXIS_VALUES:,} values, got {len(items):,}")
    values = tuple(checker.check(path, v) for v in items)
    return Axis(path, values, path in FAST_PATHS)


def _overlapping(paths: list[str]) -> tuple[str, str] | None:
    for a in paths:
        for b in paths:
            if a != b and b.startswith(a + "."):
                return a, b
    return None


def load_sweep(path_or_spec: str | Path | Mapping[str, Any],
               overrides: Mapping[str, Any] | None = None) -> SweepSpec:
    """Read and validate a sweep file (or an equivalent mapping); every axis value is checked.

    `overrides` (dotted path -> value) change the base run file before the axes apply.
    """
    if isinstance(path_or_spec, Mapping):
        data: Any = dict(path_or_spec)
        source, lines, here = "<spec>", LineMap(), Path.cwd()
    else:
        found = Path(path_or_spec)
        if not found.is_file():
            raise ConfigError(f"{path_or_spec}: sweep file not found")
        data, lines = load_yaml(found)
        source, here = str(found), found.parent
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a sweep mapping with keys {', '.join(SWEEP_KEYS)}")
    unknown = [k for k in data if k not in SWEEP_KEYS]
    if unknown:
        raise ConfigError(f"{source}: unknown key {unknown[0]!r} "
                          f"(allowed: {', '.join(SWEEP_KEYS)})")
    if "base" not in data or not isinstance(data["base"], str):
        raise ConfigError(f"{source}: base: required, the run file to start from "
                          "(looked up like `accelsim run`)")
    mode = data.get("mode", "grid")
    if mode not in MODES:
        raise ConfigError(f"{source}: mode: must be one of {', '.join(MODES)}, got {mode!r}")
    samples, seed = data.get("samples"), data.get("seed", 0)
    if mode != "grid" and (isinstance(samples, bool) or not isinstance(samples, int)
                           or not 1 <= samples <= MAX_SAMPLES):
        raise ConfigError(f"{source}: samples: mode {mode} needs an integer from 1 to "
                          f"{MAX_SAMPLES:,}, got {samples!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ConfigError(f"{source}: seed: must be an integer, got {seed!r}")
    local = here / data["base"]
    base_path = local if local.is_file() else find_config(data["base"])
    base = load_run(base_path, overrides)
    axes_data = data.get("axes")
    if not isinstance(axes_data, dict) or not axes_data:
        raise ConfigError(f"{source}: axes: required, a mapping of dotted run-file paths "
                          "to value lists or ranges")
    overlap = _overlapping(list(axes_data))
    if overlap:
        raise ConfigError(f"{source}: axes: {overlap[0]} and {overlap[1]} overlap; "
                          "sweep one or the other")
    checker = _Checker(base, source, lines, here)
    axes = tuple(_axis(checker, p, s, mode) for p, s in axes_data.items())
    clocked = [a.path for a in axes if a.path == "hardware.compute.clock"]
    if clocked and per_cycle_levels(load_run_data(base_path)[0]):
        raise ConfigError(f"{checker.where(clocked[0])}: axes: {clocked[0]}: the base gives "
                          "memory bandwidths in B/cycle, converted once at its own clock; "
                          "give them in B/s to sweep the clock")
    return SweepSpec(source, str(base_path), base, axes, mode,
                     samples if mode != "grid" else None, seed, data)


@dataclass(frozen=True)
class Points:
    """Some design points: their ids and, per axis path, a table of values and a code per
    point (the compact form shipped to workers; values(path) expands one axis)."""

    ids: np.ndarray
    axes: Mapping[str, tuple[np.ndarray, np.ndarray]]

    def __len__(self) -> int:
        return len(self.ids)

    def values(self, path: str) -> np.ndarray:
        """The axis's value at every point (base units)."""
        table, codes = self.axes[path]
        return table[codes]


@dataclass(frozen=True)
class Group:
    """Design points sharing every key-axis value: one schedule (and PE array) serves them."""

    index: int
    codes: tuple[int, ...]
    size: int


class Design:
    """The points of a sweep: each axis column is a table of values and a code per point."""

    def __init__(self, spec: SweepSpec) -> None:
        self.spec = spec
        self.axes = spec.axes
        self.key = [i for i, a in enumerate(self.axes) if not a.fast]
        self.tables: list[np.ndarray] = []
        self._codes: np.ndarray | None = None
        if spec.mode == "grid":
            self.tables = [np.asarray(a.values) for a in self.axes]
            self.shape = tuple(len(a.values) for a in self.axes)
            self.n_points = math.prod(self.shape)
            if self.n_points > MAX_GRID_POINTS:
                raise ConfigError(f"{spec.source}: axes: the grid has {self.n_points:,} points, "
                                  f"over the limit of {MAX_GRID_POINTS:,}; use fewer values "
                                  "or mode: random")
        else:
            self._draw(spec)
            self.shape = ()
            self.n_points = int(spec.samples or 0)
        self.groups = self._groups()

    def _draw(self, spec: SweepSpec) -> None:
        """Random or Latin-hypercube codes, a pure function of the seed."""
        rng = np.random.default_rng(spec.seed)
        n = int(spec.samples or 0)
        codes = np.empty((n, len(self.axes)), dtype=np.int64)
        for i, axis in enumerate(self.axes):
            if spec.mode == "random":
                u = rng.random(n)
            else:
                u = (rng.permutation(n) + rng.random(n)) / n
            if axis.is_range:
                assert axis.low is not None and axis.high is not None
                if axis.scale == "log":
                    raw = np.exp(np.log(axis.low) + u * (np.log(axis.high) - np.log(axis.low)))
                else:
                    raw = axis.low + u * (axis.high - axis.low)
                if axis.integer:
                    raw = np.round(raw).astype(np.int64)
                table, codes[:, i] = np.unique(raw, return_inverse=True)
            else:
                table = np.asarray(axis.values)
                codes[:, i] = np.minimum((u * len(axis.values)).astype(np.int64),
                                         len(axis.values) - 1)
            self.tables.append(table)
        self._codes = codes
        order_key = codes[:, self.key] if self.key else np.zeros((n, 0), dtype=np.int64)
        if self.key:
            _, inverse = np.unique(order_key, axis=0, return_inverse=True)
            inverse = inverse.reshape(-1)
        else:
            inverse = np.zeros(n, dtype=np.int64)
        self._order = np.argsort(inverse, kind="stable")
        self._bounds = np.searchsorted(inverse[self._order], np.arange(inverse.max() + 2
                                                                       if n else 1))

    def _groups(self) -> list[Group]:
        if self.spec.mode == "grid":
            key_shape = [self.shape[i] for i in self.key]
            size = self.n_points // max(1, math.prod(key_shape)) if self.n_points else 0
            combos = np.ndindex(*key_shape) if key_shape else [()]
            return [Group(g, tuple(int(c) for c in combo), size)
                    for g, combo in enumerate(combos)]
        assert self._codes is not None
        groups: list[Group] = []
        for g in range(len(self._bounds) - 1):
            lo, hi = self._bounds[g], self._bounds[g + 1]
            if hi > lo:
                first = self._codes[self._order[lo]]
                groups.append(Group(len(groups), tuple(int(first[i]) for i in self.key),
                                    int(hi - lo)))
        return groups

    def key_values(self, group: Group) -> dict[str, Any]:
        """The key-axis overrides (path -> validated value) shared by a group's points."""
        return {self.axes[i].path: _plain(self.tables[i][c])
                for i, c in zip(self.key, group.codes, strict=True)}

    def group_ids(self, group: Group, start: int, stop: int) -> np.ndarray:
        """Point ids of members [start, stop) of a group, in ascending id order for grids."""
        if self.spec.mode != "grid":
            lo = int(self._bounds[group.index])
            return np.sort(self._order[lo + start:lo + stop])
        if not self.key:  # one group: the whole grid, in order
            return np.arange(start, stop, dtype=np.int64)
        fast = [i for i in range(len(self.axes)) if i not in self.key]
        flat = np.arange(start, stop)
        sub = np.unravel_index(flat, [self.shape[i] for i in fast]) if fast else ()
        full: list[Any] = [None] * len(self.axes)
        for i, codes in zip(fast, sub, strict=True):
            full[i] = codes
        for i, code in zip(self.key, group.codes, strict=True):
            full[i] = np.full(stop - start, code, dtype=np.int64)
        return np.ravel_multi_index(full, self.shape).astype(np.int64)

    def chunks(self, group: Group, size: int, done: np.ndarray | None = None
               ) -> Iterator[np.ndarray]:
        """The group's not-yet-done point ids in pieces of at most `size`."""
        step = max(size, 1)
        pending = np.empty(0, dtype=np.int64)
        for start in range(0, group.size, step):
            ids = self.group_ids(group, start, min(start + step, group.size))
            if done is not None:
                ids = ids[~done[ids]]
            pending = np.concatenate([pending, ids])
            while len(pending) >= step:
                yield pending[:step]
                pending = pending[step:]
        if len(pending):
            yield pending

    def points(self, ids: np.ndarray) -> Points:
        """The given points with their codes into each axis's table of values."""
        if self.spec.mode == "grid":
            codes = np.unravel_index(ids, self.shape) if self.axes else ()
        else:
            assert self._codes is not None
            codes = tuple(self._codes[ids, i] for i in range(len(self.axes)))
        return Points(np.asarray(ids, dtype=np.int64), {
            a.path: (t, np.asarray(c, dtype=np.min_scalar_type(max(len(t) - 1, 0))))
            for a, t, c in zip(self.axes, self.tables, codes, strict=True)})

    def columns(self, ids: np.ndarray) -> dict[str, np.ndarray]:
        """Axis values (base units) of the given points, one array per axis path."""
        points = self.points(ids)
        return {path: points.values(path) for path in points.axes}
