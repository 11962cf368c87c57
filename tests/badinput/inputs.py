"""Builders for bad files: broken ONNX, escaping external data, tampered bundles, hostile pickles."""

from __future__ import annotations

import json
import os
import pickle
import shutil
from functools import cached_property
from pathlib import Path

import numpy as np
import onnx
from _runtime_models import make_bundle, rnn_model
from onnx import TensorProto, helper, numpy_helper


class Unpickled:
    """Unpickling this creates the folder ``marker``: proof that some loader ran pickle."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


class Base:
    """Good inputs, built once per module; each case copies what it breaks into its own folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.bundle = make_bundle(root / "bundle", cell="lstm", features=3, hidden=5, out=2)
        self.model = root / "model.onnx"
        onnx.save(rnn_model("gru", features=3, hidden=5, out=2), str(self.model))

    @cached_property
    def run(self) -> Path:
        """A finished one-epoch ``edgernn train`` run (torch; built only when a case needs it)."""
        from train_fixtures import QUIET, tiny

        from edgernn.train.config import DataConfig, RunConfig
        from edgernn.train.datasets import presets
        from edgernn.train.training import run_training

        model_cfg, train_cfg = tiny(hidden_size=4, epochs=1)
        data = DataConfig(dataset="sunspots", **presets("sunspots")[0])
        run_training(RunConfig(data, model_cfg, train_cfg), self.root / "run", console=QUIET)
        return self.root / "run"

    @cached_property
    def token_bundle(self) -> Path:
        """A bundle whose input is token ids (vocabulary of 7)."""
        return make_bundle(self.root / "tokens", vocab=7, out=7, output_kw={"kind": "tokens"})

    def copy_bundle(self, dst: Path) -> Path:
        return Path(shutil.copytree(self.bundle, dst))

    def copy_run(self, dst: Path) -> Path:
        return Path(shutil.copytree(self.run, dst))


def edit_manifest(bundle: Path, change) -> Path:
    """Rewrite ``bundle/manifest.json`` with ``change(data)`` applied (file checksums stay valid)."""
    path = bundle / "manifest.json"
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))
    return bundle


def truncated(src: Path, dst: Path) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: len(data) // 2])
    return dst


def random_bytes(dst: Path, size: int = 4096, seed: int = 0) -> Path:
    dst.write_bytes(np.random.default_rng(seed).bytes(size))
    return dst


def fails_checker(dst: Path) -> Path:
    """Parses as ONNX, but a node reads a tensor that nothing defines."""
    model = rnn_model("gru", features=3, hidden=5, out=2)
    model.graph.node[0].input[0] = "nope"
    onnx.save(model, str(dst))
    return dst


def not_recurrent(dst: Path) -> Path:
    """``x [batch, time, 3] -> y [batch, time, 2]`` through one MatMul: no recurrent op, no state."""
    w = numpy_helper.from_array(np.ones((3, 2), np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "time", 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", "time", 2])],
        [w],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(dst))
    return dst


def external_data_model(dst: Path, location: str) -> Path:
    """A GRU model whose largest initializer says its bytes live in ``location``."""
    model = rnn_model("gru", features=3, hidden=5, out=2)
    tensor = max(model.graph.initializer, key=lambda t: int(np.prod(t.dims)))
    size = numpy_helper.to_array(tensor).nbytes
    tensor.ClearField("raw_data")
    tensor.ClearField("float_data")
    tensor.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", str(size))):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    dst.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(dst))
    return dst


def with_metadata(dst: Path, value: str) -> Path:
    """A bare GRU model whose ``edgernn.manifest`` metadata holds ``value``."""
    model = rnn_model("gru", features=3, hidden=5, out=2)
    helper.set_model_props(model, {"edgernn.manifest": value})
    onnx.save(model, str(dst))
    return dst


def hostile_pickle(dst: Path, marker: Path) -> Path:
    dst.write_bytes(pickle.dumps(Unpickled(marker)))
    return dst


def extra_tensor(weights: Path) -> Path:
    from safetensors.numpy import load_file, save_file

    tensors = load_file(str(weights))
    tensors["evil.weight"] = np.zeros(3, np.float32)
    save_file(tensors, str(weights))
    return weights


def write_series(dst: Path, rows: int = 60) -> Path:
    lines = ["temp,load"] + [f"{np.sin(i / 5):.4f},{np.cos(i / 7):.4f}" for i in range(rows)]
    dst.write_text("\n".join(lines) + "\n")
    return dst
