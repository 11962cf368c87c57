"""``edgernn profile --torch``: the bundle's PyTorch source timed on the same inputs, with parity."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from _runtime_models import make_bundle  # noqa: E402
from click.testing import CliRunner  # noqa: E402

from edgernn.cli import cli  # noqa: E402
from edgernn.profiling.config import ProfileConfig  # noqa: E402
from edgernn.profiling.engine import profile  # noqa: E402
from edgernn.profiling.torch_baseline import bundle_baselines  # noqa: E402
from edgernn.runtime import Session  # noqa: E402
from edgernn.train.run import load_run  # noqa: E402

FAST = ["--iters", "8", "--warmup", "2"]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    """An exported 1-layer LSTM run (sunspots, 1 epoch): the bundle carries source/ (~6 s)."""
    root = tmp_path_factory.mktemp("torch")
    runner = CliRunner()
    train = "train --dataset sunspots --cell lstm --hidden 8 --epochs 1 --out".split() + [str(root / "run")]
    assert runner.invoke(cli, train).exit_code == 0
    result = runner.invoke(cli, ["export", str(root / "run"), "--out", str(root / "bundle")])
    assert result.exit_code == 0, result.output
    return root / "bundle"


def run(*args, ok=True):
    result = CliRunner().invoke(cli, ["profile", *map(str, args)])
    if ok:
        assert result.exit_code == 0, result.output + result.stderr
    return result


@pytest.mark.parametrize("mode", ["sequence", "stream"])
def test_torch_baseline_times_the_same_inputs_with_parity(bundle, tmp_path, mode):
    out = tmp_path / "r.json"
    result = run(bundle, "--torch", "--mode", mode, "--seq", "1,12", "--batch", "1,2", *FAST, "--json", out)
    report = json.loads(out.read_text())
    assert report["machine"]["torch"] == torch.__version__
    for c in report["cells"]:
        (b,) = c["baselines"]
        assert b["name"] == "torch-eager" and b["interleaved"] and b["error"] is None
        assert b["latency"]["n"] == 8
        assert b["speedup"] == pytest.approx(b["latency"]["p50_ms"] / c["latency"]["p50_ms"])
        assert b["max_abs_diff"] < 1e-5
    assert "torch-eager p50" in result.output and "speed-up" in result.output


def test_parity_against_an_independent_pytorch_run(bundle):
    # The reference: load_run + Session.run outside the profiler, on the profiler's own input pool.
    model, _ = load_run(bundle / "source")
    session = Session.load(bundle, provider="cpu")
    report = profile(
        bundle, ProfileConfig(seq_lens=(9,), iters=3, warmup=1), baselines=bundle_baselines(bundle)
    )
    x = np.random.default_rng(5).standard_normal((2, 9, 1)).astype(np.float32)
    with torch.inference_mode():
        expected, _ = model(torch.from_numpy(session.signature.to_model(x)))
    np.testing.assert_allclose(session.run(x).outputs["y"], expected.numpy(), atol=1e-5)
    assert report.cells[0].baselines[0].max_abs_diff < 1e-5


def test_isolated_cells_time_torch_in_the_parent(bundle, tmp_path):
    out = tmp_path / "r.json"
    run(bundle, "--torch", "--isolate", "--seq", "6", *FAST, "--json", out)
    (cell,) = json.loads(out.read_text())["cells"]
    (b,) = cell["baselines"]
    assert not b["interleaved"] and b["speedup"] == pytest.approx(
        b["latency"]["p50_ms"] / cell["latency"]["p50_ms"]
    )
    assert cell["peak_rss_mib"] > 0 and b["max_abs_diff"] < 1e-5


def test_torch_needs_a_bundle_with_its_source(bundle, tmp_path):
    bare = make_bundle(tmp_path / "b", features=3)
    result = run(bare, "--torch", *FAST, ok=False)
    assert result.exit_code == 1
    assert "--torch: expected source/config.json, source/model.safetensors in" in result.stderr
    result = run(bundle / "model.onnx", "--torch", *FAST, ok=False)
    assert result.exit_code == 1 and "--torch: expected an edgernn bundle folder" in result.stderr
    result = run(bundle, "--torch-compile", *FAST, ok=False)
    assert result.exit_code == 1 and "torch_compile: expected torch=True as well" in result.stderr


@pytest.mark.slow
def test_torch_compile_baseline(bundle, tmp_path):
    out = tmp_path / "r.json"
    run(bundle, "--torch", "--torch-compile", "--seq", "8", *FAST, "--json", out)
    (cell,) = json.loads(out.read_text())["cells"]
    compiled = next(b for b in cell["baselines"] if b["name"] == "torch-compile")
    assert compiled["error"] is None and compiled["max_abs_diff"] < 1e-5
    assert compiled["first_ms"] > compiled["latency"]["p50_ms"]  # the first call compiles
