"""Output folders: checked before any work, and written so a failure leaves nothing half-done.

An `--out` that is a file, cannot be created (`/proc/x`, no permission) or cannot be
written is one `accelsim: error:` line saying what to do, before the simulation starts.
A report is written into a hidden folder inside the output folder and its files are moved
into place only when every one of them was written, so a full disk never leaves a report
that looks complete.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from accelsim.errors import AccelsimError

__all__ = ["prepare_out_dir", "staged_files"]


def _reason(exc: OSError) -> str:
    """The OS's complaint in a few words."""
    if exc.errno == errno.ENOSPC:
        return "the disk is full"
    return (exc.strerror or str(exc)).lower()


def prepare_out_dir(path: Path, option: str = "--out") -> Path:
    """Create `path` (and its parents) and check a file can be written in it."""
    if path.exists() and not path.is_dir():
        raise AccelsimError(f"{option} {path}: is a file, not a folder; give a folder path "
                            "(it is created if missing)")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise AccelsimError(f"{option} {path}: cannot create the folder: {_reason(exc)}; "
                            "choose a folder you can write to") from None
    try:
        fd, probe = tempfile.mkstemp(prefix=".write-test-", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise AccelsimError(f"{option} {path}: cannot write in this folder: {_reason(exc)}; "
                            "choose a folder you can write to") from None
    return path


@contextmanager
def staged_files(out_dir: Path) -> Iterator[Path]:
    """A hidden folder inside `out_dir` to write into; its files move into `out_dir` together.

    When writing fails (a full disk, a lost permission) nothing of this write is left in
    `out_dir` and the error is one line.
    """
    try:
        stage = Path(tempfile.mkdtemp(prefix=".partial-", dir=out_dir))
    except OSError as exc:
        raise AccelsimError(f"{out_dir}: cannot write: {_reason(exc)}") from None
    try:
        yield stage
        for item in sorted(stage.iterdir()):
            os.replace(item, out_dir / item.name)
    except OSError as exc:
        raise AccelsimError(f"{out_dir}: writing the report failed: {_reason(exc)}; nothing was "
                            "written there; free some space or choose another --out") from None
    finally:
        shutil.rmtree(stage, ignore_errors=True)
