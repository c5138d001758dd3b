"""Exception hierarchy: every error a user can cause derives from AccelsimError.

The CLI turns an AccelsimError into one line on stderr and exit code 2; library code
never prints or exits.
"""

from __future__ import annotations

__all__ = [
    "AccelsimError",
    "ConfigError",
    "GraphError",
    "ModelFileError",
    "ScheduleError",
    "SweepError",
    "UnitError",
    "ReplayError",
    "ImportErrorOnnx",
]


class AccelsimError(Exception):
    """Root of every error accelsim raises on bad input or an impossible request."""


class UnitError(AccelsimError, ValueError):
    """A quantity string could not be read (unknown unit, bad number, wrong kind)."""


class ConfigError(AccelsimError):
    """A run, hardware or sweep file is invalid; the message names file and field."""


class GraphError(AccelsimError):
    """The network graph is inconsistent: cycles, unknown inputs, shape mismatches."""


class ModelFileError(AccelsimError):
    """A declarative model file is malformed; the message names file, line and field."""


class ScheduleError(AccelsimError):
    """A schedule cannot be built or is inconsistent (e.g. over SRAM capacity)."""


class SweepError(AccelsimError):
    """A sweep could not finish (a worker died); finished chunks stay on disk."""


class ReplayError(AccelsimError):
    """Schedule replay found an access the schedule did not make resident."""


class ImportErrorOnnx(AccelsimError):
    """An ONNX file uses an operator or attribute accelsim cannot import."""
