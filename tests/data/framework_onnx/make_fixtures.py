"""Regenerate the framework-exported ONNX fixtures of tests/test_onnx_frameworks.py.

Not run by the tests (CI has neither torch nor tensorflow). Run it from throwaway virtual
environments outside the repository:

    python3 -m venv /tmp/torchenv
    /tmp/torchenv/bin/pip install torch==2.13.0 onnx onnxruntime onnxscript numpy
    /tmp/torchenv/bin/python tests/data/framework_onnx/make_fixtures.py torch

    python3 -m venv /tmp/tfenv
    /tmp/tfenv/bin/pip install tensorflow-cpu tf2onnx
    /tmp/tfenv/bin/python tests/data/framework_onnx/make_fixtures.py keras

``torch`` builds two plain torch.nn networks, MobileNet v1 CIFAR (as
accelsim.ir.zoo.mobilenet_v1_cifar, alpha 0.25, 28x28 input) and a torchvision-style
MobileNetV2 (alpha 0.35, 64x64 input, 10 classes), gives every Conv He-normal weights and
every BatchNorm trained-looking affine parameters and running statistics, and exports
each in eval mode with the TorchScript exporter (``dynamo=False``, opsets 13 and 17) and
the dynamo exporter (``dynamo=True``, opset 18), with a dynamic batch dimension.

``keras`` builds ``keras.applications.MobileNet(alpha=0.25, input_shape=(128, 128, 3),
weights=None, classes=10)`` with random batch-norm statistics and converts it with
``tf2onnx.convert.from_keras`` at opset 13 (NHWC input, batch None).

The V2 and Keras files would be 0.9-1.7 MB each (V2's conv_last alone is 112 x 1280), so
their Conv/Gemm/MatMul weight tensors are stripped: each keeps its name, type and dims,
loses its data and gets ``doc_string = "stripped"``. The tests refill them with seeded
He-normal values (tests/test_onnx_frameworks.py: ``materialise``). Biases, batch-norm
vectors and every other constant keep the exported values. The V1 files keep every
weight, so they run as they are: ``accelsim verify <file> --against onnxruntime``.
From the dynamo files the per-node ``pkg.torch.onnx.stack_trace`` metadata is removed
(it holds the generating machine's paths); the graph is untouched.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import onnx

HERE = Path(__file__).resolve().parent
# (pointwise output channels, depthwise stride) of the 13 CIFAR separable blocks
CIFAR_BLOCKS = [(64, 1), (64, 2), (128, 1), (256, 1), (256, 1), (256, 1), (256, 1),
                (256, 1), (256, 1), (256, 1), (256, 1), (256, 1), (256, 2)]
# MobileNetV2 bottlenecks: expansion t, channels c, repeats n, first stride s
V2_TABLE = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
            (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]


def make_divisible(v: float, divisor: int = 8) -> int:
    """torchvision's _make_divisible."""
    new = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new + divisor if new < 0.9 * v else new


def torch_models() -> dict[str, Any]:
    """The torch.nn networks (defined here so the keras subcommand needs no torch)."""
    import torch
    from torch import nn

    def conv_bn(cin: int, cout: int, k: int, stride: int, groups: int = 1,
                act: Any = nn.ReLU) -> nn.Sequential:
        """Conv (no bias, PyTorch's symmetric padding k // 2) + BatchNorm2d (+ activation)."""
        layers: list[nn.Module] = [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups,
                                             bias=False), nn.BatchNorm2d(cout)]
        if act is not None:
            layers.append(act(inplace=True))
        return nn.Sequential(*layers)

    class MobileNetV1Cifar(nn.Module):
        """zoo.mobilenet_v1_cifar: conv3x3/1 to 32a, 13 separable blocks, avg pool 7, fc."""

        def __init__(self, alpha: float = 0.25, classes: int = 10) -> None:
            super().__init__()
            c = int(32 * alpha)
            layers = [conv_bn(3, c, 3, 1)]
            for out, stride in CIFAR_BLOCKS:
                layers += [conv_bn(c, c, 3, stride, groups=c),
                           conv_bn(c, int(out * alpha), 1, 1)]
                c = int(out * alpha)
            self.features = nn.Sequential(*layers)
            self.pool = nn.AvgPool2d(7)
            self.flatten = nn.Flatten()
            self.fc = nn.Linear(c, classes)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(self.flatten(self.pool(self.features(x))))

    class InvertedResidual(nn.Module):
        """torchvision's block: optional 1x1 expand, 3x3 depthwise, linear 1x1 project."""

        def __init__(self, cin: int, cout: int, stride: int, t: int) -> None:
            super().__init__()
            hidden = int(round(cin * t))
            self.use_res = stride == 1 and cin == cout
            layers: list[nn.Module] = []
            if t != 1:
                layers.append(conv_bn(cin, hidden, 1, 1, act=nn.ReLU6))
            layers += [conv_bn(hidden, hidden, 3, stride, groups=hidden, act=nn.ReLU6),
                       conv_bn(hidden, cout, 1, 1, act=None)]
            self.conv = nn.Sequential(*layers)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x + self.conv(x) if self.use_res else self.conv(x)

    class MobileNetV2(nn.Module):
        """torchvision.models.MobileNetV2 in plain torch.nn (torchvision is not needed).

        pool="mean" ends like older torchvision (``x.mean([2, 3])``), "adaptive" like the
        current one (``adaptive_avg_pool2d(x, (1, 1))`` + ``torch.flatten(x, 1)``).
        """

        def __init__(self, alpha: float = 0.35, classes: int = 10, pool: str = "mean") -> None:
            super().__init__()
            c = make_divisible(32 * alpha)
            last = make_divisible(1280 * max(1.0, alpha))
            layers: list[nn.Module] = [conv_bn(3, c, 3, 2, act=nn.ReLU6)]
            for t, ch, n, s in V2_TABLE:
                out = make_divisible(ch * alpha)
                for i in range(n):
                    layers.append(InvertedResidual(c, out, s if i == 0 else 1, t))
                    c = out
            layers.append(conv_bn(c, last, 1, 1, act=nn.ReLU6))
            self.features = nn.Sequential(*layers)
            self.pool = pool
            self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(last, classes))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = self.features(x)
            if self.pool == "mean":
                x = x.mean([2, 3])
            else:
                x = torch.flatten(nn.functional.adaptive_avg_pool2d(x, (1, 1)), 1)
            return self.classifier(x)

    def trained_looking(model: nn.Module, seed: int) -> nn.Module:
        """He-normal conv weights, random BatchNorm parameters and statistics, eval mode."""
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for m in model.modules():
                if isinstance(m, nn.Conv2d):
                    fan_in = m.in_channels // m.groups * m.kernel_size[0] * m.kernel_size[1]
                    m.weight.normal_(0.0, math.sqrt(2.0 / fan_in), generator=g)
                if isinstance(m, nn.BatchNorm2d):
                    n = m.num_features
                    m.weight.copy_(0.5 + torch.rand(n, generator=g))
                    m.bias.copy_(0.1 * torch.randn(n, generator=g))
                    m.running_mean.copy_(0.1 * torch.randn(n, generator=g))
                    m.running_var.copy_(0.5 + torch.rand(n, generator=g))
        return model.eval()

    return {"v1": MobileNetV1Cifar, "v2": MobileNetV2, "trained_looking": trained_looking,
            "torch": torch}


def export(torch: Any, model: Any, resolution: int, path: Path, dynamo: bool,
           opset: int) -> None:
    """torch.onnx.export in eval mode with a dynamic batch, weights inside the file."""
    x = torch.randn(2, 3, resolution, resolution)
    if dynamo:
        batch = torch.export.Dim("batch", min=1, max=1024)
        torch.onnx.export(model, (x,), str(path), dynamo=True, opset_version=opset,
                          external_data=False, input_names=["input"], output_names=["logits"],
                          dynamic_shapes={"x": {0: batch}})
    else:
        torch.onnx.export(model, (x,), str(path), dynamo=False, opset_version=opset,
                          input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})


def drop_stack_traces(path: Path) -> None:
    """Remove the dynamo exporter's per-node stack traces (local paths, a third of the file)."""
    model = onnx.load(str(path))
    for node in model.graph.node:
        kept = [p for p in node.metadata_props if p.key != "pkg.torch.onnx.stack_trace"]
        del node.metadata_props[:]
        node.metadata_props.extend(kept)
    onnx.save(model, str(path))


def strip_weights(path: Path) -> None:
    """Drop the data of every Conv/Gemm/MatMul weight (see the module docstring)."""
    model = onnx.load(str(path))
    weights = {n.input[1] for n in model.graph.node if n.op_type in ("Conv", "Gemm", "MatMul")}
    for init in model.graph.initializer:
        if init.name in weights:
            init.ClearField("raw_data")
            init.ClearField("float_data")
            init.doc_string = "stripped"
    onnx.save(model, str(path))


def make_torch() -> None:
    models = torch_models()
    torch = models["torch"]
    torch.manual_seed(0)
    v1 = models["trained_looking"](models["v1"](0.25), seed=1)
    for name, dynamo, opset in [("torchscript_op13", False, 13),
                                ("torchscript_op17", False, 17), ("dynamo_op18", True, 18)]:
        path = HERE / f"mobilenet_v1_cifar_a025_{name}.onnx"
        export(torch, v1, 28, path, dynamo, opset)
        if dynamo:
            drop_stack_traces(path)
        print(path.name, path.stat().st_size)
    for name, dynamo, opset, pool in [("torchscript_op13", False, 13, "adaptive"),
                                      ("torchscript_op17", False, 17, "mean"),
                                      ("dynamo_op18", True, 18, "mean")]:
        v2 = models["trained_looking"](models["v2"](0.35, 10, pool), seed=2)
        path = HERE / f"mobilenet_v2_a035_r64_{name}.onnx"
        export(torch, v2, 64, path, dynamo, opset)
        if dynamo:
            drop_stack_traces(path)
        strip_weights(path)
        print(path.name, path.stat().st_size)
    print("torch", torch.__version__, "onnx", onnx.__version__)


def make_keras() -> None:
    import keras
    import tensorflow as tf
    import tf2onnx

    model = keras.applications.MobileNet(alpha=0.25, input_shape=(128, 128, 3), weights=None,
                                         classes=10)
    rng = np.random.default_rng(3)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            n = layer.get_weights()[0].shape[0]
            layer.set_weights([rng.uniform(0.5, 1.5, n).astype("f4"),
                               rng.normal(0, 0.1, n).astype("f4"),
                               rng.normal(0, 0.1, n).astype("f4"),
                               rng.uniform(0.5, 1.5, n).astype("f4")])
    spec = (tf.TensorSpec((None, 128, 128, 3), tf.float32, name="input"),)
    path = HERE / "keras_mobilenet_a025_r128_tf2onnx_op13.onnx"
    tf2onnx.convert.from_keras(model, input_signature=spec, opset=13, output_path=str(path))
    strip_weights(path)
    print(path.name, path.stat().st_size, "tensorflow", tf.__version__, "keras",
          keras.__version__, "tf2onnx", tf2onnx.__version__, "onnx", onnx.__version__)


if __name__ == "__main__":
    {"torch": make_torch, "keras": make_keras}[sys.argv[1] if len(sys.argv) > 1 else "torch"]()
