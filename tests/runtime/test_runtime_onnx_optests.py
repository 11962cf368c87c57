"""Recurrent graphs written the way ONNX's own operator tests write them (``onnx.helper``): one
LSTM/GRU/RNN node, forward, reverse or bidirectional, ``sequence_lens``, ``initial_h``/``initial_c``,
``layout=1``, weights as initializers or as graph inputs. Loaded bare, with no state_map.

The reference is onnx's ReferenceEvaluator (numpy), independent of onnxruntime.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from onnx.reference import ReferenceEvaluator

from edgernn.runtime import BundleError, Session, UnsupportedError

F, H = 3, 5
GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}


def op_test_graph(op, direction="forward", *, state=True, lens=False, layout=0, weights_as_inputs=False):
    """A one-node graph in the operator tests' naming: X, W, R, B[, sequence_lens][, initial_h[, initial_c]]
    -> Y, Y_h[, Y_c]."""
    rng = np.random.default_rng(3)
    dirs = 2 if direction == "bidirectional" else 1
    g = GATES[op]
    w = {
        "W": rng.uniform(-0.5, 0.5, (dirs, g * H, F)),
        "R": rng.uniform(-0.5, 0.5, (dirs, g * H, H)),
        "B": rng.uniform(-0.5, 0.5, (dirs, 2 * g * H)),
    }
    carried = ["initial_h", "initial_c"][: (2 if op == "LSTM" else 1)] if state else []
    node_in = ["X", "W", "R", "B", "sequence_lens" if lens else "", *(carried or [""])]
    node_out = ["Y", "Y_h", "Y_c"][: (3 if op == "LSTM" else 2)]
    x_dims = ["batch_size", "seq_length", F] if layout else ["seq_length", "batch_size", F]
    state_dims = ["batch_size", dirs, H] if layout else [dirs, "batch_size", H]
    y_dims = ["batch_size", "seq_length", dirs, H] if layout else ["seq_length", dirs, "batch_size", H]
    inputs = [helper.make_tensor_value_info("X", TensorProto.FLOAT, x_dims)]
    if lens:
        inputs.append(helper.make_tensor_value_info("sequence_lens", TensorProto.INT32, ["batch_size"]))
    inputs += [helper.make_tensor_value_info(n, TensorProto.FLOAT, state_dims) for n in carried]
    outputs = [helper.make_tensor_value_info("Y", TensorProto.FLOAT, y_dims)]
    outputs += [helper.make_tensor_value_info(n, TensorProto.FLOAT, state_dims) for n in node_out[1:]]
    tensors = [
        helper.make_tensor(k, TensorProto.FLOAT, v.shape, v.astype(np.float32).ravel()) for k, v in w.items()
    ]
    if weights_as_inputs:
        inputs += [helper.make_tensor_value_info(k, TensorProto.FLOAT, list(v.shape)) for k, v in w.items()]
        tensors = []
    node = helper.make_node(op, node_in, node_out, hidden_size=H, direction=direction, layout=layout)
    graph = helper.make_graph([node], f"test_{op.lower()}_{direction}", inputs, outputs, tensors)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model, {k: v.astype(np.float32) for k, v in w.items()}


def _save(tmp_path, model):
    path = tmp_path / f"{model.graph.name}.onnx"
    onnx.save(model, str(path))
    return path


def _reference(model, feeds):
    return ReferenceEvaluator(model).run(None, feeds)


def _x(batch, time, seed=0):
    return np.random.default_rng(seed).standard_normal((time, batch, F)).astype(np.float32)


@pytest.mark.parametrize("op", ["LSTM", "GRU", "RNN"])
def test_forward_node_streams_with_inferred_initial_state(tmp_path, op):
    model, _ = op_test_graph(op)
    session = Session.load(_save(tmp_path, model), provider="cpu")
    carried = ["initial_h", "initial_c"][: (2 if op == "LSTM" else 1)]
    outs = ["Y_h", "Y_c"][: len(carried)]
    assert [(p.input, p.output, p.rule) for p in session.inferred_state] == [
        (i, o, "name: initial_h -> Y_h") for i, o in zip(carried, outs, strict=True)
    ]
    assert (session.signature.x.time_axis, session.signature.x.batch_axis) == (0, 1)
    x = _x(2, 7)
    rng = np.random.default_rng(1)
    start = {n: rng.standard_normal((1, 2, H)).astype(np.float32) for n in carried}
    want = _reference(model, {"X": x, **start})
    whole = session.run(x, state=start, return_state=True)
    np.testing.assert_allclose(whole.output, want[0], atol=1e-5)
    stream = session.stream(batch=2)
    stream.state = start
    steps = [stream.step(x[t]).output for t in range(4)] + [stream.feed(x[4:]).output]
    np.testing.assert_allclose(np.concatenate([s[None] for s in steps[:4]] + [steps[4]]), want[0], atol=1e-5)
    for name, value in zip(carried, want[1:], strict=True):
        np.testing.assert_allclose(stream.state[name], value, atol=1e-5)


@pytest.mark.parametrize(
    ("op", "direction"), [("LSTM", "reverse"), ("GRU", "bidirectional"), ("RNN", "reverse")]
)
def test_reverse_and_bidirectional_run_whole_but_never_stream(tmp_path, op, direction):
    model, _ = op_test_graph(op, direction)
    session = Session.load(_save(tmp_path, model), provider="cpu")
    x = _x(3, 6)
    dirs = 2 if direction == "bidirectional" else 1
    zeros = {p.input: np.zeros((dirs, 3, H), np.float32) for p in session.inferred_state}
    np.testing.assert_allclose(session.run(x).output, _reference(model, {"X": x, **zeros})[0], atol=1e-5)
    with pytest.raises(
        UnsupportedError, match=r"a bidirectional \(or reverse\) recurrence .* cannot be streamed"
    ):
        session.stream()


def test_sequence_lens_is_the_lengths_input(tmp_path):
    """An int32 ``sequence_lens`` becomes the lengths input: each row stops at its own length."""
    model, _ = op_test_graph("GRU", lens=True)
    session = Session.load(_save(tmp_path, model), provider="cpu")
    assert session.manifest.input.lengths == "sequence_lens"
    x, lengths = _x(3, 6), np.array([6, 2, 4])
    result = session.run(x, lengths=lengths, return_state=True)
    for row, n in enumerate(lengths):  # each row alone, unpadded, through the numpy reference
        alone = _reference(
            model,
            {
                "X": x[:n, row : row + 1],
                "sequence_lens": np.array([n], np.int32),
                "initial_h": np.zeros((1, 1, H), np.float32),
            },
        )
        np.testing.assert_allclose(result.output[:n, :, row : row + 1], alone[0], atol=1e-5)
        np.testing.assert_allclose(result.state["initial_h"][:, row : row + 1], alone[1], atol=1e-5)
    stream = session.stream(batch=3)
    pieces = [stream.feed(x[:3]).output, stream.feed(x[3:]).output]
    np.testing.assert_allclose(np.concatenate(pieces), session.run(x).output, atol=1e-5)


def test_layout_1_is_refused_by_onnxruntime_in_one_line(tmp_path):
    model, _ = op_test_graph("RNN", layout=1)
    with pytest.raises(BundleError, match=r"onnxruntime could not load the model") as err:
        Session.load(_save(tmp_path, model), provider="cpu").run(np.zeros((2, 4, F), np.float32))
    assert "\n" not in str(err.value)


def test_weights_as_graph_inputs_are_pinned_constants(tmp_path):
    """The operator tests pass W, R and B as graph inputs: pin them, and the node runs."""
    model, weights = op_test_graph("LSTM", state=False, weights_as_inputs=True)
    path = _save(tmp_path, model)
    with pytest.raises(
        BundleError, match=r"graph input 'W' \(\[1, 20, 3\] float32\) is neither data nor state"
    ):
        Session.load(path, provider="cpu")
    session = Session.load(path, provider="cpu", constants=weights)
    x = _x(2, 5)
    np.testing.assert_allclose(session.run(x).output, _reference(model, {"X": x, **weights})[0], atol=1e-5)
    with pytest.raises(UnsupportedError, match="expected a model with state inputs/outputs to stream"):
        session.stream()
