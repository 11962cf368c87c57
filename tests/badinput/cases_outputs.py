"""The CLI red team's cases: output flags that named an input, output paths checked only after the
work, numeric flags without bounds, and a bad ``export --quantize`` found after the bundle was written.

Every input a case names lives in its own folder, so the corpus's snapshot proves it byte-identical."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from .registry import case, write_csv


def _eval(tmp: Path, name: str = "ev.npz") -> Path:
    np.savez(tmp / name, x=np.zeros((4, 6, 3), np.float32), y=np.zeros((4, 2), np.float32))
    return tmp / name


# ---- an output flag that names one of the command's own inputs ---------------------------------
@case("run-out-is-the-input", "--out", "x.csv: is the input", "expected a path that is none of")
def _(tmp, base):
    x = write_csv(tmp, "1,2,3\n4,5,6\n")
    return ["run", base.bundle, x, "--out", x]


@case("run-out-links-to-the-input", "--out", "link.csv: is the input", "writing it would replace")
def _(tmp, base):
    x = write_csv(tmp, "1,2,3\n4,5,6\n")
    (tmp / "sub").mkdir()
    (tmp / "link.csv").symlink_to(x)
    return ["run", base.bundle, x, "--out", tmp / "sub" / ".." / "link.csv"]


@case("profile-json-is-the-model", "--json", "m.onnx: is the input")
def _(tmp, base):
    model = Path(shutil.copy(base.model, tmp / "m.onnx"))
    return ["profile", model, "--json", model, "--iters", "1", "--warmup", "0"]


@case("profile-csv-links-to-the-model", "--csv", "alias.onnx: is the input")
def _(tmp, base):
    model = Path(shutil.copy(base.model, tmp / "m.onnx"))
    (tmp / "alias.onnx").symlink_to(model)
    return ["profile", model, "--csv", tmp / "alias.onnx", "--iters", "1", "--warmup", "0"]


@case("profile-plot-is-the-model", "'--plot'", "m.onnx' is a file", exit_code=2)
def _(tmp, base):
    model = Path(shutil.copy(base.model, tmp / "m.onnx"))
    return ["profile", model, "--plot", model, "--iters", "1", "--warmup", "0"]


@case("profile-json-and-csv-same-file", "--csv", "is also --json's file")
def _(tmp, base):
    out = tmp / "r.json"
    return ["profile", base.bundle, "--json", out, "--csv", out, "--iters", "1", "--warmup", "0"]


@case("quantize-json-is-the-eval", "--json", "ev.npz: is the input", torch=True)
def _(tmp, base):
    ev = _eval(tmp)
    return ["quantize", base.copy_bundle(tmp / "b"), "--variant", "fp16", "--eval", ev, "--json", ev]


@case("quantize-json-is-the-calib", "--json", "c.npz: is the input", torch=True)
def _(tmp, base):
    calib = _eval(tmp, "c.npz")
    bundle = base.copy_bundle(tmp / "b")
    return ["quantize", bundle, "--variant", "int8-static", "--calib", calib, "--json", calib]


@case("pipeline-data-inside-its-output", "--data", "which the pipeline writes", torch=True)
def _(tmp, base):
    out = tmp / "p"
    (out / "run").mkdir(parents=True)
    (out / ".edgernn-pipeline").write_text(json.dumps({"format": "edgernn-pipeline", "version": 1}))
    data = write_csv(out / "run", "temp\n" + "\n".join(str(i % 7) for i in range(60)) + "\n", "s.csv")
    return ["pipeline", "--data", data, "--out", out, "--overwrite", "--epochs", "1"]


@case("pipeline-data-is-its-summary", "--data", "summary.json or inside it", torch=True)
def _(tmp, base):
    out = tmp / "p"
    out.mkdir()
    (out / ".edgernn-pipeline").write_text(json.dumps({"format": "edgernn-pipeline", "version": 1}))
    data = write_csv(out, "{}", "summary.json")
    return ["pipeline", "--data", data, "--out", out, "--resume"]


# ---- output paths checked before the work --------------------------------------------------------
@case("profile-json-folder-missing", "--json", "expected a file in an existing folder")
def _(tmp, base):
    return ["profile", base.bundle, "--json", tmp / "nowhere" / "r.json", "--iters", "1", "--warmup", "0"]


@case("profile-markdown-is-a-folder", "'--markdown'", "is a directory", exit_code=2)
def _(tmp, base):
    (tmp / "d").mkdir()
    return ["profile", base.bundle, "--markdown", tmp / "d", "--iters", "1", "--warmup", "0"]


@case("quantize-json-is-a-folder", "'--json'", "is a directory", exit_code=2, torch=True)
def _(tmp, base):
    (tmp / "d").mkdir()
    return ["quantize", base.copy_bundle(tmp / "b"), "--variant", "fp16", "--json", tmp / "d"]


@case("quantize-json-folder-missing", "--json", "expected a file in an existing folder", torch=True)
def _(tmp, base):
    return ["quantize", base.copy_bundle(tmp / "b"), "--variant", "fp16", "--json", tmp / "no" / "r.json"]


# ---- numeric flags: finite and bounded -------------------------------------------------------------
@case("flag-seed-negative-profile", "'--seed'", "-1 is not in the range 0<=x<=4294967295", exit_code=2)
def _(tmp, base):
    return ["profile", base.bundle, "--seed", "-1", "--iters", "1", "--warmup", "0"]


@case("flag-duration-inf-profile", "'--duration'", "'inf' is not a finite number", exit_code=2)
def _(tmp, base):
    return ["profile", base.bundle, "--duration", "inf", "--warmup", "0"]


@case("flag-duration-huge-profile", "'--duration'", "1e+308 is not in the range 0<x<=86400", exit_code=2)
def _(tmp, base):
    return ["profile", base.bundle, "--duration", "1e308", "--warmup", "0"]


@case("flag-warmup-huge-profile", "'--warmup'", "is not in the range 0<=x<=10000000", exit_code=2)
def _(tmp, base):
    return ["profile", base.bundle, "--warmup", "100000000000000000000", "--iters", "1"]


@case("flag-input-inf-profile", "--input sr=1e999", "expected finite numbers")
def _(tmp, base):
    return ["profile", base.bundle, "--input", "sr=1e999", "--iters", "1", "--warmup", "0"]


@case("flag-const-nan-run", "--const w=nan", "expected a finite number, got 'nan'")
def _(tmp, base):
    return ["run", base.bundle, write_csv(tmp, "1,2,3\n"), "--const", "w=nan"]


@case("flag-atol-nan-export", "'--atol'", "'nan' is not a finite number", exit_code=2, torch=True)
def _(tmp, base):
    return ["export", tmp, "--out", tmp / "bundle", "--atol", "nan"]


@case("flag-max-metric-drop-nan-quantize", "'--max-metric-drop'", "'nan' is not a finite", exit_code=2)
def _(tmp, base):
    return ["quantize", base.copy_bundle(tmp / "b"), "--variant", "fp16", "--max-metric-drop", "nan"]


@case("flag-lr-inf-train", "'--lr'", "'inf' is not a finite number", exit_code=2, torch=True)
def _(tmp, base):
    return ["train", "--dataset", "sunspots", "--lr", "inf", "--out", tmp / "run"]


@case("flag-profile-iters-huge-pipeline", "'--profile-iters'", "not in the range 1<=x<=10000000", exit_code=2)
def _(tmp, base):
    return ["pipeline", "--dataset", "sunspots", "--profile-iters", "10000000000", "--out", tmp / "p"]


# ---- export --quantize is checked before the bundle is written -----------------------------------
@case(
    "export-quantize-unknown", "--quantize: expected one of int8, int8-static, fp16, got 'int4'", torch=True
)
def _(tmp, base):
    return ["export", base.copy_run(tmp / "run"), "--out", tmp / "bundle", "--quantize", "int4"]


@case("export-quantize-empty", "--quantize: expected at least one of int8", torch=True)
def _(tmp, base):
    return ["export", base.copy_run(tmp / "run"), "--out", tmp / "bundle", "--quantize", ","]
