"""Dynamic int8 couples the streams of a batch: the StreamBatcher measures by how much, against
independent int8 streams and fp32, and refuses a variant that breaks the metric budget."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from _runtime_models import make_bundle

from edgernn.runtime import Session, StreamBatcher, UnsupportedError
from edgernn.runtime.coupling import MAX_STEPS, is_dynamic
from edgernn.runtime.fileio import sha256_file

pytest.importorskip("onnxruntime.quantization")


def _int8_bundle(root, *, eval_targets: bool):
    from onnxruntime.quantization import QuantType, quantize_dynamic

    fp32 = make_bundle(root / "fp32", cell="lstm", layers=2, hidden=16, features=3)
    # reduce_range: 7-bit weights, accurate on CPUs without VNNI too (full range saturates there)
    quantize_dynamic(
        str(fp32 / "model.onnx"), str(root / "q.onnx"), weight_type=QuantType.QInt8, reduce_range=True
    )
    extra = {"model.int8.onnx": onnx.load(str(root / "q.onnx"))}
    bundle = make_bundle(root / "b", cell="lstm", layers=2, hidden=16, features=3, extra=extra)
    if eval_targets:
        x = np.random.default_rng(5).standard_normal((24, 30, 3)).astype(np.float32)
        y = Session.load(bundle, provider="cpu", variant="fp32").run(x).output
        np.savez(bundle / "eval.npz", x=x, y=y + np.random.default_rng(6).normal(0, 0.3, y.shape))
        data = json.loads((bundle / "manifest.json").read_text())
        path = bundle / "eval.npz"
        data["files"]["eval.npz"] = {
            "sha256": sha256_file(path),
            "size_bytes": path.stat().st_size,
            "role": "data",
        }
        (bundle / "manifest.json").write_text(json.dumps(data))
    return bundle


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    return _int8_bundle(tmp_path_factory.mktemp("int8"), eval_targets=False)


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    return _int8_bundle(tmp_path_factory.mktemp("int8eval"), eval_targets=True)


def _relative_rms(a, b):
    return float(np.sqrt(np.mean((a - b) ** 2)) / np.sqrt(np.mean(b**2)))


def test_fp32_is_exact_and_not_measured(plain):
    session = Session.load(plain, provider="cpu", variant="fp32")
    assert not is_dynamic(session)
    assert StreamBatcher(session, max_batch=8).deviation is None


def test_int8_deviation_is_measured_and_bounds_what_batching_does(plain):
    session = Session.load(plain, provider="cpu", variant="int8", threads=1)
    assert is_dynamic(session)
    batcher = StreamBatcher(session, max_batch=16, max_metric_drop=0.05)
    dev = batcher.deviation
    assert (dev.streams, dev.steps, dev.metric_drop) == (16, MAX_STEPS, None)  # random inputs, no targets
    assert 0 < dev.vs_independent <= dev.budget == 0.05 and dev.passed  # coupled, within the budget
    assert dev.vs_fp32 > 0 and dev.independent_vs_fp32 > 0
    assert "against independent int8 streams" in dev.summary()
    # what a user sees: 16 streams batched vs the same int8 variant stepped alone
    rng = np.random.default_rng(9)
    handles = [batcher.open() for _ in range(16)]
    streams = [session.stream(1) for _ in range(16)]
    x = rng.standard_normal((20, 16, 1, 3)).astype(np.float32)
    batched, alone = [], []
    for t in range(20):
        out = batcher.step({h: x[t, i] for i, h in enumerate(handles)})
        batched.append([out[h].output for h in handles])
        alone.append([s.step(x[t, i]).output for i, s in enumerate(streams)])
    moved = _relative_rms(np.array(batched), np.array(alone))
    assert 0 < moved <= 2 * dev.budget
    assert StreamBatcher(session, max_batch=16, max_metric_drop=0.05).deviation is dev  # measured once


def test_int8_over_budget_is_refused_with_the_numbers(plain):
    session = Session.load(plain, provider="cpu", variant="int8", threads=1)
    with pytest.raises(UnsupportedError) as err:
        StreamBatcher(session, max_batch=8, max_metric_drop=0.0)
    text = str(err.value)
    assert "refusing to batch the int8 variant" in text and "one quantization scale per call" in text
    assert "% (relative RMS) against independent int8 streams" in text and "variant='fp32'" in text


def test_int8_with_targets_is_judged_by_the_task_metric(scored):
    session = Session.load(scored, provider="cpu", variant="int8", threads=1)
    dev = StreamBatcher(session, max_batch=32).deviation
    assert dev.streams == 24 and dev.steps == 30 and "eval.npz" in dev.source
    assert dev.metric_batched.name == dev.metric_fp32.name == "rmse"
    assert dev.metric_drop == pytest.approx(dev.metric_batched.relative_drop(dev.metric_fp32))
    assert dev.passed == (dev.metric_drop <= 0.01)
    if dev.metric_drop > 0:  # any loss breaks a zero budget
        with pytest.raises(UnsupportedError, match=r"rmse .* vs fp32 .*budget 0%"):
            StreamBatcher(session, max_batch=32, max_metric_drop=0.0)
