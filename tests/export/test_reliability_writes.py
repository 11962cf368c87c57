"""Writes are all-or-nothing: a crash at the worst moment leaves the previous artifact loadable.

A crash is simulated by raising from inside the write path right after a file has moved into
place, the moment a non-atomic sequence would leave a bundle whose manifest and files disagree.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from _runtime_models import make_bundle
from click.testing import CliRunner

from edgernn.cli import cli
from edgernn.runtime import Bundle, Session, fileio
from edgernn.runtime.fileio import atomic_write_text, staged_dir


class Crash(BaseException):
    """Stands for the process dying: not an Exception, so no handler of ours swallows it."""


def crash_after_replacing(monkeypatch, name: str) -> None:
    """``os.replace`` works as usual, then the process "dies" right after moving ``name`` in."""
    replace = os.replace

    def replace_then_crash(src, dst, *args, **kwargs):
        replace(src, dst, *args, **kwargs)
        if Path(dst).name == name:
            raise Crash(dst)

    monkeypatch.setattr(os, "replace", replace_then_crash)


def test_requantizing_keeps_the_bundle_consistent_when_it_dies_midway(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    from edgernn.export.quantization import QuantizeConfig, quantize

    bundle = make_bundle(tmp_path / "b", cell="lstm", features=3, hidden=16, out=2)
    x = np.random.default_rng(0).standard_normal((16, 10, 3)).astype(np.float32)
    np.savez(tmp_path / "eval.npz", x=x, y=Session.load(bundle, provider="cpu").run(x).output)
    config = QuantizeConfig(weight_type="s8", latency_iters=3, force=True)
    quantize(bundle, ["int8"], config=config, eval_path=tmp_path / "eval.npz")
    first = Bundle.load(bundle).manifest.files["model.int8.onnx"].sha256

    crash_after_replacing(monkeypatch, "model.int8.onnx")
    with pytest.raises(Crash):  # per-channel scales: a different model.int8.onnx replaces the first
        quantize(bundle, ["int8"], config=QuantizeConfig(weight_type="s8", per_channel=True, latency_iters=3,
                 force=True), eval_path=tmp_path / "eval.npz")  # fmt: skip
    monkeypatch.undo()

    loaded = Bundle.load(bundle)
    assert set(loaded.verify().values()) == {"ok"}  # every file the manifest lists matches its sha256
    assert "model.int8.onnx" not in loaded.manifest.files  # the replaced variant left the manifest first
    assert "int8" not in (loaded.manifest.quantization or {})
    assert first and not (bundle / "model.int8.onnx").exists()  # the new file moved in, then was removed
    session = Session.load(bundle, provider="cpu")  # auto picks int8 on CPU when listed: fp32 here
    assert session.variant == "fp32" and session.run(x[:2]).output.shape == (2, 10, 2)
    quantize(bundle, ["int8"], config=config, eval_path=tmp_path / "eval.npz")  # and it heals
    assert Bundle.load(bundle).variants() == ["fp32", "int8"]


def test_staged_dir_swaps_an_existing_folder_in_one_step(tmp_path, monkeypatch):
    final = tmp_path / "bundle"
    final.mkdir()
    (final / "old.txt").write_text("old")
    calls = []
    real = fileio.exchange
    monkeypatch.setattr(fileio, "exchange", lambda a, b: calls.append((a, b)) or real(a, b))
    with staged_dir(final) as tmp:
        (tmp / "new.txt").write_text("new")
    assert calls and calls[0][1] == final
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle"]  # no staging or old folder left
    assert [p.name for p in final.iterdir()] == ["new.txt"]


def test_staged_dir_falls_back_to_two_renames(tmp_path, monkeypatch):
    final = tmp_path / "bundle"
    final.mkdir()
    (final / "old.txt").write_text("old")
    monkeypatch.setattr(fileio, "exchange", lambda a, b: False)
    with staged_dir(final) as tmp:
        (tmp / "new.txt").write_text("new")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle"]
    assert [p.name for p in final.iterdir()] == ["new.txt"]


def test_staged_dir_leaves_the_old_folder_when_the_writer_fails(tmp_path):
    final = tmp_path / "bundle"
    final.mkdir()
    (final / "old.txt").write_text("old")
    with pytest.raises(Crash), staged_dir(final) as tmp:
        (tmp / "half.txt").write_text("ha")
        raise Crash
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle"]
    assert [p.name for p in final.iterdir()] == ["old.txt"]


def test_exchange_swaps_two_folders(tmp_path):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "f").write_text(name)
    if not fileio.exchange(tmp_path / "a", tmp_path / "b"):
        pytest.skip("renameat2(RENAME_EXCHANGE) is not available here; staged_dir uses two renames")
    assert (tmp_path / "a" / "f").read_text() == "b" and (tmp_path / "b" / "f").read_text() == "a"
    with pytest.raises(FileNotFoundError):
        fileio.exchange(tmp_path / "missing", tmp_path / "a")


def test_run_out_is_written_atomically(tmp_path, monkeypatch):
    bundle = make_bundle(tmp_path / "b", cell="gru", features=3, hidden=5, out=2)
    (tmp_path / "x.csv").write_text("a,b,c\n1,2,3\n4,5,6\n")
    atomic_write_text(tmp_path / "y.csv", "previous\n")

    def failing_fsync(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    result = CliRunner().invoke(
        cli, ["run", str(bundle), str(tmp_path / "x.csv"), "--out", str(tmp_path / "y.csv")]
    )
    assert result.exit_code == 1 and result.stderr.strip() == "error: [Errno 28] No space left on device"
    assert (tmp_path / "y.csv").read_text() == "previous\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b", "x.csv", "y.csv"]  # no temp file left
    monkeypatch.undo()
    result = CliRunner().invoke(
        cli, ["run", str(bundle), str(tmp_path / "x.csv"), "--out", str(tmp_path / "y.csv")]
    )
    assert result.exit_code == 0 and (tmp_path / "y.csv").read_text().splitlines()[0] == "step,y_0,y_1"
