"""trace.json: a run's schedule as Chrome/Perfetto trace events, one track per resource.

Open it at https://ui.perfetto.dev or chrome://tracing. The DRAM bus track holds every
load and store, the compute track every compute step, each a slice named by layer and
tensor. With overlap on, start and end come from the event timeline (the same rules as
accelsim.sim.timeline); serial runs are a sequential trace, one action after another,
whose layer sums equal the serial layer times. Times are in microseconds, as the format
wants.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from accelsim.mapping.schedule import Action, Alloc, Compute, Free, Load, Store
from accelsim.sim.compute import compute_model
from accelsim.sim.simulate import SimResult, layer_compute
from accelsim.sim.timeline import action_times, compile_timeline

__all__ = ["TRACKS", "Span", "action_spans", "trace_document"]

#: Thread ids and names of the tracks.
TRACKS: dict[str, int] = {"DRAM bus": 1, "compute": 2}


@dataclass(frozen=True)
class Span:
    """One action on one track: start and end in seconds."""

    track: str
    layer: int
    name: str
    start_s: float
    end_s: float
    args: dict[str, Any]


def _sequential(result: SimResult, compute_s: list[float]) -> list[tuple[float, float]]:
    """(start, end) of every action run one after another (the serial model)."""
    bw, lat = result.hardware.dram.bandwidth, result.hardware.dram.latency
    layers = result.schedule.layers
    counts = [sum(isinstance(a, Compute) for a in ls.actions) for ls in layers]
    macs = [sum(a.macs for a in ls.actions if isinstance(a, Compute)) for ls in layers]
    out, now = [], 0.0
    for li, a in result.schedule.steps():
        if isinstance(a, Load | Store):
            duration = a.bytes / bw + lat
        elif isinstance(a, Compute):
            share = a.macs / macs[li] if macs[li] else 1 / counts[li]
            duration = share * compute_s[li]
        else:
            duration = 0.0
        out.append((now, now + duration))
        now += duration
    return out


def _describe(action: Action, layer: str) -> tuple[str, str, dict[str, Any]] | None:
    """(track, slice name, args) of an action; None for allocs and frees (no resource)."""
    if isinstance(action, Load):
        return "DRAM bus", f"{layer}: load {action.kind} {action.tensor}", {
            "tensor": action.tensor, "kind": action.kind, "bytes": action.bytes}
    if isinstance(action, Store):
        return "DRAM bus", f"{layer}: store {action.tensor}", {
            "tensor": action.tensor, "bytes": action.bytes, "reason": action.reason}
    if isinstance(action, Compute):
        return "compute", f"{layer}: compute {action.output}", {
            "inputs": list(action.inputs), "weights": action.weights, "macs": action.macs}
    assert isinstance(action, Alloc | Free)
    return None


def action_spans(result: SimResult) -> list[Span]:
    """Every load, store and compute of the run with its start and end, in schedule order."""
    model = compute_model(result.hardware.compute)
    compute_s = [w.time_s for w in layer_compute(result.network, result.schedule, model)]
    if result.simulation.overlap:
        dram = result.hardware.dram
        begin, finish = action_times(compile_timeline(result.schedule), compute_s,
                                     dram.bandwidth, dram.latency)
        times = list(zip(begin, finish, strict=True))
    else:
        times = _sequential(result, compute_s)
    spans = []
    for (li, action), (start, end) in zip(result.schedule.steps(), times, strict=True):
        ls = result.schedule.layers[li]
        described = _describe(action, ls.name)
        if described is not None:
            track, name, args = described
            spans.append(Span(track, ls.index, name, start, end, args))
    return spans


def trace_document(result: SimResult) -> dict[str, Any]:
    """The trace-event JSON object: metadata naming the tracks, then one 'X' event a slice."""
    pid = 1
    how = "overlapped" if result.simulation.overlap else "serial"
    events: list[dict[str, Any]] = [
        {"ph": "M", "pid": pid, "name": "process_name",
         "args": {"name": f"accelsim {result.network.name} ({how})"}},
    ]
    for track, tid in TRACKS.items():
        events.append({"ph": "M", "pid": pid, "tid": tid, "name": "thread_name",
                       "args": {"name": track}})
        events.append({"ph": "M", "pid": pid, "tid": tid, "name": "thread_sort_index",
                       "args": {"sort_index": tid}})
    for span in action_spans(result):
        events.append({
            "ph": "X", "pid": pid, "tid": TRACKS[span.track], "name": span.name,
            "cat": span.track, "ts": span.start_s * 1e6,
            "dur": (span.end_s - span.start_s) * 1e6,
            "args": {"layer": span.layer, **span.args},
        })
    return {"traceEvents": events, "displayTimeUnit": "ns"}
