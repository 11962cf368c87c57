"""A third-party stateful ONNX LSTM for profile tests, built with ``onnx.helper``.

Silero-style I/O: ``input [batch, samples]`` (``samples`` symbolic, the weights need 8),
``state [2, batch, hidden]`` holding h and c, a constant ``sr`` (int64 scalar) -> ``output [batch, 1]``,
``stateN``. One native ``LSTM`` node steps one frame per call.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

SAMPLES, FEATURES, HIDDEN = 8, 6, 16
OPSET = 17


def lstm_detector(samples: int = SAMPLES, hidden: int = HIDDEN, seed: int = 7) -> onnx.ModelProto:
    """``input, state, sr -> output, stateN`` around one forward LSTM node named ``lstm``."""
    rng = np.random.default_rng(seed)
    inits = []

    def const(name: str, value, dtype=np.float32) -> str:
        inits.append(numpy_helper.from_array(np.asarray(value, dtype), name))
        return name

    def weight(name: str, *shape) -> str:
        return const(name, rng.uniform(-0.4, 0.4, shape))

    node = helper.make_node
    nodes = [
        node("MatMul", ["input", weight("w_in", samples, FEATURES)], ["z"]),
        node("Unsqueeze", ["z", const("axis0", [0], np.int64)], ["z_seq"]),  # [1, batch, F]: one step
        node("Slice", ["state", const("s0", [0], np.int64), const("s1", [1], np.int64)], ["h0"]),
        node("Slice", ["state", const("s1b", [1], np.int64), const("s2", [2], np.int64)], ["c0"]),
        node(
            "LSTM",
            [
                "z_seq",
                weight("w", 1, 4 * hidden, FEATURES),
                weight("r", 1, 4 * hidden, hidden),
                weight("b", 1, 8 * hidden),
                "",
                "h0",
                "c0",
            ],
            ["y_seq", "h1", "c1"],
            hidden_size=hidden,
            name="lstm",
        ),
        node("Concat", ["h1", "c1"], ["stateN"], axis=0),
        node("Squeeze", ["h1", const("axis0b", [0], np.int64)], ["h_last"]),
        node("MatMul", ["h_last", weight("w_out", hidden, 1)], ["logit"]),
        node("Cast", ["sr"], ["sr_f"], to=TensorProto.FLOAT),
        node("Mul", ["sr_f", const("sr_scale", 1e-4)], ["sr_term"]),
        node("Add", ["logit", "sr_term"], ["logit_sr"]),
        node("Sigmoid", ["logit_sr"], ["output"]),
    ]
    io = helper.make_tensor_value_info
    inputs = [
        io("input", TensorProto.FLOAT, ["batch", "samples"]),
        io("state", TensorProto.FLOAT, [2, "batch", hidden]),
        io("sr", TensorProto.INT64, []),
    ]
    outputs = [
        io("output", TensorProto.FLOAT, ["batch", 1]),
        io("stateN", TensorProto.FLOAT, [2, "batch", hidden]),
    ]
    graph = helper.make_graph(nodes, "lstm_detector", inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model
