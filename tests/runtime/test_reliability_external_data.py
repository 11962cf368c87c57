"""External data outside the model's folder is refused before onnxruntime or onnx opens anything.

The targets are named pipes: opening one for reading blocks until a writer comes, so a loader that
so much as opened the target would hang (caught here by a timeout), and onnxruntime's and onnx's
loaders are replaced by tripwires, so the refusal is provably edgernn's own.
"""

from __future__ import annotations

import os
import threading

import numpy as np
import onnx
import pytest
from _runtime_models import ort_reference, rnn_model
from badinput.inputs import external_data_model
from onnx import TensorProto, helper, numpy_helper

from edgernn.runtime import BundleError, Session
from edgernn.runtime import loading as session_module
from edgernn.runtime.modelfile import MESSAGE_FIELDS, check_model_file

LOCATIONS = {
    "parent": ("../outside", "climbs out of the model's folder"),
    "absolute": ("{tmp}/outside", "an absolute path"),
    "symlink": ("link.bin", "resolves (through a link) to"),
    "nested-parent": ("sub/../../outside", "climbs out of the model's folder"),
    "windows-parent": ("..\\outside", "climbs out of the model's folder"),
}


def refused_promptly(call, timeout_s: float = 10.0) -> BaseException:
    """Run ``call`` in a thread; it must raise within ``timeout_s`` (a blocked open would not)."""
    outcome: list[BaseException] = []

    def target():
        try:
            call()
        except BaseException as err:  # handed to the test thread
            outcome.append(err)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout_s)
    assert not thread.is_alive(), "the loader blocked: it opened the external data target"
    assert outcome, "the model with escaping external data was accepted"
    return outcome[0]


@pytest.fixture
def trap(tmp_path, monkeypatch):
    """A FIFO outside the model folder; onnxruntime's and onnx's loaders fail the test if reached."""
    os.mkfifo(tmp_path / "outside")

    def tripwire(*args, **kwargs):
        raise AssertionError("the file reached a loader before edgernn refused it")

    monkeypatch.setattr(session_module.ort, "InferenceSession", tripwire)
    monkeypatch.setattr(onnx, "load", tripwire)
    return tmp_path


def _model(tmp_path, kind: str):
    location, message = LOCATIONS[kind]
    path = external_data_model(tmp_path / "m" / "model.onnx", location.format(tmp=tmp_path))
    if kind == "symlink":
        os.symlink(tmp_path / "outside", tmp_path / "m" / "link.bin")
    return path, message


@pytest.mark.parametrize("kind", sorted(LOCATIONS))
def test_session_load_refuses_without_opening_the_target(trap, kind):
    path, message = _model(trap, kind)
    err = refused_promptly(lambda: Session.load(path, provider="cpu"))
    assert isinstance(err, BundleError) and message in str(err), err
    assert f"{path}: tensor " in str(err) and "expected a relative path inside" in str(err)


@pytest.mark.parametrize("kind", ["parent", "absolute", "symlink"])
def test_inspect_refuses_without_opening_the_target(trap, kind):
    from edgernn.export.inspection import inspect_path

    path, message = _model(trap, kind)
    err = refused_promptly(lambda: inspect_path(path))
    assert isinstance(err, BundleError) and message in str(err), err


def test_external_data_inside_the_folder_still_loads_and_runs(tmp_path):
    from edgernn.export.inspection import inspect_path

    reference = rnn_model("gru", features=3, hidden=5, out=2)
    onnx.save(reference, str(tmp_path / "inline.onnx"))
    path = external_data_model(tmp_path / "m" / "model.onnx", "weights/w.bin")
    tensor = max(reference.graph.initializer, key=lambda t: int(np.prod(t.dims)))
    (tmp_path / "m" / "weights").mkdir()
    (tmp_path / "m" / "weights" / "w.bin").write_bytes(numpy_helper.to_array(tensor).tobytes())
    assert check_model_file(path) == {tensor.name: "weights/w.bin"}
    x = np.random.default_rng(0).standard_normal((2, 6, 3)).astype(np.float32)
    got = Session.load(path, provider="cpu").run(x).output
    want = ort_reference(tmp_path / "inline.onnx", {"x": x, "h0": np.zeros((1, 2, 5), np.float32)})[0]
    np.testing.assert_array_equal(got, want)
    assert inspect_path(path)["models"]["model.onnx"]["external_data"] is True


def _outside(name: str, location: str = "../outside") -> TensorProto:
    tensor = numpy_helper.from_array(np.zeros(4, np.float32), name)
    tensor.ClearField("raw_data")
    tensor.data_location = TensorProto.EXTERNAL
    entry = tensor.external_data.add()
    entry.key, entry.value = "location", location
    return tensor


def _nested(path, branch_location: str):
    """An If whose branch holds an initializer and a Constant node, both with external data."""
    branch = helper.make_graph(
        [helper.make_node("Constant", [], ["k"], value=_outside("in_constant"))],
        "then",
        [],
        [helper.make_tensor_value_info("k", TensorProto.FLOAT, [4])],
        [_outside("in_branch", branch_location)],
    )
    graph = helper.make_graph(
        [helper.make_node("If", ["flag"], ["y"], then_branch=branch, else_branch=branch)],
        "g",
        [helper.make_tensor_value_info("flag", TensorProto.BOOL, [])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def test_tensors_in_subgraphs_and_node_attributes_are_checked_too(tmp_path):
    """An If branch's initializer and a Constant node's value are found wherever they nest."""
    with pytest.raises(BundleError, match=r"tensor '(in_branch|in_constant)' keeps its data in external"):
        check_model_file(_nested(tmp_path / "both.onnx", "../outside"))
    with pytest.raises(
        BundleError, match=r"tensor 'in_constant' keeps its data in external file '\.\./outside'"
    ):
        check_model_file(_nested(tmp_path / "constant.onnx", "inside.bin"))


def test_field_numbers_match_onnx_proto():
    for message, fields in MESSAGE_FIELDS.items():
        descriptor = getattr(onnx, message).DESCRIPTOR
        for number, child in fields.items():
            field = descriptor.fields_by_number[number]
            assert field.message_type.name == child, (message, number)
    tensor = onnx.TensorProto.DESCRIPTOR
    assert tensor.fields_by_name["name"].number == 8
    assert tensor.fields_by_name["external_data"].number == 13
