"""Streams reproduce whole-sequence outputs; each holds its own state; reset, checkpoint, refusal."""

from __future__ import annotations

import numpy as np
import pytest
from _runtime_models import make_bundle, ort_reference, zeros_state

from edgernn.runtime import InputError, Session, UnsupportedError

ATOL = 1e-6


@pytest.fixture(scope="module")
def x():
    return np.random.default_rng(3).standard_normal((3, 12, 3)).astype(np.float32)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("topology", ["many_to_many", "many_to_one"])
def test_steps_reproduce_the_full_sequence(tmp_path, x, cell, topology):
    root = make_bundle(tmp_path / "b", cell=cell, topology=topology, layers=2)
    y, *final = ort_reference(root / "model.onnx", {"x": x, **zeros_state(cell, 3, layers=2)})
    stream = Session.load(root, provider="cpu").stream(batch=3)
    outs = [stream.step(x[:, t]).output for t in range(x.shape[1])]
    if topology == "many_to_many":
        np.testing.assert_allclose(np.stack(outs, axis=1), y, atol=ATOL)
    else:  # the running output after the last step is the sequence's output
        np.testing.assert_allclose(outs[-1], y, atol=ATOL)
        prefix = ort_reference(root / "model.onnx", {"x": x[:, :5], **zeros_state(cell, 3, layers=2)})[0]
        np.testing.assert_allclose(outs[4], prefix, atol=ATOL)
    np.testing.assert_allclose(stream.state["h0"], final[0], atol=ATOL)
    assert stream.steps == 12


@pytest.mark.parametrize("chunks", [(12,), (1, 11), (5, 4, 3), (3, 3, 3, 3)])
def test_feed_chunks_reproduce_the_full_sequence(tmp_path, x, chunks):
    root = make_bundle(tmp_path / "b", cell="lstm")
    y, hn, cn = ort_reference(root / "model.onnx", {"x": x, **zeros_state("lstm", 3)})
    stream = Session.load(root, provider="cpu").stream(batch=3)
    outs, start = [], 0
    for size in chunks:
        outs.append(stream.feed(x[:, start : start + size]).output)
        start += size
    np.testing.assert_allclose(np.concatenate(outs, axis=1), y, atol=ATOL)
    np.testing.assert_allclose(stream.state["c0"], cn, atol=ATOL)


def test_steps_and_chunks_mix(tmp_path, x):
    root = make_bundle(tmp_path / "b", cell="gru", lengths=True)
    y = ort_reference(root / "model.onnx", {"x": x, "lengths": np.full(3, 12), **zeros_state("gru", 3)})[0]
    stream = Session.load(root, provider="cpu").stream(batch=3)
    parts = [stream.feed(x[:, :4]).output, stream.step(x[:, 4]).output[:, None], stream.feed(x[:, 5:]).output]
    np.testing.assert_allclose(np.concatenate(parts, axis=1), y, atol=ATOL)


def test_many_streams_share_one_session_without_mixing(tmp_path, x):
    root = make_bundle(tmp_path / "b")
    session = Session.load(root, provider="cpu")
    a, b = session.stream(), session.stream()
    other = x[::-1].copy()
    outs_a, outs_b = [], []
    for t in range(x.shape[1]):  # interleaved on purpose
        outs_a.append(a.step(x[:1, t]).output)
        outs_b.append(b.step(other[:1, t]).output)
    np.testing.assert_allclose(np.stack(outs_a, 1), session.run(x[:1]).output, atol=ATOL)
    np.testing.assert_allclose(np.stack(outs_b, 1), session.run(other[:1]).output, atol=ATOL)


def test_reset_clears_all_state(tmp_path, x):
    session = Session.load(make_bundle(tmp_path / "b"), provider="cpu")
    stream = session.stream(3)
    first = stream.feed(x).output
    stream.reset()
    assert stream.steps == 0
    assert all(not v.any() for v in stream.state.values())
    np.testing.assert_array_equal(stream.feed(x).output, first)


def test_state_checkpoint_and_restore(tmp_path, x):
    session = Session.load(make_bundle(tmp_path / "b"), provider="cpu")
    stream = session.stream(3)
    stream.feed(x[:, :5])
    checkpoint = stream.state
    later = stream.feed(x[:, 5:]).output
    checkpoint["h0"] += 0  # the copy is the caller's; changing it must not touch the stream
    stream.state = checkpoint
    np.testing.assert_array_equal(stream.feed(x[:, 5:]).output, later)
    fresh = session.stream(3)
    fresh.state = checkpoint  # move a stream to another object
    np.testing.assert_array_equal(fresh.feed(x[:, 5:]).output, later)


def test_state_reads_are_copies(tmp_path, x):
    stream = Session.load(make_bundle(tmp_path / "b"), provider="cpu").stream(3)
    stream.feed(x[:, :3])
    snap = stream.state
    snap["h0"][:] = 99
    assert not np.any(stream.state["h0"] == 99)


def test_state_setter_validates(tmp_path):
    stream = Session.load(make_bundle(tmp_path / "b"), provider="cpu").stream(2)
    with pytest.raises(InputError, match=r"state: expected keys \['h0', 'c0'\], got \['h0'\]"):
        stream.state = {"h0": np.zeros((1, 2, 5), np.float32)}
    with pytest.raises(
        InputError,
        match=r"input 'c0': expected \[1, 2, 5\] float32, got \[1, 3, 5\] float64 \(batch 3, expected 2\)",
    ):
        stream.state = {"h0": np.zeros((1, 2, 5)), "c0": np.zeros((1, 3, 5))}


def test_bidirectional_models_cannot_stream(tmp_path, x):
    session = Session.load(make_bundle(tmp_path / "b", bidirectional=True), provider="cpu")
    y = ort_reference(session.model_path, {"x": x, **zeros_state("lstm", 3, dirs=2)})[0]
    np.testing.assert_allclose(session.run(x).output, y, atol=ATOL)  # whole sequences still run
    with pytest.raises(
        UnsupportedError, match=r"a bidirectional \(or reverse\) recurrence .* cannot be streamed"
    ):
        session.stream()


def test_stream_batch_must_be_positive(tmp_path):
    session = Session.load(make_bundle(tmp_path / "b"), provider="cpu")
    for bad in (0, -1, 1.5, True):
        with pytest.raises(InputError, match="batch: expected a positive int"):
            session.stream(bad)


def test_stream_keeps_state_in_ort_values(tmp_path, x):
    """The CPU IO-binding path: state lives in OrtValues that swap roles every step."""
    import onnxruntime as ort

    stream = Session.load(make_bundle(tmp_path / "b"), provider="cpu").stream(3)
    buffers = stream._buffers
    assert all(isinstance(v, ort.OrtValue) for pair in buffers for v in pair)
    stream.step(x[:, 0])
    h_after_one = stream.state["h0"]
    np.testing.assert_array_equal(buffers[1][0].numpy(), h_after_one)  # written into the other set
    stream.step(x[:, 1])
    assert stream._buffers is buffers  # nothing reallocated


def test_stream_applies_the_manifest_scaling(tmp_path, x):
    root = make_bundle(
        tmp_path / "b",
        input_kw={"mean": (1.0, 0.0, -1.0), "std": (2.0, 3.0, 0.5)},
        output_kw={"mean": (5.0, -5.0), "std": (2.0, 4.0)},
    )
    session = Session.load(root, provider="cpu")
    whole = session.run(x)
    stream = session.stream(3)
    steps = [stream.step(x[:, t]) for t in range(x.shape[1])]
    np.testing.assert_allclose(np.stack([s.output for s in steps], 1), whole.output, atol=1e-5)
    np.testing.assert_allclose(np.stack([s.outputs["y"] for s in steps], 1), whole.outputs["y"], atol=1e-6)


def test_token_streams(tmp_path):
    session = Session.load(make_bundle(tmp_path / "b", vocab=6, out=6, features=4), provider="cpu")
    ids = np.random.default_rng(1).integers(0, 6, (2, 9))
    whole = session.run(ids).output
    stream = session.stream(2)
    steps = np.stack([stream.step(ids[:, t]).output for t in range(9)], 1)
    np.testing.assert_allclose(steps, whole, atol=ATOL)
    stream.reset()
    np.testing.assert_allclose(stream.feed(ids[:, :4]).output, whole[:, :4], atol=ATOL)
