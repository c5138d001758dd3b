"""accelsim: how long does this neural network take on this accelerator, and where does the time go?

    import accelsim
    result = accelsim.run("mobilenet_cifar.yaml", {"simulation.policy": "accumulate"})
    result.table()      # pandas DataFrame, one row per layer
    result.summary()    # dict: total_time_s, dram_read_bytes, peak_sram_bytes, ...
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from accelsim.lazy import lazy_getattr

__version__ = "0.1.0"
__all__ = ["__version__", "build_model", "load_run", "run", "run_config", "simulate"]

if TYPE_CHECKING:
    from accelsim.config.loader import load_run
    from accelsim.ir.zoo import build_model
    from accelsim.pipeline import run, run_config
    from accelsim.sim.simulate import simulate

_LAZY = {
    "build_model": "accelsim.ir.zoo",
    "load_run": "accelsim.config.loader",
    "run": "accelsim.pipeline",
    "run_config": "accelsim.pipeline",
    "simulate": "accelsim.sim.simulate",
}


__getattr__ = lazy_getattr("accelsim", _LAZY)
