"""Output paths that are not plain files: devices, FIFOs, sockets and links to them, to folders or to
nothing, for every command's outputs, and pipeline output folders holding such things. One rule
(runtime.fileio.unwritable_file / unwritable_folder): a new path or a regular file is replaced, a link
is written through only when it ends at a regular file, and anything else is refused before the work.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from .registry import case, write_csv

_MODES = {"fifo": stat.S_IFIFO, "socket": stat.S_IFSOCK, "char": stat.S_IFCHR, "block": stat.S_IFBLK}
_DEVICES = {"char": os.makedev(1, 3), "block": os.makedev(7, 7)}  # /dev/null's numbers, a loop device's


def special(path: Path, kind: str) -> Path:
    """Make a FIFO, socket, character or block device node at ``path`` (devices need root: skipped
    without it). Nothing ever opens it: a test that did would block or touch a device."""
    try:
        os.mknod(path, 0o644 | _MODES[kind], _DEVICES.get(kind, 0))
    except PermissionError:
        pytest.skip(f"making a {kind} device node needs root")
    return path


def _profile(base, *flags) -> list:
    return ["profile", base.bundle, *flags, "--iters", "1", "--warmup", "0"]


def _run(tmp: Path, base, out: Path) -> list:
    return ["run", base.bundle, write_csv(tmp, "1,2,3\n4,5,6\n"), "--out", out]


def _pipeline_out(tmp: Path) -> Path:
    out = tmp / "p"
    (out / "run").mkdir(parents=True)
    (out / ".edgernn-pipeline").write_text(json.dumps({"format": "edgernn-pipeline", "version": 1}))
    (out / "summary.json").write_text("{}")
    return out


# ---- output files: every kind of special file, directly and through a link ------------------------
@case("profile-json-is-dev-null", "--json /dev/null", "is a character device", "nothing else is replaced")
def _(tmp, base):
    return _profile(base, "--json", "/dev/null")


@case("profile-json-is-a-char-device", "--json", "null: is a character device")
def _(tmp, base):
    return _profile(base, "--json", special(tmp / "null", "char"))


@case("profile-csv-is-a-fifo", "--csv", "pipe.csv: is a FIFO")
def _(tmp, base):
    return _profile(base, "--csv", special(tmp / "pipe.csv", "fifo"))


@case("profile-markdown-is-a-socket", "--markdown", "s.md: is a socket")
def _(tmp, base):
    return _profile(base, "--markdown", special(tmp / "s.md", "socket"))


@case("profile-json-is-a-block-device", "--json", "disk: is a block device")
def _(tmp, base):
    return _profile(base, "--json", special(tmp / "disk", "block"))


@case("run-out-is-a-fifo", "--out", "pipe.csv: is a FIFO", "expected a new path, a regular file")
def _(tmp, base):
    return _run(tmp, base, special(tmp / "pipe.csv", "fifo"))


@case("run-out-links-to-dev-null", "--out", "null.csv: is a link to a character device")
def _(tmp, base):
    (tmp / "null.csv").symlink_to("/dev/null")
    return _run(tmp, base, tmp / "null.csv")


@case("run-out-links-to-a-fifo", "--out", "l.json: is a link to a FIFO")
def _(tmp, base):
    (tmp / "l.json").symlink_to(special(tmp / "pipe", "fifo"))
    return _run(tmp, base, tmp / "l.json")


@case("run-out-links-to-nothing", "--out", "gone.npy: is a link to nothing")
def _(tmp, base):
    (tmp / "gone.npy").symlink_to(tmp / "missing.npy")
    return _run(tmp, base, tmp / "gone.npy")


@case("run-out-links-to-a-folder", "'--out'", "is a directory", exit_code=2)
def _(tmp, base):
    (tmp / "d").mkdir()
    (tmp / "d.csv").symlink_to(tmp / "d")
    return _run(tmp, base, tmp / "d.csv")


@case("profile-csv-links-to-a-socket", "--csv", "l.csv: is a link to a socket")
def _(tmp, base):
    (tmp / "l.csv").symlink_to(special(tmp / "sock", "socket"))
    return _profile(base, "--csv", tmp / "l.csv")


@case("quantize-json-is-a-fifo", "--json", "q.json: is a FIFO", torch=True)
def _(tmp, base):
    return [
        "quantize",
        base.copy_bundle(tmp / "b"),
        "--variant",
        "fp16",
        "--json",
        special(tmp / "q.json", "fifo"),
    ]


@case("quantize-json-links-to-nothing", "--json", "q.json: is a link to nothing", torch=True)
def _(tmp, base):
    (tmp / "q.json").symlink_to(tmp / "nowhere" / "q.json")
    return ["quantize", base.copy_bundle(tmp / "b"), "--variant", "fp16", "--json", tmp / "q.json"]


# ---- output folders: links (to folders, to nothing) and special files -----------------------------
@case(
    "profile-plot-is-a-link-to-a-folder", "--plot", "plots: is a link", "expected a new path or a real folder"
)
def _(tmp, base):
    (tmp / "real").mkdir()
    (tmp / "plots").symlink_to(tmp / "real")
    return _profile(base, "--plot", tmp / "plots")


@case("profile-plot-is-a-fifo", "--plot", "plots: is a FIFO")
def _(tmp, base):
    return _profile(base, "--plot", special(tmp / "plots", "fifo"))


@case("profile-plot-png-is-a-fifo", "--plot latency_vs_seq.png", "is a FIFO")
def _(tmp, base):
    (tmp / "plots").mkdir()
    special(tmp / "plots" / "latency_vs_seq.png", "fifo")
    return _profile(base, "--plot", tmp / "plots")


@case("train-out-is-a-link-to-a-folder", "--out", "run: is a link", torch=True)
def _(tmp, base):
    (tmp / "real").mkdir()
    (tmp / "run").symlink_to(tmp / "real")
    return ["train", "--dataset", "sunspots", "--epochs", "1", "--out", tmp / "run"]


@case("train-out-links-to-nothing", "--out", "run: is a link", torch=True)
def _(tmp, base):
    (tmp / "run").symlink_to(tmp / "gone")
    return ["train", "--dataset", "sunspots", "--epochs", "1", "--out", tmp / "run"]


@case("train-out-is-a-fifo", "--out", "run: is a FIFO", torch=True)
def _(tmp, base):
    return ["train", "--dataset", "sunspots", "--epochs", "1", "--out", special(tmp / "run", "fifo")]


@case("export-out-is-a-fifo", "b: is a FIFO; expected a new folder", torch=True)
def _(tmp, base):
    return ["export", base.run, "--out", special(tmp / "b", "fifo")]


@case("pipeline-out-is-a-link-to-a-folder", "--out", "p: is a link", torch=True)
def _(tmp, base):
    (tmp / "real").mkdir()
    (tmp / "p").symlink_to(tmp / "real")
    return ["pipeline", "--dataset", "sunspots", "--epochs", "1", "--out", tmp / "p"]


@case("pipeline-out-is-a-socket", "--out", "p: is a socket", torch=True)
def _(tmp, base):
    return ["pipeline", "--dataset", "sunspots", "--epochs", "1", "--out", special(tmp / "p", "socket")]


# ---- pipeline --overwrite checks every path it would remove before removing any -------------------
@case("pipeline-overwrite-bundle-is-a-link", "bundle is a link", "nothing was removed", torch=True)
def _(tmp, base):
    out = _pipeline_out(tmp)
    (tmp / "elsewhere").mkdir()
    (tmp / "elsewhere" / "keep.txt").write_text("mine")
    (out / "bundle").symlink_to(tmp / "elsewhere")
    return ["pipeline", "--dataset", "sunspots", "--epochs", "1", "--out", out, "--overwrite"]


@case("pipeline-overwrite-run-is-a-file", "run.targets-alone is not a real folder", torch=True)
def _(tmp, base):
    out = _pipeline_out(tmp)
    (out / "run.targets-alone").write_text("mine")
    return ["pipeline", "--dataset", "sunspots", "--epochs", "1", "--out", out, "--overwrite"]


@case("pipeline-overwrite-report-is-a-fifo", "report.md is not a regular file", torch=True)
def _(tmp, base):
    out = _pipeline_out(tmp)
    special(out / "report.md", "fifo")
    return ["pipeline", "--dataset", "sunspots", "--epochs", "1", "--out", out, "--overwrite"]


@case("pipeline-resume-summary-links-out", "summary.json is a link", torch=True)
def _(tmp, base):
    out = _pipeline_out(tmp)
    (out / "summary.json").unlink()
    (tmp / "mine.json").write_text("{}")
    (out / "summary.json").symlink_to(tmp / "mine.json")
    return ["pipeline", "--dataset", "sunspots", "--epochs", "1", "--out", out, "--resume"]


# ---- quantize's report inside the bundle, when no --json names another --------------------------
@case("quantize-bundle-report-is-a-fifo", "quantize_report.json: is a FIFO", "or pass --json", torch=True)
def _(tmp, base):
    bundle = base.copy_bundle(tmp / "b")
    special(bundle / "quantize_report.json", "fifo")
    return ["quantize", bundle, "--variant", "fp16"]


@case("quantize-bundle-report-links-out", "quantize_report.json: is a link", torch=True)
def _(tmp, base):
    bundle = base.copy_bundle(tmp / "b")
    (tmp / "mine.json").write_text("{}")
    (bundle / "quantize_report.json").symlink_to(tmp / "mine.json")
    return ["quantize", bundle, "--variant", "fp16"]
