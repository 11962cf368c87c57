"""Every input check raises InputError naming the input, the expected shape and dtype, and what came.

A spy stands in for onnxruntime so each test also proves that nothing bad reached it.
"""

from __future__ import annotations

import numpy as np
import pytest
from _runtime_models import make_bundle

from edgernn.runtime import InputError, Session


class Spy:
    """Wraps an InferenceSession and counts the calls that reach it."""

    def __init__(self, inner):
        self.inner, self.calls = inner, 0

    def run(self, *args, **kwargs):
        self.calls += 1
        return self.inner.run(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.inner, name)


@pytest.fixture(scope="module")
def bundles(tmp_path_factory):
    root = tmp_path_factory.mktemp("bundles")
    return {
        "features": make_bundle(root / "f", lengths=True),
        "tokens": make_bundle(root / "t", vocab=7, out=7, output_kw={"kind": "tokens"}),
    }


@pytest.fixture
def session(bundles):
    s = Session.load(bundles["features"], provider="cpu")
    s._engine.ort = Spy(s._engine.ort)
    yield s
    assert s._engine.ort.calls == 0, "a refused input reached onnxruntime"


def good(batch=2, time=4):
    return np.ones((batch, time, 3), np.float32)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            np.ones((4, 3), np.float32),
            r"input 'x': expected \[batch, time, 3\] float32, got \[4, 3\] float32 \(rank 2, expected rank 3\)",
        ),
        (np.ones((1, 2, 4, 3), np.float32), r"got \[1, 2, 4, 3\] float32 \(rank 4, expected rank 3\)"),
        (
            np.ones((2, 4, 5), np.float32),
            r"expected \[batch, time, 3\] float32, got \[2, 4, 5\] float32 \(feature count 5, expected 3\)",
        ),
        (np.ones((2, 4, 3), bool), r"got \[2, 4, 3\] bool \(dtype bool cannot be cast to float32\)"),
        (np.ones((2, 4, 3), np.complex64), r"dtype complex64 cannot be cast to float32"),
        (np.full((2, 4, 3), "a"), r"dtype <U1 cannot be cast to float32|dtype str"),
        (np.ones((0, 4, 3), np.float32), r"got \[0, 4, 3\] float32 \(empty input\)"),
        (np.ones((2, 0, 3), np.float32), r"got \[2, 0, 3\] float32 \(empty input\)"),
        (
            [[[1.0, 2.0, 3.0]], [[1.0, 2.0]]],
            r"input 'x': expected \[batch, time, 3\] float32, got list \(not an array",
        ),
    ],
    ids=["rank2", "rank4", "features", "bool", "complex", "str", "empty-batch", "empty-time", "ragged"],
)
def test_run_refuses(session, value, message):
    with pytest.raises(InputError, match=message):
        session.run(value)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_run_refuses_non_finite(session, bad):
    x = good()
    x[1, 2, 0] = bad
    with pytest.raises(
        InputError, match=r"input 'x': .* got \[2, 4, 3\] float32 \(1 NaN or Inf value\(s\)\)"
    ):
        session.run(x)


def test_non_finite_float64_is_refused_after_the_cast(session):
    x = good().astype(np.float64)
    x[0, 0, 0] = np.nan
    with pytest.raises(InputError, match="NaN or Inf"):
        session.run(x)


def test_convertible_values_are_cast_once(bundles):
    session = Session.load(bundles["features"], provider="cpu")
    x = np.random.default_rng(0).standard_normal((2, 4, 3))
    expected = session.run(x.astype(np.float32)).output
    np.testing.assert_array_equal(session.run(x).output, expected)  # float64
    np.testing.assert_array_equal(session.run(x.tolist()).output, expected)  # nested lists
    ints = np.arange(24).reshape(2, 4, 3)
    np.testing.assert_array_equal(session.run(ints).output, session.run(ints.astype(np.float32)).output)
    fortran = np.asfortranarray(x.astype(np.float32))
    np.testing.assert_array_equal(session.run(fortran).output, expected)


@pytest.mark.parametrize(
    ("lengths", "message"),
    [
        (
            [4, 0],
            r"input 'lengths': expected \[2\] int64, got \[2\] int64 \(lengths in \[0, 4\], expected \[1, 4\]\)",
        ),
        ([5, 2], r"lengths in \[2, 5\], expected \[1, 4\]"),
        ([4, 4, 4], r"input 'lengths': expected \[2\] int64, got \[3\] int64 \(batch 3, expected 2\)"),
        ([4.5, 2], r"got \[2\] float64 \(non-integral values cannot be token ids\)|non-integral"),
    ],
)
def test_lengths_are_checked(session, lengths, message):
    with pytest.raises(InputError, match=message):
        session.run(good(), lengths=np.asarray(lengths))


def test_lengths_on_a_model_without_them(tmp_path):
    session = Session.load(make_bundle(tmp_path / "b"), provider="cpu")
    with pytest.raises(InputError, match="lengths: this model has no lengths input"):
        session.run(good(), lengths=[4, 4])


def test_state_is_checked(session):
    with pytest.raises(InputError, match=r"state: expected keys \['h0', 'c0'\], got \['h1'\]"):
        session.run(good(), state={"h1": np.zeros((1, 2, 5))})
    with pytest.raises(
        InputError,
        match=r"input 'h0': expected \[1, 2, 5\] float32, got \[1, 3, 5\] float32 \(batch 3, expected 2\)",
    ):
        session.run(good(), state={"h0": np.zeros((1, 3, 5), np.float32)})
    with pytest.raises(
        InputError,
        match=r"input 'c0': expected \[1, 2, 5\] float32, got \[1, 2, 4\] float32 \(feature count 4, expected 5\)",
    ):
        session.run(good(), state={"c0": np.zeros((1, 2, 4), np.float32)})
    with pytest.raises(InputError, match=r"input 'h0': .* \(10 NaN or Inf value\(s\)\)"):
        session.run(good(), state={"h0": np.full((1, 2, 5), np.nan, np.float32)})


def test_stream_step_is_checked(session):
    stream = session.stream(batch=2)
    with pytest.raises(
        InputError,
        match=r"input 'x': expected \[2, 3\] float32, got \[1, 3\] float32 \(batch 1, expected 2\)",
    ):
        stream.step(np.ones((1, 3), np.float32))
    with pytest.raises(
        InputError, match=r"expected \[2, 3\] float32, got \[2, 1, 3\] float32 \(rank 3, expected rank 2\)"
    ):
        stream.step(np.ones((2, 1, 3), np.float32))
    with pytest.raises(
        InputError, match=r"expected \[2, 3\] float32, got \[2, 2\] float32 \(feature count 2, expected 3\)"
    ):
        stream.step(np.ones((2, 2), np.float32))
    with pytest.raises(InputError, match=r"got \[2, 3\] float32 \(1 NaN or Inf value\(s\)\)"):
        stream.step(np.array([[1, 2, np.inf], [1, 2, 3]], np.float32))
    with pytest.raises(InputError, match=r"got \[2, 3\] bool"):
        stream.step(np.ones((2, 3), bool))
    with pytest.raises(InputError, match=r"got \[0, 3\] float32 \(empty input\)"):
        stream.step(np.ones((0, 3), np.float32))
    assert stream.steps == 0


def test_stream_feed_is_checked(session):
    stream = session.stream(batch=2)
    with pytest.raises(
        InputError,
        match=r"input 'x': expected \[2, time, 3\] float32, got \[3, 4, 3\] float32 \(batch 3, expected 2\)",
    ):
        stream.feed(np.ones((3, 4, 3), np.float32))
    with pytest.raises(InputError, match=r"got \[2, 0, 3\] float32 \(empty input\)"):
        stream.feed(np.ones((2, 0, 3), np.float32))
    with pytest.raises(InputError, match=r"NaN or Inf"):
        stream.feed(np.full((2, 4, 3), np.nan, np.float32))
    assert stream.steps == 0


def test_tokens_are_checked(bundles):
    session = Session.load(bundles["tokens"], provider="cpu")
    session._engine.ort = Spy(session._engine.ort)
    with pytest.raises(
        InputError,
        match=r"input 'x': expected \[batch, time\] int64, got \[1, 3\] int64 \(token ids in \[0, 7\], expected \[0, 6\]\)",
    ):
        session.run(np.array([[0, 7, 2]]))
    with pytest.raises(InputError, match=r"token ids in \[-1, 2\]"):
        session.run(np.array([[0, -1, 2]]))
    with pytest.raises(InputError, match=r"got \[1, 2\] float64 \(non-integral values cannot be token ids\)"):
        session.run(np.array([[0.5, 1.0]]))
    with pytest.raises(InputError, match=r"expected \[1\] int64, got \[1\] int64 \(token ids in \[9, 9\]"):
        session.stream().step(np.array([9]))
    assert session._engine.ort.calls == 0
    integral = session.run(np.array([[1.0, 2.0]])).output  # integral floats are convertible
    np.testing.assert_array_equal(integral, session.run(np.array([[1, 2]])).output)


@pytest.mark.parametrize(
    "given, shown",
    [
        (
            np.array([[2**32 + 3]]),
            r"got \[1, 1\] int64 \(values in \[4294967299, 4294967299\] beyond the int32",
        ),
        (
            np.array([[2**64 - 1]], np.uint64),
            r"uint64 \(values in \[18446744073709551615, 18446744073709551615\]",
        ),
        (np.array([[1e30, 2.0]]), r"float64 \(values in \[2, 1e\+30\] beyond the int32 range\)"),
    ],
)
def test_integer_inputs_never_wrap_around(given, shown):
    """A value the model's integer dtype cannot hold is refused: astype would wrap 2**32 + 3 to 3."""
    from edgernn.runtime.validate import as_input

    with pytest.raises(InputError, match=shown):
        as_input("tokens", given, [1, None], np.dtype(np.int32), names=("batch", "time"))
    fits = as_input("tokens", np.array([[7.0, 2**31 - 1]]), [1, None], np.dtype(np.int32))
    assert fits.dtype == np.int32 and fits.tolist() == [[7, 2**31 - 1]]
