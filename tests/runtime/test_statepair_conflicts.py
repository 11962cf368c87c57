"""When the state-pair rules disagree, the trace wins: outputs named ``hn``/``cn`` that carry an LSTM's
``Y_c``/``Y_h`` are paired as the node computes them (the name rule paired ``h -> hn`` and streaming
was off by 0.30), and the note says which name pairing it overrode. Two traces that pair one input
differently stop the load in one line naming both."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from edgernn.runtime import BundleError, Session
from edgernn.runtime.graphscan import scan_graph

F, H = 3, 4


def _lstm(names: tuple[str, str], *, second: str | None = None) -> onnx.ModelProto:
    """X, h, c -> Y, and the node's Y_h, Y_c written to outputs named ``names``; ``second``: another
    LSTM reads ``h`` too and writes its Y_h to that output."""
    rng = np.random.default_rng(7)
    w = {
        k: helper.make_tensor(
            k, TensorProto.FLOAT, shape, rng.uniform(-0.6, 0.6, shape).astype(np.float32).ravel()
        )
        for k, shape in (("W", (1, 4 * H, F)), ("R", (1, 4 * H, H)), ("B", (1, 8 * H)))
    }
    state = [1, "batch", H]
    nodes = [helper.make_node("LSTM", ["X", "W", "R", "B", "", "h", "c"], ["Y", *names], hidden_size=H)]
    outs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, state) for n in names]
    if second:
        nodes.append(
            helper.make_node("LSTM", ["X", "W", "R", "B", "", "h", "c"], ["Y2", second, ""], hidden_size=H)
        )
        outs.append(helper.make_tensor_value_info(second, TensorProto.FLOAT, state))
    graph = helper.make_graph(
        nodes,
        "swapped",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["time", "batch", F])]
        + [helper.make_tensor_value_info(n, TensorProto.FLOAT, state) for n in ("h", "c")],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["time", 1, "batch", H]), *outs],
        list(w.values()),
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    model.ir_version = 8
    return model


def test_the_trace_wins_over_names_that_lie_and_streaming_matches_the_whole_run(tmp_path):
    onnx.save(_lstm(("cn", "hn")), str(tmp_path / "m.onnx"))  # Y_h is named cn, Y_c hn
    session = Session.load(tmp_path / "m.onnx", provider="cpu")
    assert sorted((p.input, p.output) for p in session.inferred_state) == [("c", "hn"), ("h", "cn")]
    rules = {p.input: p.rule for p in session.inferred_state}
    assert rules["h"] == "trace: LSTM initial_h -> Y_h (over the name rule's h -> hn, c -> cn)"
    x = np.random.default_rng(1).standard_normal((6, 2, F)).astype(np.float32)
    whole = session.run(x).output
    stream = session.stream(batch=2)
    steps = np.stack([stream.step(x[t]).output for t in range(6)])
    assert steps.shape == whole.shape
    np.testing.assert_allclose(steps, whole, atol=1e-5)


def test_two_traces_that_pair_one_input_differently_are_refused(tmp_path):
    model = _lstm(("hn", "cn"), second="h_other")
    onnx.save(model, str(tmp_path / "m.onnx"))
    with pytest.raises(
        BundleError,
        match=r"m.onnx: state pairs disagree: trace: LSTM initial_h -> Y_h pairs h -> hn, "
        r"trace: LSTM initial_h -> Y_h pairs h -> h_other",
    ):
        Session.load(tmp_path / "m.onnx", provider="cpu")


def test_names_and_trace_that_agree_keep_the_name_rule(tmp_path):
    onnx.save(_lstm(("hn", "cn")), str(tmp_path / "m.onnx"))
    graph = scan_graph(tmp_path / "m.onnx")
    session = Session.load(tmp_path / "m.onnx", provider="cpu")
    assert [(p.input, p.output, p.rule) for p in session.inferred_state] == [
        ("h", "hn", "name: x -> xn"),
        ("c", "cn", "name: x -> xn"),
    ]
    assert graph is not None
