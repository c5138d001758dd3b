"""`accelsim verify`: prove the simulated dataflow computes the network's numbers.

A run file is scheduled with its own hardware and policy (or the hardware of --hardware);
a model file (.yaml or .onnx) with the bundled mobilenet_cifar.yaml's, or --hardware's.
The schedule is replayed with a bounded SRAM in float32 and integer modes and compared
with direct execution; `--against onnxruntime` also runs an ONNX model in ONNX Runtime.
Integer accumulators that overflow their `accumulator_bits` fail the check unless
--allow-overflow (the schedule may still match direct execution: both wrap alike).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import numpy as np

from accelsim.cli.app import cli
from accelsim.cli.overrides import is_run_file, load_config, set_option
from accelsim.cli.progress import run_step
from accelsim.config.models import RunConfig
from accelsim.errors import AccelsimError
from accelsim.ir.graph import Network
from accelsim.ir.modelfile import resolve_model
from accelsim.limits import check_executable
from accelsim.pipeline import build_network
from accelsim.sim.simulate import simulate

__all__ = ["verify"]

#: Allowed error against ONNX Runtime, relative to the output's largest magnitude.
RTOL_ONNXRUNTIME = 1e-4


#: The run file whose hardware and simulation settings a model-file TARGET uses.
DEFAULT_RUN = "mobilenet_cifar.yaml"


def _target(target: str, hardware: str | None, settings: tuple[str, ...]
            ) -> tuple[RunConfig, Network]:
    """The run config and network a TARGET names (a run file, or a model file)."""
    if is_run_file(target):
        config, _ = load_config(target, settings, hardware)
        return config, build_network(config.model)
    config, _ = load_config(DEFAULT_RUN, settings, hardware)
    return config, resolve_model(target)


def _against_onnxruntime(path: str, net: Network, x: np.ndarray) -> dict[str, Any]:
    """ONNX Runtime vs the executor in float64 on the same input, in the model's layout.

    The executor runs in double precision so that the difference printed is ONNX
    Runtime's own float32 rounding plus any import error, not the sum of two runtimes'
    roundings (on a deep network with large activations, such as MobileNetV3-Large, a
    float32 executor alone drifts 1e-4 from the exact result). Most exporters take NCHW;
    tf2onnx keeps Keras' NHWC: the layout is read off the model's input shape, and the
    output is compared in the model's layout too.
    """
    try:
        import onnxruntime as ort
    except ImportError:
        raise AccelsimError("--against onnxruntime needs onnxruntime: "
                            "pip install 'accelsim[onnx]'") from None
    from accelsim.reference.compare import compare
    from accelsim.reference.executor import Session

    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    declared = tuple(session.get_inputs()[0].shape[1:])
    nhwc = declared == x.shape[1:]
    feed = x if nhwc else np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    expected = session.run(None, {session.get_inputs()[0].name: feed})[0]
    ours = Session(net, float_dtype=np.float64).run(x, every_layer=False).outputs[
        net.outputs[-1]]
    if ours.ndim == 4 and not nhwc:
        ours = ours.transpose(0, 3, 1, 2)
    agreement = compare(expected, ours.reshape(expected.shape), RTOL_ONNXRUNTIME)
    return {"check": "onnxruntime vs executor (float64)", "max_abs_err": agreement.max_abs_err,
            "max_rel_err": agreement.max_rel_err, "passed": agreement.passed}


@cli.command()
@click.argument("target")
@set_option
@click.option("--hardware", default=None, metavar="NAME",
              help="Hardware file or run file whose hardware TARGET is scheduled on "
                   f"(default: the run file's own; {DEFAULT_RUN}'s for a model file).")
@click.option("--mode", "modes", type=click.Choice(["float32", "int"]), multiple=True,
              help="Executor modes to replay (default: both).")
@click.option("--against", type=click.Choice(["onnxruntime"]), default=None,
              help="Also compare the executor with ONNX Runtime (ONNX targets).")
@click.option("--seed", type=int, default=0, show_default=True, help="Input and weight seed.")
@click.option("--allow-overflow", is_flag=True,
              help="Pass integer replays whose accumulators overflow accumulator_bits.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def verify(target: str, settings: tuple[str, ...], hardware: str | None,
           modes: tuple[str, ...], against: str | None, seed: int, allow_overflow: bool,
           as_json: bool) -> int:
    """Replay TARGET's schedule with a bounded SRAM and compare with direct execution.

    TARGET is a run file or a model file. Integer replay must match bit for bit, with no
    accumulator overflow unless --allow-overflow; float32 replay within 1e-5, and ONNX
    Runtime within 1e-4 of the executor run in float64, of the output's largest magnitude
    (the relative error printed).
    Exit code 0 when every check passes, 1 when one fails, 2 for bad input.
    """
    from accelsim.reference.quant import Precision
    from accelsim.reference.replay import replay

    config, net = _target(target, hardware, settings)
    check_executable(net.layers(), config.simulation.batch, target)
    result = run_step("scheduling", simulate, net, config.hardware, config.simulation)
    shape = net.layer(net.inputs[0]).output_shape
    x = np.random.default_rng(seed).standard_normal(
        (config.simulation.batch, *shape)).astype(np.float32)
    p = config.hardware.precision
    precision = Precision(p.activation_bits, p.weight_bits, p.accumulator_bits)
    checks: list[dict[str, Any]] = []
    for mode in modes or ("float32", "int"):
        r = run_step(f"replaying the schedule ({mode})", replay, net, result.schedule, x,
                     mode=mode, precision=precision, seed=seed)
        overflowed = bool(r.overflows) and not allow_overflow
        checks.append({"check": f"schedule replay ({config.simulation.policy}, {mode})",
                       "max_abs_err": r.max_abs_err, "max_rel_err": r.max_rel_err,
                       "passed": r.passed and not overflowed,
                       "matches_direct_execution": r.passed, "steps": r.steps,
                       "peak_sram_bytes": r.peak_sram_bytes,
                       "accumulator_overflows": r.overflows})
    if against is not None:
        if Path(target).suffix.lower() != ".onnx":
            raise AccelsimError(f"{target}: --against onnxruntime needs an .onnx model")
        checks.append(_against_onnxruntime(target, net, x))
    passed = all(c["passed"] for c in checks)
    summary = {"target": target, "model": net.name, "checks": checks,
               "max_abs_err": max(float(c["max_abs_err"]) for c in checks),
               "max_rel_err": max(float(c["max_rel_err"]) for c in checks), "passed": passed}
    if as_json:
        click.echo(json.dumps(summary, indent=2))
    else:
        for c in checks:
            overflows = c.get("accumulator_overflows")
            plural = "s" if overflows != 1 else ""
            allowed = ", allowed" if allow_overflow else "; --allow-overflow to accept"
            note = (f"  ({overflows:,} accumulator overflow{plural} at "
                    f"{p.accumulator_bits} bits{allowed})" if overflows else "")
            click.echo(f"{c['check']:45s} max abs err {c['max_abs_err']:.3g}  "
                       f"max rel err {c['max_rel_err']:.3g}  "
                       f"{'PASS' if c['passed'] else 'FAIL'}{note}")
        click.echo("PASS" if passed else "FAIL")
    return 0 if passed else 1
