"""Bare third-party .onnx files: state pairs found by name and shape, pinned constants, time-major."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from _runtime_models import ort_reference, raw_lstm_model, vad_model, vad_reference

from edgernn.runtime import BundleError, InputError, Session, UnsupportedError

SAMPLES, HIDDEN = 8, 6


@pytest.fixture(scope="module")
def vad(tmp_path_factory):
    model, weights = vad_model(SAMPLES, HIDDEN)
    path = tmp_path_factory.mktemp("vad") / "vad.onnx"
    onnx.save(model, str(path))
    return path, weights


@pytest.fixture(scope="module")
def frames():
    return np.random.default_rng(11).standard_normal((20, 2, SAMPLES)).astype(np.float32)


def test_vad_state_is_detected_and_sr_pinned(vad, frames):
    path, weights = vad
    session = Session.load(path, provider="cpu", constants={"sr": 16000})
    assert [(s.input, s.output) for s in session.manifest.state] == [("state", "stateN")]
    assert session.signature.x.name == "input"
    stream = session.stream(batch=2)
    probs = np.stack([stream.step(f).output for f in frames])
    expected, final = vad_reference(frames, weights["w"], 16000, HIDDEN)
    np.testing.assert_allclose(probs, expected, atol=1e-6)
    np.testing.assert_allclose(stream.state["state"], final, atol=1e-6)
    assert stream.steps == 20


def test_vad_constant_changes_the_answer(vad, frames):
    path, weights = vad
    stream = Session.load(path, provider="cpu", constants={"sr": 8000}).stream(batch=2)
    probs = np.stack([stream.step(f).output for f in frames[:5]])
    np.testing.assert_allclose(probs, vad_reference(frames[:5], weights["w"], 8000, HIDDEN)[0], atol=1e-6)


def test_vad_whole_call_with_state_round_trip(vad, frames):
    path, weights = vad
    session = Session.load(path, provider="cpu", constants={"sr": 16000})
    state = None
    for frame in frames[:6]:
        result = session.run(frame, state=state, return_state=True)
        state = result.state
    expected, final = vad_reference(frames[:6], weights["w"], 16000, HIDDEN)
    np.testing.assert_allclose(result.output, expected[-1], atol=1e-6)
    np.testing.assert_allclose(state["state"], final, atol=1e-6)


def test_missing_constant_is_named(vad):
    with pytest.raises(
        BundleError, match=r"graph input 'sr' \(\[\] int64\) is neither data nor state; pin it"
    ):
        Session.load(vad[0], provider="cpu")


def test_unknown_or_bad_constants(vad):
    with pytest.raises(
        InputError, match=r"constants: 'rate' is not a pinnable input of vad.onnx; pinnable: sr"
    ):
        Session.load(vad[0], provider="cpu", constants={"sr": 16000, "rate": 1})
    with pytest.raises(InputError, match=r"constants\['sr'\]: expected shape \[\], got \[2\]"):
        Session.load(vad[0], provider="cpu", constants={"sr": [16000, 8000]})
    for given in (16000.5, 2**63, "16k", float("nan")):  # int64 'sr' holds none of them exactly
        with pytest.raises(InputError, match=r"constants\['sr'\]: expected int64"):
            Session.load(vad[0], provider="cpu", constants={"sr": given})
    frame = np.linspace(-1, 1, SAMPLES, dtype=np.float32)[None]
    as_float, as_int = (Session.load(vad[0], provider="cpu", constants={"sr": sr}) for sr in (16000.0, 16000))
    np.testing.assert_array_equal(as_float.stream().step(frame).output, as_int.stream().step(frame).output)


def test_explicit_state_map(vad, frames):
    path, weights = vad
    session = Session.load(path, provider="cpu", state_map={"state": "stateN"}, constants={"sr": 16000})
    stream = session.stream(batch=2)
    out = [stream.step(f).output for f in frames[:3]]
    np.testing.assert_allclose(
        np.stack(out), vad_reference(frames[:3], weights["w"], 16000, HIDDEN)[0], atol=1e-6
    )
    with pytest.raises(
        BundleError, match=r"state_map pair 'state' -> 'nope' does not name a graph input and output"
    ):
        Session.load(path, provider="cpu", state_map={"state": "nope"}, constants={"sr": 16000})


def test_an_empty_state_map_leaves_state_unexplained(vad):
    with pytest.raises(
        BundleError, match=r"graph input 'state' \(\[2, 'batch', 6\] float32\) is neither data nor state"
    ):
        Session.load(vad[0], provider="cpu", state_map={}, constants={"sr": 1})


def test_a_stateless_model_cannot_stream(tmp_path, vad):
    session = Session.load(
        vad[0], provider="cpu", state_map={}, constants={"sr": 1, "state": np.zeros((2, 1, 6))}
    )
    with pytest.raises(
        UnsupportedError, match="expected a model with state inputs/outputs to stream, found none"
    ):
        session.stream()


def test_vad_frame_checks(vad):
    stream = Session.load(vad[0], provider="cpu", constants={"sr": 16000}).stream(batch=2)
    with pytest.raises(
        InputError, match=rf"input 'input': expected \[2, {SAMPLES}\] float32, got \[2, 5\] float32"
    ):
        stream.step(np.zeros((2, 5), np.float32))
    with pytest.raises(
        InputError, match=rf"expected \[2, {SAMPLES}\] float32, got \[1, {SAMPLES}\] float32 \(batch 1"
    ):
        stream.step(np.zeros((1, SAMPLES), np.float32))


def test_time_major_onnx_lstm_initial_h_to_y_h(tmp_path):
    path = tmp_path / "raw.onnx"
    onnx.save(raw_lstm_model(), str(path))
    session = Session.load(path, provider="cpu")
    assert {(s.input, s.output) for s in session.manifest.state} == {
        ("initial_h", "Y_h"),
        ("initial_c", "Y_c"),
    }
    sig = session.signature
    assert (sig.x.time_axis, sig.x.batch_axis) == (0, 1)
    x = np.random.default_rng(2).standard_normal((7, 2, 3)).astype(np.float32)  # [seq, batch, features]
    zeros = np.zeros((1, 2, 4), np.float32)
    y, yh, yc = ort_reference(path, {"X": x, "initial_h": zeros, "initial_c": zeros})
    np.testing.assert_allclose(session.run(x).output, y, atol=1e-6)
    stream = session.stream(batch=2)
    steps = [stream.step(x[t]).output for t in range(7)]  # each [1, batch, hidden] (Y keeps its dir axis)
    np.testing.assert_allclose(np.stack(steps), y, atol=1e-6)
    np.testing.assert_allclose(stream.state["initial_c"], yc, atol=1e-6)
    stream.reset()
    np.testing.assert_allclose(stream.feed(x[:4]).output, y[:4], atol=1e-6)
    np.testing.assert_allclose(stream.feed(x[4:]).output, y[4:], atol=1e-6)
    with pytest.raises(
        InputError,
        match=r"input 'X': expected \[2, 3\] float32, got \[3, 3\] float32 \(batch 3, expected 2\)",
    ):
        stream.step(np.zeros((3, 3), np.float32))
    with pytest.raises(
        InputError, match=r"expected \[time, 2, 3\] float32, got \[4, 3, 3\] float32 \(batch 3, expected 2\)"
    ):
        stream.feed(np.zeros((4, 3, 3), np.float32))
