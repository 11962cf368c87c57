"""Races between a writer and readers of one bundle path, and Ctrl-C during a call that never ends.

A writer swaps two bundles of the same shapes (A and B, different weights) in and out of one path
with edgernn's own ``staged_dir`` while readers load and run it. Every load that succeeds must run
the model whose bytes its manifest lists: the session's sha256 is the manifest's, and its outputs
are that model's. Before the bytes-once loader, about one load in six ran the other bundle's model.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import onnx
import pytest
from _runtime_models import rnn_manifest, rnn_model, write_bundle
from interrupts import popen_interruptible
from onnx import TensorProto, helper

from edgernn.runtime import Bundle, BundleError, Session
from edgernn.runtime.fileio import staged_dir

SWAP_S = 2.0  # how long the writer swaps; every observation in that window is checked


def test_readers_only_ever_run_the_model_their_manifest_lists(tmp_path):
    manifest = rnn_manifest("gru", hidden=5)
    sources = {
        name: write_bundle(tmp_path / name, {"model.onnx": rnn_model("gru", hidden=5, seed=seed)}, manifest)
        for name, seed in (("A", 1), ("B", 2))
    }
    x = np.random.default_rng(0).standard_normal((1, 6, 3)).astype(np.float32)
    want = {}
    for source in sources.values():
        session = Session.load(source, provider="cpu", threads=1)
        want[session.model_sha256] = session.run(x).output
    assert len(want) == 2
    live = tmp_path / "live"
    shutil.copytree(sources["A"], live)
    stop, seen, errors = threading.Event(), {"ok": 0, "refused": 0}, []

    def writer():
        k = 0
        while not stop.is_set():
            k += 1
            with staged_dir(live) as tmp:
                for path in sources["AB"[k % 2]].iterdir():
                    shutil.copyfile(path, tmp / path.name)

    def reader():
        while not stop.is_set():
            try:
                session = Session.load(live, provider="cpu", threads=1)
            except BundleError:
                seen["refused"] += 1  # a file changed between the manifest and the model: refused
                continue
            try:
                listed = session.manifest.files["model.onnx"].sha256
                assert session.model_sha256 == listed, "ran bytes the manifest does not list"
                np.testing.assert_array_equal(session.run(x).output, want[listed])
                seen["ok"] += 1
            except AssertionError as err:
                errors.append(err)

    threads = [threading.Thread(target=writer)] + [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    time.sleep(SWAP_S)
    stop.set()
    for t in threads:
        t.join()
    assert not errors, errors[0]
    assert seen["ok"] > 0, seen
    assert Bundle.load(live).verify() == {"model.onnx": "ok"}


def forever_model(path):
    """``y = x + v``, where ``v`` comes out of a ``Loop`` with ``M = INT64_MAX``: a call never ends."""
    body = helper.make_graph(
        [
            helper.make_node("Identity", ["cond_in"], ["cond_out"]),
            helper.make_node("Add", ["v_in", "one"], ["v_out"]),
        ],
        "body",
        [
            helper.make_tensor_value_info("i", TensorProto.INT64, []),
            helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
            helper.make_tensor_value_info("v_in", TensorProto.FLOAT, []),
        ],
        [
            helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
            helper.make_tensor_value_info("v_out", TensorProto.FLOAT, []),
        ],
        [helper.make_tensor("one", TensorProto.FLOAT, [], [1.0])],
    )
    nodes = [
        helper.make_node("ReduceSum", ["x"], ["v0"], keepdims=0),
        helper.make_node("Loop", ["m", "cond", "v0"], ["v"], body=body),
        helper.make_node("Add", ["x", "v"], ["y"]),
    ]
    inits = [
        helper.make_tensor("m", TensorProto.INT64, [], [2**63 - 1]),
        helper.make_tensor("cond", TensorProto.BOOL, [], [True]),
    ]
    graph = helper.make_graph(
        nodes,
        "forever",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "time", 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", "time", 3])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


# The child marks the moment onnxruntime starts running the model: a fixed sleep raced the start-up
# on a loaded machine (a Ctrl-C during the imports is click's "Aborted!", not the run's interrupt).
_MARK_RUN = """
import pathlib, onnxruntime
_run = onnxruntime.InferenceSession.run
def run(self, *args, **kwargs):
    pathlib.Path({mark!r}).touch()
    return _run(self, *args, **kwargs)
onnxruntime.InferenceSession.run = run
"""


def _wait_for(mark: Path, proc: subprocess.Popen, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not mark.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"the child never started the model (exit code {proc.poll()})")
        time.sleep(0.05)


def test_ctrl_c_ends_a_run_that_would_never_end(tmp_path):
    model = forever_model(tmp_path / "forever.onnx")
    (tmp_path / "x.csv").write_text("1,2,3\n")
    mark = tmp_path / "running"
    code = _MARK_RUN.format(mark=str(mark))
    code += "import sys; sys.argv[0] = 'edgernn'; from edgernn.cli import main; main()"
    args = [
        sys.executable,
        "-c",
        code,
        "run",
        str(model),
        str(tmp_path / "x.csv"),
        "--out",
        str(tmp_path / "y.csv"),
    ]
    proc = popen_interruptible(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(mark, proc)
        time.sleep(0.2)  # inside the never-ending Loop
        assert proc.poll() is None, proc.communicate()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    finally:  # never leave a Loop that does not end running after a failed test
        proc.kill()
    assert proc.returncode == 130, err
    assert err.strip().splitlines() == ["error: interrupted (Ctrl-C); nothing more was written"], err
    assert out == "" and not (tmp_path / "y.csv").exists()
