"""Tiny ONNX models built with onnx.helper for tests (no torch needed)."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}


def recurrent_node_inits(op: str, prefix: str, inputs: int, hidden: int, rng: np.random.Generator):
    """Random W, R, B initializers for one forward ONNX recurrent node."""
    g = GATES[op]
    scale = 1.0 / np.sqrt(hidden)
    w = rng.uniform(-scale, scale, (1, g * hidden, inputs)).astype(np.float32)
    r = rng.uniform(-scale, scale, (1, g * hidden, hidden)).astype(np.float32)
    b = rng.uniform(-scale, scale, (1, 2 * g * hidden)).astype(np.float32)
    return [numpy_helper.from_array(a, f"{prefix}_{n}") for a, n in ((w, "W"), (r, "R"), (b, "B"))]


def stacked_lstm(layers: int = 2, features: int = 4, hidden: int = 8, seed: int = 0) -> onnx.ModelProto:
    """A batch-first stacked LSTM ``x[batch, time, features] -> y[batch, time, hidden]``.

    One native time-major LSTM node per layer between Transposes (as torch emits it; onnxruntime's
    CPU kernels refuse ``layout=1``), symbolic batch/time.
    """
    rng = np.random.default_rng(seed)
    inits = [numpy_helper.from_array(np.array([1], dtype=np.int64), "axis1")]
    nodes = [helper.make_node("Transpose", ["x"], ["x_tm"], name="to_time_major", perm=[1, 0, 2])]
    prev = "x_tm"
    for layer in range(layers):
        w, r, b = recurrent_node_inits("LSTM", f"l{layer}", features if layer == 0 else hidden, hidden, rng)
        inits += [w, r, b]
        nodes.append(
            helper.make_node(
                "LSTM",
                [prev, w.name, r.name, b.name],
                [f"y{layer}"],
                name=f"lstm_{layer}",
                hidden_size=hidden,
            )
        )
        nodes.append(
            helper.make_node("Squeeze", [f"y{layer}", "axis1"], [f"s{layer}"], name=f"squeeze_{layer}")
        )
        prev = f"s{layer}"
    nodes.append(helper.make_node("Transpose", [prev], ["y"], name="to_batch_first", perm=[1, 0, 2]))
    graph = helper.make_graph(
        nodes,
        "stacked_lstm",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "time", features])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", "time", hidden])],
        inits,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="edgernn-tests"
    )
    onnx.checker.check_model(model, full_check=True)
    return model


def lstm_in_if(features: int = 3, hidden: int = 5, seed: int = 1) -> onnx.ModelProto:
    """An ``If`` whose then-branch holds an LSTM (time-major) and whose else-branch is an Identity."""
    rng = np.random.default_rng(seed)
    w, r, b = recurrent_node_inits("LSTM", "sub", features, hidden, rng)
    then_graph = helper.make_graph(
        [
            helper.make_node(
                "LSTM", ["x", "sub_W", "sub_R", "sub_B"], ["", "h"], name="inner_lstm", hidden_size=hidden
            ),
            helper.make_node("Squeeze", ["h", "zero"], ["out_then"], name="sq"),
        ],
        "then_branch",
        [],
        [helper.make_tensor_value_info("out_then", TensorProto.FLOAT, ["batch", hidden])],
        [w, r, b, numpy_helper.from_array(np.array([0], dtype=np.int64), "zero")],
    )
    else_graph = helper.make_graph(
        [helper.make_node("ConstantOfShape", ["shape"], ["out_else"], name="zeros")],
        "else_branch",
        [],
        [helper.make_tensor_value_info("out_else", TensorProto.FLOAT, ["batch", hidden])],
    )
    graph = helper.make_graph(
        [
            helper.make_node("Shape", ["x"], ["x_shape"], name="shape_of_x"),
            helper.make_node("Gather", ["x_shape", "one"], ["batch_dim"], name="batch_of_x"),
            helper.make_node("Concat", ["batch_dim", "hidden_dim"], ["shape"], name="zeros_shape", axis=0),
            helper.make_node(
                "If", ["flag"], ["y"], name="maybe_lstm", then_branch=then_graph, else_branch=else_graph
            ),
        ],
        "lstm_in_if",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, ["time", "batch", features]),
            helper.make_tensor_value_info("flag", TensorProto.BOOL, []),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", hidden])],
        [
            numpy_helper.from_array(np.array([1], dtype=np.int64), "one"),
            numpy_helper.from_array(np.array([hidden], dtype=np.int64), "hidden_dim"),
        ],
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="edgernn-tests"
    )
    onnx.checker.check_model(model, full_check=True)
    return model


if __name__ == "__main__":  # regenerate the shipped sample: python tests/onnx_models.py tests/data/lstm2.onnx
    import sys

    onnx.save(stacked_lstm(layers=2, features=4, hidden=8, seed=0), sys.argv[1])
