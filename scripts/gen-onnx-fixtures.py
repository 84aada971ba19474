"""Generates the ONNX test fixtures in test/fixtures/onnx/ with real PyTorch
and the Python onnx package, and beside each `NAME.onnx` a `NAME.expected.json`
that Python's onnx reads out of it (initializers, nodes, inputs and outputs,
opsets): the reader's tests compare against those.

    OMP_NUM_THREADS=2 /usr/bin/python3 scripts/gen-onnx-fixtures.py

Needs Debian's python3-torch and python3-onnx (torch 1.13, onnx 1.12).
The fixtures:
  tiny_cnn.{eval,preserve,training}.onnx      conv/BN/ReLU/pool/linear, the three TrainingModes
  tiny_transformer.{eval,preserve,training}.onnx  embedding + TransformerEncoderLayer + head
  tiny_cnn.external.onnx + tiny_cnn.external.data  weights in an external file
  tiny_cnn.shapes.onnx                        the PRESERVE export after onnx's shape inference (value_info)
  branches.onnx                               an If with a subgraph in each branch (onnx.helper)
"""
import json
import os
import sys

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "fixtures", "onnx")


from fixture_models import TinyCNN, TinyTransformer  # noqa: E402  (beside this script)


def export(model, example, name, mode):
    path = os.path.join(OUT, name)
    if mode == torch.onnx.TrainingMode.TRAINING:
        model.train()
    else:
        model.eval()
    torch.onnx.export(
        model, example, path, training=mode, opset_version=14, do_constant_folding=mode == torch.onnx.TrainingMode.EVAL,
        input_names=["input"], output_names=["logits"], dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
    )
    return path


def dims(t):
    return [d.dim_value if d.HasField("dim_value") else d.dim_param for d in t.type.tensor_type.shape.dim]


def describe_graph(g):
    return {
        "name": g.name,
        "initializers": [
            {
                "name": t.name,
                "dims": list(t.dims),
                "dataType": t.data_type,
                "external": t.data_location == TensorProto.EXTERNAL,
                "externalData": {e.key: e.value for e in t.external_data},
                "rawBytes": len(t.raw_data),
            }
            for t in g.initializer
        ],
        "nodes": [
            {
                "name": n.name,
                "opType": n.op_type,
                "domain": n.domain,
                "inputs": list(n.input),
                "outputs": list(n.output),
                "attributes": sorted(a.name for a in n.attribute),
                "subgraphs": [describe_graph(a.g) for a in n.attribute if a.type == onnx.AttributeProto.GRAPH],
            }
            for n in g.node
        ],
        "inputs": [{"name": v.name, "elemType": v.type.tensor_type.elem_type, "dims": dims(v)} for v in g.input],
        "outputs": [{"name": v.name, "elemType": v.type.tensor_type.elem_type, "dims": dims(v)} for v in g.output],
        "valueInfo": [{"name": v.name, "dims": dims(v)} for v in g.value_info],
    }


def describe(path):
    m = onnx.load(path, load_external_data=False)
    return {
        "irVersion": m.ir_version,
        "producerName": m.producer_name,
        "producerVersion": m.producer_version,
        "opsets": [{"domain": o.domain, "version": o.version} for o in m.opset_import],
        "graph": describe_graph(m.graph),
    }


def write_expected(path):
    with open(path[: -len(".onnx")] + ".expected.json", "w") as f:
        json.dump(describe(path), f, indent=1, sort_keys=True)
        f.write("\n")


def branches():
    """An If whose branches are subgraphs: y = x + 1 if cond else x * 2."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])
    cond = helper.make_tensor_value_info("cond", TensorProto.BOOL, [])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])
    one = numpy_helper.from_array(np.array([1.0, 1.0], dtype=np.float32), "one")
    two = numpy_helper.from_array(np.array([2.0, 2.0], dtype=np.float32), "two")
    then_out = helper.make_tensor_value_info("then_y", TensorProto.FLOAT, [2])
    else_out = helper.make_tensor_value_info("else_y", TensorProto.FLOAT, [2])
    then_g = helper.make_graph([helper.make_node("Add", ["x", "one"], ["then_y"], name="add")], "then_branch", [], [then_out], [one])
    else_g = helper.make_graph([helper.make_node("Mul", ["x", "two"], ["else_y"], name="mul")], "else_branch", [], [else_out], [two])
    node = helper.make_node("If", ["cond"], ["y"], name="choose", then_branch=then_g, else_branch=else_g)
    g = helper.make_graph([node], "branches", [cond, x], [y])
    m = helper.make_model(g, producer_name="freezelens-fixtures", opset_imports=[helper.make_opsetid("", 14)])
    onnx.checker.check_model(m)
    path = os.path.join(OUT, "branches.onnx")
    onnx.save(m, path)
    return path


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)
    modes = {"eval": torch.onnx.TrainingMode.EVAL, "preserve": torch.onnx.TrainingMode.PRESERVE, "training": torch.onnx.TrainingMode.TRAINING}
    paths = []
    for tag, mode in modes.items():
        paths.append(export(TinyCNN(), torch.randn(1, 3, 16, 16), f"tiny_cnn.{tag}.onnx", mode))
        paths.append(export(TinyTransformer(), torch.randint(0, 50, (1, 6)), f"tiny_transformer.{tag}.onnx", mode))
    # Weights in an external file, every tensor (size_threshold=0), one file.
    src = onnx.load(os.path.join(OUT, "tiny_cnn.preserve.onnx"))
    ext = os.path.join(OUT, "tiny_cnn.external.onnx")
    # onnx appends to an existing data file: start from none, so a rerun writes the same bytes.
    if os.path.exists(os.path.join(OUT, "tiny_cnn.external.data")):
        os.remove(os.path.join(OUT, "tiny_cnn.external.data"))
    onnx.save_model(src, ext, save_as_external_data=True, all_tensors_to_one_file=True, location="tiny_cnn.external.data", size_threshold=0)
    paths.append(ext)
    # Shapes of every intermediate value, as tools that run shape inference leave them.
    shapes = os.path.join(OUT, "tiny_cnn.shapes.onnx")
    onnx.save(onnx.shape_inference.infer_shapes(onnx.load(os.path.join(OUT, "tiny_cnn.preserve.onnx"))), shapes)
    paths.append(shapes)
    paths.append(branches())
    for p in paths:
        write_expected(p)
        print(f"{os.path.basename(p)}: {os.path.getsize(p)} bytes")


if __name__ == "__main__":
    sys.exit(main())
