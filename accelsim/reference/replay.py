"""Schedule replay: execute a schedule step by step with a bounded SRAM and a DRAM store.

Every Load copies a region out of DRAM (which must have been written), every Alloc and
Load must fit the SRAM capacity, every Compute reads only resident buffers whose regions
cover what its tile needs (halo rows included), and every Store writes back into DRAM.
The network outputs read from DRAM at the end must equal direct execution: bit-exact in
integer mode, allclose in float32. Any gap raises ReplayError naming layer and tensor.

Channel tiles of channel-wise layers (depthwise, pools, adds) load only their channels;
the replay places them in a zero tensor of full width, computes, and keeps the tile's
channels, which depend on those input channels alone.

Feature maps live in root buffers (accelsim.mapping.views): DRAM and SRAM hold regions of
roots, a producer's tile lands at its channel offset of its root's buffer, and a view
(a concat, a channel slice) computes nothing: its readers read the root's channels it
names. Every buffer keeps a mask of the elements written into it, so a read or a store of
a slice no producer wrote raises ReplayError.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from accelsim.config.memory import Operand
from accelsim.errors import ReplayError
from accelsim.ir.graph import Network
from accelsim.ir.layers import Layer
from accelsim.ir.ops import traits
from accelsim.mapping.build_facts import facts_of
from accelsim.mapping.schedule import Alloc, Compute, Free, Load, Region, Schedule, Store, Tile
from accelsim.mapping.tiling import (
    hwc,
    input_channels,
    input_region_cols,
    input_region_rows,
)
from accelsim.reference.compare import compare
from accelsim.reference.executor import ExecResult, Mode, run, run_layer
from accelsim.reference.levels import check_level
from accelsim.reference.partial import finish, partial_sum
from accelsim.reference.quant import Precision
from accelsim.reference.weights import Params, params_for

__all__ = ["ReplayResult", "replay"]

Box = tuple[slice, slice, slice, slice]


@dataclass(frozen=True)
class ReplayResult:
    """Replayed vs direct outputs, their largest errors, and whether they agree.

    `overflows` counts accumulator values outside `accumulator_bits` in the integer run
    (0 in float32): the schedule can match exactly and the precision still be too narrow.
    """

    mode: str
    max_abs_err: float
    max_rel_err: float
    passed: bool
    peak_sram_bytes: int
    steps: int
    overflows: int = 0


@dataclass
class _Buffer:
    tensor: str
    region: Region
    bytes: int
    data: np.ndarray | None  # None for filters (read from params)
    valid: np.ndarray | None = None  # elements written so far (None: all of `data`)


def _box(shape: tuple[int, ...], batch: int, region: Region) -> Box:
    """Index (samples, rows, columns, channels) of a (B, H, W, C) array for a region."""
    h, w, c = hwc(shape)
    samples = region.samples or (0, batch)
    rows = region.rows or (0, h)
    cols = region.cols or (0, w)
    channels = region.channels or (0, c)
    return slice(*samples), slice(*rows), slice(*cols), slice(*channels)


def _inner(box: Box, within: Box) -> Box | None:
    """`box` as an index into an array holding `within` (None unless it lies inside)."""
    if any(b.start < w.start or b.stop > w.stop for b, w in zip(box, within, strict=True)):
        return None
    return (slice(box[0].start - within[0].start, box[0].stop - within[0].start),
            slice(box[1].start - within[1].start, box[1].stop - within[1].start),
            slice(box[2].start - within[2].start, box[2].stop - within[2].start),
            slice(box[3].start - within[3].start, box[3].stop - within[3].start))


class _Machine:
    """DRAM arrays with written-masks, SRAM buffers within capacity, and the network."""

    def __init__(self, net: Network, schedule: Schedule, direct: ExecResult,
                 params: Params, inputs: dict[str, np.ndarray]) -> None:
        self.net, self.schedule, self.direct, self.params = net, schedule, direct, params
        self.int_mode = direct.mode == "int"
        self.batch = schedule.batch
        self.dram: dict[str, np.ndarray] = {}
        self.written: dict[str, np.ndarray] = {}
        for name, array in inputs.items():
            self.dram[name] = self._as4d(name, array).copy()
            self.written[name] = np.ones(self.dram[name].shape, dtype=bool)
        self.homes = facts_of(net).homes  # shared with the network's schedule builds
        self.sram: dict[str, _Buffer] = {}
        self.used = self.peak = self.steps = 0
        self.level_of: dict[str, str] = {}  # resident buffer -> its on-chip level
        self.used_in: dict[str, int] = {}  # on-chip level -> bytes resident in it

    def _as4d(self, tensor: str, array: np.ndarray) -> np.ndarray:
        h, w, c = hwc(self.net.layer(tensor).output_shape)
        return array.reshape(array.shape[0], h, w, c)

    def _take(self, layer: str, buffer: str, size: int, level: str = "",
              operand: Operand = "inputs") -> None:
        if buffer in self.sram:
            raise ReplayError(f"layer {layer}: buffer {buffer} is already resident")
        check_level(self.schedule, layer, buffer, level, operand)
        if self.used + size > self.schedule.capacity_bytes:
            raise ReplayError(
                f"layer {layer}: {buffer} ({size} B) exceeds SRAM capacity "
                f"({self.used} + {size} > {self.schedule.capacity_bytes} B)")
        held = self.used_in.get(level, 0)
        if held + size > self.schedule.level_capacity(level):
            raise ReplayError(
                f"layer {layer}: {buffer} ({size} B) exceeds the capacity of {level} "
                f"({held} + {size} > {self.schedule.level_capacity(level)} B)")
        self.used += size
        self.used_in[level] = held + size
        self.level_of[buffer] = level
        self.peak = max(self.peak, self.used)

    def load(self, layer: str, a: Load) -> None:
        self._take(layer, a.buffer, a.bytes, a.level,
                   "weights" if a.kind == "weights" else "inputs")
        data = None
        if a.kind == "fmap":
            if a.tensor not in self.dram:
                raise ReplayError(f"layer {layer}: loads {a.tensor} from DRAM, where it "
                                  "was never written")
            box = _box(self.net.layer(a.tensor).output_shape, self.batch, a.region)
            if not self.written[a.tensor][box].all():
                raise ReplayError(f"layer {layer}: loads {a.tensor} {a.region.label()} from "
                                  "DRAM before all of it was written")
            data = self.dram[a.tensor][box].copy()
        self.sram[a.buffer] = _Buffer(a.tensor, a.region, a.bytes, data)

    def alloc(self, layer: str, a: Alloc) -> None:
        self._take(layer, a.buffer, a.bytes, a.level,
                   "partial_sums" if a.buffer.startswith("psum:") else "outputs")
        self.sram[a.buffer] = _Buffer(a.tensor, a.region, a.bytes, None)

    def store(self, layer: str, a: Store) -> None:
        buf = self._resident(layer, a.buffer)
        if a.buffer.startswith("w:"):
            return  # filters: DRAM already holds them
        shape = self.net.layer(a.tensor).output_shape
        h, w, c = hwc(shape)
        box = _box(shape, self.batch, a.region)
        inner = _inner(box, _box(shape, self.batch, buf.region))
        if buf.tensor != a.tensor or inner is None:
            raise ReplayError(f"layer {layer}: stores {a.tensor} {a.region.label()} from "
                              f"buffer {a.buffer}, which holds {buf.tensor} "
                              f"{buf.region.label()}")
        if buf.data is None or (buf.valid is not None and not buf.valid[inner].all()):
            raise ReplayError(f"layer {layer}: stores {a.tensor} {a.region.label()} before "
                              f"all of it was computed into {a.buffer}")
        if a.tensor not in self.dram:
            dtype = buf.data.dtype
            self.dram[a.tensor] = np.zeros((self.batch, h, w, c), dtype=dtype)
            self.written[a.tensor] = np.zeros((self.batch, h, w, c), dtype=bool)
        self.dram[a.tensor][box] = buf.data[inner]
        self.written[a.tensor][box] = True

    def free(self, layer: str, a: Free) -> None:
        buf = self._resident(layer, a.buffer)
        del self.sram[a.buffer]
        self.used -= buf.bytes
        self.used_in[self.level_of.pop(a.buffer)] -= buf.bytes

    def _resident(self, layer: str, buffer: str) -> _Buffer:
        try:
            return self.sram[buffer]
        except KeyError:
            raise ReplayError(f"layer {layer}: buffer {buffer} is not resident in SRAM"
                              ) from None

    def compute(self, a: Compute) -> None:
        layer = self.net.layer(a.layer)
        self.steps += 1
        if a.weights is not None:
            span = self._resident(a.layer, a.weights).region.channels or (0, layer.out_channels)
            if span[0] > a.tile.channels[0] or span[1] < a.tile.channels[1]:
                raise ReplayError(f"layer {a.layer}: filters {a.weights} do not cover output "
                                  f"channels {a.tile.channels}")
        if a.accumulator is not None:
            self.accumulate(layer, a)
            return
        xs, padding = self._tile_inputs(layer, a)
        state = self.direct.quant.get(layer.name) if self.int_mode else None
        out = run_layer(layer, xs, self.params.get(layer.name), padding, state,
                        self.net.bn_epsilon).values
        if out.ndim != 4:  # dense, softmax, flatten: vectors
            out = out.reshape(out.shape[0], 1, 1, -1)
        out = out[..., slice(*a.tile.channels)]
        self._fill(layer, self._resident(a.layer, a.output), a.tile, out)

    def _fill(self, layer: Layer, target: _Buffer, tile: Tile, out: np.ndarray) -> None:
        """Write a tile's output into its buffer: a tile buffer, or its box of a buffer that
        holds more of the output's root (a tiled layer whose output stays whole in SRAM, a
        producer's channel slice of a concat's buffer)."""
        root = self.homes.roots[layer.name]
        if target.tensor != root:
            raise ReplayError(f"layer {layer.name}: computes into a buffer of "
                              f"{target.tensor}, but its output lives in {root}")
        shape = self.net.layer(root).output_shape
        have = _box(shape, self.batch, target.region)
        need = _box(shape, self.batch, self.homes.region(layer.name, Region(
            tile.samples, tile.rows, tile.channels, cols=tile.cols)))
        index = _inner(need, have)
        if index is None:
            raise ReplayError(f"layer {layer.name}: its tile lies outside its output buffer")
        if have == need:
            target.data, target.valid = out, None
            return
        if target.data is None:
            target.data = np.zeros(tuple(s.stop - s.start for s in have), dtype=out.dtype)
            target.valid = np.zeros(target.data.shape, dtype=bool)
        target.data[index] = out
        if target.valid is not None:
            target.valid[index] = True

    def _slice(self, layer: Layer, buffers: list[str], src: str, samples: tuple[int, int],
               rows: tuple[int, int], channels: tuple[int, int],
               cols: tuple[int, int] | None = None) -> np.ndarray:
        """The (samples, rows, columns, channels) part of `src` a tile reads, assembled from
        `buffers` (a whole tensor, a tile, or the row bands and cached halos of a fused
        group, the slices of a concat's buffer); ReplayError if one does not hold `src`'s
        root or together they do not cover it. `channels` are `src`'s own."""
        root = self.homes.roots[src]
        offset = self.homes.spans[src][0]
        shape = self.net.layer(root).output_shape
        width = hwc(shape)[1]
        need = (samples, rows, cols or (0, width), (channels[0] + offset, channels[1] + offset))
        parts = []
        for buffer in dict.fromkeys(buffers):
            buf = self._resident(layer.name, buffer)
            if buf.tensor != root or buf.data is None:
                raise ReplayError(f"layer {layer.name}: buffer {buffer} does not hold {src}")
            parts.append((_box(shape, self.batch, buf.region), buf.data, buf.valid))
        if len(parts) == 1 and cols is None:
            need = (samples, rows, (parts[0][0][2].start, parts[0][0][2].stop), need[3])
        out = np.zeros(tuple(hi - lo for lo, hi in need), dtype=parts[0][1].dtype)
        filled = np.zeros(out.shape, dtype=bool)
        for have, data, valid in parts:
            lows = [max(lo, got.start) for (lo, _), got in zip(need, have, strict=True)]
            highs = [min(hi, got.stop) for (_, hi), got in zip(need, have, strict=True)]
            if any(lo >= hi for lo, hi in zip(lows, highs, strict=True)):
                continue
            into = tuple(slice(lo - n[0], hi - n[0])
                         for lo, hi, n in zip(lows, highs, need, strict=True))
            source = tuple(slice(lo - got.start, hi - got.start)
                           for lo, hi, got in zip(lows, highs, have, strict=True))
            if valid is None:
                out[into] = data[source]
                filled[into] = True
            else:  # only what was written: another buffer may hold the rest
                np.copyto(out[into], data[source], where=valid[source])
                filled[into] |= valid[source]
        if not filled.all():
            missing = np.argwhere(~filled)[0] + np.array([lo for lo, _ in need])
            held = "; ".join(",".join(f"{g.start}-{g.stop}" for g in have)
                             for have, _, _ in parts)
            raise ReplayError(
                f"layer {layer.name}: tile needs samples {need[0][0]}-{need[0][1]}, rows "
                f"{need[1][0]}-{need[1][1]}, columns {need[2][0]}-{need[2][1]}, channels "
                f"{need[3][0]}-{need[3][1]} of {root} (holding {src}), but SRAM holds "
                f"(samples,rows,columns,channels) {held}: element "
                f"{tuple(int(v) for v in missing)} is missing or was never written")
        return out

    def _sources(self, layer: Layer, a: Compute) -> dict[str, list[str]]:
        """The compute's input buffers of each input: those holding the input's root."""
        roots = {self.homes.roots[src] for src in layer.inputs}
        by_tensor: dict[str, list[str]] = {src: [] for src in layer.inputs}
        for buffer in a.inputs:
            tensor = self._resident(layer.name, buffer).tensor
            if tensor not in roots:
                raise ReplayError(f"layer {layer.name}: buffer {buffer} holds {tensor}, "
                                  "which the layer does not read")
            for src in by_tensor:
                if self.homes.roots[src] == tensor:
                    by_tensor[src].append(buffer)
        for src, buffers in by_tensor.items():
            if not buffers:
                raise ReplayError(f"layer {layer.name}: no input buffer holds {src}")
        return by_tensor

    def _tile_inputs(self, layer: Layer, a: Compute) -> tuple[list[np.ndarray],
                                                            tuple[int, int, int, int]]:
        tile: Tile = a.tile
        xs = []
        sources = self._sources(layer, a)
        for index, src in enumerate(layer.inputs):
            rows = input_region_rows(layer, tile.rows, index)
            cols = input_region_cols(layer, tile.cols, index) if tile.cols is not None else None
            channels = input_channels(layer, tile.channels, index)
            part = self._slice(layer, sources[src], src, tile.samples, rows, channels, cols)
            shape = self.net.layer(src).output_shape
            full_c = hwc(shape)[2]
            if channels != (0, full_c):
                wide = np.zeros(part.shape[:3] + (full_c,), dtype=part.dtype)
                wide[..., channels[0]:channels[1]] = part
                part = wide
            xs.append(part.reshape((part.shape[0],) + shape) if len(shape) != 3 else part)
        rows = input_region_rows(layer, tile.rows, 0)
        cols = input_region_cols(layer, tile.cols, 0) if tile.cols is not None else None
        return xs, self._padding(layer, tile, rows, cols)

    def accumulate(self, layer: Layer, a: Compute) -> None:
        """Add an input-channel chunk's partial sums; the last chunk finishes the output."""
        assert a.accumulator is not None and a.tile.reduce is not None
        tile, reduce = a.tile, a.tile.reduce
        rows = input_region_rows(layer, tile.rows)
        src = layer.inputs[0]
        x = self._slice(layer, self._sources(layer, a)[src], src, tile.samples, rows, reduce)
        state = self.direct.quant.get(layer.name) if self.int_mode else None
        params = self.params.get(layer.name)
        part = partial_sum(layer, x, reduce, self._padding(layer, tile, rows, None), params,
                           state, self.net.bn_epsilon)
        _, w, c = hwc(layer.output_shape)
        part = part.reshape(part.shape[0], -1, w, c)[..., slice(*tile.channels)]
        acc = self._resident(layer.name, a.accumulator)
        acc.data = part if acc.data is None else acc.data + part
        if reduce[1] == hwc(layer.input_shape)[2]:
            out = finish(layer, acc.data, tile.channels, params, state, self.net.bn_epsilon)
            self._fill(layer, self._resident(layer.name, a.output),
                       Tile(tile.samples, tile.rows, tile.channels), out.values)

    @staticmethod
    def _padding(layer: Layer, tile: Tile, in_rows: tuple[int, int],
                 in_cols: tuple[int, int] | None) -> tuple[int, int, int, int]:
        """The padding a tile sees: what the full layer pads, as far as the tile reaches."""
        if not layer.is_spatial:
            return layer.padding
        pads: list[int] = []
        for axis, out, got in ((0, tile.rows, in_rows), (1, tile.cols, in_cols)):
            if out is None or got is None:
                pads += [layer.padding[2 * axis], layer.padding[2 * axis + 1]]
                continue
            pads += traits(layer.op).tile_padding(layer, out, got, axis)
        return (pads[0], pads[1], pads[2], pads[3])

def replay(net: Network, schedule: Schedule, x: np.ndarray, params: Params | None = None,
           mode: Mode = "float32", precision: Precision | None = None, seed: int = 0,
           rtol: float = 1e-5) -> ReplayResult:
    """Replay `schedule` on input batch `x` and compare the outputs with direct execution.

    Integer mode must match bit for bit; float32 within `rtol` of each output's largest
    magnitude (tiles that split input channels sum partial sums in another order).
    """
    if x.shape[0] != schedule.batch:
        raise ReplayError(f"the schedule is for batch {schedule.batch}, the input has "
                          f"{x.shape[0]} samples")
    params = params_for(net, seed) if params is None else params
    direct = run(net, x, params, mode, precision)
    feeds = direct.int_values if mode == "int" else {net.inputs[0]: x}
    machine = _Machine(net, schedule, direct, params,
                       {name: feeds[name] for name in net.inputs})
    for i, action in schedule.steps():
        name = schedule.layers[i].name
        if isinstance(action, Load):
            machine.load(name, action)
        elif isinstance(action, Alloc):
            machine.alloc(name, action)
        elif isinstance(action, Store):
            machine.store(name, action)
        elif isinstance(action, Free):
            machine.free(name, action)
        else:
            machine.compute(action)
    worst_abs = worst_rel = 0.0
    passed = True
    for out in net.outputs:
        root = machine.homes.roots[out]
        box = _box(net.layer(root).output_shape, schedule.batch,
                   machine.homes.slice_region(out))
        if root not in machine.dram or not machine.written[root][box].all():
            raise ReplayError(f"network output {out} was never fully written to DRAM")
        expected = direct.int_values[out] if mode == "int" else direct.values[out]
        agreement = compare(machine.dram[root][box].reshape(expected.shape), expected,
                            0.0 if mode == "int" else rtol)
        worst_abs = max(worst_abs, agreement.max_abs_err)
        worst_rel = max(worst_rel, agreement.max_rel_err)
        passed &= agreement.passed
    return ReplayResult(mode, worst_abs, worst_rel, passed, machine.peak, machine.steps,
                        direct.total_overflows)
