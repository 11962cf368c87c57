"""The repository holds no archives, binaries or large files (the rule CI and pre-commit also run).

One implementation, ``.ci/check_tracked_files.py``; here it runs over this checkout's index, and over a
scratch repository whose files break each rule once, so a checker that passes everything fails here.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / ".ci" / "check_tracked_files.py"


def _checker():
    spec = importlib.util.spec_from_file_location("check_tracked_files", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


check = _checker()


def _sizes_or_skip(repo: Path) -> dict[str, int]:
    try:
        return check.tracked_sizes(repo)
    except check.NotAGitCheckout as error:
        pytest.skip(f"the tracked-file rules read git's index; {error}")


def test_no_tracked_archive_binary_or_large_file():
    sizes = _sizes_or_skip(REPO)
    staged = subprocess.run(
        ["git", "-C", str(REPO), "show", ":pyproject.toml"], capture_output=True, check=True
    )
    assert sizes["pyproject.toml"] == len(staged.stdout) > 0  # sizes are the index's, not the work tree's
    assert [str(problem) for problem in check.problems(sizes)] == []


def test_bundled_data_files_are_small():
    sizes = _sizes_or_skip(REPO)
    data = {path: size for path, size in sizes.items() if path.startswith(check.DATA_DIRS)}
    assert "train/data/digits.npz" in data and "examples/data/co2_weekly.csv" in data
    assert max(data.values()) < check.MAX_BYTES  # largest today: train/data/corpus.txt, 49,732 bytes


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_checker_flags_each_rule(tmp_path, capsys):
    files = {
        "numpy-2.0-cp311-manylinux_x86_64.whl": 10,  # a wheel, however small
        "vendor/pkg-1.0.tar.gz": 10,
        "native/libort.so.1.24": 10,
        "dump.txt": check.MAX_BYTES,  # exactly 1 MiB: too big
        "weights/model.onnx": 100,  # weights outside the data folders
        "tests/data/model.onnx": 100,  # fine: small test data
        "train/data/series.csv": check.MAX_BYTES - 1,  # fine: just under the limit
        "src/code.py": 20,
    }
    for name, size in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x" * size)
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    subprocess.run(["git", "-C", str(tmp_path), "add", "-A"], check=True)  # staged counts, no commit needed

    sizes = check.tracked_sizes(tmp_path)
    assert sizes == files
    flagged = {problem.path: problem.reason for problem in check.problems(sizes)}
    assert sorted(flagged) == sorted(
        ["numpy-2.0-cp311-manylinux_x86_64.whl", "vendor/pkg-1.0.tar.gz", "native/libort.so.1.24"]
        + ["dump.txt", "weights/model.onnx"]
    )
    assert "archive" in flagged["vendor/pkg-1.0.tar.gz"] and "1024 KiB" in flagged["dump.txt"]

    assert check.main([str(tmp_path)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[-1] == "5 of 8 tracked files break the repository rules above"


def test_checker_outside_git_says_so(tmp_path, capsys):
    assert check.main([str(tmp_path)]) == 1
    assert "is not a git checkout" in capsys.readouterr().err
