"""The one rule for output paths (runtime.fileio): a new path or a regular file is replaced in one
rename, a link is written through when it ends at a regular file (the link stays), and anything else
is refused without being opened; one writer per output folder (folder_lock)."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest
from _runtime_models import make_bundle
from click.testing import CliRunner

from edgernn.cli import cli
from edgernn.runtime.errors import InputError
from edgernn.runtime.fileio import (
    atomic_write_text,
    folder_lock,
    staged_dir,
    unwritable_file,
    unwritable_folder,
)


def test_a_link_to_a_regular_file_is_written_through_and_stays_a_link(tmp_path):
    (tmp_path / "real.csv").write_text("old\n")
    (tmp_path / "link.csv").symlink_to("real.csv")
    atomic_write_text(tmp_path / "link.csv", "new\n")
    assert os.readlink(tmp_path / "link.csv") == "real.csv"
    assert (tmp_path / "real.csv").read_text() == "new\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.csv", "real.csv"]  # no temp left


@pytest.mark.parametrize(
    "make, why",
    [
        (lambda p: os.mkfifo(p), "a FIFO"),
        (lambda p: os.mknod(p, 0o644 | stat.S_IFSOCK), "a socket"),
        (lambda p: p.mkdir(), "a folder"),
        (lambda p: p.symlink_to("/dev/null"), "a link to a character device"),
        (lambda p: p.symlink_to(p.parent / "missing"), "a link to nothing"),
    ],
)
def test_the_writer_refuses_what_is_not_a_regular_file_and_leaves_it(tmp_path, make, why):
    path = tmp_path / "out.json"
    make(path)
    before = os.lstat(path)
    assert unwritable_file(path) == why
    with pytest.raises(InputError, match=f"out.json: is {why}; expected a new path, a regular file"):
        atomic_write_text(path, "{}")
    after = os.lstat(path)
    assert (after.st_ino, after.st_mode) == (before.st_ino, before.st_mode)
    assert [p.name for p in tmp_path.iterdir() if p.name != "missing"] == ["out.json"]


def test_a_staged_folder_never_replaces_a_link(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "out").symlink_to("real")
    assert unwritable_folder(tmp_path / "out") == "a link"
    with (
        pytest.raises(InputError, match="out: is a link; expected a new path or a folder"),
        staged_dir(tmp_path / "out") as tmp,
    ):
        (tmp / "f").write_text("x")
    assert os.readlink(tmp_path / "out") == "real" and list((tmp_path / "real").iterdir()) == []


def test_run_out_through_a_link_writes_the_target(tmp_path):
    bundle = make_bundle(tmp_path / "b", cell="gru", features=3, hidden=4, out=2)
    (tmp_path / "x.csv").write_text("1,2,3\n4,5,6\n")
    (tmp_path / "kept").mkdir()
    (tmp_path / "kept" / "y.npy").write_bytes(b"old")
    (tmp_path / "y.npy").symlink_to(tmp_path / "kept" / "y.npy")
    for out in ("y.npy", "plain.npy"):
        result = CliRunner().invoke(
            cli, ["run", str(bundle), str(tmp_path / "x.csv"), "--out", str(tmp_path / out)]
        )
        assert result.exit_code == 0, result.output
    assert (tmp_path / "y.npy").is_symlink()
    np.testing.assert_array_equal(np.load(tmp_path / "kept" / "y.npy"), np.load(tmp_path / "plain.npy"))


def test_a_second_writer_of_a_folder_is_refused_or_waits(tmp_path):
    with (
        folder_lock(tmp_path),
        pytest.raises(InputError, match="another edgernn process is writing this folder now"),
        folder_lock(tmp_path, wait=False),
    ):
        pass
    with folder_lock(tmp_path, wait=False):  # released: the next writer gets it
        pass
