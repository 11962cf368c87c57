"""Bad tensors, input files and flags."""

from __future__ import annotations

import numpy as np

from edgernn.runtime import BundleError, InputError, ProviderError, Session, UnsupportedError

from . import inputs
from .registry import case, load_session, write_csv


# ---- tensors given to the runtime ------------------------------------------------------------
@case("input-rank", "input 'x'", "rank 2, expected rank 3", error=InputError)
def _(tmp, base):
    session = load_session(base)
    return lambda: session.run(np.zeros((4, 3), np.float32))


@case("input-dtype", "input 'x'", "dtype complex128 cannot be cast to float32", error=InputError)
def _(tmp, base):
    session = load_session(base)
    return lambda: session.run(np.zeros((1, 4, 3), np.complex128))


@case("input-shape", "input 'x'", "feature count 5, expected 3", error=InputError)
def _(tmp, base):
    session = load_session(base)
    return lambda: session.run(np.zeros((1, 4, 5), np.float32))


@case("input-nan", "input 'x'", "1 NaN or Inf value(s)", error=InputError)
def _(tmp, base):
    session, x = load_session(base), np.zeros((1, 4, 3), np.float32)
    x[0, 2, 1] = np.nan
    return lambda: session.run(x)


@case("input-inf-step", "input 'x'", "2 NaN or Inf value(s)", error=InputError)
def _(tmp, base):
    stream = load_session(base).stream(batch=2)
    return lambda: stream.step(np.array([[np.inf, 0, 0], [0, -np.inf, 0]], np.float32))


@case("input-empty-batch", "input 'x'", "got [0, 4, 3] float32 (empty input)", error=InputError)
def _(tmp, base):
    session = load_session(base)
    return lambda: session.run(np.zeros((0, 4, 3), np.float32))


@case("stream-batch-mismatch", "input 'x'", "batch 3, expected 2", error=InputError)
def _(tmp, base):
    stream = load_session(base).stream(batch=2)
    return lambda: stream.step(np.zeros((3, 3), np.float32))


@case(
    "state-wrong-shape",
    "input 'c0'",
    "expected [1, 2, 5] float32",
    "feature count 4, expected 5",
    error=InputError,
)
def _(tmp, base):
    stream = load_session(base).stream(batch=2)

    def set_state():
        stream.state = {"h0": np.zeros((1, 2, 5), np.float32), "c0": np.zeros((1, 2, 4), np.float32)}

    return set_state


# ---- input files of `edgernn run` and `edgernn train` ---------------------------------------
@case("csv-empty-run", "x.csv", "expected at least one row of values, found none")
def _(tmp, base):
    return ["run", base.bundle, write_csv(tmp, "")]


@case("csv-ragged-run", "x.csv", "line 3 has 2 fields, expected 3 like the header")
def _(tmp, base):
    return ["run", base.bundle, write_csv(tmp, "a,b,c\n1,2,3\n4,5\n")]


@case("csv-non-numeric-run", "x.csv", "line 2, column 'c': 'oops' is not a number")
def _(tmp, base):
    return ["run", base.bundle, write_csv(tmp, "a,b,c\n1,2,oops\n")]


@case("csv-huge-field-run", "x.csv", "line 2 is not valid CSV", "field larger than field limit")
def _(tmp, base):
    return ["run", base.bundle, write_csv(tmp, "a,b,c\n1," + "z" * 200_000 + ",3\n")]


@case("csv-nan-run", "input 'x'", "1 NaN or Inf value(s)")
def _(tmp, base):
    return ["run", base.bundle, write_csv(tmp, "a,b,c\n1,2,3\nnan,5,6\n")]


@case("json-deep-run", "x.json", "could not read it as JSON", "nesting deeper than 64 levels")
def _(tmp, base):
    return ["run", base.bundle, write_csv(tmp, "[" * 100_000, "x.json")]


@case("npy-pickled-run", "x.npy", "could not read it as NPY", "allow_pickle=False")
def _(tmp, base):
    np.save(tmp / "x.npy", np.array([inputs.Unpickled(tmp / "UNPICKLED")], dtype=object), allow_pickle=True)
    return ["run", base.bundle, tmp / "x.npy"]


@case("csv-missing-column-train", "s.csv", "unknown column 'watts'", torch=True)
def _(tmp, base):
    csv = inputs.write_series(tmp / "s.csv")
    return ["train", "--data", csv, "--columns", "temp,watts", "--window", "4", "--out", tmp / "run"]


@case("csv-huge-field-train", "s.csv", "line 3 is not valid CSV", "field larger than field limit", torch=True)
def _(tmp, base):
    csv = write_csv(tmp, "temp,load\n1,2\n3," + "9" * 200_000 + "\n", "s.csv")
    return ["train", "--data", csv, "--window", "1", "--out", tmp / "run"]


@case("csv-nan-train", "s.csv", "line 4, column 'load'", "not a finite number", torch=True)
def _(tmp, base):
    csv = write_csv(tmp, "temp,load\n1,2\n3,4\n5,nan\n", "s.csv")
    return ["train", "--data", csv, "--window", "1", "--out", tmp / "run"]


@case("npz-inf-train", "d.npz", "array 'x' has a NaN or infinite value at index (3, 1, 0)", torch=True)
def _(tmp, base):
    x = np.zeros((40, 5, 2), np.float32)
    x[3, 1, 0] = np.inf
    np.savez(tmp / "d.npz", x=x, y=np.zeros(40, np.int64))
    return ["train", "--data", tmp / "d.npz", "--out", tmp / "run"]


# ---- flags out of range ----------------------------------------------------------------------
@case("flag-threads-negative-run", "'--threads'", "-1 is not in the range 1<=x<=", exit_code=2)
def _(tmp, base):
    return ["run", base.bundle, write_csv(tmp, "1,2,3\n"), "--threads", "-1"]


@case("flag-provider-unknown-run", "'--provider'", "'npu' is not one of", exit_code=2)
def _(tmp, base):
    return ["run", base.bundle, write_csv(tmp, "1,2,3\n"), "--provider", "npu"]


@case("flag-variant-unknown-run", "'--variant'", "'int4' is not one of", exit_code=2)
def _(tmp, base):
    return ["run", base.bundle, write_csv(tmp, "1,2,3\n"), "--variant", "int4"]


@case("flag-out-folder-missing-run", "--out", "expected a file in an existing folder")
def _(tmp, base):
    return ["run", base.bundle, write_csv(tmp, "1,2,3\n"), "--out", tmp / "nowhere" / "y.csv"]


@case(
    "flag-batch-size-zero-train",
    "'--batch-size'",
    "0 is not in the range 1<=x<=10000000",
    exit_code=2,
    torch=True,
)
def _(tmp, base):
    return ["train", "--dataset", "sunspots", "--batch-size", "0", "--out", tmp / "run"]


@case("flag-opset-export", "'--opset'", "5 is not in the range 11<=x<=23", exit_code=2, torch=True)
def _(tmp, base):
    return ["export", tmp, "--out", tmp / "bundle", "--opset", "5"]


@case(
    "flag-variant-unknown-quantize",
    "variant: expected one of int8, int8-static, fp16, got 'int4'",
    torch=True,
)
def _(tmp, base):
    return ["quantize", base.copy_bundle(tmp / "b"), "--variant", "int4"]


@case("api-threads-zero", "intra_op_threads: expected a positive int or None, got 0", error=InputError)
def _(tmp, base):
    return lambda: Session.load(base.bundle, threads=0)


@case(
    "api-provider-unknown",
    "provider: expected auto, cpu, cuda, tensorrt, openvino or a list, got 'npu'",
    error=ProviderError,
)
def _(tmp, base):
    return lambda: Session.load(base.bundle, provider="npu")


@case("api-variant-unknown", "expected a 'int4' model variant, the bundle has: fp32", error=BundleError)
def _(tmp, base):
    return lambda: Session.load(base.bundle, provider="cpu", variant="int4")


@case("api-stream-batch-zero", "batch: expected a positive int, got 0", error=InputError)
def _(tmp, base):
    session = load_session(base)
    return lambda: session.stream(batch=0)


@case(
    "api-generate-unsupported",
    "generate needs a one_to_many bundle with an 'init' file",
    error=UnsupportedError,
)
def _(tmp, base):
    session = load_session(base)
    return lambda: session.generate(np.zeros((1, 4), np.float32), steps=3)
