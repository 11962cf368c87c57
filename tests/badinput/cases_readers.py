"""The second red-team pass, input side: text that splits rows where it should not, columns named
twice, token files read as batches, files that are not files, damaged .npy/.npz, and Python API
arguments and arrays that used to leak raw exceptions or allocate without bound."""

from __future__ import annotations

import os
import threading
import time
import zipfile
from pathlib import Path

import numpy as np

from edgernn.runtime import BundleError, InputError, ProviderError, Session

from . import inputs
from .registry import case, load_session, write_csv


# ---- CSV text ---------------------------------------------------------------------------------
@case("csv-vertical-tab-inside-a-row-run", "line 1, column 1", "'1\\x0b2' is not a number")
def _(tmp, base):
    return ["run", base.bundle, write_csv(tmp, "1\x0b2,3,4\n5,6,7\n")]


@case("csv-line-separator-inside-a-row-run", "line 2", "is not a number")
def _(tmp, base):
    return ["run", base.bundle, write_csv(tmp, "1,2,3\n4\u20285,6,7\n")]


@case("csv-record-separator-inside-a-row-run", "line 1", "is not a number")
def _(tmp, base):
    return ["run", base.bundle, write_csv(tmp, "1,2\x1e3,4\n")]


def _named_bundle(tmp: Path, base: inputs.Base) -> Path:
    """The good bundle with its input columns named a, b, c."""
    import json

    bundle = base.copy_bundle(tmp / "named")
    data = json.loads((bundle / "manifest.json").read_text())
    data["input"]["columns"] = ["a", "b", "c"]
    (bundle / "manifest.json").write_text(json.dumps(data))
    return bundle


@case("csv-column-named-twice-run", "column 'b' appears 2 times in the header")
def _(tmp, base):
    return ["run", _named_bundle(tmp, base), write_csv(tmp, "a,b,c,b\n1,2,3,4\n")]


@case("csv-token-file-with-two-columns-run", "a token model reads one column of ids", "got 2 columns")
def _(tmp, base):
    return ["run", base.token_bundle, write_csv(tmp, "1,2\n3,4\n")]


# ---- files that are not regular files ---------------------------------------------------------
def _fifo(tmp: Path, name: str, payload: bytes) -> Path:
    """A FIFO; should anything open it for reading (the bug), a writer feeds it ``payload`` so the
    case fails on its message instead of hanging."""
    path = tmp / name
    os.mkfifo(path)

    def feed() -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)  # ENXIO while no reader has it open
            except OSError:
                time.sleep(0.05)
                continue
            with os.fdopen(fd, "wb") as f:
                f.write(payload)
            return

    threading.Thread(target=feed, daemon=True).start()
    return path


@case("fifo-csv-input-run", "x.csv: expected a regular file, got a FIFO")
def _(tmp, base):
    return ["run", base.bundle, _fifo(tmp, "x.csv", b"1,2,3\n")]


@case("fifo-npy-input-run", "x.npy: expected a regular file, got a FIFO")
def _(tmp, base):
    return ["run", base.bundle, _fifo(tmp, "x.npy", b"\x93NUMPY")]


@case("dev-zero-json-input-run", "z.json: expected a regular file, got a device or socket")
def _(tmp, base):
    os.symlink("/dev/zero", tmp / "z.json")
    return ["run", base.bundle, tmp / "z.json"]


@case("fifo-eval-quantize", "ev.npz: expected a regular file, got a FIFO")
def _(tmp, base):
    return ["quantize", base.copy_bundle(tmp / "b"), "--eval", _fifo(tmp, "ev.npz", b"PK")]


# ---- damaged .npy / .npz ----------------------------------------------------------------------
@case("npy-header-cut-short-run", "x.npy: could not read it as NPY", "header cannot be read")
def _(tmp, base):
    header = b"{'descr': '<f4', 'fortran_order': False, 'shape': (1,"
    (tmp / "x.npy").write_bytes(b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header)
    return ["run", base.bundle, tmp / "x.npy"]


@case("npz-not-a-zip-quantize", "ev.npz: expected an .npz file", "BadZipFile")
def _(tmp, base):
    (tmp / "ev.npz").write_bytes(b"PK\x03\x04garbage")
    return ["quantize", base.copy_bundle(tmp / "b"), "--eval", tmp / "ev.npz"]


@case("npz-member-not-npy-quantize", "ev.npz: expected an .npz file", "could not read it")
def _(tmp, base):
    with zipfile.ZipFile(tmp / "ev.npz", "w") as z:
        z.writestr("x.npy", b"not an npy file at all")
    return ["quantize", base.copy_bundle(tmp / "b"), "--eval", tmp / "ev.npz"]


@case("npz-lengths-beyond-time-quantize", "array 'lengths': expected [2] integers in [1, 4]", "[1, 1000000]")
def _(tmp, base):
    x = np.zeros((2, 4, 3), np.float32)
    np.savez(tmp / "ev.npz", x=x, y=np.zeros((2, 4, 2), np.float32), lengths=np.array([1, 10**6]))
    return ["quantize", base.copy_bundle(tmp / "b"), "--eval", tmp / "ev.npz"]


@case("npz-y-for-another-count-quantize", "array 'y': expected one entry per sequence (2), got [3, 4, 2]")
def _(tmp, base):
    np.savez(tmp / "ev.npz", x=np.zeros((2, 4, 3), np.float32), y=np.zeros((3, 4, 2), np.float32))
    return ["quantize", base.copy_bundle(tmp / "b"), "--eval", tmp / "ev.npz"]


# ---- Python API: arguments ----------------------------------------------------------------------
@case("load-none", "path: expected a bundle folder or an .onnx/.ort file", "got NoneType")
def _(tmp, base):
    return lambda: Session.load(None)


@case("load-name-too-long", "cannot read it (File name too long)", error=BundleError)
def _(tmp, base):
    return lambda: Session.load(tmp / ("a" * 300))


@case("load-provider-int", "provider: expected auto, cpu", "got 3", error=ProviderError)
def _(tmp, base):
    return lambda: Session.load(base.bundle, provider=3)


@case("load-constants-list", "constants: expected a dict of graph input names, got list")
def _(tmp, base):
    return lambda: Session.load(base.model, provider="cpu", constants=[1])


@case("load-options-dict", "options: expected an edgernn.runtime.RuntimeConfig, got dict")
def _(tmp, base):
    return lambda: Session.load(base.bundle, provider="cpu", options={"intra_op_threads": 1})


# ---- Python API: arrays and sizes ----------------------------------------------------------------
@case("run-broadcast-beyond-memory", "input 'x': shape [268435456, 20, 3] needs", "half of this machine")
def _(tmp, base):
    session = load_session(base)
    return lambda: session.run(np.broadcast_to(np.float32(1), (2**28, 20, 3)))


@case("stream-batch-beyond-memory", "stream(batch=1000000000000): needs", "GiB bound", error=InputError)
def _(tmp, base):
    session = load_session(base)
    return lambda: session.stream(10**12)


@case("batcher-batch-beyond-memory", "batcher(max_batch=1000000000000): needs", error=InputError)
def _(tmp, base):
    session = load_session(base)
    return lambda: session.batcher(10**12)


class _Refuses:
    def __array__(self, dtype=None, copy=None):
        raise RuntimeError("no array here")


@case("run-array-protocol-raises", "input 'x'", "not an array: no array here")
def _(tmp, base):
    session = load_session(base)
    return lambda: session.run(_Refuses())


@case("run-masked-array", "got a masked array", "np.ma.filled")
def _(tmp, base):
    session = load_session(base)
    x = np.ma.masked_array(np.ones((1, 3, 3)), mask=np.zeros((1, 3, 3), bool))
    return lambda: session.run(x)


@case("batcher-step-bool", "dtype bool cannot be cast to float32")
def _(tmp, base):
    batcher = load_session(base).batcher(2)
    handle = batcher.open()
    return lambda: batcher.step({handle: np.ones((1, 3), bool)})


@case("batcher-step-beyond-float32", "1 value(s) beyond the float32 range")
def _(tmp, base):
    batcher = load_session(base).batcher(2)
    handle = batcher.open()
    return lambda: batcher.step({handle: np.array([[1e300, 0.0, 0.0]])})
