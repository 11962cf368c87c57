"""On a CUDA device (marker ``gpu``; skipped where onnxruntime has no CUDA EP): providers, TF32 off,
fp32/fp16 parity, streams with and without CUDA graphs, IO binding, the CLI, and training on CUDA.
References are the CPU EP on the same model (fp32 to 1e-5, as on the CPU tests)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from _runtime_models import make_bundle

ort = pytest.importorskip("onnxruntime")
pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(
        "CUDAExecutionProvider" not in ort.get_available_providers(), reason="needs onnxruntime's CUDA EP"
    ),
]

from edgernn.runtime import RuntimeConfig, Session  # noqa: E402

CUDA, CPU = "CUDAExecutionProvider", "CPUExecutionProvider"
ATOL = 1e-5
BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture(scope="module")
def x():
    return np.random.default_rng(4).standard_normal((3, 24, 3)).astype(np.float32)


def _cuda(root, **config):
    return Session.load(root, provider="cuda", fallback="error", options=RuntimeConfig(**config))


def test_cuda_runs_on_cuda_with_tf32_off_and_matches_the_cpu(tmp_path, x):
    root = make_bundle(tmp_path / "b", cell="lstm", layers=2)
    cuda = _cuda(root)
    assert cuda.provider == CUDA and cuda.device == ("cuda", 0)
    assert cuda._engine.ort.get_provider_options()[CUDA]["use_tf32"] == "0"
    ref = Session.load(root, provider="cpu").run(x, return_state=True)
    got = cuda.run(x, return_state=True)
    np.testing.assert_allclose(got.output, ref.output, atol=ATOL)
    np.testing.assert_allclose(got.state["c0"], ref.state["c0"], atol=ATOL)


def test_a_cuda_session_logs_no_plugin_ep_warning(tmp_path):
    root = make_bundle(tmp_path / "b")
    code = (
        f"from edgernn.runtime import Session; Session.load({str(root)!r}, provider='cuda', fallback='error')"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    assert "No registered plugin EP device found" not in proc.stderr


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("graphs", [True, False])
def test_cuda_stream_equals_the_full_sequence(tmp_path, x, cell, batch, graphs):
    root = make_bundle(tmp_path / "b", cell=cell, layers=2)
    xb = x[:batch]
    ref = Session.load(root, provider="cpu").run(xb, return_state=True)
    stream = _cuda(root, cuda_graphs=graphs).stream(batch)
    outs = np.stack([stream.step(xb[:, t]).output for t in range(xb.shape[1])], axis=1)
    assert np.isfinite(outs).all()
    np.testing.assert_allclose(outs, ref.output, atol=ATOL)
    np.testing.assert_allclose(stream.state["h0"], ref.state["h0"], atol=ATOL)
    stream.reset()
    again = np.stack([stream.step(xb[:, t]).output for t in range(xb.shape[1])], axis=1)
    np.testing.assert_allclose(again, ref.output, atol=ATOL)


def test_cuda_stream_continues_from_a_set_state(tmp_path, x):
    root = make_bundle(tmp_path / "b", cell="lstm")
    cpu = Session.load(root, provider="cpu")
    half, full = cpu.run(x[:, :10], return_state=True), cpu.run(x)
    stream = _cuda(root).stream(3)
    stream.state = half.state
    rest = np.stack([stream.step(x[:, t]).output for t in range(10, x.shape[1])], axis=1)
    np.testing.assert_allclose(rest, full.output[:, 10:], atol=ATOL)


def test_the_benchmark_lstm_stream_replays_a_cuda_graph(tmp_path):
    pytest.importorskip("torch")
    sys.path.insert(0, str(BENCH))
    from _lstm import FEATURES, build_bundle

    root = build_bundle(tmp_path / "lstm")
    cuda = _cuda(root)
    stream = cuda.stream(2)
    xs = np.random.default_rng(0).standard_normal((2, 30, FEATURES)).astype(np.float32)
    outs = np.stack([stream.step(xs[:, t]).output for t in range(30)], axis=1)
    assert stream.cuda_graph, cuda._engine.graphs.reason
    ref = Session.load(root, provider="cpu").run(xs).output
    np.testing.assert_allclose(outs, ref, atol=ATOL)


def test_auto_runs_small_batches_on_the_cpu_and_big_ones_on_cuda(tmp_path):
    root = make_bundle(tmp_path / "b", cell="gru")
    auto = Session.load(root, provider="auto")
    rng = np.random.default_rng(1)
    small, big = (rng.standard_normal((n, 6, 3)).astype(np.float32) for n in (1, 64))
    ref = Session.load(root, provider="cpu")
    np.testing.assert_allclose(auto.run(small).output, ref.run(small).output, atol=ATOL)
    assert auto.provider == CPU and not auto.describe()["auto_gpu"]["loaded"]
    np.testing.assert_allclose(auto.run(big).output, ref.run(big).output, atol=ATOL)
    assert auto.describe()["auto_gpu"]["loaded"]


def test_fp16_is_verified_on_cuda(tmp_path):
    torch = pytest.importorskip("torch")
    from export_models import Seq

    from edgernn.export import ExportMeta, QuantizeConfig, export, quantize
    from edgernn.runtime.manifest import OutputSpec

    root = tmp_path / "b"
    export(Seq("lstm"), torch.randn(2, 9, 4), root, meta=ExportMeta(output=OutputSpec(kind="regression")))
    rng = np.random.default_rng(0)
    xs, ys = rng.standard_normal((8, 12, 4)).astype(np.float32), rng.standard_normal((8, 12, 3))
    np.savez(tmp_path / "eval.npz", x=xs, y=ys)
    (r,) = quantize(
        root, ["fp16"], eval_path=tmp_path / "eval.npz", config=QuantizeConfig(latency_iters=5)
    ).results
    assert r.accepted and r.settings["verified_on"] == CUDA and r.settings["tf32"] is False, r.note


def _cli(*args: str, cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    """``edgernn ARGS`` in a fresh interpreter, from ``cwd`` (never the repository root)."""
    code = "import sys; from edgernn.cli import main; sys.argv[0] = 'edgernn'; main()"
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=timeout, cwd=cwd
    )


def test_cli_run_and_profile_on_cuda(tmp_path):
    root = make_bundle(tmp_path / "b")
    np.save(tmp_path / "x.npy", np.zeros((1, 5, 3), np.float32))
    run = _cli(
        "run", str(root), str(tmp_path / "x.npy"), "--provider", "cuda", "--fallback", "error", cwd=tmp_path
    )
    assert run.returncode == 0, run.stderr
    prof = _cli(
        "profile", str(root), "--provider", "cpu,cuda", "--iters", "5", "--mode", "stream", cwd=tmp_path
    )
    assert prof.returncode == 0, prof.stderr
    assert "CUDA" in prof.stdout


@pytest.mark.parametrize("nproc", [None, 1])
def test_training_on_cuda(tmp_path, nproc):
    pytest.importorskip("torch")
    args = [
        "train",
        "--dataset",
        "sunspots",
        "--epochs",
        "2",
        "--device",
        "cuda",
        "--out",
        str(tmp_path / "run"),
    ]
    if nproc:
        args += ["--nproc-per-node", str(nproc)]
    proc = _cli(*args, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (tmp_path / "run" / "model.safetensors").is_file()


def test_the_stream_batcher_on_cuda_equals_independent_streams(tmp_path, x):
    root = make_bundle(tmp_path / "b", cell="lstm", layers=2)
    cuda = _cuda(root)
    batcher = cuda.batcher(max_batch=8)
    handles = [batcher.open() for _ in range(3)]
    alone = [cuda.stream(1) for _ in range(3)]
    for t in range(x.shape[1]):
        live = handles if t < 12 else handles[:2]  # the third leaves half-way
        out = batcher.step({h: x[i : i + 1, t] for i, h in enumerate(live)})
        for i, h in enumerate(live):
            np.testing.assert_allclose(out[h].output, alone[i].step(x[i : i + 1, t]).output, atol=ATOL)
