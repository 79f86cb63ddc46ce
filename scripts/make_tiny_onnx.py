#!/usr/bin/env python3
"""Write fixtures/tiny/tiny.onnx: the smallest real model, for sandbox tests and benches.

y = Relu(x + 1) with x, y f32 [1, 4]. It is what the `probe` test handler loads as `tiny`
to measure one wasi-nn round trip without a model's compute time. Deterministic output
bytes (no timestamps): re-running the script gives the same file and sha256.

Usage: python3 scripts/make_tiny_onnx.py [OUT]   (needs `pip install onnx`)
"""

import hashlib
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent / "fixtures/tiny/tiny.onnx"
one = numpy_helper.from_array(np.ones((1, 4), dtype=np.float32), name="one")
graph = helper.make_graph(
    [helper.make_node("Add", ["x", "one"], ["shifted"]), helper.make_node("Relu", ["shifted"], ["y"])],
    "tiny",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
    initializer=[one],
)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="wasmnn")
model.ir_version = 8
onnx.checker.check_model(model)
data = model.SerializeToString()
out.parent.mkdir(parents=True, exist_ok=True)
out.write_bytes(data)
print(f"{out}: {len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()}")
