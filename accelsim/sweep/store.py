"""The result store: chunks land on disk as they finish, and nothing is ever written twice.

Layout of a sweep folder::

    .lock             held (flock) by the one sweep writing the folder; records its PID
    sweep.yaml        what was asked (resume refuses a different one)
    prepared/         each finished schedule's per-layer arrays, so a resume never redoes one
    parts/            one file per finished chunk, written to a temporary name and renamed,
                      so a part is either complete or absent (Ctrl-C, SIGTERM, SIGKILL)
    results.parquet   all rows, written when the sweep completes (results.csv without pyarrow)

Resume reads the point ids already in results and parts and runs only the others; the
final merge drops any id seen before, so a row can never appear twice. Temporary names
carry the writer's PID and a random token, so no two processes ever share one; the lock
makes a second sweep on the same folder refuse at once, naming the first one's PID. The
kernel drops the lock when its process dies, however it dies, so a lock is never stale.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import secrets
import shutil
from collections.abc import Iterator, Mapping
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

__all__ = ["ResultStore", "has_pyarrow"]


def has_pyarrow() -> bool:
    """True when pyarrow is importable (parquet output); else results are CSV."""
    try:
        import pyarrow  # noqa: F401
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        return False
    return True


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
        text = yaml.safe_dump(dict(record), sort_keys=False)
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

    def write(self, columns: Mapping[str, np.ndarray]) -> Path:
        """Write one finished chunk atomically; returns the part's path."""
        self._seq += 1
        final = self.parts / f"part-{self._seq:06d}-{secrets.token_hex(4)}.{self.fmt}"
        tmp = self._tmp(final)
        if self.fmt == "parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            pq.write_table(pa.table(dict(columns)), tmp)
        else:
            import pandas as pd

            pd.DataFrame(dict(columns)).to_csv(tmp, index=False)
        os.replace(tmp, final)
        return final

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

            return pq.read_table(path, columns=["point_id"]).column(0).to_numpy()
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
        """Every stored table (pyarrow Table or DataFrame), results first, then parts."""
        for path in self._sources():
            if self.fmt == "parquet":
                import pyarrow.parquet as pq

                yield pq.read_table(path)
            else:
                import pandas as pd

                yield pd.read_csv(path)

    def finalize(self, n_points: int) -> Path:
        """Merge results and parts into one results file (streaming), then drop the parts."""
        seen = np.zeros(n_points, dtype=bool)
        tmp = self._tmp(self.results)
        writer: Any = None
        first = True
        for table in self._tables():
            ids = (table.column("point_id").to_numpy() if self.fmt == "parquet"
                   else table["point_id"].to_numpy())
            keep = ~seen[ids]
            # a repeated id inside one table keeps its first row only
            _, first_pos = np.unique(ids, return_index=True)
            once = np.zeros(len(ids), dtype=bool)
            once[first_pos] = True
            keep &= once
            seen[ids[keep]] = True
            if self.fmt == "parquet":
                import pyarrow as pa
                import pyarrow.parquet as pq

                table = table.filter(pa.array(keep))
                if writer is None:
                    writer = pq.ParquetWriter(tmp, table.schema)
                writer.write_table(table.cast(writer.schema))
            else:
                table[keep].to_csv(tmp, index=False, mode="w" if first else "a", header=first)
            first = False
        if writer is not None:
            writer.close()
        if first:
            return self.results
        os.replace(tmp, self.results)
        shutil.rmtree(self.parts, ignore_errors=True)
        shutil.rmtree(self.prepared, ignore_errors=True)
        return self.results

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
