"""The result store: finished rows land on disk within seconds, and nothing is written twice.

Layout of a sweep folder::

    .lock             held (flock) by the one sweep writing the folder; records its PID
    sweep.yaml        what was asked (resume refuses a different one)
    prepared/         each finished schedule's per-layer arrays, so a resume never redoes one
    parts/            finished rows, a few large files written to a temporary name and
                      renamed, so a part is either complete or absent (Ctrl-C, SIGTERM, SIGKILL)
    results.parquet   all rows, written when the sweep completes (results.csv without pyarrow)

Finished chunks are appended to one open part, renamed into parts/ when a chunk arrives
and the part holds PART_ROWS rows or has been open FLUSH_S seconds (and on Ctrl-C, SIGTERM
or any error); the sweep's first chunk is also written alone at once, so a part lands
within moments of the start. A SIGKILL loses the open part: chunks computed within about
FLUSH_S seconds of its opening (their computing time, not the wall time since: a part
waits for the next chunk to be committed), which a resume computes again; never a row of
a renamed part.

Resume reads the point ids already in results and parts and runs only the others; the
final merge drops any id seen before, so a row can never appear twice (a sweep whose rows
are all in one part renames it instead of rewriting it). Temporary names carry the
writer's PID and a random token, so no two processes ever share one; the lock makes a
second sweep on the same folder refuse at once, naming the first one's PID. The kernel
drops the lock when its process dies, however it dies, so a lock is never stale.

Parquet columns are built from NumPy buffers directly (pyarrow's own conversion imports
pandas, a second of start-up per process).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import secrets
import shutil
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np
import yaml

from accelsim.errors import ConfigError, SweepError
from accelsim.yamlio import load_yaml, load_yaml_text

try:
    import fcntl
except ImportError:  # not POSIX: the folder is not locked (the PID is still recorded)
    fcntl = None  # type: ignore[assignment]

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["FLUSH_S", "PART_ROWS", "Column", "ResultStore", "Strings", "arrow_table",
           "concat_columns", "has_pyarrow"]

_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml's when built with it
#: Rows after which the open part is renamed into parts/ (and a new one opened).
PART_ROWS = 4_194_304
#: Rows per piece when a CSV part is read back for the merge.
MERGE_ROWS = 65536
#: Seconds after which the open part is renamed into parts/, however few rows it holds.
FLUSH_S = 2.0


def has_pyarrow() -> bool:
    """True when pyarrow is importable (parquet output); else results are CSV."""
    try:
        import pyarrow  # noqa: F401
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass(frozen=True)
class Strings:
    """A text column as a few distinct values and a code per row (compact to ship)."""

    values: tuple[str, ...]
    codes: np.ndarray

    def __len__(self) -> int:
        return len(self.codes)

    def decoded(self) -> np.ndarray:
        """One Python string per row."""
        return np.asarray(self.values, dtype=object)[self.codes]


Column = np.ndarray | Strings


def concat_columns(chunks: list[dict[str, Column]]) -> dict[str, Column]:
    """Chunks with the same columns as one chunk (Strings merged to one table of values)."""
    if len(chunks) == 1:
        return chunks[0]
    out: dict[str, Column] = {}
    for name, first in chunks[0].items():
        if isinstance(first, Strings):
            values: dict[str, int] = {}
            codes = []
            for chunk in chunks:
                column = chunk[name]
                assert isinstance(column, Strings)
                remap = np.array([values.setdefault(v, len(values)) for v in column.values])
                codes.append(remap[column.codes])
            out[name] = Strings(tuple(values), np.concatenate(codes))
        else:
            out[name] = np.concatenate([np.asarray(chunk[name]) for chunk in chunks])
    return out


def _arrow(values: Column) -> Any:
    """A pyarrow array over the column's buffers (no copy for numbers, no pandas import)."""
    import pyarrow as pa

    if isinstance(values, np.ndarray) and values.dtype.kind in "OU" and all(
            isinstance(v, str) for v in values.tolist()):
        table, codes = np.unique(values.astype(str), return_inverse=True)
        values = Strings(tuple(table.tolist()), codes.reshape(-1))
    if isinstance(values, Strings):
        encoded = [v.encode() for v in values.values]
        lengths = np.array([len(e) for e in encoded], dtype=np.int64)[values.codes]
        offsets = np.zeros(len(values) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        if len(encoded) == 1:
            data = encoded[0] * len(values)
        else:
            data = b"".join(encoded[c] for c in values.codes.tolist())
        if offsets[-1] < 2**31:
            return pa.StringArray.from_buffers(len(values), pa.py_buffer(
                offsets.astype(np.int32)), pa.py_buffer(data))
        return pa.LargeStringArray.from_buffers(len(values), pa.py_buffer(offsets),
                                                pa.py_buffer(data))
    n = len(values)
    if values.dtype.kind == "b":
        bits = np.packbits(values.astype(bool), bitorder="little")
        return pa.Array.from_buffers(pa.bool_(), n, [None, pa.py_buffer(bits)])
    if values.dtype.kind in "iu":
        return pa.Array.from_buffers(pa.int64(), n, [None, pa.py_buffer(
            np.ascontiguousarray(values, dtype=np.int64))])
    if values.dtype.kind == "f":
        return pa.Array.from_buffers(pa.float64(), n, [None, pa.py_buffer(
            np.ascontiguousarray(values, dtype=np.float64))])
    return _nullable(pa, values.tolist())


def _nullable(pa: Any, items: list[Any]) -> Any:
    """An axis column holding None (a field left unset) as a typed Arrow array: float64 for
    numbers, string for text, bool for flags, so every chunk of the column has one type
    (a chunk whose points are all None would otherwise be Arrow's null type, and the next
    chunk, holding numbers, could not be written beside it)."""
    present = [v for v in items if v is not None]
    if all(isinstance(v, bool) for v in present):
        return pa.array(items, type=pa.bool_() if present else pa.float64())
    if all(isinstance(v, int | float) for v in present):
        return pa.array(items, type=pa.float64())
    if all(isinstance(v, str) for v in present):
        return pa.array(items, type=pa.string())
    return pa.array(items)


def arrow_table(columns: Mapping[str, Column]) -> Any:
    """The columns as a pyarrow Table, in order."""
    import pyarrow as pa

    return pa.Table.from_arrays([_arrow(v) for v in columns.values()], names=list(columns))


def _int_column(column: Any) -> np.ndarray:
    """An int64 pyarrow (chunked) column without nulls as one NumPy array."""
    chunks = getattr(column, "chunks", [column])
    parts = [np.frombuffer(c.buffers()[1], dtype=np.int64)[c.offset:c.offset + len(c)]
             for c in chunks]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


def _frame(columns: Mapping[str, Column]) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame({k: v.decoded() if isinstance(v, Strings) else v
                         for k, v in columns.items()})


def _dictionary_columns(table: Any) -> list[str]:
    """Columns worth dictionary-encoding: text, and numbers with few distinct values over a
    sample spread through the table (axis values, byte counts of a few schedules); unique
    floats would only be hashed for nothing."""
    import pyarrow as pa

    names = []
    for name, column in zip(table.schema.names, table.columns, strict=True):
        kind = column.type
        if pa.types.is_string(kind) or pa.types.is_large_string(kind):
            names.append(name)
        elif kind in (pa.int64(), pa.float64()):
            chunk = column.chunk(0) if hasattr(column, "chunk") else column
            data = np.frombuffer(chunk.buffers()[1], dtype=np.int64)
            sample = data[chunk.offset:chunk.offset + len(chunk)][::max(len(chunk) // 4096, 1)]
            if len(np.unique(sample)) * 4 <= max(len(sample), 1):
                names.append(name)
    return names


class _OpenPart:
    """The part being filled: chunks go to a temporary file, renamed when committed.

    Writing runs in a thread of its own, one chunk at a time, while the next chunk is
    computed (pyarrow releases the GIL while it encodes). A Ctrl-C reaches the main thread
    only, so it never interrupts a write: the file always holds whole chunks.
    """

    def __init__(self, final: Path, tmp: Path, fmt: str) -> None:
        self.final, self.tmp, self.fmt = final, tmp, fmt
        self.rows = 0
        self.opened = time.monotonic()
        self._writer: Any = None
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="accelsim-part")
        self._pending: Future[None] | None = None

    def add(self, columns: Mapping[str, Column]) -> None:
        """Append one chunk's rows (written while the caller goes on; errors surface at
        the next add or at commit)."""
        self._wait()
        chunk = arrow_table(columns) if self.fmt == "parquet" else _frame(columns)
        self._pending = self._thread.submit(self._write, chunk, first=not self.rows)
        self.rows += len(next(iter(columns.values())))

    def _write(self, chunk: Any, first: bool) -> None:
        if self.fmt != "parquet":
            chunk.to_csv(self.tmp, index=False, mode="w" if first else "a", header=first)
            return
        import pyarrow.parquet as pq

        if self._writer is None:
            few = _dictionary_columns(chunk)
            self._writer = pq.ParquetWriter(self.tmp, chunk.schema, use_dictionary=few,
                                            write_statistics=["point_id", *few])
        if not chunk.schema.equals(self._writer.schema):
            chunk = chunk.cast(self._writer.schema)
        self._writer.write_table(chunk)

    def _wait(self) -> None:
        """Block until the last chunk is written; raise its error, if any (an interrupt
        while waiting leaves the write pending, to be waited for again)."""
        if self._pending is not None:
            self._pending.result()
            self._pending = None

    def _close(self) -> None:
        try:
            self._wait()
        finally:
            self._thread.shutdown()
            if self._writer is not None:
                self._writer.close()
                self._writer = None

    def commit(self) -> Path:
        """Close the file and rename it into place: from now on it is a finished part."""
        self._close()
        os.replace(self.tmp, self.final)
        return self.final

    def discard(self) -> None:
        """Close and delete the temporary file (its rows were never committed)."""
        with contextlib.suppress(Exception):
            self._close()
        self.tmp.unlink(missing_ok=True)


class ResultStore:
    """Part files in DIR/parts, merged into DIR/results.<fmt> when the sweep completes."""

    def __init__(self, out: str | Path, fmt: str | None = None) -> None:
        self.out = Path(out)
        self.fmt = fmt or ("parquet" if has_pyarrow() else "csv")
        self.parts = self.out / "parts"
        self.results = self.out / f"results.{self.fmt}"
        self.record_path = self.out / "sweep.yaml"
        self.lock_path = self.out / ".lock"
        self.prepared = self.out / "prepared"
        self._seq = 0
        self._lock: IO[str] | None = None
        self._open: _OpenPart | None = None
        self._probe: Path | None = None  # the first chunk alone, until a part holds it too
        self._wrote = False
        self._fresh_rows: int | None = None  # rows appended since start() found none stored

    # ---- ownership of the folder -----------------------------------------------------------
    def lock(self) -> None:
        """Own the folder, or raise SweepError naming the sweep that owns it and what to do."""
        self.out.mkdir(parents=True, exist_ok=True)
        handle = self.lock_path.open("a+")
        if fcntl is not None:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.seek(0)
                owner = handle.read().strip() or "unknown"
                handle.close()
                raise SweepError(
                    f"{self.out}: another sweep (PID {owner}) is writing this folder; wait for "
                    f"it, stop it (kill {owner}), or give another --out. The lock is released "
                    f"when that process ends; if it persists with no such process (a network "
                    f"file system), delete {self.lock_path}") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._lock = handle

    def unlock(self) -> None:
        """Release the folder (the lock file stays; it is free once no process holds it)."""
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def _tmp(self, final: Path) -> Path:
        """A temporary name beside `final` that no other process or call can share."""
        return final.parent / f".{final.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp"

    # ---- the record of what was asked ----------------------------------------------------
    def start(self, record: Mapping[str, Any], resume: bool) -> None:
        """Prepare the folder: check the record on resume, else clear an earlier sweep."""
        self.out.mkdir(parents=True, exist_ok=True)
        text = yaml.dump(dict(record), Dumper=_DUMPER, sort_keys=False)
        if resume and self.record_path.is_file():
            # both read by the one safe loader (the folder's sweep.yaml may be anything)
            old, _ = load_yaml(self.record_path)
            if not isinstance(old, dict):
                old = {}
            if old != load_yaml_text(text, str(self.record_path))[0]:
                changed = sorted(k for k in {**old, **record} if old.get(k) != record.get(k))
                raise ConfigError(
                    f"{self.record_path}: cannot resume: the sweep differs from the recorded "
                    f"one (changed: {', '.join(changed)}); run without --resume to start over")
        elif not resume:
            self.clear()
        self.parts.mkdir(exist_ok=True)
        self.prepared.mkdir(exist_ok=True)
        for folder in (self.out, self.parts, self.prepared):  # left by a killed sweep
            for stale in folder.glob(".*.tmp"):
                stale.unlink()
        self._seq = max((int(p.stem.split("-")[1]) for p in self._part_files()), default=0)
        self._fresh_rows = None if self._sources() else 0
        tmp = self._tmp(self.record_path)
        tmp.write_text(text)
        os.replace(tmp, self.record_path)

    def clear(self) -> None:
        """Remove the results and parts of an earlier sweep in this folder."""
        for folder in (self.parts, self.prepared):
            if folder.is_dir():
                shutil.rmtree(folder)
        for name in ("results.parquet", "results.csv"):
            if (self.out / name).exists():
                (self.out / name).unlink()

    # ---- writing ---------------------------------------------------------------------------
    def _part_files(self) -> list[Path]:
        if not self.parts.is_dir():
            return []
        return sorted(p for p in self.parts.iterdir()
                      if p.name.startswith("part-") and p.suffix == f".{self.fmt}")

    def _new_part(self) -> _OpenPart:
        self._seq += 1
        final = self.parts / f"part-{self._seq:06d}-{secrets.token_hex(4)}.{self.fmt}"
        return _OpenPart(final, self._tmp(final), self.fmt)

    def write(self, columns: Mapping[str, Column]) -> Path:
        """Write one chunk as a part of its own, atomically; returns the part's path."""
        part = self._new_part()
        try:
            part.add(columns)
        except BaseException:
            part.discard()
            raise
        return part.commit()

    def append(self, columns: Mapping[str, Column]) -> None:
        """Add one finished chunk to the open part; commit it once it is large or old.

        The sweep's first chunk is also written alone at once (removed again once the
        open part that holds it too is committed), so a part lands within moments.
        """
        if not self._wrote:
            self._wrote = True
            self._probe = self.write(columns)
        if self._fresh_rows is not None:
            self._fresh_rows += len(next(iter(columns.values())))
        if self._open is None:
            self._open = self._new_part()
        try:
            self._open.add(columns)
        except Exception:  # a failed write: a half-written part is never committed
            self._open.discard()
            self._open = None
            raise
        if self._open.rows >= PART_ROWS or time.monotonic() - self._open.opened >= FLUSH_S:
            self.commit()

    def commit(self) -> None:
        """Rename the open part (if any) into parts/: its rows are kept from now on."""
        if self._open is None:
            return
        part, self._open = self._open, None
        part.commit()
        if self._probe is not None:  # its rows are in the part just committed
            self._probe.unlink(missing_ok=True)
            self._probe = None

    def _prepared_path(self, key: str) -> Path:
        return self.prepared / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.pickle"

    def save_prepared(self, key: str, arrays: Any) -> None:
        """Keep a finished schedule's arrays (written atomically) for a later resume."""
        final = self._prepared_path(key)
        tmp = self._tmp(final)
        with tmp.open("wb") as handle:
            pickle.dump((key, arrays), handle, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, final)

    def load_prepared(self, key: str) -> Any | None:
        """The arrays saved for schedule `key` by this sweep folder, or None."""
        path = self._prepared_path(key)
        if not path.is_file():
            return None
        try:
            with path.open("rb") as handle:
                stored_key, arrays = pickle.load(handle)  # noqa: S301 - written by save_prepared
        except Exception:  # noqa: BLE001 - an unreadable cache entry is recomputed
            return None
        return arrays if stored_key == key else None

    # ---- reading ---------------------------------------------------------------------------
    def _sources(self) -> list[Path]:
        return ([self.results] if self.results.is_file() else []) + self._part_files()

    def _ids(self, path: Path) -> np.ndarray:
        if self.fmt == "parquet":
            import pyarrow.parquet as pq

            return _int_column(pq.ParquetFile(path).read(columns=["point_id"]).column(0))
        import pandas as pd

        return pd.read_csv(path, usecols=["point_id"])["point_id"].to_numpy()

    def done_mask(self, n_points: int) -> np.ndarray:
        """A boolean per design point: True when its row is already stored."""
        done = np.zeros(n_points, dtype=bool)
        for path in self._sources():
            ids = self._ids(path)
            done[ids[ids < n_points]] = True
        return done

    def _tables(self) -> Iterator[Any]:
        """Every stored row group (pyarrow Table) or CSV chunk (DataFrame), results first,
        then parts: one piece in memory at a time."""
        for path in self._sources():
            if self.fmt == "parquet":
                import pyarrow.parquet as pq

                found = pq.ParquetFile(path)
                for index in range(found.num_row_groups):
                    yield found.read_row_group(index)
            else:
                import pandas as pd

                yield from pd.read_csv(path, chunksize=MERGE_ROWS)

    def _only_part(self, n_points: int) -> Path | None:
        """The one part holding every row exactly once (no results file yet), else None."""
        parts = self._part_files()
        if self.results.is_file() or len(parts) != 1:
            return None
        if self._fresh_rows == n_points:  # all written here, each point in one chunk only
            return parts[0]
        ids = self._ids(parts[0])
        if len(ids) != n_points or ids.min(initial=0) < 0 or ids.max(initial=0) >= n_points:
            return None
        seen = np.zeros(n_points, dtype=bool)
        seen[ids] = True
        return parts[0] if seen.all() else None

    def finalize(self, n_points: int) -> Path:
        """Merge results and parts into one results file (streaming), then drop the parts.

        A complete sweep in one part (every id once) is renamed, not rewritten.
        """
        self.commit()
        only = self._only_part(n_points)
        if only is not None:
            os.replace(only, self.results)
        elif not self._merge(n_points):
            return self.results
        shutil.rmtree(self.parts, ignore_errors=True)
        shutil.rmtree(self.prepared, ignore_errors=True)
        return self.results

    def _merge(self, n_points: int) -> bool:
        """Write results and parts, each id once, to the results file; False when empty."""
        seen = np.zeros(n_points, dtype=bool)
        tmp = self._tmp(self.results)
        writer: Any = None
        first = True
        for table in self._tables():
            ids = (_int_column(table.column("point_id")) if self.fmt == "parquet"
                   else table["point_id"].to_numpy())
            keep = ~seen[ids]
            before = int(seen.sum())
            seen[ids[keep]] = True
            if int(seen.sum()) - before != int(keep.sum()):
                # an id repeated inside one table keeps its first row only
                _, first_pos = np.unique(ids, return_index=True)
                once = np.zeros(len(ids), dtype=bool)
                once[first_pos] = True
                keep &= once
            if self.fmt == "parquet":
                import pyarrow.parquet as pq

                if not keep.all():
                    table = table.filter(_arrow(keep))
                if writer is None:
                    writer = pq.ParquetWriter(tmp, table.schema)
                if not table.schema.equals(writer.schema):
                    table = table.cast(writer.schema)
                writer.write_table(table)
            else:
                table[keep].to_csv(tmp, index=False, mode="w" if first else "a", header=first)
            first = False
        if writer is not None:
            writer.close()
        if first:
            return False
        os.replace(tmp, self.results)
        return True

    def read(self, columns: list[str] | None = None) -> pd.DataFrame:
        """All stored rows (results and parts), one per point, sorted by point_id."""
        import pandas as pd

        frames = []
        for path in self._sources():
            if self.fmt == "parquet":
                frames.append(pd.read_parquet(path, columns=columns))
            else:
                frames.append(pd.read_csv(path, usecols=columns))
        if not frames:
            return pd.DataFrame(columns=columns or ["point_id"])
        frame = pd.concat(frames, ignore_index=True)
        frame = frame.drop_duplicates("point_id").sort_values("point_id", kind="stable")
        return frame.reset_index(drop=True)
