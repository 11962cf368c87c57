"""The third red-team pass: inputs that gave a silent wrong answer or an unbounded one. Headers the
bundle's column names decide (numbers, quotes, BOMs), values beyond float32 in ``train``, reverse
recurrences hidden in If bodies, state-pair rules that disagree, a Mapping that lists one handle
twice, a manifest that links out of its bundle, and a ``--hidden`` too big for any machine."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

from edgernn.runtime import BundleError, InputError, Session, UnsupportedError

from .registry import case, load_session, write_csv


def _named(tmp: Path, base, columns: list[str]) -> Path:
    """The good bundle with its input columns named ``columns``."""
    bundle = base.copy_bundle(tmp / "named")
    data = json.loads((bundle / "manifest.json").read_text())
    data["input"]["columns"] = columns
    (bundle / "manifest.json").write_text(json.dumps(data))
    return bundle


def _train(tmp: Path, text: str, *flags) -> list:
    return ["train", "--data", write_csv(tmp, text, "s.csv"), "--window", "1", *flags, "--out", tmp / "run"]


# ---- headers: the bundle's recorded names decide -------------------------------------------------
@case("csv-numeric-header-missing-name-run", "x.csv: missing column '2'", "the header has 0, 1, x")
def _(tmp, base):
    return ["run", _named(tmp, base, ["0", "1", "2"]), write_csv(tmp, "0,1,x\n1,2,3\n")]


@case("csv-quoted-header-missing-column-run", "missing column 'wind'", "the header has temp, C, load")
def _(tmp, base):
    bundle = _named(tmp, base, ["temp, C", "wind", "load"])
    return ["run", bundle, write_csv(tmp, '"temp, C",load\n1,2\n')]


@case("csv-bom-quoted-numeric-header-run", "x.csv: column '1' appears 2 times in the header")
def _(tmp, base):
    return ["run", _named(tmp, base, ["0", "1", "2"]), write_csv(tmp, '\ufeff"0","1",2,1\n1,2,3,4\n')]


@case("csv-not-utf8-run", "x.csv: not UTF-8 text (byte 2)")
def _(tmp, base):
    (tmp / "x.csv").write_bytes(b"1,\xff,3\n")
    return ["run", base.bundle, tmp / "x.csv"]


# ---- train: values beyond float32 refused like run refuses them -----------------------------------
@case(
    "csv-beyond-float32-train",
    "s.csv: line 3, column 'load'",
    "'1e39' is beyond the float32 range",
    torch=True,
)
def _(tmp, base):
    return _train(tmp, "temp,load\n1,2\n3,1e39\n5,6\n")


@case(
    "csv-beyond-float32-negative-train",
    "line 2, column 'temp'",
    "'-3.5e38' is beyond the float32",
    torch=True,
)
def _(tmp, base):
    return _train(tmp, "temp,load\n-3.5e38,2\n3,4\n5,6\n")


@case("csv-beyond-float32-quoted-train", "line 4, column 'a, b'", "is beyond the float32", torch=True)
def _(tmp, base):
    return _train(tmp, '"a, b",load\n1,2\n3,4\n"4e38",6\n')


# ---- train: a model no machine could hold ------------------------------------------------------
@case("train-hidden-huge", "--hidden 1048576 --layers 1: training needs about", "lower --hidden", torch=True)
def _(tmp, base):
    return ["train", "--dataset", "sunspots", "--hidden", "1048576", "--epochs", "1", "--out", tmp / "run"]


@case("train-hidden-and-layers-huge", "--hidden 600000 --layers 4", "over the", torch=True)
def _(tmp, base):
    return ["train", "--dataset", "sunspots", "--hidden", "600000", "--layers", "4", "--out", tmp / "run"]


# ---- recurrences in subgraphs ---------------------------------------------------------------------
def _lstm_in_if(path: Path, direction: str, depth: int) -> Path:
    """A one-node LSTM (X -> Y) in both branches of ``depth`` nested If nodes."""
    rng = np.random.default_rng(0)
    dirs = 2 if direction == "bidirectional" else 1
    weights = [
        helper.make_tensor(k, TensorProto.FLOAT, s, rng.uniform(-0.5, 0.5, s).astype(np.float32).ravel())
        for k, s in (("W", (dirs, 16, 3)), ("R", (dirs, 16, 4)))
    ]
    nodes = [helper.make_node("LSTM", ["X", "W", "R"], ["Y"], hidden_size=4, direction=direction)]
    for level in range(depth):
        out = [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)]
        branches = {
            k: helper.make_graph(nodes, f"{k}{level}", [], out) for k in ("then_branch", "else_branch")
        }
        flag = helper.make_tensor("v", TensorProto.BOOL, [], [True])
        nodes = [
            helper.make_node("Constant", [], [f"c{level}"], value=flag),
            helper.make_node("If", [f"c{level}"], ["Y"], **branches),
        ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["time", "batch", 3])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["time", dirs, "batch", 4])],
        weights,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


@case("stream-reverse-lstm-in-if-branch", "a bidirectional (or reverse) recurrence", error=UnsupportedError)
def _(tmp, base):
    path = _lstm_in_if(tmp / "m.onnx", "reverse", 1)
    return lambda: Session.load(path, provider="cpu", state_map={}).stream()


@case("stream-bidirectional-lstm-in-nested-ifs", "cannot be streamed", error=UnsupportedError)
def _(tmp, base):
    path = _lstm_in_if(tmp / "m.onnx", "bidirectional", 3)
    return lambda: Session.load(path, provider="cpu", state_map={}).stream()


# ---- state-pair rules that disagree ------------------------------------------------------------
@case(
    "statepairs-two-traces-disagree", "m.onnx: state pairs disagree", "h -> hn", "h -> h2", error=BundleError
)
def _(tmp, base):
    rng = np.random.default_rng(1)
    w = [
        helper.make_tensor(k, TensorProto.FLOAT, s, rng.uniform(-0.5, 0.5, s).astype(np.float32).ravel())
        for k, s in (("W", (1, 16, 3)), ("R", (1, 16, 4)))
    ]
    state = [1, "batch", 4]
    nodes = [
        helper.make_node("LSTM", ["X", "W", "R", "", "", "h"], ["Y", "hn"], hidden_size=4),
        helper.make_node("LSTM", ["X", "W", "R", "", "", "h"], ["Y2", "h2"], hidden_size=4),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [
            helper.make_tensor_value_info(n, TensorProto.FLOAT, d)
            for n, d in (("X", ["t", "batch", 3]), ("h", state))
        ],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["t", 1, "batch", 4])]
        + [helper.make_tensor_value_info(n, TensorProto.FLOAT, state) for n in ("hn", "h2")],
        w,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    model.ir_version = 8
    onnx.save(model, str(tmp / "m.onnx"))
    return lambda: Session.load(tmp / "m.onnx", provider="cpu")


# ---- the batcher ---------------------------------------------------------------------------------
class _Repeats(dict):
    """A Mapping whose keys list one handle twice."""

    def __iter__(self):
        return iter([*super().__iter__()] * 2)


@case("batcher-mapping-lists-a-handle-twice", "steps: <stream handle #1> is listed twice", error=InputError)
def _(tmp, base):
    batcher = load_session(base).batcher(max_batch=2)
    a, _ = batcher.open(), batcher.open()
    return lambda: batcher.step(_Repeats({a: np.ones((1, 3), np.float32)}))


# ---- a manifest that links out of its bundle ---------------------------------------------------
@case(
    "bundle-manifest-links-out-api",
    "'manifest.json' resolves (through a link)",
    "outside the bundle",
    error=BundleError,
)
def _(tmp, base):
    bundle = base.copy_bundle(tmp / "b")
    os.replace(bundle / "manifest.json", tmp / "elsewhere.json")
    (bundle / "manifest.json").symlink_to(tmp / "elsewhere.json")
    return lambda: Session.load(bundle, provider="cpu")


@case("bundle-manifest-links-out-run", "'manifest.json' resolves (through a link)")
def _(tmp, base):
    bundle = base.copy_bundle(tmp / "b")
    os.replace(bundle / "manifest.json", tmp / "elsewhere.json")
    (bundle / "manifest.json").symlink_to(tmp / "elsewhere.json")
    return ["run", bundle, write_csv(tmp, "1,2,3\n")]


@case("bundle-manifest-links-out-quantize", "'manifest.json' resolves (through a link)", torch=True)
def _(tmp, base):
    bundle = base.copy_bundle(tmp / "b")
    os.replace(bundle / "manifest.json", tmp / "elsewhere.json")
    (bundle / "manifest.json").symlink_to(tmp / "elsewhere.json")
    return ["quantize", bundle, "--variant", "fp16"]


# ---- one reader per format: train and quantize get the runtime's checks --------------------------
@case("npy-header-promises-more-train", "x.npy: header promises shape [10, 3]", torch=True)
def _(tmp, base):
    (tmp / "d").mkdir()
    np.save(tmp / "d" / "x.npy", np.zeros((10, 3), np.float32))
    data = (tmp / "d" / "x.npy").read_bytes()
    (tmp / "d" / "x.npy").write_bytes(data[: len(data) - 96])
    np.save(tmp / "d" / "y.npy", np.zeros(10, np.int64))
    return ["train", "--data", tmp / "d", "--out", tmp / "run"]


@case("npy-pickled-train", "x.npy: could not read it as NPY", "never unpickles", torch=True)
def _(tmp, base):
    from . import inputs

    (tmp / "d").mkdir()
    x = np.array([inputs.Unpickled(tmp / "UNPICKLED")], dtype=object)
    np.save(tmp / "d" / "x.npy", x, allow_pickle=True)
    np.save(tmp / "d" / "y.npy", np.zeros(1, np.int64))
    return ["train", "--data", tmp / "d", "--out", tmp / "run"]


@case("npz-nan-eval-quantize", "ev.npz: array 'y' has a NaN or infinite value at index (1, 0, 1)", torch=True)
def _(tmp, base):
    y = np.zeros((2, 4, 2), np.float32)
    y[1, 0, 1] = np.nan
    np.savez(tmp / "ev.npz", x=np.zeros((2, 4, 3), np.float32), y=y)
    return ["quantize", base.copy_bundle(tmp / "b"), "--variant", "fp16", "--eval", tmp / "ev.npz"]


@case("npz-y-4d-eval-quantize", "ev.npz: array 'y': expected at most 3 dimensions, got 4", torch=True)
def _(tmp, base):
    np.savez(tmp / "ev.npz", x=np.zeros((2, 4, 3), np.float32), y=np.zeros((2, 4, 2, 1), np.float32))
    return ["quantize", base.copy_bundle(tmp / "b"), "--variant", "fp16", "--eval", tmp / "ev.npz"]


@case("npz-one-array-train", "x.npz: expected an .npz file of named arrays", "it holds one array", torch=True)
def _(tmp, base):
    np.save(tmp / "x.npy", np.zeros((2, 3), np.float32))
    os.replace(tmp / "x.npy", tmp / "x.npz")
    return ["train", "--data", tmp / "x.npz", "--out", tmp / "run"]


@case(
    "npz-beyond-float32-train",
    "d.npz: array 'x' has a value beyond the float32 range",
    "(5, 2, 0)",
    torch=True,
)
def _(tmp, base):
    x = np.zeros((40, 4, 1), np.float64)
    x[5, 2, 0] = -1e39
    np.savez(tmp / "d.npz", x=x, y=np.zeros(40, np.int64))
    return ["train", "--data", tmp / "d.npz", "--out", tmp / "run"]
