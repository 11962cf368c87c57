"""SIGKILL in the middle of a write, and Ctrl-C in the middle of training: nothing half-written is
ever picked up, and the previous artifact still loads and verifies.

The child process is the real ``edgernn`` CLI with one hook: when it is about to fsync a temp file
that matches a pattern (the staged bundle's manifest, a checkpoint that already exists), it cuts
that temp file to half its size, as a crash would leave it, writes a marker and waits to be killed.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from interrupts import popen_interruptible

from edgernn.cli import cli
from edgernn.runtime import Bundle, BundleError, Session
from edgernn.train.errors import RunError

torch = pytest.importorskip("torch")

from edgernn.train import load_run  # noqa: E402
from edgernn.train.checkpoint import load_weights, read_resume  # noqa: E402

TRAIN = ["train", "--dataset", "sunspots", "--hidden", "4", "--threads", "1"]
CLI = "import sys; sys.argv[0] = 'edgernn'; from edgernn.cli import main; main()"
HOOK = (
    """
import fnmatch, hashlib, json, os, sys, tempfile, time
marker, pattern, existing = sys.argv[1:4]
del sys.argv[1:4]
temps, mkstemp, fsync = {}, tempfile.mkstemp, os.fsync

def recording_mkstemp(*args, **kwargs):
    fd, name = mkstemp(*args, **kwargs)
    temps[fd] = name
    return fd, name

def crashing_fsync(fd):
    temp = temps.pop(fd, None)
    if temp and fnmatch.fnmatch(temp, pattern):
        head, name = os.path.split(temp)
        final = os.path.join(head, name[1:].rsplit(".", 2)[0])  # .NAME.XXXXXX.tmp -> NAME
        if existing == "any" or os.path.exists(final):
            os.ftruncate(fd, os.fstat(fd).st_size // 2)
            sha = hashlib.sha256(open(final, "rb").read()).hexdigest() if os.path.exists(final) else None
            with open(marker + ".part", "w") as f:
                json.dump({"temp": temp, "final": final, "final_sha": sha}, f)
            os.rename(marker + ".part", marker)
            time.sleep(300)
    fsync(fd)

tempfile.mkstemp, os.fsync = recording_mkstemp, crashing_fsync
"""
    + CLI
)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def kill_mid_write(tmp_path: Path, args: list, pattern: str, existing: str = "any") -> dict:
    """Start ``edgernn ARGS`` with the hook, SIGKILL it once it sits in the matching write."""
    marker = tmp_path / "marker.json"
    command = [sys.executable, "-c", HOOK, str(marker), pattern, existing, *map(str, args)]
    temp = tmp_path / "system-tmp"  # a SIGKILL leaves export's scratch folder; keep it out of /tmp
    temp.mkdir(exist_ok=True)
    env = {**os.environ, "TMPDIR": str(temp)}
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 120
    while not marker.exists():
        if proc.poll() is not None:
            pytest.fail(f"edgernn exited {proc.returncode} before the write: {proc.stderr.read()[-2000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("the write never came")
        time.sleep(0.02)
    proc.kill()
    proc.wait()
    proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    return json.loads(marker.read_text())


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A one-epoch run and a bundle exported from it: the previous artifacts."""
    from train_fixtures import QUIET, tiny

    from edgernn.export.from_run import export_run
    from edgernn.train.config import DataConfig, RunConfig
    from edgernn.train.datasets import presets
    from edgernn.train.training import run_training

    root = tmp_path_factory.mktemp("trained")
    model_cfg, train_cfg = tiny(hidden_size=4, epochs=1)
    data = DataConfig(dataset="sunspots", **presets("sunspots")[0])
    run_training(RunConfig(data, model_cfg, train_cfg), root / "run", console=QUIET)
    export_run(root / "run", root / "bundle")
    return root


def test_export_killed_mid_write_leaves_the_previous_bundle_whole(trained, tmp_path):
    import shutil

    out = Path(shutil.copytree(trained / "bundle", tmp_path / "bundle"))
    before = {p.name: sha256(p) for p in out.rglob("*") if p.is_file()}
    x = np.random.default_rng(0).standard_normal((2, 12, 1)).astype(np.float32) * 50 + 80
    expected = Session.load(out, provider="cpu").run(x).output

    info = kill_mid_write(
        tmp_path, ["export", trained / "run", "--out", out], f"{tmp_path}/.bundle.*.tmp/.manifest.json.*"
    )

    assert {p.name: sha256(p) for p in out.rglob("*") if p.is_file()} == before
    assert set(Bundle.load(out).verify().values()) == {"ok"}
    np.testing.assert_array_equal(Session.load(out, provider="cpu").run(x).output, expected)
    staged = Path(info["temp"]).parent  # the half-written bundle: beside the old one, never in its place
    assert staged.parent == tmp_path and staged.name.startswith(".bundle.") and staged.name.endswith(".tmp")
    assert (staged / "model.onnx").is_file() and not (staged / "manifest.json").exists()
    assert 0 < Path(info["temp"]).stat().st_size < len((out / "manifest.json").read_bytes())
    with pytest.raises(BundleError, match="expected manifest.json in the bundle folder, found none"):
        Bundle.load(staged)


def test_train_killed_mid_checkpoint_keeps_the_last_good_one_and_resumes(tmp_path):
    out = tmp_path / "run"
    info = kill_mid_write(
        tmp_path, [*TRAIN, "--epochs", "3", "--out", out], f"{out}/.*.safetensors.*.tmp", "existing"
    )

    final, temp = Path(info["final"]), Path(info["temp"])
    assert final.name in ("model.safetensors", "resume.safetensors")
    assert sha256(final) == info["final_sha"]  # the checkpoint being replaced is untouched
    assert temp.parent == out and temp.name.startswith(f".{final.name}.") and temp.stat().st_size > 0
    with pytest.raises(RunError, match="not a readable safetensors file"):
        load_weights(temp)  # the half-written one really is broken ...
    model, run_info = load_run(out)  # ... and the loaders never look at it
    saved = load_weights(out / "model.safetensors")
    assert run_info.summary is None and all(torch.equal(model.state_dict()[k], v) for k, v in saved.items())
    _, meta = read_resume(out / "resume.safetensors")
    done = meta["progress"]["epoch"]
    assert done in (0, 1)

    result = CliRunner().invoke(cli, ["train", "--out", str(out), "--resume", "--epochs", "2"])
    assert result.exit_code == 0, result.output
    epochs = [json.loads(line)["epoch"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert epochs == [0, 1, 2]


def test_ctrl_c_during_training_leaves_a_resumable_run(tmp_path):
    out = tmp_path / "run"
    proc = popen_interruptible(
        [sys.executable, "-c", CLI, *TRAIN, "--epochs", "1000", "--out", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    metrics, deadline = out / "metrics.jsonl", time.monotonic() + 120
    try:
        while not (metrics.is_file() and len(metrics.read_text().splitlines()) >= 2):
            assert proc.poll() is None and time.monotonic() < deadline, "training ended before epoch 1"
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
    finally:  # a 1000-epoch run must not outlive a failed test
        proc.kill()

    assert proc.returncode == 130, stderr
    last = stderr.strip().splitlines()[-1]
    assert (
        last == f"interrupted; continue from the last finished epoch with: edgernn train --out {out} --resume"
    )
    assert "Traceback" not in stderr and not list(out.glob(".*.tmp"))
    _, meta = read_resume(out / "resume.safetensors")
    done = meta["progress"]["epoch"]
    assert done >= 1
    result = CliRunner().invoke(cli, ["train", "--out", str(out), "--resume", "--epochs", str(done + 1)])
    assert result.exit_code == 0, result.output
    epochs = [json.loads(line)["epoch"] for line in metrics.read_text().splitlines()]
    assert epochs == list(range(done + 2))


def test_ctrl_c_before_the_first_epoch_says_there_is_nothing_to_resume(tmp_path):
    from edgernn.train.checkpoint import RESUME_FILE
    from edgernn.train.cli import _interrupted

    (tmp_path / "run").mkdir()
    assert _interrupted(tmp_path / "run") == (
        f"interrupted before the first epoch finished; nothing to resume: remove {tmp_path / 'run'} and start again"
    )
    (tmp_path / "run" / RESUME_FILE).write_bytes(b"")
    assert _interrupted(tmp_path / "run").startswith(
        "interrupted; continue from the last finished epoch with:"
    )
