"""Sweeps: many design points of one run file, evaluated vectorised and stored as they finish.

    import accelsim.sweep as sweep
    frame = sweep.run_sweep("examples/sram_knee.yaml", out="reports/sweeps/sram_knee")
    table, knees = sweep.sensitivity("mobilenet_cifar.yaml"), ...

Heavy modules (pandas, pyarrow, dask, matplotlib) load only when used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from accelsim.lazy import lazy_getattr

__all__ = ["Design", "SweepRun", "SweepSpec", "execute", "knees", "load_sweep", "run_sweep",
           "sensitivity"]

if TYPE_CHECKING:
    from accelsim.sweep.runner import SweepRun, execute, run_sweep
    from accelsim.sweep.sensitivity import knees, sensitivity
    from accelsim.sweep.space import Design, SweepSpec, load_sweep

_LAZY = {
    "Design": "accelsim.sweep.space",
    "SweepSpec": "accelsim.sweep.space",
    "load_sweep": "accelsim.sweep.space",
    "SweepRun": "accelsim.sweep.runner",
    "execute": "accelsim.sweep.runner",
    "run_sweep": "accelsim.sweep.runner",
    "knees": "accelsim.sweep.sensitivity",
    "sensitivity": "accelsim.sweep.sensitivity",
}


__getattr__ = lazy_getattr("accelsim.sweep", _LAZY)
