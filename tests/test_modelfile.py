"""Declarative model files: the shipped files, repeat blocks, and located error messages."""

from __future__ import annotations

import re
import sys
import textwrap
from pathlib import Path

import pytest

from accelsim.errors import AccelsimError, GraphError, ModelFileError
from accelsim.ir.layers import OP_NAMES
from accelsim.ir.modelfile import load_model_file, resolve_model
from accelsim.ir.zoo import mobilenet_v1_cifar

MODELS_DIR = Path(__file__).resolve().parents[1] / "models"


def write(tmp_path: Path, text: str, name: str = "net.yaml") -> Path:
    """Write dedented YAML (its first line is line 1) and return the path."""
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def error_of(path: Path) -> str:
    with pytest.raises(ModelFileError) as info:
        load_model_file(path)
    return str(info.value)


# ---- shipped files ---------------------------------------------------------------------------
def test_shipped_cifar_file_equals_builder() -> None:
    from_file = load_model_file(MODELS_DIR / "mobilenet_v1_cifar.yaml")
    built = mobilenet_v1_cifar()
    assert from_file.name == built.name
    assert from_file.order == built.order
    assert from_file.structure() == built.structure()


def test_shipped_v2_example_has_a_residual_add() -> None:
    net = load_model_file(MODELS_DIR / "mobilenet_v2_block.yaml")
    add = net.layer("block2_add")
    assert add.inputs == ("block1_project", "block2_project")
    assert net.tensors()["block1_project"].consumers == ("block2_expand", "block2_add")
    # 32x32x3 -> conv1 3x3 s2 -> 16x16x16; every later layer works at 16x16 (256 positions).
    p = 16 * 16
    expected = (
        p * 16 * 3 * 3 * 3            # conv1
        + p * 16 * 96 + p * 96 * 9 + p * 96 * 24     # block 1: expand, depthwise, project
        + p * 24 * 144 + p * 144 * 9 + p * 144 * 24  # block 2
        + 24 * 10                      # fc after global average pooling
    )
    assert net.total_macs == expected


def test_every_builder_op_is_available(tmp_path: Path) -> None:
    path = write(tmp_path, """
        input: {shape: [8, 8, 4]}
        layers:
          - conv2d: {filters: 4, kernel: [3, 1], padding: [1, 1, 0, 0]}
          - depthwise_conv2d: {stride: 1}
          - batch_norm:
          - activation: {kind: relu6}
          - add: {inputs: [conv2d_1, activation_1]}
          - conv_transpose: {filters: 4, kernel: 2, stride: 2}
          - max_pool: {kernel: 3, stride: 2, ceil_mode: true}
          - global_max_pool: {name: gmp, input: add_1}
          - mul: {inputs: [add_1, gmp], activation: hard_swish}
          - sub: {inputs: [mul_1, add_1], activation: sigmoid}
          - prelu:
          - concat: {inputs: [prelu_1, add_1]}
          - channel_shuffle: {groups: 2}
          - channel_slice: {start: 0, stop: 4}
          - resize: {scale: 2, mode: bilinear}
          - max_pool: {kernel: 4, stride: 4}
          - avg_pool: {kernel: 2, stride: 1, padding: same}
          - global_avg_pool:
          - flatten:
          - dense: {units: 3, use_bias: false}
          - softmax:
    """)
    net = load_model_file(path)
    assert net.name == "net"  # default: the file's stem
    assert {layer.op for layer in net.layers()} == set(OP_NAMES)
    assert net.layer("conv2d_1").output_shape == (8, 8, 4)
    # ceil((16 - 3) / 2) + 1 = 8 rows where floor mode gives 7
    assert net.layer("max_pool_1").output_shape == (8, 8, 4)
    assert net.layer("conv_transpose_1").output_shape == (16, 16, 4)
    assert net.layer("concat_1").output_shape == (8, 8, 8)
    assert net.layer("resize_1").output_shape == (16, 16, 4)
    assert net.layer("dense_1").params == 4 * 3


# ---- repeat blocks and references ------------------------------------------------------------
def test_repeat_blocks_templates_and_suffixes(tmp_path: Path) -> None:
    path = write(tmp_path, """
        name: rep
        input: {name: image, shape: [8, 8, 4]}
        layers:
          - conv2d: {name: stem, filters: 8, kernel: 1}
          - repeat: 2
            start: 5
            layers:
              - conv2d: {name: "c${i}", filters: 8}
              - activation: {name: act, kind: relu}
              - repeat: 2
                var: j
                layers:
                  - conv2d: {name: "inner_${i}_${j}", filters: 8, kernel: 1}
          - add: {inputs: [stem, inner_6_2]}
          - conv2d: {filters: 2, kernel: 1, input: c5}
    """)
    net = load_model_file(path)
    assert net.order == (
        "image", "stem",
        "c5", "act_5", "inner_5_1", "inner_5_2",
        "c6", "act_6", "inner_6_1", "inner_6_2",
        "add_1", "conv2d_8",  # eighth conv2d of the file, default name
    )
    assert net.layer("c6").inputs == ("inner_5_2",)  # chained through the repeat
    assert net.layer("conv2d_8").inputs == ("c5",)   # `input:` override


def test_resolution_override(tmp_path: Path) -> None:
    net = load_model_file(MODELS_DIR / "mobilenet_v1_cifar.yaml", resolution=56)
    # 56 -> stride 2 (block 2) -> 28 -> stride 2 (block 13) -> 14; avg pool 7: 14 // 7 = 2
    assert net.layer("conv_pw_13").output_shape == (14, 14, 256)
    assert net.layer("avg_pool").output_shape == (2, 2, 256)


# ---- errors: file, line and field ------------------------------------------------------------
def write_layers(tmp_path: Path, body: str) -> Path:
    """A file whose lines 1-2 declare an 8x8x4 input, with `body` as its layers from line 3."""
    text = "input: {shape: [8, 8, 4]}\nlayers:\n" + textwrap.dedent(body).lstrip("\n")
    return write(tmp_path, text)


def test_unknown_key_with_suggestion(tmp_path: Path) -> None:
    path = write_layers(tmp_path, """
      - conv2d: {name: c1, filters: 8}
      - conv2d:
          filter: 8
    """)
    message = error_of(path)
    assert message.startswith(f"{path}:5: layers[1].conv2d.filter: unknown key 'filter' "
                              "(did you mean 'filters'?); allowed: name, input, filters")


def test_unknown_op_and_top_level_key(tmp_path: Path) -> None:
    path = write_layers(tmp_path, "  - conv: {filters: 8}\n")
    assert re.match(rf"{re.escape(str(path))}:3: layers\[0\]\.conv: unknown op 'conv' "
                    r"\(did you mean 'conv2d'\?\); allowed: conv2d, ", error_of(path))
    path = write(tmp_path, "input: {shape: [8, 8, 4]}\nlayer: []\n")
    assert error_of(path) == (f"{path}:2: layer: unknown key 'layer' (did you mean 'layers'?); "
                              "allowed: name, input, layers")


def test_wrong_types(tmp_path: Path) -> None:
    path = write_layers(tmp_path, "  - conv2d: {filters: x}\n")
    assert error_of(path) == (f"{path}:3: layers[0].conv2d.filters: must be a positive "
                              "integer, got 'x'")
    path = write_layers(tmp_path, "  - conv2d: {filters: true}\n")
    assert "filters: must be a positive integer, got true" in error_of(path)
    path = write_layers(tmp_path, "  - conv2d: {filters: 8, padding: full}\n")
    assert "layers[0].conv2d.padding: must be same, valid," in error_of(path)
    path = write_layers(tmp_path, "  - dense: {units: 3, activation: gelu}\n")
    assert error_of(path) == (f"{path}:3: layers[0].dense.activation: must be one of none, "
                              "relu, relu6, sigmoid, hard_sigmoid, hard_swish, silu, "
                              "leaky_relu, got 'gelu'")
    path = write(tmp_path, "input: {shape: [8, 0, 4]}\nlayers: [softmax: ]\n")
    assert error_of(path).startswith(f"{path}:1: input.shape: must be a list of positive")
    path = write_layers(tmp_path, "  - repeat: 0\n    layers: [softmax: ]\n")
    assert error_of(path) == f"{path}:3: layers[0].repeat: must be a positive integer, got 0"


def test_duplicate_key(tmp_path: Path) -> None:
    path = write_layers(tmp_path, """
      - conv2d:
          filters: 8
          filters: 16
    """)
    assert error_of(path) == (f"{path}:5: YAML error: key 'filters' is given twice "
                              "(lines 4 and 5); keep one of them")


def test_missing_fields_and_structure(tmp_path: Path) -> None:
    path = write_layers(tmp_path, "  - conv2d: {kernel: 3}\n")
    assert error_of(path) == f"{path}:3: layers[0].conv2d: missing required key 'filters'"
    path = write(tmp_path, "input: {shape: [8, 8, 4]}\n")
    assert error_of(path) == f"{path}:1: missing required key 'layers'"
    # fields written beside the op instead of under it
    path = write_layers(tmp_path, "  - conv2d:\n    filters: 8\n")
    assert "layers[0]: a layer must be a mapping with one op key" in error_of(path)
    assert "got keys conv2d, filters" in error_of(path)
    path = write(tmp_path, "")
    assert error_of(path) == f"{path}: must be a mapping with keys name, input, layers, got null"


def test_bad_shapes_are_located(tmp_path: Path) -> None:
    path = write_layers(tmp_path, """
      - conv2d: {name: a, filters: 8}
      - conv2d: {name: b, filters: 16}
      - add: {inputs: [a, b]}
    """)
    message = error_of(path)
    assert message.startswith(f"{path}:5: layers[2].add: net: add layer 'add_1' has "
                              "mismatched shapes: a (8, 8, 8), b (8, 8, 16)")
    path = write_layers(tmp_path, """
      - repeat: 3
        layers:
          - max_pool: {name: "pool${i}", kernel: 3}
    """)
    # 8 -> (8 - 3) // 3 + 1 = 2 -> (2 - 3) // 3 + 1 = 0: the second pool is empty
    assert re.match(rf"{re.escape(str(path))}:5: layers\[0\]\.layers\[0\]\.max_pool: .*'pool2' "
                    r"would have an empty output .*\(in repeat i=2\)$", error_of(path))
    path = write_layers(tmp_path, "  - softmax: {input: nothing}\n")
    assert re.match(rf"{re.escape(str(path))}:3: layers\[0\]\.softmax: .*unknown input "
                    "'nothing'", error_of(path))
    with pytest.raises(ModelFileError, match=r":\d+: layers\[10\]\.avg_pool: .*empty output"):
        load_model_file(MODELS_DIR / "mobilenet_v1_cifar.yaml", resolution=8)


def test_template_errors(tmp_path: Path) -> None:
    path = write_layers(tmp_path, "  - softmax: {name: \"s${k}\"}\n")
    assert error_of(path) == (f"{path}:3: layers[0].softmax.name: unknown template variable "
                              "${k} in 's${k}'; defined: none outside repeat blocks")


def test_unreadable_files(tmp_path: Path) -> None:
    assert error_of(tmp_path / "absent.yaml") == f"{tmp_path / 'absent.yaml'}: file not found"
    path = write(tmp_path, "input: {shape: [8, 8, 4]\nlayers: []\n")
    assert error_of(path).startswith(f"{path}:2: YAML error:")


# ---- resolve_model -----------------------------------------------------------------------------
def test_resolve_model_dispatch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_model("mobilenet_v1_cifar").structure() == mobilenet_v1_cifar().structure()
    cifar_file = str(MODELS_DIR / "mobilenet_v1_cifar.yaml")
    assert resolve_model(cifar_file).order == mobilenet_v1_cifar().order
    with pytest.raises(GraphError, match="unknown model 'resnet'; known models: mobilenet_v1,"):
        resolve_model("resnet")
    with pytest.raises(ModelFileError, match="the alpha of a model file cannot be changed"):
        resolve_model(cifar_file, alpha=0.5)
    with pytest.raises(ModelFileError, match="the classes of a model file cannot be changed"):
        resolve_model(cifar_file, classes=100)
    with pytest.raises(ModelFileError, match="missing.onnx: file not found"):
        resolve_model(str(tmp_path / "missing.onnx"))
    onnx = tmp_path / "m.onnx"
    onnx.write_bytes(b"")
    with pytest.raises(ModelFileError, match="the resolution of an ONNX file cannot be changed"):
        resolve_model(str(onnx), resolution=64)
    monkeypatch.setitem(sys.modules, "accelsim.ir.onnx_import", None)  # import fails
    with pytest.raises(AccelsimError, match=r"pip install accelsim\[onnx\]"):
        resolve_model(str(onnx))

