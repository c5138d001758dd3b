"""The pipeline in a few typed calls: run file -> network -> schedule and costs -> result.

    config = load_run("mobilenet_cifar.yaml")
    result = run_config(config)          # a SimResult
    result.table(), result.summary()
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from accelsim.config.loader import load_run
from accelsim.config.models import ModelRef, RunConfig
from accelsim.ir.graph import Network
from accelsim.ir.modelfile import resolve_model
from accelsim.sim.simulate import SimResult, simulate

__all__ = ["build_network", "resolve_defaults", "run", "run_config"]


def build_network(model: ModelRef) -> Network:
    """The Network a run file's `model` section names."""
    spec = model.name if model.name is not None else str(model.path)
    return resolve_model(spec, model.alpha, model.resolution, model.classes)


def resolve_defaults(config: RunConfig, net: Network) -> RunConfig:
    """The config with the model's resolution and classes filled in from the built network."""
    if config.model.name is None:
        return config
    first, last = net.layer(net.inputs[0]), net.layer(net.outputs[-1])
    update = {"resolution": first.output_shape[0], "classes": last.output_shape[-1]}
    return config.model_copy(update={"model": config.model.model_copy(update=update)})


def run_config(config: RunConfig, net: Network | None = None) -> SimResult:
    """Simulate a validated run config (building its network unless one is given)."""
    network = net if net is not None else build_network(config.model)
    return simulate(network, config.hardware, config.simulation)


def run(path: str | Path, overrides: dict[str, Any] | None = None) -> SimResult:
    """Load a run file (bare names are looked up in hw_configs/), apply overrides, simulate."""
    return run_config(load_run(path, overrides))
