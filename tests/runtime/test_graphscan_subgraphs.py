"""Every recurrence counts, wherever it sits: a reverse or bidirectional LSTM/GRU/RNN inside an If
branch, a Loop or Scan body, at any depth, or a Scan that reads its sequence from the end, makes a
bare model refuse to stream (it streamed before, off by 0.48-0.61 from the whole-sequence run)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from test_runtime_onnx_optests import _reference, _save, _x, op_test_graph

from edgernn.runtime import Session, UnsupportedError
from edgernn.runtime.graphscan import scan_graph


def _in_if(model: onnx.ModelProto, depth: int = 1) -> onnx.ModelProto:
    """The model's one node moved into both branches of ``depth`` nested If nodes (condition True)."""
    graph = model.graph
    nodes, outs = list(graph.node), [o.name for o in graph.output]
    for level in range(depth):
        branch = [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in outs]
        then = helper.make_graph(nodes, f"then{level}", [], branch)
        other = helper.make_graph(nodes, f"else{level}", [], branch)
        cond = helper.make_node(
            "Constant", [], [f"c{level}"], value=helper.make_tensor("v", TensorProto.BOOL, [], [True])
        )
        nodes = [cond, helper.make_node("If", [f"c{level}"], outs, then_branch=then, else_branch=other)]
    wrapped = helper.make_graph(nodes, graph.name, graph.input, graph.output, graph.initializer)
    out = helper.make_model(wrapped, opset_imports=[helper.make_opsetid("", 14)])
    out.ir_version = 8
    return out


@pytest.mark.parametrize(("op", "direction", "depth"), [("LSTM", "reverse", 1), ("GRU", "bidirectional", 3)])
def test_a_reverse_recurrence_in_an_if_branch_runs_whole_but_never_streams(tmp_path, op, direction, depth):
    plain, _ = op_test_graph(op, direction)
    model = _in_if(plain, depth)
    session = Session.load(_save(tmp_path, model), provider="cpu")
    x = _x(2, 6)
    dirs = 2 if direction == "bidirectional" else 1
    zeros = {p.input: np.zeros((dirs, 2, 5), np.float32) for p in session.inferred_state}
    np.testing.assert_allclose(session.run(x).output, _reference(plain, {"X": x, **zeros})[0], atol=1e-5)
    with pytest.raises(
        UnsupportedError, match=r"a bidirectional \(or reverse\) recurrence .* cannot be streamed"
    ):
        session.stream()


def test_a_forward_recurrence_in_an_if_branch_still_streams(tmp_path):
    model = _in_if(op_test_graph("GRU")[0])
    assert Session.load(_save(tmp_path, model), provider="cpu").manifest.streamable


def _body(name: str, nodes: list) -> onnx.GraphProto:
    return helper.make_graph(nodes, name, [], [])


def _model(nodes: list) -> bytes:
    return helper.make_model(helper.make_graph(nodes, "g", [], [])).SerializeToString()


def test_loop_and_scan_bodies_and_reverse_scans_are_scanned():
    lstm = helper.make_node("LSTM", ["X", "W", "R"], ["Y"], hidden_size=5, direction="reverse")
    loop = helper.make_node("Loop", ["", "c"], [], body=_body("loop", [lstm]))
    assert scan_graph(_model([loop])).directions == {"reverse"}
    gru = helper.make_node("GRU", ["X", "W", "R"], ["Y"], hidden_size=5, direction="bidirectional")
    scan = helper.make_node("Scan", ["X"], ["Y"], body=_body("scan", [gru]), num_scan_inputs=1)
    assert scan_graph(_model([scan])).directions == {"forward", "bidirectional"}
    backwards = helper.make_node(
        "Scan", ["X"], ["Y"], body=_body("b", []), num_scan_inputs=1, scan_input_directions=[1]
    )
    assert scan_graph(_model([backwards])).directions == {"reverse"}
    forward = helper.make_node("RNN", ["X", "W", "R"], ["Y"], hidden_size=5)
    assert scan_graph(
        _model(
            [helper.make_node("If", ["c"], [], then_branch=_body("t", [forward]), else_branch=_body("e", []))]
        )
    ).directions == {"forward"}


def _field(number: int, payload: bytes) -> bytes:
    """One length-delimited protobuf field (protobuf itself refuses to nest this deep)."""

    def varint(n: int) -> bytes:
        out = b""
        while n >= 0x80:
            out, n = out + bytes([n & 0x7F | 0x80]), n >> 7
        return out + bytes([n])

    return varint(number << 3 | 2) + varint(len(payload)) + payload


def test_thousands_of_nested_bodies_are_scanned_without_recursion():
    node = helper.make_node(
        "RNN", ["X", "W", "R"], ["Y"], hidden_size=5, direction="reverse"
    ).SerializeToString()
    for _ in range(3000):  # NodeProto{op_type: Loop, attribute: {name: body, g: GraphProto{node}}}
        node = _field(4, b"Loop") + _field(5, _field(1, b"body") + _field(6, _field(1, node)))
    assert scan_graph(_field(7, _field(1, node))).directions == {"reverse"}


def test_a_string_attribute_of_any_bytes_does_not_hide_a_recurrence():
    """A Constant holding bytes that are not UTF-8 beside a reverse LSTM in a Loop body: still seen."""
    lstm = helper.make_node("LSTM", ["X", "W", "R"], ["Y"], hidden_size=5, direction="reverse")
    blob = helper.make_node("Constant", [], ["s"], value_string=b"\xff\xfe")
    loop = helper.make_node("Loop", ["", "c"], [], body=_body("loop", [blob, lstm]))
    assert scan_graph(_model([blob, loop])).directions == {"reverse"}
