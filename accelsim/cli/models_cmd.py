"""`accelsim models` and `accelsim summary`: what networks there are and what they cost."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import click

from accelsim.cli.app import cli
from accelsim.cli.params import Number, project_dirs, shown_path
from accelsim.errors import AccelsimError
from accelsim.ir.graph import Network
from accelsim.ir.modelfile import MODEL_FILE_SUFFIXES, load_model_file, resolve_model
from accelsim.ir.zoo import MODELS

__all__ = ["models", "summary"]


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], right: set[int]) -> list[str]:
    """Fixed-width text table lines; columns whose index is in `right` are right-aligned."""
    from accelsim.report.markdown import text_table

    return text_table(headers, rows, right).splitlines()


@cli.command()
def models() -> None:
    """List the built-in models and the model files in ./models and the repository's models/."""
    rows = [[name, str(spec.resolution), str(spec.classes), spec.description]
            for name, spec in MODELS.items()]
    click.echo("Built-in models:")
    for text in _table(["name", "resolution", "classes", "description"], rows, {1, 2}):
        click.echo(f"  {text}")
    files = [path for folder in project_dirs("models") for path in sorted(folder.iterdir())
             if path.suffix.lower() in MODEL_FILE_SUFFIXES]
    click.echo("\nModel files (give the path to `accelsim summary`):")
    file_rows = []
    for path in files:
        try:
            net = load_model_file(path)
            file_rows.append([shown_path(path), net.name, str(len(net)), f"{net.total_macs:,}"])
        except AccelsimError as exc:
            file_rows.append([shown_path(path), "(invalid)", "", str(exc)])
    lines = _table(["file", "name", "layers", "MACs"], file_rows, {2, 3}) if files else ["none"]
    for text in lines:
        click.echo(f"  {text}")


def _layer_rows(net: Network) -> list[dict[str, Any]]:
    """One record per layer: the data behind both the table and the JSON output."""
    return [
        {"name": layer.name, "op": layer.op, "inputs": list(layer.inputs),
         "input_shape": list(layer.input_shape), "output_shape": list(layer.output_shape),
         "macs": layer.macs, "params": layer.params, "bn_params": layer.bn_params}
        for layer in net.layers()
    ]


def _shape_text(shape: Sequence[int]) -> str:
    return "x".join(str(d) for d in shape) if shape else "-"


def _check_onnx(model: str) -> None:
    """Print every unsupported node of an ONNX file; AccelsimError if there is any."""
    from accelsim.ir.onnx_import import check_onnx

    found = check_onnx(model)
    if found:
        rows = [[op, node, output] for op, node, output in found]
        for text in _table(["op", "node", "output"], rows, set()):
            click.echo(text)
        raise AccelsimError(f"{model}: {len(found)} unsupported ONNX nodes (listed above)")


@cli.command()
@click.argument("model")
@click.option("--alpha", type=Number(float), default=1.0, show_default=True,
              help="Width multiplier of a built-in model.")
@click.option("--resolution", type=Number(int), default=None,
              help="Input height and width (default: the model's own).")
@click.option("--classes", type=Number(int), default=None,
              help="Output classes of a built-in model (default: the model's own).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
@click.option("--check", is_flag=True,
              help="For an .onnx MODEL: list every unsupported node (op, node, output) first.")
def summary(
    model: str, alpha: float, resolution: int | None, classes: int | None, as_json: bool,
    check: bool,
) -> None:
    """Per-layer shapes, multiply-accumulates and parameters of MODEL.

    MODEL is a built-in model name (see `accelsim models`) or the path of a .yaml/.yml
    model file or an .onnx file.
    """
    if check and model.lower().endswith(".onnx"):
        _check_onnx(model)
    net = resolve_model(model, alpha, resolution, classes)
    rows = _layer_rows(net)
    input_shape = net.layer(net.inputs[0]).output_shape
    if as_json:
        click.echo(json.dumps({
            "model": net.name, "source": model, "alpha": alpha,
            "resolution": input_shape[0], "classes": net.layer(net.outputs[-1]).out_channels,
            "input_shape": list(input_shape), "total_macs": net.total_macs,
            "total_params": net.total_params, "bn_params": net.bn_params,
            "layer_count": len(rows), "layers": rows,
        }, indent=2))
        return
    table = [[r["name"], r["op"], _shape_text(r["input_shape"]), _shape_text(r["output_shape"]),
              f"{r['macs']:,}", f"{r['params']:,}"] for r in rows]
    click.echo(f"{net.name}: {len(rows)} layers, input {_shape_text(input_shape)}")
    for text in _table(["name", "op", "input", "output", "MACs", "params"], table, {4, 5}):
        click.echo(text)
    click.echo(f"\ntotal MACs:        {net.total_macs:>15,}")
    click.echo(f"params:            {net.total_params:>15,}  (conv and dense weights + biases)")
    click.echo(f"batch-norm params: {net.bn_params:>15,}  (scale, shift, mean, variance)")
