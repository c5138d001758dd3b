"""Placement policies: build a Schedule for a network, an SRAM capacity and element sizes.

* `liveness` (default): a feature map occupies SRAM from its producer to its last
  consumer; filters are loaded when their layer runs and freed after it; the network
  input is read from DRAM and its outputs written to DRAM. When the live set would
  exceed capacity, the resident feature map whose next use is furthest away is evicted
  (written back if DRAM has no copy yet) and re-read when needed (Belady's rule).
* `accumulate`: the method of the 004 report: every layer's output and filters are
  added to SRAM and never freed; when the next layer would exceed capacity, everything
  resident is written to DRAM and occupancy starts again (the layer's input is then
  read back, which the report omits).

Both fall back to the tile search when a layer's own working set cannot fit.
"""

from __future__ import annotations

from collections.abc import Callable

from accelsim.errors import ScheduleError
from accelsim.ir.graph import Network
from accelsim.ir.layers import Layer
from accelsim.mapping.schedule import (
    Compute,
    LayerSchedule,
    Region,
    Schedule,
    TensorPlacement,
    Tile,
)
from accelsim.mapping.sram import SramTracker
from accelsim.mapping.tiling import (
    Sizes,
    TilePlan,
    channel_tiles,
    hwc,
    input_region_rows,
    search_tiles,
    spatial_tiles,
)
from accelsim.mapping.tiling import _input_channels as input_channels

__all__ = ["POLICIES", "build_schedule"]

WHOLE = Region()


class _Builder:
    """Shared state of one schedule build: the network, sizes, SRAM and DRAM copies."""

    def __init__(self, net: Network, sizes: Sizes, capacity: int, policy: str) -> None:
        self.net = net
        self.sizes = sizes
        self.sram = SramTracker(capacity)
        self.policy = policy
        self.tensors = net.tensors()
        self.position = {name: i for i, name in enumerate(net.order)}
        self.in_dram: set[str] = set(net.inputs)  # tensors with a valid DRAM copy
        self.layers: list[LayerSchedule] = []
        self.placement: dict[str, str] = {}
        self.spill_reason: dict[str, str] = {}
        self.current: LayerSchedule | None = None

    # ---- helpers ----------------------------------------------------------------------
    def fmap_bytes(self, tensor: str) -> int:
        return self.sizes.fmap_bytes(self.tensors[tensor].shape)

    def buffer_of(self, tensor: str) -> str:
        return f"fmap:{tensor}"

    def is_resident(self, tensor: str) -> bool:
        return self.buffer_of(tensor) in self.sram.resident

    def next_use(self, tensor: str, after: int) -> int:
        """Position of the next consumer of `tensor` after `after` (large if none)."""
        for consumer in self.tensors[tensor].consumers:
            if self.position[consumer] > after:
                return self.position[consumer]
        return len(self.net.order) + 1

    def write_back(self, tensor: str, reason: str) -> None:
        """Store a resident tensor to DRAM if DRAM has no copy of it yet."""
        if tensor not in self.in_dram:
            self.sram.store(self.buffer_of(tensor), tensor, WHOLE, reason)
            self.in_dram.add(tensor)

    def note_spill(self, reason: str) -> None:
        assert self.current is not None
        self.current.spills += 1
        self.current.spill_reason = "; ".join(filter(None, [self.current.spill_reason,
                                                             reason]))

    def evict(self, tensor: str, reason: str) -> None:
        """Write back (if needed) and free a resident feature map."""
        self.write_back(tensor, reason)
        self.sram.free(self.buffer_of(tensor))
        self.placement[tensor] = "sram, spilled to dram"
        self.spill_reason[tensor] = reason
        self.note_spill(reason)

    def make_room(self, size: int, pinned: set[str], at: int, for_what: str) -> None:
        """Evict feature maps, furthest next use first, until `size` more bytes fit."""
        while not self.sram.fits(size):
            victims = [b.removeprefix("fmap:") for b in self.sram.resident
                       if b.startswith("fmap:") and "@" not in b]
            victims = [t for t in victims if t not in pinned]
            if not victims:
                raise ScheduleError(f"internal error: nothing to evict for {for_what}")
            victim = max(victims, key=lambda t: (self.next_use(t, at), -self.position[t]))
            nxt = self.next_use(victim, at)
            when = (f"next used by layer {nxt}" if nxt <= len(self.net.order)
                    else "no later use")
            self.evict(victim, f"evicted {victim} ({when}) to make room for {for_what}")

    # ---- one layer, whole ------------------------------------------------------------
    def run_whole(self, layer: Layer, at: int) -> None:
        """Inputs resident, filters loaded, output allocated, one compute."""
        pinned = set(layer.inputs)
        for src in layer.inputs:
            if not self.is_resident(src):
                self.make_room(self.fmap_bytes(src), pinned, at, f"input {src}")
                self.sram.load("fmap", src, WHOLE, self.fmap_bytes(src))
        weights = None
        if layer.is_weighted:
            size = self.sizes.weight_bytes(layer)
            self.make_room(size, pinned, at, f"filters of {layer.name}")
            weights = self.sram.load("weights", layer.name, WHOLE, size)
        self.make_room(self.fmap_bytes(layer.name), pinned, at, f"output of {layer.name}")
        out = self.sram.alloc(layer.name, WHOLE, self.fmap_bytes(layer.name))
        ho = hwc(layer.output_shape)
        tile = Tile((0, self.sizes.batch), (0, ho[0]), (0, ho[2]))
        self.sram.compute(Compute(layer.name, tile, tuple(self.buffer_of(s) for s in
                                                          layer.inputs), weights, out,
                                  layer.macs * self.sizes.batch))
        self.placement.setdefault(layer.name, "sram")
        if weights is not None and self.policy != "accumulate":
            self.sram.free(weights)

    def release_inputs(self, layer: Layer, at: int) -> None:
        """Free inputs whose last consumer was this layer; store and free network outputs."""
        for src in dict.fromkeys(layer.inputs):
            if self.is_resident(src) and self.next_use(src, at) > len(self.net.order):
                self.sram.free(self.buffer_of(src))
        self.emit_output(layer)

    def emit_output(self, layer: Layer) -> None:
        """A network output is written to DRAM and freed."""
        if not self.tensors[layer.name].consumers and self.is_resident(layer.name):
            self.write_back(layer.name, "")
            self.sram.free(self.buffer_of(layer.name))
            self.placement[layer.name] = "sram, written to dram (network output)"

    # ---- one layer, tiled ----------------------------------------------------------
    def run_tiled(self, layer: Layer, at: int) -> TilePlan:
        """Stream the layer tile by tile: inputs from DRAM, outputs to DRAM."""
        for src in dict.fromkeys(layer.inputs):
            if self.is_resident(src):
                self.evict(src, f"{layer.name} is tiled: its input {src} streams from DRAM")
        plan = search_tiles(layer, self.sizes, self.sram.capacity)
        self.make_room(plan.peak_bytes, set(), at, f"tiles of {layer.name}")
        ho, _, co = hwc(layer.output_shape)
        spatial = spatial_tiles(self.sizes.batch, ho, plan.sample_step, plan.row_step)
        groups = channel_tiles(co, plan.channel_step)
        if plan.order == "weights_outer":
            for ch in groups:
                weights = self._load_weights(layer, ch, len(groups))
                for samples, rows in spatial:
                    inputs = self._load_inputs(layer, samples, rows, ch)
                    self._compute_tile(layer, samples, rows, ch, inputs, weights)
                    for buffer in inputs:
                        self.sram.free(buffer)
                if weights is not None:
                    self.sram.free(weights)
        else:
            resident_weights = self._load_weights(layer, (0, co), 1) if len(groups) == 1 \
                else None
            for samples, rows in spatial:
                inputs = self._load_inputs(layer, samples, rows, (0, co))
                for ch in groups:
                    weights = resident_weights or self._load_weights(layer, ch, len(groups))
                    self._compute_tile(layer, samples, rows, ch, inputs, weights)
                    if weights is not None and resident_weights is None:
                        self.sram.free(weights)
                for buffer in inputs:
                    self.sram.free(buffer)
            if resident_weights is not None:
                self.sram.free(resident_weights)
        self.in_dram.add(layer.name)
        self.placement[layer.name] = f"dram (tiled: {plan.describe(layer, self.sizes.batch)})"
        return plan

    def _load_weights(self, layer: Layer, ch: tuple[int, int], groups: int) -> str | None:
        if not layer.is_weighted:
            return None
        region = WHOLE if groups == 1 else Region(channels=ch)
        return self.sram.load("weights", layer.name, region, self.sizes.weight_bytes(layer, ch))

    def _load_inputs(self, layer: Layer, samples: tuple[int, int], rows: tuple[int, int],
                     ch: tuple[int, int]) -> list[str]:
        in_rows = input_region_rows(layer, rows)
        span = input_channels(layer, ch)
        buffers = []
        for src in dict.fromkeys(layer.inputs):
            shape = self.tensors[src].shape
            region = Region(samples, in_rows, span)
            size = self.sizes.region_bytes(shape, samples, in_rows, span)
            buffers.append(self.sram.load("fmap", src, region, size))
        return buffers

    def _compute_tile(self, layer: Layer, samples: tuple[int, int], rows: tuple[int, int],
                      ch: tuple[int, int], inputs: list[str], weights: str | None) -> None:
        region = Region(samples, rows, ch)
        out = self.sram.alloc(layer.name, region,
                              self.sizes.region_bytes(layer.output_shape, samples, rows, ch))
        ho, wo, co = hwc(layer.output_shape)
        share = (samples[1] - samples[0]) * (rows[1] - rows[0]) * (ch[1] - ch[0])
        macs = layer.macs * share // (ho * co)
        by_source = dict(zip(dict.fromkeys(layer.inputs), inputs, strict=True))
        self.sram.compute(Compute(layer.name, Tile(samples, rows, ch),
                                  tuple(by_source[s] for s in layer.inputs), weights, out, macs))
        self.sram.store(out, layer.name, region)
        self.sram.free(out)

    # ---- the whole network -----------------------------------------------------------
    def working_set(self, layer: Layer) -> int:
        """Bytes a layer needs at once when run whole."""
        inputs = sum(self.fmap_bytes(s) for s in dict.fromkeys(layer.inputs))
        return inputs + self.sizes.weight_bytes(layer) + self.fmap_bytes(layer.name)

    def finish(self) -> Schedule:
        placements = []
        for name, tensor in self.tensors.items():
            last = max((self.position[c] for c in tensor.consumers), default=self.position[name])
            placements.append(TensorPlacement(
                name, "fmap", self.fmap_bytes(name), self.position[name], last,
                "dram (network input)" if name in self.net.inputs else
                self.placement.get(name, "sram"), self.spill_reason.get(name, "")))
            layer = self.net.layer(name)
            if layer.is_weighted:
                placements.append(TensorPlacement(
                    f"{name}.weights", "weights", self.sizes.weight_bytes(layer),
                    self.position[name], self.position[name],
                    "dram, loaded into sram for its layer"))
        return Schedule(self.policy, self.sram.capacity, self.sizes.batch, self.layers,
                        placements)

    def layer_loop(self, step: Callable[[Layer, int, LayerSchedule], None]) -> Schedule:
        for at, name in enumerate(self.net.order):
            layer = self.net.layer(name)
            if layer.op == "input":
                continue
            ls = LayerSchedule(len(self.layers) + 1, name)
            self.layers.append(ls)
            self.current = ls
            self.sram.begin(ls)
            step(layer, at, ls)
            if at == len(self.net.order) - 1:
                self.drain()
            self.sram.end()
        return self.finish()

    def drain(self) -> None:
        """End of the inference: write back network outputs still resident, free the rest."""
        for buffer in list(self.sram.resident):
            tensor = buffer.partition(":")[2]
            if buffer.startswith("fmap:") and not self.tensors[tensor].consumers:
                self.write_back(tensor, "")
            self.sram.free(buffer)


def _liveness(net: Network, sizes: Sizes, capacity: int) -> Schedule:
    b = _Builder(net, sizes, capacity, "liveness")

    def step(layer: Layer, at: int, ls: LayerSchedule) -> None:
        if b.working_set(layer) <= capacity:
            b.run_whole(layer, at)
        else:
            ls.tiling = b.run_tiled(layer, at).describe(layer, sizes.batch)
        b.release_inputs(layer, at)

    return b.layer_loop(step)


def _accumulate(net: Network, sizes: Sizes, capacity: int) -> Schedule:
    b = _Builder(net, sizes, capacity, "accumulate")

    def step(layer: Layer, at: int, ls: LayerSchedule) -> None:
        if b.working_set(layer) > capacity:
            _spill_all(b, f"{layer.name} cannot fit whole: tiled")
            ls.tiling = b.run_tiled(layer, at).describe(layer, sizes.batch)
            return
        missing = sum(b.fmap_bytes(s) for s in dict.fromkeys(layer.inputs)
                      if not b.is_resident(s))
        new = missing + sizes.weight_bytes(layer) + b.fmap_bytes(layer.name)
        if not b.sram.fits(new):
            _spill_all(b, f"occupancy {b.sram.used} B + {new} B for {layer.name} exceeds "
                          f"{capacity} B: everything resident written to DRAM")
        b.run_whole(layer, at)
        b.emit_output(layer)

    return b.layer_loop(step)


def _spill_all(b: _Builder, reason: str) -> None:
    """The 004 method's overflow: write every resident buffer to DRAM and free them all."""
    for buffer in list(b.sram.resident):
        kind, _, tensor = buffer.partition(":")
        if kind == "fmap":
            b.write_back(tensor, reason)
            b.placement[tensor] = "sram, spilled to dram"
            b.spill_reason[tensor] = reason
        b.sram.free(buffer)  # filters are clean copies of DRAM: dropped, not written
    b.note_spill(reason)


#: Policy name -> schedule builder. Names match accelsim.config.POLICIES.
POLICIES: dict[str, Callable[[Network, Sizes, int], Schedule]] = {
    "liveness": _liveness,
    "accumulate": _accumulate,
}


def build_schedule(net: Network, sizes: Sizes, capacity: int, policy: str = "liveness"
                   ) -> Schedule:
    """Schedule `net` on an SRAM of `capacity` bytes with the named policy."""
    try:
        builder = POLICIES[policy]
    except KeyError:
        raise ScheduleError(
            f"unknown policy {policy!r}; known: {', '.join(POLICIES)}") from None
    return builder(net, sizes, capacity)
