"""Reference gradients for the experiment engine's ops, computed by PyTorch.

Each case is one ONNX node (op type, attributes, inputs) with PyTorch's
forward output and the gradients of sum(output * cotangent) with respect to
each float input. test/unit/gradients.test.ts runs the node through the tfjs
interpreter on every backend that loads and compares.

The references are computed in float64 from float32 inputs, so that they are
more exact than either side's float32 arithmetic.

Run with a Python that has torch (Debian's python3-torch):
    OMP_NUM_THREADS=2 /usr/bin/python3 scripts/gen-grad-fixtures.py
"""

import json
import math
import os

import torch
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(__file__), "..", "test", "fixtures", "gradients.json")
torch.manual_seed(0)
cases = []


def randn(*shape, scale=1.0):
    return (torch.randn(*shape) * scale).float().double()


def case(name, op, attrs, inputs, forward, grad_inputs=None, extra_outputs=None, training=False):
    """inputs: list of (name, tensor, is_int); forward(*tensors) -> output tensor."""
    tensors = []
    for _, t, is_int in inputs:
        t = t.clone()
        if not is_int and (grad_inputs is None or len(tensors) in grad_inputs):
            t.requires_grad_(True)
        tensors.append(t)
    y = forward(*tensors)
    cot = randn(*y.shape)
    (y * cot).sum().backward()
    entries = []
    for (iname, _, is_int), t in zip(inputs, tensors):
        e = {"name": iname, "shape": list(t.shape), "dtype": "int32" if is_int else "float32", "data": flat(t.detach())}
        if t.grad is not None:
            e["grad"] = flat(t.grad)
        entries.append(e)
    c = {"name": name, "op": op, "attributes": attrs, "inputs": entries, "output": {"shape": list(y.shape), "data": flat(y.detach())}, "cotangent": flat(cot), "training": training}
    if extra_outputs:
        c["extraOutputs"] = {k: {"shape": list(v.shape), "data": flat(v)} for k, v in extra_outputs(tensors).items()}
    cases.append(c)


def flat(t):
    return [float("%.9g" % v) for v in t.reshape(-1).tolist()]


def ints(name, values):
    return {"name": name, "ints": list(values)}


def i(name, value):
    return {"name": name, "i": value}


def f(name, value):
    return {"name": name, "f": value}


# --- Convolutions (NCHW, OIHW), as PyTorch's Conv2d exports them.
def conv(name, x_shape, w_shape, stride, pad, groups=1, bias=True):
    inputs = [("x", randn(*x_shape), False), ("w", randn(*w_shape, scale=0.3), False)]
    if bias:
        inputs.append(("b", randn(w_shape[0]), False))
    attrs = [ints("kernel_shape", w_shape[2:]), ints("strides", [stride, stride]), ints("pads", [pad] * 4), i("group", groups)]
    case(name, "Conv", attrs, inputs, lambda x, w, b=None: F.conv2d(x, w, b, stride=stride, padding=pad, groups=groups))


conv("conv3x3", [2, 3, 8, 8], [4, 3, 3, 3], 1, 1)
conv("conv3x3_stride2", [2, 4, 9, 9], [6, 4, 3, 3], 2, 1)
conv("conv7x7_stem", [2, 3, 16, 16], [8, 3, 7, 7], 2, 3, bias=False)
conv("conv1x1", [2, 6, 5, 5], [4, 6, 1, 1], 1, 0)
conv("conv_groups2", [2, 4, 6, 6], [6, 2, 3, 3], 1, 1, groups=2)
conv("depthwise", [2, 4, 8, 8], [4, 1, 3, 3], 1, 1, groups=4)
conv("depthwise_stride2_mult2", [2, 3, 9, 9], [6, 1, 3, 3], 2, 1, groups=3)
conv("depthwise5x5_stride2", [2, 4, 10, 10], [4, 1, 5, 5], 2, 2, groups=4, bias=False)


# --- BatchNormalization, in training mode (batch statistics; running stats moved as PyTorch does) and eval.
def batchnorm(name, training):
    x = randn(3, 4, 5, 5, scale=2.0) + 1.0
    mean, var = randn(4, scale=0.5), randn(4).abs() + 0.5
    inputs = [("x", x, False), ("scale", randn(4), False), ("bias", randn(4), False), ("mean", mean, False), ("var", var, False)]

    def forward(x, s, b, m, v):
        return F.batch_norm(x, m.detach().clone(), v.detach().clone(), s, b, training=training, momentum=0.1, eps=1e-5)

    def running(ts):
        rm, rv = ts[3].detach().clone(), ts[4].detach().clone()
        F.batch_norm(ts[0].detach(), rm, rv, None, None, training=True, momentum=0.1, eps=1e-5)
        return {"mean": rm, "var": rv}

    case(name, "BatchNormalization", [f("epsilon", 1e-5), f("momentum", 0.9)], inputs, forward, grad_inputs=[0, 1, 2], extra_outputs=running if training else None, training=training)


batchnorm("batchnorm_train", True)
batchnorm("batchnorm_eval", False)


# --- Elementwise.
def unary(name, op, fn, attrs=(), x=None):
    case(name, op, list(attrs), [("x", randn(2, 3, 4, 5) if x is None else x, False)], fn)


unary("relu", "Relu", F.relu)
unary("sigmoid", "Sigmoid", torch.sigmoid)
unary("erf", "Erf", torch.erf)
unary("sqrt", "Sqrt", torch.sqrt, x=randn(2, 3, 4).abs() + 0.1)
unary("hardsigmoid", "HardSigmoid", F.hardsigmoid, [f("alpha", 1 / 6), f("beta", 0.5)], x=randn(2, 3, 4, 5, scale=4.0))
unary("hardswish", "HardSwish", F.hardswish, x=randn(2, 3, 4, 5, scale=4.0))
unary("gelu", "Gelu", F.gelu)
unary("gelu_tanh", "Gelu", lambda x: F.gelu(x, approximate="tanh"), [{"name": "approximate", "s": "tanh"}])
unary("tanh", "Tanh", torch.tanh)
case("clip_relu6", "Clip", [], [("x", randn(2, 3, 4, 5, scale=5.0), False), ("min", torch.tensor(0.0).double(), False), ("max", torch.tensor(6.0).double(), False)], lambda x, lo, hi: torch.clamp(x, 0.0, 6.0), grad_inputs=[0])


def binary(name, op, fn, a, b, grad_inputs=None):
    case(name, op, [], [("a", a, False), ("b", b, False)], fn, grad_inputs=grad_inputs)


binary("add_broadcast", "Add", torch.add, randn(2, 3, 4), randn(4))
binary("sub_broadcast", "Sub", torch.sub, randn(2, 3, 4), randn(3, 1))
binary("mul_broadcast", "Mul", torch.mul, randn(2, 3, 4), randn(1, 3, 1))
binary("div_broadcast", "Div", torch.div, randn(2, 3, 4), randn(4).abs() + 0.5)
binary("pow_square", "Pow", torch.pow, randn(2, 3, 4), torch.tensor(2.0).double(), grad_inputs=[0])


# --- Pooling. The first max-pool case is the shape on which wasm's own MaxPoolGrad is wrong.
def pool(name, op, x, k, s, p, fn):
    case(name, op, [ints("kernel_shape", [k, k]), ints("strides", [s, s]), ints("pads", [p] * 4)], [("x", x, False)], fn)


pool("maxpool2x2", "MaxPool", randn(2, 8, 32, 32), 2, 2, 0, lambda x: F.max_pool2d(x, 2, 2))
pool("maxpool3x3_stride2_pad1", "MaxPool", randn(2, 4, 9, 9), 3, 2, 1, lambda x: F.max_pool2d(x, 3, 2, 1))
# Ties (ReLU zeros, coarse values): the gradient goes to the window's first maximum, as PyTorch picks it.
pool("maxpool_ties", "MaxPool", F.relu(torch.round(randn(2, 3, 8, 8) * 2) / 2), 2, 2, 0, lambda x: F.max_pool2d(x, 2, 2))
pool("avgpool2x2", "AveragePool", randn(2, 3, 8, 8), 2, 2, 0, lambda x: F.avg_pool2d(x, 2, 2))
case("global_avgpool", "GlobalAveragePool", [], [("x", randn(2, 5, 4, 4), False)], lambda x: x.mean(dim=(2, 3), keepdim=True))


# --- Shapes and data movement.
case("flatten", "Flatten", [i("axis", 1)], [("x", randn(2, 3, 2, 2), False)], lambda x: x.flatten(1))
case("reshape", "Reshape", [], [("x", randn(2, 3, 4), False), ("shape", torch.tensor([2, -1, 2]), True)], lambda x, s: x.reshape(2, -1, 2))
case("transpose", "Transpose", [ints("perm", [0, 2, 1, 3])], [("x", randn(2, 3, 4, 5), False)], lambda x: x.permute(0, 2, 1, 3))
case("concat", "Concat", [i("axis", 1)], [("a", randn(2, 3, 4), False), ("b", randn(2, 2, 4), False)], lambda a, b: torch.cat([a, b], 1))
case("slice", "Slice", [], [("x", randn(2, 6, 5), False), ("starts", torch.tensor([1, 0]), True), ("ends", torch.tensor([4, -1]), True), ("axes", torch.tensor([1, 2]), True)], lambda x, *_: x[:, 1:4, 0:-1])
case("slice_step2", "Slice", [], [("x", randn(2, 7, 3), False), ("starts", torch.tensor([1]), True), ("ends", torch.tensor([7]), True), ("axes", torch.tensor([1]), True), ("steps", torch.tensor([2]), True)], lambda x, *_: x[:, 1:7:2])
# An embedding lookup with repeated indices: the rows' gradients add up (UnsortedSegmentSum).
case("gather_embedding", "Gather", [i("axis", 0)], [("table", randn(10, 4), False), ("idx", torch.tensor([[1, 3, 1], [9, 0, 1]]), True)], lambda t, ix: t[ix])
case("gather_axis1_negative", "Gather", [i("axis", 1)], [("x", randn(2, 5, 3), False), ("idx", torch.tensor(-1), True)], lambda x, ix: x[:, -1])
case("squeeze", "Squeeze", [], [("x", randn(2, 1, 3, 1), False), ("axes", torch.tensor([1, 3]), True)], lambda x, a: x.squeeze(3).squeeze(1))
case("unsqueeze", "Unsqueeze", [], [("x", randn(2, 3), False), ("axes", torch.tensor([0, 3]), True)], lambda x, a: x.unsqueeze(0).unsqueeze(3))
case("expand", "Expand", [], [("x", randn(1, 3, 1), False), ("shape", torch.tensor([2, 3, 4]), True)], lambda x, s: x.expand(2, 3, 4))


# --- Linear algebra, normalisation, reductions.
case("gemm_transB", "Gemm", [f("alpha", 1.0), f("beta", 1.0), i("transB", 1)], [("a", randn(4, 6), False), ("b", randn(3, 6), False), ("c", randn(3), False)], lambda a, b, c: a @ b.t() + c)
case("matmul_3d", "MatMul", [], [("a", randn(2, 4, 6), False), ("b", randn(6, 3), False)], torch.matmul)
case("softmax_last", "Softmax", [i("axis", -1)], [("x", randn(2, 3, 5), False)], lambda x: torch.softmax(x, -1))
case("softmax_axis1", "Softmax", [i("axis", 1)], [("x", randn(2, 4, 3), False)], lambda x: torch.softmax(x, 1))
case("reducemean", "ReduceMean", [ints("axes", [-1]), i("keepdims", 1)], [("x", randn(2, 3, 5), False)], lambda x: x.mean(-1, keepdim=True))
case("layernorm", "LayerNormalization", [i("axis", -1), f("epsilon", 1e-5)], [("x", randn(2, 3, 8, scale=2.0), False), ("scale", randn(8), False), ("bias", randn(8), False)], lambda x, s, b: F.layer_norm(x, (8,), s, b, 1e-5))

# Written last so that the cases above keep their random data.
# A 1x1 convolution padded by 1: the padding is wider than the filter, so the input gradient takes
# the general form (dy spread out and padded, one convolution) rather than the stride phases.
conv("conv1x1_pad1", [2, 3, 5, 5], [4, 3, 1, 1], 1, 1)

os.makedirs(os.path.dirname(OUT), exist_ok=True)
with open(OUT, "w") as fh:
    json.dump({"generator": "scripts/gen-grad-fixtures.py", "torch": torch.__version__, "cases": cases}, fh, separators=(",", ":"))
    fh.write("\n")
print(f"{len(cases)} cases, {os.path.getsize(OUT) // 1024} kB -> {os.path.relpath(OUT)}")
