"""run_sweep: validate, plan groups, build each schedule once, evaluate chunks, store them.

Three kinds of task go to the backend. A schedule whose points fit in one chunk is a
`solve` work unit: its configs and points go to a worker, which builds the schedule and
returns the rows (several schedules per task, so a worker is never idle waiting for the
parent). A schedule with more points gets a `prepare` task (the per-layer arrays of every
group sharing it, kept in the store so a resume never redoes it) and `evaluate` tasks
(one chunk of a group's points each, shipped as codes into the axis tables). Serial
groups' chunks cost O(1) a point, less than shipping their rows back from a worker, so
they are evaluated in this process; overlap groups' (an event timeline per point) go to
the workers.
Tasks are fed a few at a time, so memory stays flat however many points there are, and
finished rows go to the store at once. The sweep's first chunks are small (FIRST_CHUNK
points, doubling up to the chunk size; the first solve task holds one schedule), so a part
lands within moments. The sweep owns its folder (a lock) from the first write to the last.
"""

from __future__ import annotations

import contextlib
import errno
import sys
import time
from collections import deque
from collections.abc import Iterator, Mapping
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from accelsim.config.models import RunConfig
from accelsim.errors import ConfigError, SweepError
from accelsim.sweep.backends import BACKENDS, Backend, make_backend
from accelsim.sweep.fast import GroupArrays, evaluate, prepare, schedule_key, solve
from accelsim.sweep.space import Design, Group, Points, SweepSpec, load_sweep, with_values
from accelsim.sweep.store import ResultStore

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["DEFAULT_CHUNK", "SweepRun", "default_out", "execute", "group_configs",
           "run_sweep"]

#: Points per evaluate task (and per part file).
DEFAULT_CHUNK = 65536
#: Points in the sweep's first chunk; each later chunk doubles, up to the chunk size.
FIRST_CHUNK = 256
#: Most schedules in one solve task (a task holds the schedules of one network).
SOLVE_SCHEDULES = 32


@dataclass(frozen=True)
class SweepRun:
    """What a sweep did: where results are and how many points were computed."""

    out: Path
    results: Path
    n_points: int
    computed: int
    resumed: int
    schedules: int
    elapsed_s: float

    @property
    def points_per_s(self) -> float:
        """Computed points per second of wall time."""
        return self.computed / self.elapsed_s if self.elapsed_s else float("inf")


def default_out(spec: SweepSpec) -> Path:
    """reports/sweeps/<sweep file stem>/ under the working directory."""
    return Path("reports") / "sweeps" / spec.stem


def group_configs(spec: SweepSpec, design: Design) -> list[RunConfig]:
    """The full, validated config of every group (key axes applied together)."""
    base = spec.base.model_dump(mode="json", exclude_none=True)
    configs = []
    for group in design.groups:
        values = design.key_values(group)
        source = f"{spec.source}: axes {', '.join(f'{k}={v!r}' for k, v in values.items())}"
        configs.append(with_values(spec.base, base, values, source) if values else spec.base)
    return configs


class _Ramp:
    """Cuts a sweep's first chunks to FIRST_CHUNK, 2 x FIRST_CHUNK, ... points, across groups."""

    def __init__(self, limit: int) -> None:
        self.size = min(FIRST_CHUNK, limit)
        self.limit = limit

    def cut(self, chunks: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
        """The same ids, in pieces no larger than the ramp's current size."""
        for ids in chunks:
            while len(ids) > self.size:
                yield ids[:self.size]
                ids = ids[self.size:]
                self.size = min(2 * self.size, self.limit)
            yield ids


def _write_error(exc: OSError, store: ResultStore) -> SweepError:
    """A failed write of the sweep folder, as one line saying what is kept and what to do."""
    reason = "the disk is full" if exc.errno == errno.ENOSPC else (exc.strerror or str(exc))
    return SweepError(f"{store.out}: cannot write sweep results: {reason}; finished chunks are "
                      "kept, free space (or choose another --out) and run again with --resume")


def _spec(path_or_spec: str | Path | Mapping[str, Any] | SweepSpec) -> SweepSpec:
    return path_or_spec if isinstance(path_or_spec, SweepSpec) else load_sweep(path_or_spec)


def execute(
    path_or_spec: str | Path | Mapping[str, Any] | SweepSpec, out: str | Path | None = None,
    backend: str | Backend = "local", workers: int | None = None, resume: bool = False,
    progress: bool = False, scheduler: str | None = None, chunk_size: int = DEFAULT_CHUNK,
) -> SweepRun:
    """Run a sweep, streaming finished chunks to disk; returns a summary, not the rows."""
    if chunk_size < 1:
        raise ConfigError(f"chunk size: must be >= 1, got {chunk_size}")
    start = time.perf_counter()
    spec = _spec(path_or_spec)
    design = Design(spec)
    configs = group_configs(spec, design)  # every combination validated before any work
    if isinstance(backend, str) and backend not in BACKENDS:
        raise ConfigError(f"backend: must be one of {', '.join(BACKENDS)}, got {backend!r}")
    store = ResultStore(out if out is not None else default_out(spec))
    try:
        store.lock()
        return _execute(spec, design, configs, store, backend, workers, resume, progress,
                        scheduler, chunk_size, start)
    except OSError as exc:
        raise _write_error(exc, store) from None
    finally:
        store.unlock()


def _remaining(design: Design, group: Group, done: np.ndarray | None) -> np.ndarray:
    """Ids of a group's points not yet stored."""
    ids = design.group_ids(group, 0, group.size)
    return ids if done is None else ids[~done[ids]]


SolveUnit = tuple[list[RunConfig], list[Points]]


def _solve_units(design: Design, configs: list[RunConfig], small: list[list[Group]],
                 done: np.ndarray | None, chunk_size: int
                 ) -> Iterator[tuple[list[SolveUnit], int]]:
    """Solve tasks (their work units and point count): the first holds one schedule, each
    other the schedules of one network (its tile searches, cached in the worker by layer
    geometry, are then made once), at most SOLVE_SCHEDULES of them or `chunk_size` points."""
    batch: list[SolveUnit] = []
    points, model, first = 0, None, True
    for groups in sorted(small, key=lambda gs: configs[gs[0].index].model.model_dump_json()):
        this = configs[groups[0].index].model
        if batch and (first or this != model or len(batch) >= SOLVE_SCHEDULES
                      or points >= chunk_size):
            yield batch, points
            batch, points, first = [], 0, False
        model = this
        unit = ([configs[g.index] for g in groups],
                [design.points(_remaining(design, g, done)) for g in groups])
        batch.append(unit)
        points += sum(len(p) for p in unit[1])
    if batch:
        yield batch, points


def _execute(spec: SweepSpec, design: Design, configs: list[RunConfig], store: ResultStore,
             backend: str | Backend, workers: int | None, resume: bool, progress: bool,
             scheduler: str | None, chunk_size: int, start: float) -> SweepRun:
    """execute() once the folder is owned: plan, run the backend, store, merge."""
    store.start(spec.record(), resume)
    done = store.done_mask(design.n_points) if resume else None
    already = int(done.sum()) if done is not None else 0

    by_schedule: dict[str, list[Group]] = {}
    for group, config in zip(design.groups, configs, strict=True):
        if done is not None and already and done[design.group_ids(group, 0, group.size)].all():
            continue
        by_schedule.setdefault(schedule_key(config), []).append(group)
    small = [groups for groups in by_schedule.values()
             if sum(g.size for g in groups) <= chunk_size]
    large = {key: groups for key, groups in by_schedule.items()
             if sum(g.size for g in groups) > chunk_size}

    from tqdm import tqdm

    # The backend first: a missing optional package is an error before any output.
    runner = make_backend(backend, scheduler, workers) if isinstance(backend, str) else backend
    bar = tqdm(total=design.n_points, initial=already, unit="pt", unit_scale=True,
               desc="sweep", file=sys.stderr, disable=None if progress else True,
               smoothing=0.1)  # None: shown on a terminal only
    computed = 0
    n_workers = getattr(runner, "workers", 1)
    try:
        pending: dict[Any, tuple[str, Any]] = {}
        ready: deque[tuple[GroupArrays, Iterator[np.ndarray]]] = deque()
        ramp = _Ramp(chunk_size)
        units: Iterator[tuple[list[SolveUnit], int]] | None = _solve_units(
            design, configs, small, done, chunk_size)

        def chunk_groups(groups: list[Group], prepared: list[GroupArrays]) -> None:
            for group, arrays in zip(groups, prepared, strict=True):
                ready.append((arrays, ramp.cut(design.chunks(group, chunk_size, done))))

        for key, groups in large.items():
            saved = store.load_prepared(key) if resume else None
            if saved is not None and len(saved) == len(groups):
                chunk_groups(groups, saved)
            else:
                future = runner.submit(prepare, [configs[g.index] for g in groups])
                pending[future] = ("prepare", (key, groups))
        limit = 2 * n_workers + 2
        in_flight = 0
        while pending or ready or units is not None:
            while in_flight < limit and (ready or units is not None):
                if ready:
                    arrays, chunks = ready[0]
                    ids = next(chunks, None)
                    if ids is None:
                        ready.popleft()
                        continue
                    if arrays.ladder is None:  # O(1) a point: cheaper here than shipping
                        store.append(evaluate(arrays, design.points(ids)))  # rows back
                        computed += len(ids)
                        bar.update(len(ids))
                        continue
                    future = runner.submit(evaluate, arrays, design.points(ids))
                    pending[future] = ("rows", len(ids))
                else:
                    assert units is not None
                    unit = next(units, None)
                    if unit is None:
                        units = None
                        continue
                    future = runner.submit(solve, unit[0])
                    pending[future] = ("rows", unit[1])
                in_flight += 1
            if not pending:
                continue
            for future in runner.wait_any(pending):
                kind, info = pending.pop(future)
                try:
                    result = future.result()
                except BrokenProcessPool:
                    raise SweepError(
                        "a sweep worker died (most often: out of memory on an extreme design "
                        "point); finished chunks are kept, run again with --resume, fewer "
                        "--workers or a narrower axis") from None
                if kind == "prepare":
                    key, groups = info
                    store.save_prepared(key, result)
                    chunk_groups(groups, result)
                else:
                    in_flight -= 1
                    store.append(result)
                    computed += info
                    bar.update(info)
    except BaseException:
        runner.close(cancel=True)
        _keep(store)
        raise
    finally:
        bar.close()
    if isinstance(backend, str):
        runner.close()
    store.commit()  # every row on disk before the merge, which may fail (a full disk)
    results = store.finalize(design.n_points)
    return SweepRun(store.out, results, design.n_points, computed, already, len(by_schedule),
                    time.perf_counter() - start)


def _keep(store: ResultStore) -> None:
    """Commit the open part of an interrupted sweep (a failing disk leaves it to resume)."""
    with contextlib.suppress(OSError):
        store.commit()


def run_sweep(
    path_or_spec: str | Path | Mapping[str, Any] | SweepSpec, out: str | Path | None = None,
    backend: str | Backend = "local", workers: int | None = None, resume: bool = False,
    progress: bool = False, scheduler: str | None = None, chunk_size: int = DEFAULT_CHUNK,
) -> pd.DataFrame:
    """Run a sweep; one row per design point (axis columns, totals), sorted by point_id.

    Results are also in DIR/results.parquet (CSV without pyarrow) and DIR/sweep.yaml
    records what was asked; DIR defaults to reports/sweeps/<sweep file stem>/.
    """
    run = execute(path_or_spec, out, backend, workers, resume, progress, scheduler, chunk_size)
    return ResultStore(run.out).read()
