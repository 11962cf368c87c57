"""Issue #14's red-team cases, part 2: errors that escaped the one-line promise, unbounded costs,
leftovers and cosmetics (part 1, ``cases_hostile``: external data, export --out, the manifest vs
the graph)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from unittest import mock

import numpy as np
import onnx
from onnx import TensorProto, helper

from edgernn.runtime import BundleError, InputError, ModelRunError, Session

from . import inputs
from .registry import case, write_csv


# ---- 7. errors that used to escape the one-line promise ---------------------------------------
def _manifest_text(tmp, base, text: str) -> Path:
    bundle = base.copy_bundle(tmp / "b")
    (bundle / "manifest.json").write_text(text)
    return bundle


@case("manifest-huge-int-run", "manifest.json", "could not parse it", "digits")
def _(tmp, base):
    text = (base.bundle / "manifest.json").read_text().replace('"layers": 1', '"layers": 1' + "0" * 5000)
    return ["run", _manifest_text(tmp, base, text), write_csv(tmp, "1,2,3\n")]


@case("manifest-validation-500-deep-inspect", "manifest.json", "nesting deeper than 64 levels")
def _(tmp, base):
    data = json.loads((base.bundle / "manifest.json").read_text())
    data.pop("validation", None)
    text = json.dumps(data)[:-1] + ', "validation": ' + "[" * 500 + "]" * 500 + "}"
    return ["inspect", _manifest_text(tmp, base, text)]


@case("manifest-duplicate-key-load", "manifest.json", "duplicate key 'name'", error=BundleError)
def _(tmp, base):
    text = (base.bundle / "manifest.json").read_text().replace("{", '{"name": "a", ', 1)
    bundle = _manifest_text(tmp, base, text)
    return lambda: Session.load(bundle, provider="cpu")


@case("json-scalar-run", "x.json", "expected a list of rows", "got int")
def _(tmp, base):
    return ["run", base.bundle, write_csv(tmp, "123", "x.json")]


@case("json-duplicate-key-run", "x.json", "duplicate key 'x'")
def _(tmp, base):
    return ["run", base.bundle, write_csv(tmp, '{"x": [[1, 2, 3]], "x": [[4, 5, 6]]}', "x.json")]


@case("npy-0d-run", "x.npy", "0-d scalar")
def _(tmp, base):
    np.save(tmp / "x.npy", np.float32(3.0))
    return ["run", base.bundle, tmp / "x.npy"]


@case("npy-huge-header-run", "x.npy", "[1000000, 1000000, 1]", "GiB")
def _(tmp, base):
    with open(tmp / "x.npy", "wb") as f:
        np.lib.format.write_array_header_1_0(
            f, {"descr": "<f4", "fortran_order": False, "shape": (1000000, 1000000, 1)}
        )
        f.write(bytes(12))
    return ["run", base.bundle, tmp / "x.npy"]


@case("npy-header-promises-more-run", "x.npy", "header promises shape [10, 3]", "the file holds 24")
def _(tmp, base):
    with open(tmp / "x.npy", "wb") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": "<f8", "fortran_order": False, "shape": (10, 3)})
        f.write(bytes(24))
    return ["run", base.bundle, tmp / "x.npy"]


def huge_alloc_model(path: Path) -> Path:
    """``y = x + sum(ConstantOfShape(shape(x) * 1e8))``: fine to load, asks for ~10^17 floats at run."""
    big = helper.make_tensor("big", TensorProto.INT64, [3], [100_000_000, 100_000_000, 1])
    nodes = [
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("Mul", ["s", "big"], ["s2"]),
        helper.make_node("ConstantOfShape", ["s2"], ["z"]),
        helper.make_node("ReduceSum", ["z"], ["total"], keepdims=0),
        helper.make_node("Add", ["x", "total"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "alloc",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "time", 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", "time", 3])],
        [big],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


@case("ort-fails-at-run-time-run", "alloc.onnx", "onnxruntime failed running the model on x [1, 1, 3]")
def _(tmp, base):
    return ["run", huge_alloc_model(tmp / "alloc.onnx"), write_csv(tmp, "1,2,3\n")]


@case("ort-fails-at-run-time-api", "onnxruntime failed running the model", error=ModelRunError)
def _(tmp, base):
    session = Session.load(huge_alloc_model(tmp / "alloc.onnx"), provider="cpu", threads=1)
    return lambda: session.run(np.zeros((1, 2, 3), np.float32))


@case("profile-batch-huge", "--batch/--seq", "GiB")
def _(tmp, base):
    return ["profile", base.bundle, "--batch", "100000000", "--iters", "1", "--warmup", "0"]


@case("profile-seq-huge", "--batch/--seq", "[1, 2000000000, 3]")
def _(tmp, base):
    return ["profile", base.bundle, "--seq", "2000000000", "--iters", "1", "--warmup", "0"]


@case(
    "quantizer-value-error-quantize",
    "int8: onnxruntime's quantizer failed (ValueError",
    "No space left",
    torch=True,
)
def _(tmp, base):
    from edgernn.export.quantization import QuantizeConfig, quantize

    bundle = base.copy_bundle(tmp / "b")
    x = np.zeros((4, 5, 3), np.float32)
    np.savez(tmp / "eval.npz", x=x, y=np.zeros((4, 5, 2), np.float32))

    def full_disk(*args, **kwargs):
        raise ValueError("[Errno 28] No space left on device")

    def call():
        with mock.patch("edgernn.export.quantize_ops.dynamic_int8", full_disk):
            quantize(bundle, ["int8"], config=QuantizeConfig(latency_iters=1), eval_path=tmp / "eval.npz")

    return call


def _run_with_config(tmp, base, hidden) -> Path:
    run = base.copy_run(tmp / "run")
    config = json.loads((run / "config.json").read_text())
    config["model"]["hidden_size"] = hidden
    (run / "config.json").write_text(json.dumps(config))
    return run


@case("run-config-hidden-1e30-export", "config.json", "field 'hidden_size': expected int", torch=True)
def _(tmp, base):
    return ["export", _run_with_config(tmp, base, 1e30), "--out", tmp / "bundle"]


@case("run-config-hidden-1e20-export", "config.json", "hidden_size: expected <= 1048576", torch=True)
def _(tmp, base):
    return ["export", _run_with_config(tmp, base, 10**20), "--out", tmp / "bundle"]


@case("run-config-31-digits-export", "config.json", "not valid JSON", "31 digits", torch=True)
def _(tmp, base):
    return ["export", _run_with_config(tmp, base, 10**30), "--out", tmp / "bundle"]


# ---- 8. outputs are never written into a bundle ------------------------------------------------
@case("run-out-inside-bundle", "--out", "is inside the bundle")
def _(tmp, base):
    bundle = base.copy_bundle(tmp / "b")
    return ["run", bundle, write_csv(tmp, "1,2,3\n"), "--out", bundle / "manifest.json"]


@case("quantize-json-inside-bundle", "--json", "is inside the bundle", torch=True)
def _(tmp, base):
    bundle = base.copy_bundle(tmp / "b")
    return ["quantize", bundle, "--json", bundle / "manifest.json"]


@case("profile-json-inside-bundle", "--json", "is inside the bundle")
def _(tmp, base):
    bundle = base.copy_bundle(tmp / "b")
    return ["profile", bundle, "--json", bundle / "manifest.json", "--iters", "1"]


# ---- 10. bounded costs -------------------------------------------------------------------------
@case("flag-threads-huge-run", "'--threads'", "10000 is not in the range 1<=x<=", exit_code=2)
def _(tmp, base):
    return ["run", base.bundle, write_csv(tmp, "1,2,3\n"), "--threads", "10000"]


@case("api-threads-huge", "intra_op_threads: expected at most", "got 10000", error=InputError)
def _(tmp, base):
    return lambda: Session.load(base.bundle, threads=10000)


@case("profile-threads-huge", "threads: expected at most", "got 10000")
def _(tmp, base):
    return ["profile", base.bundle, "--threads", "10000"]


# ---- 11. leftovers and cosmetics ---------------------------------------------------------------
@case("path-with-newline-run", "bad\\nname.onnx", "could not parse it")
def _(tmp, base):
    return ["run", inputs.random_bytes(tmp / "bad\nname.onnx"), write_csv(tmp, "1,2,3\n")]


@case("csv-beyond-float32-run", "input 'x'", "1 value(s) beyond the float32 range")
def _(tmp, base):
    return ["run", base.bundle, write_csv(tmp, "a,b,c\n1e39,2,3\n")]


@case("external-data-fifo-load", "w.bin", "expected a regular external data file", error=BundleError)
def _(tmp, base):
    path = inputs.external_data_model(tmp / "m" / "model.onnx", "w.bin")
    os.mkfifo(tmp / "m" / "w.bin")  # a loader that opened it for reading would block forever
    return lambda: Session.load(path, provider="cpu")
