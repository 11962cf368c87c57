"""Session.run against plain onnxruntime and numpy: cells, topologies, scaling, classes, variants."""

from __future__ import annotations

import json

import numpy as np
import pytest
from _runtime_models import make_bundle, ort_reference, rnn_model, zeros_state

from edgernn.runtime import BundleError, InputError, Session
from edgernn.runtime.bundle import METADATA_KEY
from edgernn.runtime.vocab import BARE_VARIANT

ATOL = 1e-6  # same graph, same kernels, 1 thread: differences are float rounding at most


@pytest.fixture(scope="module")
def rng():
    return np.random.default_rng(7)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("topology", ["many_to_many", "many_to_one"])
def test_run_matches_plain_onnxruntime(tmp_path, rng, cell, topology):
    root = make_bundle(tmp_path / "b", cell=cell, topology=topology, layers=2)
    x = rng.standard_normal((4, 9, 3)).astype(np.float32)
    ref = ort_reference(root / "model.onnx", {"x": x, **zeros_state(cell, 4, layers=2)})
    result = Session.load(root, provider="cpu", threads=1).run(x, return_state=True)
    np.testing.assert_allclose(result.output, ref[0], atol=ATOL)
    np.testing.assert_allclose(result.outputs["y"], ref[0], atol=ATOL)
    np.testing.assert_allclose(result.state["h0"], ref[1], atol=ATOL)
    if cell == "lstm":
        np.testing.assert_allclose(result.state["c0"], ref[2], atol=ATOL)


def test_state_is_only_returned_when_asked(tmp_path, rng):
    session = Session.load(make_bundle(tmp_path / "b"), provider="cpu")
    x = rng.standard_normal((1, 4, 3)).astype(np.float32)
    assert session.run(x).state is None
    assert sorted(session.run(x, return_state=True).state) == ["c0", "h0"]


def test_run_from_a_given_state_equals_running_on(tmp_path, rng):
    session = Session.load(make_bundle(tmp_path / "b", cell="gru"), provider="cpu")
    x = rng.standard_normal((2, 10, 3)).astype(np.float32)
    whole = session.run(x, return_state=True)
    first = session.run(x[:, :6], return_state=True)
    rest = session.run(x[:, 6:], state=first.state, return_state=True)
    np.testing.assert_allclose(rest.output, whole.output[:, 6:], atol=ATOL)
    np.testing.assert_allclose(rest.state["h0"], whole.state["h0"], atol=ATOL)


def test_lengths_reach_the_graph(tmp_path, rng):
    root = make_bundle(tmp_path / "b", topology="many_to_one", lengths=True)
    x = rng.standard_normal((3, 8, 3)).astype(np.float32)
    lengths = np.array([8, 3, 5], np.int64)
    ref = ort_reference(root / "model.onnx", {"x": x, "lengths": lengths, **zeros_state("lstm", 3)})
    session = Session.load(root, provider="cpu")
    np.testing.assert_allclose(session.run(x, lengths=lengths).output, ref[0], atol=ATOL)
    # a short sequence alone gives the same answer as its padded row
    alone = session.run(x[1:2, :3]).output
    np.testing.assert_allclose(alone[0], ref[0][1], atol=1e-5)
    full = ort_reference(root / "model.onnx", {"x": x, "lengths": np.full(3, 8), **zeros_state("lstm", 3)})
    np.testing.assert_allclose(session.run(x).output, full[0], atol=ATOL)


def test_normalisation_and_denormalisation_follow_the_manifest(tmp_path, rng):
    mean, std = [1.0, -2.0, 0.5], [2.0, 0.5, 4.0]
    out_mean, out_std = [10.0, -3.0], [5.0, 0.25]
    root = make_bundle(
        tmp_path / "b",
        input_kw={"mean": tuple(mean), "std": tuple(std)},
        output_kw={"mean": tuple(out_mean), "std": tuple(out_std), "units": "degC"},
    )
    x = rng.standard_normal((2, 6, 3)).astype(np.float32) * 3 + 1
    model_x = ((x - np.float32(mean)) / np.float32(std)).astype(np.float32)
    raw = ort_reference(root / "model.onnx", {"x": model_x, **zeros_state("lstm", 2)})[0]
    result = Session.load(root, provider="cpu").run(x)
    np.testing.assert_allclose(result.outputs["y"], raw, atol=1e-5)
    np.testing.assert_allclose(result.output, raw * np.float32(out_std) + np.float32(out_mean), atol=1e-5)


def test_classes_give_labels_and_probabilities(tmp_path, rng):
    labels = ("walk", "run", "sit")
    root = make_bundle(
        tmp_path / "b", topology="many_to_one", out=3, output_kw={"kind": "classes", "labels": labels}
    )
    x = rng.standard_normal((5, 7, 3)).astype(np.float32)
    logits = ort_reference(root / "model.onnx", {"x": x, **zeros_state("lstm", 5)})[0]
    result = Session.load(root, provider="cpu").run(x)
    expected = np.exp(logits - logits.max(-1, keepdims=True))
    expected /= expected.sum(-1, keepdims=True)
    np.testing.assert_allclose(result.probabilities, expected, atol=1e-6)
    np.testing.assert_allclose(result.probabilities.sum(-1), 1.0, atol=1e-6)
    assert result.labels.tolist() == [labels[i] for i in logits.argmax(-1)]
    assert result.to_dict()["labels"] == result.labels.tolist()


def test_regression_has_no_probabilities(tmp_path, rng):
    session = Session.load(make_bundle(tmp_path / "b"), provider="cpu")
    result = session.run(rng.standard_normal((1, 2, 3)).astype(np.float32))
    with pytest.raises(Exception, match="expected a model whose output kind is classes or tokens"):
        _ = result.probabilities


def test_token_model(tmp_path, rng):
    root = make_bundle(tmp_path / "b", vocab=11, out=11, features=4, output_kw={"kind": "tokens"})
    ids = rng.integers(0, 11, (2, 6))
    ref = ort_reference(root / "model.onnx", {"x": ids, **zeros_state("lstm", 2)})[0]
    result = Session.load(root, provider="cpu").run(ids.astype(np.int32))  # int32 is cast once
    np.testing.assert_allclose(result.output, ref, atol=ATOL)
    assert result.labels.tolist() == ref.argmax(-1).tolist()


def test_variant_auto_picks_int8_on_cpu_and_names_what_runs(tmp_path, rng):
    # the "int8" file here is just a different graph: what is tested is which file the session opens
    root = make_bundle(tmp_path / "b", extra={"model.int8.onnx": rnn_model(seed=99)})
    x = rng.standard_normal((1, 5, 3)).astype(np.float32)
    ref8 = ort_reference(root / "model.int8.onnx", {"x": x, **zeros_state("lstm", 1)})[0]
    ref32 = ort_reference(root / "model.onnx", {"x": x, **zeros_state("lstm", 1)})[0]
    auto = Session.load(root, provider="cpu")
    assert (auto.variant, auto.model_path.name, auto.provider) == (
        "int8",
        "model.int8.onnx",
        "CPUExecutionProvider",
    )
    np.testing.assert_allclose(auto.run(x).output, ref8, atol=ATOL)
    fp32 = Session.load(root, provider="cpu", variant="fp32")
    np.testing.assert_allclose(fp32.run(x).output, ref32, atol=ATOL)
    assert fp32.describe()["variant"] == "fp32"
    with pytest.raises(BundleError, match="expected a 'fp16' model variant, the bundle has: fp32, int8"):
        Session.load(root, provider="cpu", variant="fp16")


def test_tampered_model_is_refused(tmp_path):
    root = make_bundle(tmp_path / "b")
    with open(root / "model.onnx", "ab") as f:
        f.write(b"\0")
    with pytest.raises(BundleError, match="sha256 mismatch"):
        Session.load(root, provider="cpu")


def test_bare_onnx_with_edgernn_metadata_uses_it(tmp_path, rng):
    model = rnn_model(topology="many_to_one")
    meta = {
        "name": "meta",
        "input": {"features": 3, "mean": [1.0, 1.0, 1.0], "std": [2.0, 2.0, 2.0]},
        "output": {"kind": "regression"},
        "state": [
            {"input": "h0", "output": "hn", "shape": [1, "batch", 5]},
            {"input": "c0", "output": "cn", "shape": [1, "batch", 5]},
        ],
        "topology": "many_to_one",
    }
    model.metadata_props.add(key=METADATA_KEY, value=json.dumps(meta))
    import onnx

    onnx.save(model, str(tmp_path / "m.onnx"))
    x = rng.standard_normal((2, 4, 3)).astype(np.float32)
    ref = ort_reference(tmp_path / "m.onnx", {"x": (x - 1) / 2, **zeros_state("lstm", 2)})[0]
    session = Session.load(tmp_path / "m.onnx", provider="cpu")
    assert session.manifest.topology == "many_to_one" and session.variant == BARE_VARIANT
    np.testing.assert_allclose(session.run(x).output, ref, atol=1e-5)


def test_missing_path_and_state_map_on_a_bundle(tmp_path):
    with pytest.raises(BundleError, match="expected a bundle folder or an .onnx file"):
        Session.load(tmp_path / "nothing", provider="cpu")
    with pytest.raises(InputError, match="state_map: applies to bare .onnx files"):
        Session.load(make_bundle(tmp_path / "b"), provider="cpu", state_map={"h0": "hn"})
