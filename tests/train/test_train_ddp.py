"""``edgernn train --nproc-per-node 2``: torchrun, gloo, DDP, against single-process training.

The reference is the same command in one process. A global batch of 16 over 2 processes of 8
each (sunspots: 192 training windows, an even split) averages the same gradients, so the runs may
differ only by float summation order. Stated tolerances: losses, metrics and gradient norms within
1e-5 relative, weights and optimiser tensors within 1e-5 absolute (measured: about 1e-7).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgernn.cli import cli

torch = pytest.importorskip("torch")
from safetensors.torch import load_file  # noqa: E402

from edgernn.runtime import Session  # noqa: E402
from edgernn.runtime.bundle import Bundle  # noqa: E402
from edgernn.train.cli import train_command, worker_args  # noqa: E402
from edgernn.train.run import load_run  # noqa: E402

# test_only_rank_zero_reports_and_writes compares a torchrun run folder, loss.png included, with an
# in-process one, so in-process training draws it here too (tests/conftest.py)
pytestmark = pytest.mark.plots

# LSTM with truncated BPTT (24-step windows in 3 chunks): each process carries its own state.
FLAGS = ["--dataset", "sunspots", "--cell", "lstm", "--hidden", "8", "--tbptt", "8", "--threads", "1"]
REL, ABS = 1e-5, 1e-5


def invoke(*args):
    return CliRunner().invoke(cli, ["train", *map(str, args)])


def records(run_dir) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def assert_same_records(got: list[dict], want: list[dict]) -> None:
    """Equal epochs, and every number within REL (gradient norms per group too)."""
    assert [r["epoch"] for r in got] == [r["epoch"] for r in want]
    for a, b in zip(got, want, strict=True):
        assert set(a) == set(b)
        for key in ("train_loss", "val_loss", "val_metric", "lr", "grad_norm_max"):
            if b.get(key) is None:
                assert a.get(key) is None, (a["epoch"], key)
            else:
                assert a[key] == pytest.approx(b[key], rel=REL), (a["epoch"], key)
        if "grad_norm" in b:
            assert a["grad_norm"] == pytest.approx(b["grad_norm"], rel=REL)


def assert_same_tensors(path_a, path_b) -> None:
    a, b = load_file(path_a), load_file(path_b)
    assert set(a) == set(b)
    for key in a:
        if key.startswith("rng."):
            continue
        assert torch.allclose(a[key].double(), b[key].double(), rtol=0, atol=ABS), key


def run_leftovers(temp_dir: Path) -> list[str]:
    """What one run left in its TMPDIR: torch's machine-wide caches (inductor, ``.ses``) do not count."""
    return [p.name for p in temp_dir.iterdir() if p.name.startswith(("torchelastic_", "edgernn-", "tmp"))]


def torchrun_train(*args, temp_dir: Path) -> subprocess.CompletedProcess:
    """``python -m edgernn.train ARGS --nproc-per-node 2`` in a fresh process, gloo on loopback.

    ``temp_dir`` (created here) is the processes' TMPDIR, so a test can see what a run leaves there.
    """
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env["GLOO_SOCKET_IFNAME"] = "lo"
    temp_dir.mkdir()
    env["TMPDIR"] = str(temp_dir)
    command = [sys.executable, "-m", "edgernn.train", *map(str, args), "--nproc-per-node", "2"]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=240)


# The torchrun launches (about 10 s of both cores each) run in the slow suite. The fast suite holds
# DDP's arithmetic in test_train_ddp_group.py (one spawned group: masked TBPTT, resume across process
# counts, a NaN or a failure on one rank) and the launcher's argument hand-off below.
@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The same 2-epoch run through torchrun with 2 processes, and in this process alone."""
    root = tmp_path_factory.mktemp("ddp")
    proc = torchrun_train(*FLAGS, "--epochs", "2", "--out", root / "ddp", temp_dir=root / "tmp")
    assert proc.returncode == 0, proc.stderr
    single = invoke(*FLAGS, "--epochs", "2", "--out", root / "single")
    assert single.exit_code == 0, single.output
    return root, proc


@pytest.mark.slow
def test_two_processes_match_one_process_with_the_same_global_batch(runs):
    root, proc = runs
    assert_same_records(records(root / "ddp"), records(root / "single"))
    assert_same_tensors(root / "ddp" / "resume.safetensors", root / "single" / "resume.safetensors")
    assert_same_tensors(root / "ddp" / "model.safetensors", root / "single" / "model.safetensors")
    ddp, single = (json.loads((root / n / "summary.json").read_text()) for n in ("ddp", "single"))
    assert (ddp["processes"], single["processes"]) == (2, 1)
    assert ddp["test_metric"] == pytest.approx(single["test_metric"], rel=REL)
    assert ddp["best_epoch"] == single["best_epoch"] and ddp["stopped"] == single["stopped"] == "max_epochs"


@pytest.mark.slow
def test_only_rank_zero_reports_and_writes(runs):
    root, proc = runs
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 4 and lines[0].startswith("best val rmse ") and lines[3].startswith("checkpoint ")
    assert lines[2].startswith("simple forecasts: ")  # persistence, seasonal naive (11), training mean
    assert proc.stderr.count("epoch 2/2 loss ") == 1 and "error" not in proc.stderr.lower()
    names = sorted(p.name for p in (root / "ddp").iterdir())
    assert names == sorted(p.name for p in (root / "single").iterdir())
    assert not [p for p in root.iterdir() if p.name.startswith(".")]  # no staged or temp leftovers
    assert run_leftovers(root / "tmp") == []  # not even the launcher's torchelastic_* log folder


@pytest.mark.slow
def test_resume_a_two_process_run_in_one_process(runs, tmp_path):
    """N=2 -> M=1: the same global batches, so it continues like the single-process run."""
    root, _ = runs
    for name in ("ddp", "single"):
        shutil.copytree(root / name, tmp_path / name)
        result = invoke("--out", tmp_path / name, "--resume", "--epochs", "3")
        assert result.exit_code == 0, result.output
    assert [r["epoch"] for r in records(tmp_path / "ddp")] == [0, 1, 2, 3]
    assert_same_records(records(tmp_path / "ddp"), records(tmp_path / "single"))
    assert_same_tensors(tmp_path / "ddp" / "resume.safetensors", tmp_path / "single" / "resume.safetensors")


@pytest.mark.slow
def test_a_ddp_checkpoint_exports_like_a_single_process_one(runs, tmp_path):
    root, _ = runs
    model, _ = load_run(root / "ddp")
    saved = load_file(root / "ddp" / "model.safetensors")
    assert set(saved) == set(model.state_dict()) and not [k for k in saved if k.startswith("module.")]
    manifests = {}
    for name in ("ddp", "single"):
        result = CliRunner().invoke(cli, ["export", str(root / name), "--out", str(tmp_path / name)])
        assert result.exit_code == 0, result.output
        assert "native 1×LSTM, 0 Loop/Scan" in result.output
        bundle = Bundle.load(tmp_path / name)
        assert set(bundle.verify().values()) == {"ok"}
        manifests[name] = bundle.manifest
    ddp, single = manifests["ddp"], manifests["single"]
    assert (ddp.cell, ddp.layers, ddp.topology, ddp.input, ddp.output, ddp.state) == (
        single.cell, single.layers, single.topology, single.input, single.output, single.state
    )  # fmt: skip
    checks = {c.name: c.passed for c in ddp.validation.checks}
    assert checks == {c.name: c.passed for c in single.validation.checks} and all(checks.values())
    assert ddp.validation.torch_metric.value == pytest.approx(single.validation.torch_metric.value, rel=REL)
    x = torch.randn(3, 30, 1).numpy()
    got, want = (Session.load(tmp_path / n, provider="cpu").run(x).output for n in ("ddp", "single"))
    assert abs(got - want).max() < 1e-4


@pytest.mark.slow
def test_a_diverging_run_stops_both_processes_with_one_message(tmp_path):
    out = tmp_path / "run"
    flags = ["--lr", "1e6", "--optimizer", "sgd", "--clip-grad-norm", "0", "--out", out]
    proc = torchrun_train(*FLAGS, *flags, temp_dir=tmp_path / "tmp")
    assert proc.returncode == 1 and run_leftovers(tmp_path / "tmp") == []
    errors = [line for line in proc.stderr.splitlines() if "error" in line.lower()]
    assert len(errors) == 2, proc.stderr  # rank 0's reason, then the launcher's verdict
    assert errors[0].startswith("error: the loss became ") and "training stopped" in errors[0]
    assert f"The last good checkpoint is intact: {out / 'model.safetensors'} (epoch 0)" in errors[0]
    assert errors[1].startswith("error: training stopped: 2 of 2 processes failed, first rank ")
    model, info = load_run(out)
    assert info.summary is None and all(p.isfinite().all() for p in model.parameters())
    assert [r["epoch"] for r in records(out)] == [0]


def test_help_and_a_global_batch_that_does_not_split(tmp_path):
    result = invoke("--help")
    assert result.exit_code == 0 and "--nproc-per-node" in result.output and "global batch" in result.output
    result = invoke(*FLAGS, "--batch-size", "15", "--nproc-per-node", "2", "--out", tmp_path / "run")
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "error: --batch-size 15: the global batch must split evenly over 2 processes; use a multiple of 2"
    )
    assert not (tmp_path / "run").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_cuda_is_refused_before_any_process_starts(tmp_path):
    result = invoke(*FLAGS, "--device", "cuda", "--nproc-per-node", "2", "--out", tmp_path / "run")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: --device cuda: CUDA is not available")
    assert len(result.stderr.splitlines()) == 1 and not (tmp_path / "run").exists()


def test_worker_args_repeat_the_given_flags():
    given = {"dataset": "sunspots", "columns": "a, b", "bidirectional": False, "lr": 0.003, "hidden": 8}
    tmp = Path("runs/x")
    args = worker_args(given, tmp, resume=True)
    assert args == [
        "--dataset", "sunspots", "--columns", "a, b", "--hidden", "8", "--unidirectional", "--lr", "0.003",
        "--out", str(tmp), "--resume",
    ]  # fmt: skip
    parsed = train_command.make_context("train", list(args)).params
    assert {k: v for k, v in parsed.items() if v is not None} == {
        **given,
        "out": tmp,
        "resume": True,
    }
