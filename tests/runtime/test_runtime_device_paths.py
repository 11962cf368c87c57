"""The GPU code paths, exercised on the CPU: device-style stream bindings (fixed buffers, explicit
copies, synchronised runs) against the full sequence, CUDA-graph fallback, provider=auto routing,
TF32 and the fp16 refusal. tests/gpu/ repeats the parity checks on a real CUDA device."""

from __future__ import annotations

import json
import threading
import warnings

import numpy as np
import pytest
from _runtime_models import make_bundle, ort_reference, rnn_model, zeros_state

from edgernn.runtime import ProviderError, Session, UnsupportedError
from edgernn.runtime import providers as prov
from edgernn.runtime.cuda_graphs import CudaGraphs
from edgernn.runtime.stream import Stream
from edgernn.runtime.vocab import CPU, CUDA

ATOL = 1e-6  # same graph and kernels: only the binding path differs


@pytest.fixture(scope="module")
def x():
    return np.random.default_rng(11).standard_normal((3, 10, 3)).astype(np.float32)


def _device_stream(session: Session, batch: int) -> Stream:
    return Stream(session._engine, batch, device_io=True)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("batch", [1, 3])
def test_device_style_stream_equals_the_full_sequence(tmp_path, x, cell, batch):
    root = make_bundle(tmp_path / "b", cell=cell, layers=2)
    xb = x[:batch]
    y, *final = ort_reference(root / "model.onnx", {"x": xb, **zeros_state(cell, batch, layers=2)})
    stream = _device_stream(Session.load(root, provider="cpu", threads=1), batch)
    outs = [stream.step(xb[:, t]).output for t in range(xb.shape[1])]
    np.testing.assert_allclose(np.stack(outs, axis=1), y, atol=ATOL)
    np.testing.assert_allclose(stream.state["h0"], final[0], atol=ATOL)
    assert not stream.cuda_graph  # no graphs on the CPU


def test_device_style_stream_after_reset_and_after_setting_state(tmp_path, x):
    root = make_bundle(tmp_path / "b", cell="lstm")
    session = Session.load(root, provider="cpu", threads=1)
    stream = _device_stream(session, 3)
    for t in range(4):
        stream.step(x[:, t])
    stream.reset()
    y, hn, cn = ort_reference(root / "model.onnx", {"x": x, **zeros_state("lstm", 3)})
    outs = [stream.step(x[:, t]).output for t in range(x.shape[1])]
    np.testing.assert_allclose(np.stack(outs, axis=1), y, atol=ATOL)
    # state set mid-way: continue from the state after 6 steps = the second half of the sequence
    half = ort_reference(root / "model.onnx", {"x": x[:, :6], **zeros_state("lstm", 3)})
    resumed = _device_stream(session, 3)
    resumed.state = {"h0": half[1], "c0": half[2]}
    rest = [resumed.step(x[:, t]).output for t in range(6, x.shape[1])]
    np.testing.assert_allclose(np.stack(rest, axis=1), y[:, 6:], atol=ATOL)
    np.testing.assert_allclose(resumed.state["c0"], cn, atol=ATOL)


def test_device_style_outputs_are_copies_not_views(tmp_path, x):
    root = make_bundle(tmp_path / "b", cell="gru")
    stream = _device_stream(Session.load(root, provider="cpu", threads=1), 3)
    first = stream.step(x[:, 0]).output
    kept = first.copy()
    stream.step(x[:, 1])
    stream.step(x[:, 2])
    np.testing.assert_array_equal(first, kept)


def test_a_refused_capture_falls_back_for_every_stream():
    def refuse():
        raise RuntimeError("This session cannot use the CUDA Graph feature as requested by the user\n...")

    graphs = CudaGraphs(refuse)
    assert graphs.session is None and not graphs.active
    assert graphs.reason.startswith("onnxruntime would not create a capturing session: This session cannot")
    assert "\n" not in graphs.reason
    assert graphs.new_ids(2) == [1, 2] and graphs.new_ids(2) == [3, 4]  # unique, positive (0 is reserved)


def test_one_stream_from_two_threads_raises_instead_of_losing_steps(tmp_path, monkeypatch):
    root = make_bundle(tmp_path / "b", cell="gru")
    stream = Session.load(root, provider="cpu", threads=1).stream(1)
    inside, release = threading.Event(), threading.Event()
    real = stream.run_step

    def slow_step():
        inside.set()
        release.wait(5)
        return real()

    monkeypatch.setattr(stream, "run_step", slow_step)
    worker = threading.Thread(target=stream.step, args=(np.zeros((1, 3), np.float32),))
    worker.start()
    assert inside.wait(5)
    with pytest.raises(UnsupportedError, match="another thread is using it right now"):
        stream.step(np.zeros((1, 3), np.float32))
    with pytest.raises(UnsupportedError, match="cannot reset this stream"):
        stream.reset()
    release.set()
    worker.join(5)
    assert stream.steps == 1  # the refused calls did not count, the other one did


def test_auto_sends_only_big_batches_to_cuda():
    assert prov.auto_device(1, cuda_available=True) == CPU
    assert prov.auto_device(prov.AUTO_GPU_MIN_BATCH - 1, cuda_available=True) == CPU
    assert prov.auto_device(prov.AUTO_GPU_MIN_BATCH, cuda_available=True) == CUDA
    assert prov.auto_device(10_000, cuda_available=False) == CPU


def test_auto_without_a_working_cuda_stays_on_the_cpu_and_says_why(tmp_path, monkeypatch):
    from edgernn.runtime import loading as session_module

    monkeypatch.setattr(session_module.ort, "get_available_providers", lambda: [CUDA, CPU])
    root = make_bundle(tmp_path / "b", cell="gru")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # onnxruntime's note about the missing provider
        session = Session.load(root, provider="auto", threads=1)
        big = np.random.default_rng(0).standard_normal((prov.AUTO_GPU_MIN_BATCH, 4, 3)).astype(np.float32)
        out = session.run(big).output  # tries CUDA (this CPU build lands on CPU: fallback='error')
    expected = ort_reference(root / "model.onnx", {"x": big, **zeros_state("gru", len(big))})[0]
    np.testing.assert_allclose(out, expected, atol=ATOL)
    route = session.describe()["auto_gpu"]
    assert route["loaded"] is False and "CUDAExecutionProvider" in route["error"]


def _fp16_bundle(tmp_path, target):
    root = make_bundle(tmp_path / f"b-{target}", extra={"model.fp16.onnx": rnn_model(seed=4)})
    if target is not None:
        manifest = json.loads((root / "manifest.json").read_text())
        record = {
            "variant": "fp16",
            "file": "model.fp16.onnx",
            "size_bytes": 1,
            "size_ratio": 1.0,
            "metric": {"name": "rmse", "value": 1.0},
            "metric_delta": 0.0,
            "max_abs_diff": 0.0,
            "p50_ms": 1.0,
            "speedup": 1.0,
            "quantized_ops": {},
            "float_recurrent": [],
            "settings": {"target": target},
            "accepted": True,
        }
        manifest["quantization"] = {"fp16": record}
        (root / "manifest.json").write_text(json.dumps(manifest))
    return root


@pytest.mark.parametrize("target", ["cuda", None])
def test_a_cuda_fp16_variant_never_reaches_a_cpu_session(tmp_path, target):
    root = _fp16_bundle(tmp_path, target)
    with pytest.raises(ProviderError, match="the fp16 variant is built for CUDA.*no fp16 recurrent kernels"):
        Session.load(root, provider="cpu", variant="fp16")
    assert Session.load(root, provider="auto").variant == "fp32"  # auto never picks it on the CPU


def test_a_cpu_target_fp16_variant_loads_on_the_cpu(tmp_path):
    root = _fp16_bundle(tmp_path, "cpu")
    assert Session.load(root, provider="cpu", variant="fp16").variant == "fp16"
