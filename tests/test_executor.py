"""The reference executor: kernels against naive loops, integer mode, batching, tiling."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accelsim.errors import ConfigError, GraphError
from accelsim.ir.builder import NetworkBuilder, resolve_padding
from accelsim.ir.zoo import mobilenet_v1_cifar, mobilenet_v3_small
from accelsim.reference import kernels
from accelsim.reference.executor import Session, run, run_layer
from accelsim.reference.quant import Precision
from accelsim.reference.weights import BN_KEYS, params_for, random_params

RNG = np.random.default_rng(1234)


# ---- naive references (loops are fine in tests) ------------------------------------------
def naive_conv(x, w, stride, padding, groups):
    """Direct definition: out[b, i, j, o] = sum over window and the group's channels."""
    top, bottom, left, right = padding
    xp = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
    kh, kw, cin_g, cout = w.shape
    cout_g = cout // groups
    oh = (xp.shape[1] - kh) // stride[0] + 1
    ow = (xp.shape[2] - kw) // stride[1] + 1
    out = np.zeros((x.shape[0], oh, ow, cout))
    for b in range(x.shape[0]):
        for i in range(oh):
            for j in range(ow):
                for o in range(cout):
                    g = o // cout_g
                    patch = xp[b, i * stride[0] : i * stride[0] + kh,
                               j * stride[1] : j * stride[1] + kw, g * cin_g : (g + 1) * cin_g]
                    out[b, i, j, o] = np.sum(patch * w[:, :, :, o])
    return out


def naive_pool(x, kernel, stride, padding, kind):
    """Pool over real (non-padding) elements only; average divides by their count."""
    top, _, left, _ = padding
    b_, h, w, c = x.shape
    oh = (h + padding[0] + padding[1] - kernel[0]) // stride[0] + 1
    ow = (w + padding[2] + padding[3] - kernel[1]) // stride[1] + 1
    out = np.zeros((b_, oh, ow, c))
    for i in range(oh):
        for j in range(ow):
            r0, c0 = i * stride[0] - top, j * stride[1] - left
            rows = slice(max(r0, 0), min(r0 + kernel[0], h))
            cols = slice(max(c0, 0), min(c0 + kernel[1], w))
            window = x[:, rows, cols, :]
            out[:, i, j, :] = window.mean(axis=(1, 2)) if kind == "avg" else window.max((1, 2))
    return out


def randn(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


# ---- kernels -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("size", "kernel", "stride", "cin", "cout", "groups"),
    [
        (7, 3, 2, 3, 4, 1),  # odd size, stride 2, TF same padding (extra pad at the end)
        (6, 3, 1, 4, 6, 2),  # grouped
        (5, 1, 1, 5, 3, 1),  # pointwise
        (7, 1, 2, 4, 2, 1),  # strided 1x1
        (7, 3, 2, 4, 4, 4),  # depthwise, stride 2
        (6, 3, 1, 3, 3, 3),  # depthwise, stride 1
        (5, 3, 1, 2, 6, 2),  # depthwise with channel multiplier 3
    ],
)
def test_conv2d_matches_naive_loops(size, kernel, stride, cin, cout, groups):
    x = randn(2, size, size, cin)
    w = randn(kernel, kernel, cin // groups, cout)
    padding = resolve_padding("same", (size, size), (kernel, kernel), (stride, stride), "t")
    got = kernels.conv2d(x, w, (stride, stride), padding, groups)
    want = naive_conv(x, w, (stride, stride), padding, groups)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_same_padding_stride_2_odd_size_pads_at_the_end():
    # 7 rows, 3x3, stride 2: out = ceil(7/2) = 4, total pad = (4-1)*2 + 3 - 7 = 2 -> (1, 1);
    # 8 rows: out 4, total pad = 6 + 3 - 8 = 1 -> (0, 1), the extra row at the bottom.
    assert resolve_padding("same", (7, 8), (3, 3), (2, 2), "t") == (1, 1, 0, 1)
    x = randn(1, 7, 8, 2)
    w = randn(3, 3, 2, 3)
    got = kernels.conv2d(x, w, (2, 2), (1, 1, 0, 1))
    np.testing.assert_allclose(got, naive_conv(x, w, (2, 2), (1, 1, 0, 1), 1), rtol=1e-5,
                               atol=1e-5)


@pytest.mark.parametrize("kind", ["avg", "max"])
@pytest.mark.parametrize(("kernel", "stride", "padding"),
                         [((3, 3), (2, 2), (1, 1, 1, 1)), ((2, 3), (1, 2), (0, 1, 1, 0)),
                          ((7, 7), (7, 7), (0, 0, 0, 0))])
def test_pools_match_naive_loops(kind, kernel, stride, padding):
    x = randn(2, 7, 7, 3)
    fn = kernels.avg_pool if kind == "avg" else kernels.max_pool
    got = fn(x, kernel, stride, padding)
    np.testing.assert_allclose(got, naive_pool(x, kernel, stride, padding, kind), rtol=1e-5,
                               atol=1e-6)


def test_avg_pool_corner_divides_by_real_elements_only():
    # all-ones input: every window's average is 1 whatever padding it overlaps
    x = np.ones((1, 4, 4, 1), np.float32)
    np.testing.assert_array_equal(kernels.avg_pool(x, (3, 3), (1, 1), (1, 1, 1, 1)), 1.0)


def test_global_avg_pool_dense_flatten_softmax_batch_norm():
    x = randn(2, 3, 2, 4)
    np.testing.assert_allclose(kernels.global_avg_pool(x)[:, 0, 0], x.mean(axis=(1, 2)),
                               rtol=1e-6)
    w = randn(3 * 2 * 4, 5)
    want = np.zeros((2, 5))
    for b in range(2):
        for h in range(3):
            for col in range(2):
                for c in range(4):
                    want[b] += x[b, h, col, c] * w[(h * 2 + col) * 4 + c]
    np.testing.assert_allclose(kernels.dense(x, w), want, rtol=1e-5, atol=1e-5)
    assert kernels.flatten(x)[1, 5] == x[1, 0, 1, 1]  # (h, w, c) = (0, 1, 1) -> 0*8 + 1*4 + 1
    big = np.array([[1000.0, 1000.0, -1000.0]])
    np.testing.assert_allclose(kernels.softmax(big), [[0.5, 0.5, 0.0]])
    scale, shift, mean, var = (np.array([2.0]), np.array([1.0]), np.array([3.0]),
                               np.array([3.999]))
    # 2 * (5 - 3) / sqrt(3.999 + 0.001) + 1 = 2 * 2 / 2 + 1 = 3
    np.testing.assert_allclose(
        kernels.batch_norm(np.array([[5.0]]), scale, shift, mean, var, 1e-3), [[3.0]])


# ---- weights -----------------------------------------------------------------------------
def test_random_params_layout_and_he_scale():
    net = mobilenet_v1_cifar()
    params = random_params(net, seed=3)
    pw = params["conv_pw_13"]["weight"]
    assert pw.shape == (1, 1, 256, 256) and pw.dtype == np.float32
    assert params["conv_dw_1"]["weight"].shape == (3, 3, 1, 32)
    assert params["fc"]["weight"].shape == (256, 10) and params["fc"]["bias"].shape == (10,)
    assert pw.std() == pytest.approx(math.sqrt(2 / 256), rel=0.05)
    for key in BN_KEYS:
        assert params["conv1"][key].shape == (32,)
    assert params["conv1"]["bn_var"].min() > 0
    assert not np.allclose(params["conv1"]["bn_scale"], 1.0)
    assert "avg_pool" not in params


def test_params_for_prefers_complete_network_params_and_rejects_partial_ones():
    net = mobilenet_v1_cifar()
    own = random_params(net, seed=9)
    net.params = own
    assert params_for(net) is own
    net.params = {"conv1": own["conv1"]}
    with pytest.raises(GraphError, match="'conv_dw_1' has no 'weight'"):
        params_for(net)


# ---- executor ------------------------------------------------------------------------------
def tiny_net():
    b = NetworkBuilder("tiny")
    x = b.input("input", (9, 9, 4))
    x = b.conv2d("c1", x, 8, 3, 2, use_bias=True, batch_norm=True, activation="relu")
    y = b.depthwise_conv2d("dw", x, 3, 1, batch_norm=True, activation="relu6")
    y = b.conv2d("pw", y, 8, 1, use_bias=True)
    x = b.add("add", [x, y], activation="relu")
    x = b.pool("mp", x, "max_pool", 3, 2, "same")
    x = b.pool("ap", x, "avg_pool", 2, 1, "same")
    x = b.batch_norm("bn", x)
    x = b.global_avg_pool("gap", x)
    x = b.flatten("flat", x)
    x = b.dense("fc", x, 5)
    b.softmax("softmax", x)
    return b.build()


def test_run_matches_a_hand_chained_reference():
    net = tiny_net()
    params = random_params(net, seed=5)
    x = randn(2, 9, 9, 4)
    result = run(net, x, params)
    eps = net.bn_epsilon

    def bn(y, p):
        return (y - p["bn_mean"]) * p["bn_scale"] / np.sqrt(p["bn_var"] + eps) + p["bn_shift"]

    p = params
    c1 = np.maximum(bn(naive_conv(x, p["c1"]["weight"], (2, 2), (1, 1, 1, 1), 1)
                       + p["c1"]["bias"], p["c1"]), 0)
    dw = np.clip(bn(naive_conv(c1, p["dw"]["weight"], (1, 1), (1, 1, 1, 1), 8), p["dw"]), 0, 6)
    pw = naive_conv(dw, p["pw"]["weight"], (1, 1), (0, 0, 0, 0), 1) + p["pw"]["bias"]
    added = np.maximum(c1 + pw, 0)
    mp = naive_pool(added, (3, 3), (2, 2), net.layer("mp").padding, "max")
    ap = naive_pool(mp, (2, 2), (1, 1), net.layer("ap").padding, "avg")
    logits = bn(ap, p["bn"]).mean(axis=(1, 2)) @ p["fc"]["weight"] + p["fc"]["bias"]
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(result.values["add"], added, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(result.outputs["softmax"], probs, rtol=1e-4, atol=1e-6)
    assert list(result.outputs) == ["softmax"] and set(result.values) == set(net.order)


def test_batch_of_two_equals_two_single_runs():
    net = mobilenet_v1_cifar()
    x = randn(2, 28, 28, 3)
    both = run(net, x, seed=2).outputs["softmax"]
    one = run(net, x[:1], seed=2).outputs["softmax"]
    two = run(net, x[1:], seed=2).outputs["softmax"]
    np.testing.assert_allclose(both, np.concatenate([one, two]), rtol=1e-5, atol=1e-7)


def test_run_layer_on_tiles_with_padding_override_equals_whole_layer():
    net = tiny_net()
    params = random_params(net, seed=5)
    x = randn(1, 9, 9, 4)
    layer = net.layer("c1")  # 3x3, stride 2, same: padding (1, 1, 1, 1), 5 output rows
    whole = run_layer(layer, [x], params["c1"]).values
    # output rows 0-1 read padded rows -1..3 (input rows 0..3 plus the top pad);
    # output rows 2-4 read input rows 3..9 (rows 3..8 plus the bottom pad).
    top = run_layer(layer, [x[:, 0:4]], params["c1"], padding=(1, 0, 1, 1)).values
    bottom = run_layer(layer, [x[:, 3:9]], params["c1"], padding=(0, 1, 1, 1)).values
    np.testing.assert_allclose(np.concatenate([top, bottom], axis=1), whole, rtol=1e-6)

    result = run(net, x, params, mode="int")
    state, q_in = result.quant["c1"], result.int_values["input"]
    q_top = run_layer(layer, [q_in[:, 0:4]], padding=(1, 0, 1, 1), quant_state=state)
    q_bottom = run_layer(layer, [q_in[:, 3:9]], padding=(0, 1, 1, 1), quant_state=state)
    np.testing.assert_array_equal(np.concatenate([q_top.values, q_bottom.values], axis=1),
                                  result.int_values["c1"])
    assert q_top.saturations + q_bottom.saturations == result.saturations["c1"]


def overflow_net():
    b = NetworkBuilder("overflow")
    x = b.input("input", (4, 4, 8))
    x = b.conv2d("big", x, 2, 3)
    b.depthwise_conv2d("small", x, 1)
    return b.build()


def test_int_mode_reports_accumulator_overflow_per_layer():
    net = overflow_net()
    params = {"big": {"weight": np.full((3, 3, 8, 2), 0.5, np.float32)},
              "small": {"weight": np.full((1, 1, 1, 2), 0.25, np.float32)}}
    x = np.ones((2, 4, 4, 8), np.float32)
    # Input 1.0 and weights 0.5 are each their tensor's max-abs, so both quantise to 127.
    # "big": acc = 127 * 127 * (taps * 8) with at least 4 taps (a corner) = 516,128 >
    # 2**15 - 1, so all 2 * 4 * 4 * 2 = 64 outputs overflow a 16-bit accumulator.
    # "small": acc = 127 * 127 * 1 = 16,129 fits: no overflow.
    result = run(net, x, params, mode="int", precision=Precision(8, 8, 16))
    assert result.overflows == {"big": 64, "small": 0}
    # The exact value is kept, not wrapped: the dequantised output still matches float.
    reference = run(net, x, params).values["small"]
    np.testing.assert_allclose(result.values["small"], reference, rtol=0.02)
    wide = run(net, x, params, mode="int", precision=Precision(8, 8, 32))
    assert wide.overflows == {"big": 0, "small": 0}


def test_int_single_conv_error_within_quantisation_bound():
    b = NetworkBuilder("one")
    x = b.input("input", (6, 6, 16))
    b.conv2d("c", x, 8, 3, use_bias=True)
    net = b.build()
    params = random_params(net, seed=4)
    x = randn(2, 6, 6, 16)
    exact = run(net, x, params).values["c"]
    result = run(net, x, params, mode="int")
    s_in = np.abs(x).max() / 127
    w = params["c"]["weight"]
    s_w, s_out = np.abs(w).max() / 127, np.abs(exact).max() / 127
    # |x w - qx qw| <= sum(|w|) s_in/2 + sum(|x|) s_w/2 + K s_in s_w / 4, plus half an
    # output step and half an accumulator step for the bias.
    k = 3 * 3 * 16
    bound = (np.abs(w).sum(axis=(0, 1, 2)).max() * s_in / 2 + k * np.abs(x).max() * s_w / 2
             + k * s_in * s_w / 4 + s_out / 2 + s_in * s_w / 2)
    assert np.abs(result.values["c"] - exact).max() <= bound


def test_int_network_error_shrinks_with_bits():
    net = mobilenet_v1_cifar()
    x = randn(4, 28, 28, 3)
    exact = run(net, x, seed=1).values["fc"]

    def relative_rms(bits):
        got = run(net, x, mode="int", precision=Precision(bits, bits, 48), seed=1).values["fc"]
        return float(np.sqrt(np.mean((got - exact) ** 2) / np.mean(exact**2)))

    err8, err16 = relative_rms(8), relative_rms(16)
    # 28 requantised layers of ~1-2% RMS error each at 8 bits add up to a few percent;
    # each extra bit halves the step, so 16 bits should be ~256x better (allow 50x).
    assert err8 < 0.15
    assert err16 < err8 / 50


def test_bad_inputs_raise_clear_errors():
    net = mobilenet_v1_cifar()
    with pytest.raises(GraphError, match=r"\(batch, 28, 28, 3\) array, got shape \(28, 28, 3\)"):
        run(net, randn(28, 28, 3))
    with pytest.raises(ConfigError, match="mode must be one of float32, int"):
        run(net, randn(1, 28, 28, 3), mode="int8")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="precision.weight_bits"):
        Precision(8, 1, 32)


def test_grouped_pointwise_conv_keeps_its_groups() -> None:
    # 1x1 conv, 8 input channels in 4 groups of 2, one output channel per group: output g
    # is input channels 2g and 2g+1 dotted with that group's two weights.
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1, 3, 3, 8)).astype(np.float32)
    w = rng.standard_normal((1, 1, 2, 4)).astype(np.float32)
    expected = np.stack([x[..., 2 * g:2 * g + 2] @ w[0, 0, :, g] for g in range(4)], axis=-1)
    np.testing.assert_allclose(kernels.conv2d(x, w, (1, 1), (0, 0, 0, 0), 4), expected,
                               rtol=1e-5, atol=1e-6)


# ---- prepared sessions against a fresh computation ----------------------------------------
def fresh_float(net, params, x):
    """Every layer by `run_layer` on the raw parameters (batch-norm folded on each call)."""
    values = {}
    for layer in net.layers():
        xs = [x] if layer.op == "input" else [values[i] for i in layer.inputs]
        values[layer.name] = run_layer(layer, xs, params.get(layer.name),
                                       bn_epsilon=net.bn_epsilon).values
    return values


def fresh_int(net, quant, x):
    """Every layer by `run_layer` on int64 tensors with the given calibrated states."""
    ints, saturations = {}, {}
    for layer in net.layers():
        xs = [x] if layer.op == "input" else [ints[i] for i in layer.inputs]
        out = run_layer(layer, xs, quant_state=quant[layer.name])
        ints[layer.name], saturations[layer.name] = out.values, out.saturations
    return ints, saturations


NETWORKS = {"tiny": tiny_net, "v1_cifar": lambda: mobilenet_v1_cifar(0.25),
            "v3_small": lambda: mobilenet_v3_small(0.25, 32)}


@settings(max_examples=6, deadline=None)
@given(name=st.sampled_from(sorted(NETWORKS)), seed=st.integers(0, 2**16),
       batch=st.integers(1, 2), bits=st.sampled_from([(8, 8, 32), (8, 8, 16), (12, 10, 48)]))
def test_session_reused_on_new_inputs_equals_a_fresh_computation(name, seed, batch, bits):
    net = NETWORKS[name]()
    params = random_params(net, seed)
    rng = np.random.default_rng(seed)
    shape = (batch, *net.layer(net.inputs[0]).output_shape)
    calibration, *inputs = (rng.standard_normal(shape).astype(np.float32) for _ in range(3))
    float_session = Session(net, params)
    int_session = Session(net, params, mode="int", precision=Precision(*bits),
                          calibration=calibration)
    # A fresh calibration (new state objects, nothing shared with the session).
    quant = run(net, calibration, params, mode="int", precision=Precision(*bits)).quant
    for x in [*inputs, calibration, inputs[0]]:  # reuse, and order must not matter
        want = fresh_float(net, params, x)
        got = float_session.run(x)
        assert set(got.values) == set(want)
        for layer, value in want.items():
            np.testing.assert_array_equal(got.values[layer], value, err_msg=layer)
        lean = float_session.run(x, every_layer=False)
        assert set(lean.values) == set(net.outputs)
        for out in net.outputs:
            np.testing.assert_array_equal(lean.outputs[out], want[out])

        ints, saturations = fresh_int(net, quant, x)
        got = int_session.run(x)
        assert got.saturations == saturations
        for layer, value in ints.items():
            assert got.int_values[layer].dtype == np.int64
            np.testing.assert_array_equal(got.int_values[layer], value, err_msg=layer)
            # dequantised: the integers times the layer's scale, rounded once to float32
            np.testing.assert_array_equal(
                got.values[layer], (value * quant[layer].out_scale).astype(np.float32))
        lean = int_session.run(x, every_layer=False)
        for out in net.outputs:
            np.testing.assert_array_equal(lean.int_values[out], ints[out])


def test_integer_session_needs_a_calibration_batch():
    with pytest.raises(ConfigError, match="needs a calibration input batch"):
        Session(tiny_net(), mode="int")


def test_float64_session_keeps_what_float32_rounds_away():
    # dense of x = (1e8, 3) with weights (1, 1), no bias: exactly 100,000,003. float32 has
    # a spacing of 8 between 2**26 and 2**27, so it holds 1e8 exactly but rounds the sum
    # back to 1e8; float64 holds it exactly.
    b = NetworkBuilder("spacing")
    b.dense("fc", b.input("x", (2,)), 1, use_bias=False)
    net = b.build()
    params = {"fc": {"weight": np.ones((2, 1), dtype=np.float32)}}
    x = np.array([[1e8, 3.0]])
    lean = Session(net, params).run(x).outputs["fc"]
    exact = Session(net, params, float_dtype=np.float64).run(x).outputs["fc"]
    assert lean.dtype == np.float32 and exact.dtype == np.float64
    assert exact[0, 0] == 100_000_003.0 and lean[0, 0] == 100_000_000.0


def test_float64_session_agrees_with_float32_on_a_network():
    net = tiny_net()
    x = np.random.default_rng(3).standard_normal((2, 9, 9, 4)).astype(np.float32)
    lean = Session(net, seed=1).run(x).outputs["softmax"]
    exact = Session(net, seed=1, float_dtype=np.float64).run(x).outputs["softmax"]
    np.testing.assert_allclose(lean, exact, rtol=1e-5, atol=1e-7)
    with pytest.raises(ConfigError, match="calibrates in float32"):
        Session(net, mode="int", calibration=x, float_dtype=np.float64)


@pytest.mark.parametrize(("features", "dtype"), [(1040, np.float32), (1041, np.float64)])
def test_int_dense_accumulates_in_float32_only_while_exact(features, dtype):
    # 8-bit: |q_in * q_w| <= 127 * 127 = 16,129; 1040 products sum to at most 16,774,160,
    # within 2**24 = 16,777,216 (every integer float32 holds exactly); 1041 products can
    # reach 16,790,289, beyond it, so that layer accumulates in float64.
    b = NetworkBuilder("wide")
    x = b.input("input", (1, 1, features))
    b.dense("fc", b.flatten("flat", x), 3, use_bias=False)
    net = b.build()
    rng = np.random.default_rng(features)
    weight = rng.choice([-1.0, 1.0], (features, 3)).astype(np.float32)
    weight[:, 0] = 1.0  # output 0: every product is +127 * 127, the extreme sum
    params = {"fc": {"weight": weight}}
    x = np.ones((2, 1, 1, features), np.float32)
    x[1] = rng.choice([-1.0, 1.0], features)
    result = run(net, x, params, mode="int")
    state = result.quant["fc"]
    assert state.weight.dtype == dtype
    # max-abs of input and weight are 1.0: both quantise to exactly +-127
    q_in = result.int_values["flat"]
    np.testing.assert_array_equal(np.abs(q_in), 127)
    exact = q_in @ (weight.astype(np.int64) * 127)  # int64 arithmetic, no rounding
    assert exact[0, 0] == 127 * 127 * features
    scale = state.in_scales[0] * state.weight_scale / state.out_scale
    want = np.clip(np.rint(exact * scale), -127, 127).astype(np.int64)
    np.testing.assert_array_equal(result.int_values["fc"], want)
