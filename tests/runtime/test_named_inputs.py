"""Bundles of the general contract: further named inputs and outputs beside x, y and the state.

The fixture is a PyTorch module with five further inputs (timed, per sequence, a length of its own,
bool, int64 ids) and two further outputs, exported with native GRU nodes. Session.run answers as
PyTorch and plain onnxruntime do at shapes the export never saw; bad inputs get one line naming the
input; a graph and manifest that disagree are refused at load; a stream equals one whole run.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

import _named_models as nm  # noqa: E402
from _runtime_models import make_bundle as plain_bundle  # noqa: E402
from _runtime_models import ort_reference  # noqa: E402

from edgernn.runtime import BundleError, InputError, Session, Stream, UnsupportedError  # noqa: E402
from edgernn.runtime.manifest import TensorSpec  # noqa: E402

TORCH_ATOL = 1e-5  # float32 PyTorch vs onnxruntime through a GRU of 6 units (measured <= 2e-7)
ORT_ATOL = 1e-6  # the same graph through edgernn and through plain onnxruntime
STREAM_ATOL = 1e-5  # steps of one call each vs one whole-sequence call


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation warning
        return nm.export_model(tmp_path_factory.mktemp("export") / "conditioned.onnx")


@pytest.fixture(scope="module")
def bundle(tmp_path_factory, model):
    return nm.make_bundle(tmp_path_factory.mktemp("bundle") / "b", model)


@pytest.fixture(scope="module")
def session(bundle):
    return Session.load(bundle, provider="cpu", threads=1)


@pytest.mark.parametrize(("batch", "time", "memory_time"), [(1, 1, 1), (3, 8, 4), (4, 13, 7)])
def test_run_answers_as_pytorch_and_onnxruntime(bundle, session, batch, time, memory_time):
    a = nm.example(batch, time, memory_time, seed=batch + time)
    result = session.run(a["x"], inputs=nm.further(a), return_state=True)
    torch_out = nm.torch_reference(a)
    ort_out = dict(zip(nm.OUTPUTS, ort_reference(bundle / "model.onnx", a, list(nm.OUTPUTS)), strict=True))
    for name in ("y", "gate", "pooled"):
        got = result.output if name == "y" else result.outputs[name]
        np.testing.assert_allclose(got, torch_out[name], atol=TORCH_ATOL, err_msg=name)
        np.testing.assert_allclose(got, ort_out[name], atol=ORT_ATOL, err_msg=name)
    assert result.outputs["gate"].shape == (batch, time, 1)
    assert result.outputs["pooled"].shape == (batch, 3)
    np.testing.assert_allclose(result.state["h0"], torch_out["hn"], atol=TORCH_ATOL)


def test_inputs_cast_without_loss(session):
    a = nm.example(2, 5, 3, seed=4)
    want = session.run(a["x"], inputs=nm.further(a)).output
    loose = {
        **nm.further(a),
        "cond": a["cond"].astype(np.float64),
        "speaker": a["speaker"].astype(np.int32),
        "aux": a["aux"].tolist(),
    }
    np.testing.assert_array_equal(session.run(a["x"], inputs=loose).output, want)


def _bad(a, **changes):
    given = nm.further(a)
    for name, value in changes.items():
        if value is None:
            del given[name]
        else:
            given[name] = value
    return given


BAD = [
    (
        "missing",
        lambda a: _bad(a, cond=None),
        "input 'cond': expected [batch, 4] float32 (forward(cond=...)), got nothing; "
        "pass it in run(x, inputs=...)",
    ),
    (
        "unknown",
        lambda a: {**nm.further(a), "speakers": a["speaker"]},
        "inputs: 'speakers' is not a further input of conditioned-gru; it takes: aux, cond, memory, "
        "memory_mask, speaker",
    ),
    (
        "x-among-inputs",
        lambda a: {**nm.further(a), "h0": a["h0"]},
        "inputs: 'h0' is not a further input of conditioned-gru (x, lengths and state have their own "
        "arguments); it takes:",
    ),
    (
        "rank",
        lambda a: _bad(a, cond=a["cond"][:, None]),
        "input 'cond': expected [3, 4] float32, got [3, 1, 4] float32 (rank 3, expected rank 2)",
    ),
    (
        "fixed-dim",
        lambda a: _bad(a, cond=np.ones((3, 5), np.float32)),
        "input 'cond': expected [3, 4] float32, got [3, 5] float32 (size of axis 1 5, expected 4)",
    ),
    (
        "batch",
        lambda a: _bad(a, speaker=a["speaker"][:2]),
        "input 'speaker': expected [3] int64, got [2] int64 (batch 2, expected 3)",
    ),
    (
        "time",
        lambda a: _bad(a, aux=a["aux"][:, :7]),
        "input 'aux': expected [3, 8, 2] float32, got [3, 7, 2] float32 (time 7, expected 8)",
    ),
    (
        "shared-dim",
        lambda a: _bad(a, memory_mask=a["memory_mask"][:, :3]),
        "input 'memory_mask': dim 'memory_time' is 3, but 4 in input 'memory' of the same call",
    ),
    (
        "dtype",
        lambda a: _bad(a, speaker=a["speaker"] + 0.5),
        "input 'speaker': expected [3] int64, got [3] float64 (non-integral values cannot be token ids)",
    ),
    (
        "bool",
        lambda a: _bad(a, memory_mask=a["memory_mask"].astype(np.float32)),
        "input 'memory_mask': expected [3, memory_time] bool, got [3, 4] float32 (dtype float32 cannot be "
        "cast to bool)",
    ),
    (
        "range",
        lambda a: _bad(a, speaker=np.array([0, 7, 2])),
        "input 'speaker': expected [3] int64 with values in [0, 3], got values in [0, 7]",
    ),
    ("nan", lambda a: _bad(a, cond=np.full((3, 4), np.nan)), "input 'cond': expected [3, 4] float32"),
    ("not-a-dict", lambda a: [a["cond"]], "inputs: expected a dict of arrays by input name, got list"),
]


@pytest.mark.parametrize(("make", "message"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_inputs_get_one_line_naming_the_input(session, make, message):
    a = nm.example(3, 8, 4, seed=2)
    with pytest.raises(InputError) as err:
        session.run(a["x"], inputs=make(a))
    text = str(err.value)
    assert text.startswith(message), text
    assert "\n" not in text


def test_a_model_without_further_inputs_refuses_them(tmp_path):
    session = Session.load(plain_bundle(tmp_path / "b", cell="gru"), provider="cpu")
    x = np.zeros((1, 4, 3), np.float32)
    with pytest.raises(
        InputError, match=r"^inputs: 'cond' is not a further input of test-gru; it takes: none"
    ):
        session.run(x, inputs={"cond": np.zeros(3)})
    np.testing.assert_array_equal(session.run(x, inputs={}).output, session.run(x).output)


DISAGREE = [
    (
        "not-in-graph",
        {"inputs": (*nm.manifest().inputs, TensorSpec("style", ("batch", 2)))},
        "conditioned-gru: manifest input 'style' is not a graph input (x, h0, aux, cond, memory, "
        "memory_mask, speaker)",
    ),
    (
        "rank",
        {"inputs": nm.replace_input("cond", shape=("batch", 1, 4))},
        "conditioned-gru: manifest input 'cond' has dims ['batch', 1, 4], the graph's has ['batch', 4] (rank 2)",
    ),
    (
        "fixed-dim",
        {"inputs": nm.replace_input("cond", shape=("batch", 5))},
        "conditioned-gru: manifest input 'cond' has dims ['batch', 5], the graph fixes axis 1 to 4",
    ),
    (
        "batch-time-swapped",
        {"inputs": nm.replace_input("aux", shape=("time", "batch", 2))},
        "conditioned-gru: manifest input 'aux' has dims ['time', 'batch', 2], the graph's axis 0 is x's batch "
        "('batch')",
    ),
    (
        "own-dim-called-time",
        {"inputs": nm.replace_input("memory", shape=("batch", "time", 5))},
        None,  # memory_time is a name of its own in the graph: the manifest may call it time
    ),
    (
        "dtype",
        {"inputs": nm.replace_input("speaker", dtype="int32")},
        "conditioned-gru: manifest input 'speaker' is int32, the graph's is int64",
    ),
    (
        "input-left-out",
        {"inputs": nm.manifest().inputs[:-1]},
        "conditioned-gru: graph input 'speaker' (['batch'] int64) is neither data nor state",
    ),
    (
        "output-left-out",
        {"outputs": nm.manifest().outputs[:1]},
        "conditioned-gru: the manifest describes outputs ['y', 'gate', 'hn'], the graph has "
        "['y', 'hn', 'gate', 'pooled']",
    ),
    (
        "output-time",
        {"outputs": (nm.manifest().outputs[0], TensorSpec("pooled", ("batch", "time")))},
        "conditioned-gru: manifest output 'pooled' has dims ['batch', 'time'], the graph fixes axis 1 to 3",
    ),
]


@pytest.mark.parametrize(("fields", "message"), [d[1:] for d in DISAGREE], ids=[d[0] for d in DISAGREE])
def test_a_graph_and_manifest_that_disagree_are_refused_at_load(tmp_path, model, fields, message):
    root = nm.make_bundle(tmp_path / "b", model, **fields)
    if message is None:
        Session.load(root, provider="cpu")
        return
    with pytest.raises((BundleError, InputError)) as err:
        Session.load(root, provider="cpu")
    assert str(err.value).startswith(message), str(err.value)


def _whole(session, a):
    return session.run(a["x"], inputs=nm.further(a), return_state=True)


HELD = ("cond", "memory", "memory_mask", "speaker")


@pytest.mark.parametrize("device_io", [False, True], ids=["cpu-buffers", "device-style"])
def test_steps_equal_one_whole_run(session, device_io):
    a = nm.example(3, 9, 4, seed=5)
    whole = _whole(session, a)
    stream = Stream(session._engine, 3, inputs={k: a[k] for k in HELD}, device_io=device_io)
    steps = [stream.step(a["x"][:, t], inputs={"aux": a["aux"][:, t]}) for t in range(9)]
    np.testing.assert_allclose(np.stack([r.output for r in steps], 1), whole.output, atol=STREAM_ATOL)
    gate = np.stack([r.outputs["gate"] for r in steps], 1)
    np.testing.assert_allclose(gate, whole.outputs["gate"], atol=STREAM_ATOL)
    for r in steps:  # no time axis: the same every step
        np.testing.assert_allclose(r.outputs["pooled"], whole.outputs["pooled"], atol=STREAM_ATOL)
    np.testing.assert_allclose(stream.state["h0"], whole.state["h0"], atol=STREAM_ATOL)


@pytest.mark.parametrize("chunks", [(9,), (1, 8), (4, 1, 4)])
def test_chunks_equal_one_whole_run(session, chunks):
    a = nm.example(2, 9, 3, seed=6)
    whole = _whole(session, a)
    stream, start, outs, gates = session.stream(2), 0, [], []
    for i, size in enumerate(chunks):
        part = {"aux": a["aux"][:, start : start + size]}
        if i == 0:  # given with the first push, held for the pushes after
            part.update({k: a[k] for k in HELD})
        r = stream.feed(a["x"][:, start : start + size], inputs=part)
        outs.append(r.output)
        gates.append(r.outputs["gate"])
        start += size
    np.testing.assert_allclose(np.concatenate(outs, 1), whole.output, atol=STREAM_ATOL)
    np.testing.assert_allclose(np.concatenate(gates, 1), whole.outputs["gate"], atol=STREAM_ATOL)
    np.testing.assert_allclose(stream.state["h0"], whole.state["h0"], atol=STREAM_ATOL)


def test_a_held_input_given_again_is_held_from_then_on(session):
    a, b = nm.example(2, 8, 3, seed=7), nm.example(2, 8, 5, seed=8)
    first = {k: v[:, :4] if k in ("x", "aux") else v for k, v in a.items()}
    head = _whole(session, first)
    rest = {**{k: b[k] for k in HELD}, "x": a["x"][:, 4:], "aux": a["aux"][:, 4:]}
    tail = session.run(rest["x"], state=head.state, inputs=nm.further(rest))
    stream = session.stream(2, inputs={k: a[k] for k in HELD})
    outs = [stream.step(a["x"][:, t], inputs={"aux": a["aux"][:, t]}).output for t in range(4)]
    outs.append(stream.step(a["x"][:, 4], inputs={"aux": a["aux"][:, 4], **{k: b[k] for k in HELD}}).output)
    outs += [stream.step(a["x"][:, t], inputs={"aux": a["aux"][:, t]}).output for t in range(5, 8)]
    np.testing.assert_allclose(np.stack(outs[:4], 1), head.output, atol=STREAM_ATOL)
    np.testing.assert_allclose(np.stack(outs[4:], 1), tail.output, atol=STREAM_ATOL)


def test_stream_refusals_name_the_input(session):
    a = nm.example(2, 4, 3, seed=9)
    with pytest.raises(
        InputError, match=r"^input 'aux': runs step for step with x \(\[batch, time, 2\] float32"
    ):
        session.stream(2, inputs={"aux": a["aux"]})
    stream = session.stream(2, inputs={k: a[k] for k in HELD})
    with pytest.raises(
        InputError, match=r"^input 'aux': expected \[batch, time, 2\] float32 .*got nothing; give it"
    ):
        stream.step(a["x"][:, 0])
    with pytest.raises(InputError, match=r"^input 'aux': expected \[2, 2\] float32, got \[2, 4, 2\] float32"):
        stream.step(a["x"][:, 0], inputs={"aux": a["aux"]})
    with pytest.raises(
        InputError, match=r"^input 'aux': expected \[2, 3, 2\] float32, got \[2, 4, 2\] float32"
    ):
        stream.feed(a["x"][:, :3], inputs={"aux": a["aux"]})
    assert stream.steps == 0
    bare = session.stream(2)
    with pytest.raises(InputError, match=r"^input 'cond': expected \[batch, 4\] float32 .*got nothing"):
        bare.step(a["x"][:, 0], inputs={"aux": a["aux"][:, 0]})


def test_paths_that_feed_x_alone_refuse_the_model(session):
    with pytest.raises(UnsupportedError) as err:
        session.batcher(max_batch=4)
    assert str(err.value).startswith(
        "StreamBatcher: this model takes further inputs (aux, cond, memory, memory_mask, speaker) beside x"
    )


def test_step_axes_follow_the_manifest(session):
    """A further output with x's time axis drops it in a step; one without keeps every axis."""
    assert [n.name for n in session.signature.named] == ["aux", "cond", "memory", "memory_mask", "speaker"]
    assert session.signature.named[0].time_axes == (1,)
    assert session.signature.step_axes == {"y": 1, "gate": 1}


def test_held_inputs_are_copied_when_given(session):
    a = nm.example(1, 3, 2, seed=10)
    whole = _whole(session, a)
    held = {k: a[k].copy() for k in HELD}
    stream = session.stream(1, inputs=held)
    held["cond"][:] = 100.0  # changed by the caller after the stream took it
    outs = [stream.step(a["x"][:, t], inputs={"aux": a["aux"][:, t]}).output for t in range(3)]
    np.testing.assert_allclose(np.stack(outs, 1), whole.output, atol=STREAM_ATOL)


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    import warnings

    root = tmp_path_factory.mktemp("small")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {
            kind: Session.load(nm.small_bundle(root / kind, kind), provider="cpu") for kind in nm.SMALL_SHAPES
        }


def test_a_time_major_input_streams_along_its_own_time_axis(small):
    rng = np.random.default_rng(12)
    x = rng.standard_normal((3, 7, nm.FEATURES)).astype(np.float32)
    bias = rng.standard_normal((7, 3)).astype(np.float32)  # [time, batch]
    whole = small["time_major"].run(x, inputs={"extra": bias})
    np.testing.assert_allclose(whole.output, nm.small_reference("time_major", x, bias), atol=TORCH_ATOL)
    stream = small["time_major"].stream(3)
    steps = [stream.step(x[:, t], inputs={"extra": bias[t]}).output for t in range(4)]
    chunk = stream.feed(x[:, 4:], inputs={"extra": bias[4:]}).output
    np.testing.assert_allclose(np.concatenate([np.stack(steps, 1), chunk], 1), whole.output, atol=STREAM_ATOL)
    with pytest.raises(InputError, match=r"^input 'extra': expected \[7, 3\] float32, got \[3, 7\] float32"):
        small["time_major"].run(x, inputs={"extra": bias.T})


def test_an_input_with_x_time_twice_runs_whole_but_never_streams(small):
    rng = np.random.default_rng(13)
    x = rng.standard_normal((2, 5, nm.FEATURES)).astype(np.float32)
    pair = rng.standard_normal((2, 5, 5)).astype(np.float32)
    got = small["pairwise"].run(x, inputs={"extra": pair}).output
    np.testing.assert_allclose(got, nm.small_reference("pairwise", x, pair), atol=TORCH_ATOL)
    with pytest.raises(InputError, match=r"^input 'extra': expected \[2, 5, 5\] float32, got \[2, 5, 4\]"):
        small["pairwise"].run(x, inputs={"extra": pair[..., :4]})
    with pytest.raises(UnsupportedError) as err:
        small["pairwise"].stream(2)
    assert str(err.value) == (
        "input 'extra' ([batch, time, time] float32) has x's time axis more than once, so a stream cannot take it "
        "step by step; use session.run on whole sequences"
    )


def test_further_inputs_pinned_at_load_are_not_passed_again(bundle, session):
    """constants= pins further inputs too (one batch's values, fed on every call); the rest are passed."""
    a = nm.example(2, 6, 3, seed=14)
    want = session.run(a["x"], inputs=nm.further(a)).output
    pinned = Session.load(bundle, provider="cpu", constants={k: a[k] for k in HELD})
    assert [n.name for n in pinned.signature.named] == ["aux"]
    np.testing.assert_array_equal(pinned.run(a["x"], inputs={"aux": a["aux"]}).output, want)
    with pytest.raises(
        InputError, match=r"^inputs: 'cond' is not a further input of conditioned-gru; it takes: aux$"
    ):
        pinned.run(a["x"], inputs={"aux": a["aux"], "cond": a["cond"]})
    stream = pinned.stream(2)
    steps = [stream.step(a["x"][:, t], inputs={"aux": a["aux"][:, t]}).output for t in range(6)]
    np.testing.assert_allclose(np.stack(steps, 1), want, atol=STREAM_ATOL)
