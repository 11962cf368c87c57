"""one_to_many: Session.generate against a decode loop written with plain onnxruntime."""

from __future__ import annotations

import numpy as np
import pytest
from _runtime_models import init_model, make_bundle, ort_reference

from edgernn.runtime import InputError, Session, UnsupportedError
from edgernn.runtime.manifest import InputSpec

COND, HIDDEN, VOCAB = 4, 5, 9


def reference_loop(root, cond, steps, *, tokens, feature_size=3):
    h0, c0 = ort_reference(root / "init.onnx", {"cond": cond})
    batch = cond.shape[0]
    x = np.zeros((batch, 1), np.int64) if tokens else np.zeros((batch, 1, feature_size), np.float32)
    outs = []
    for _ in range(steps):
        y, h0, c0 = ort_reference(root / "model.onnx", {"x": x, "h0": h0, "c0": c0})
        outs.append(y[:, 0])
        x = y.argmax(-1).astype(np.int64) if tokens else y
    return np.stack(outs, axis=1), h0


@pytest.fixture(scope="module")
def cond():
    return np.random.default_rng(5).standard_normal((2, COND)).astype(np.float32)


@pytest.fixture(scope="module")
def feature_bundle(tmp_path_factory):
    return make_bundle(
        tmp_path_factory.mktemp("gen") / "f",
        topology="one_to_many",
        features=3,
        out=3,
        condition=InputSpec(name="cond", features=COND, mean=(0.5,) * COND, std=(2.0,) * COND),
        output_kw={"mean": (1.0, 2.0, 3.0), "std": (10.0, 10.0, 10.0)},
        extra={"init.onnx": init_model(COND, hidden=HIDDEN)},
    )


@pytest.fixture(scope="module")
def token_bundle(tmp_path_factory):
    return make_bundle(
        tmp_path_factory.mktemp("gen") / "t",
        topology="one_to_many",
        vocab=VOCAB,
        out=VOCAB,
        features=4,
        condition=InputSpec(name="cond", features=COND),
        output_kw={"kind": "tokens"},
        extra={"init.onnx": init_model(COND, hidden=HIDDEN)},
    )


def test_feature_generation_feeds_outputs_back(feature_bundle, cond):
    session = Session.load(feature_bundle, provider="cpu")
    result = session.generate(cond, 8)
    raw, h_final = reference_loop(feature_bundle, (cond - 0.5) / 2.0, 8, tokens=False)
    np.testing.assert_allclose(result.outputs["y"], raw, atol=1e-5)
    np.testing.assert_allclose(result.output, raw * 10.0 + np.array([1.0, 2.0, 3.0]), atol=1e-4)
    np.testing.assert_allclose(result.state["h0"], h_final, atol=1e-5)
    assert result.output.shape == (2, 8, 3)


def test_token_generation_greedy(token_bundle, cond):
    session = Session.load(token_bundle, provider="cpu")
    result = session.generate(cond, 6)
    logits, _ = reference_loop(token_bundle, cond, 6, tokens=True)
    assert result.output.dtype == np.int64
    np.testing.assert_array_equal(result.output, logits.argmax(-1))
    np.testing.assert_allclose(result.outputs["y"], logits, atol=1e-5)
    np.testing.assert_allclose(result.probabilities.sum(-1), 1.0, atol=1e-5)


def test_token_sampling_is_seeded(token_bundle, cond):
    session = Session.load(token_bundle, provider="cpu")
    a = session.generate(cond, 12, temperature=1.0, seed=1).output
    b = session.generate(cond, 12, temperature=1.0, seed=1).output
    np.testing.assert_array_equal(a, b)
    draws = {session.generate(cond, 12, temperature=5.0, seed=s).output.tobytes() for s in range(6)}
    assert len(draws) > 1  # a hot temperature over 12 steps does not repeat one sequence six times
    assert ((a >= 0) & (a < VOCAB)).all()
    greedy = session.generate(cond, 12).output
    np.testing.assert_array_equal(session.generate(cond, 12, temperature=1e-6, seed=3).output, greedy)


def test_generate_checks_its_arguments(token_bundle, cond, tmp_path):
    session = Session.load(token_bundle, provider="cpu")
    with pytest.raises(InputError, match="steps: expected a positive int, got 0"):
        session.generate(cond, 0)
    with pytest.raises(InputError, match="temperature: expected None or a finite value >= 0, got -1"):
        session.generate(cond, 3, temperature=-1)
    with pytest.raises(
        InputError, match=r"input 'cond': expected \[batch, 4\] float32, got \[2, 3\] float32"
    ):
        session.generate(cond[:, :3], 3)
    with pytest.raises(UnsupportedError, match="generate needs a one_to_many bundle with an 'init' file"):
        Session.load(make_bundle(tmp_path / "m2m"), provider="cpu").generate(cond, 3)
