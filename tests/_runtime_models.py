"""Tiny recurrent ONNX graphs built with ``onnx.helper``, and bundles around them, for runtime tests.

Graphs follow the export conventions: ``x [batch, time, features]`` (or ``[batch, time]`` token ids),
``h0``/``c0 [layers*dirs, batch, hidden]``, optional ``lengths [batch]``; outputs ``y``, ``hn``, ``cn``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from edgernn.runtime.fileio import sha256_file
from edgernn.runtime.manifest import FileEntry, InputSpec, Manifest, OutputSpec, StateSpec

GATES = {"lstm": 4, "gru": 3, "rnn": 1}
OP = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN"}
OPSET = 17


class _Graph:
    def __init__(self, seed: int) -> None:
        self.nodes, self.inits, self.rng, self.n = [], [], np.random.default_rng(seed), 0

    def const(self, value, dtype=np.float32) -> str:
        self.n += 1
        name = f"c{self.n}"
        self.inits.append(numpy_helper.from_array(np.asarray(value, dtype), name))
        return name

    def weight(self, *shape, scale=0.4) -> str:
        return self.const(self.rng.uniform(-scale, scale, shape))

    def node(self, op, inputs, n_out=1, **attrs):
        self.n += 1
        outs = [f"{op.lower()}{self.n}_{i}" for i in range(n_out)]
        self.nodes.append(helper.make_node(op, inputs, outs, **attrs))
        return outs if n_out > 1 else outs[0]


def _io(name, elem, dims):
    return helper.make_tensor_value_info(name, elem, dims)


def rnn_model(
    cell="lstm",
    *,
    features=3,
    hidden=5,
    out=2,
    layers=1,
    bidirectional=False,
    topology="many_to_many",
    lengths=False,
    vocab=None,
    seed=0,
) -> onnx.ModelProto:
    """A stack of native LSTM/GRU/RNN nodes with a linear head, batch-first like edgernn's exports."""
    g, dirs = _Graph(seed), 2 if bidirectional else 1
    if vocab:
        seq = g.node("Gather", [g.weight(vocab, features, scale=1.0), "x"])
        x_in = _io("x", TensorProto.INT64, ["batch", "time"])
    else:
        seq, x_in = "x", _io("x", TensorProto.FLOAT, ["batch", "time", features])
    seq = g.node("Transpose", [seq], perm=[1, 0, 2])  # [time, batch, features]
    inputs, seq_lens = [x_in], ""
    state_names = ["h0", "c0"] if cell == "lstm" else ["h0"]
    for s in state_names:
        inputs.append(_io(s, TensorProto.FLOAT, [layers * dirs, "batch", hidden]))
    if lengths:
        inputs.append(_io("lengths", TensorProto.INT64, ["batch"]))
        seq_lens = g.node("Cast", ["lengths"], to=TensorProto.INT32)
    finals = {s: [] for s in state_names}
    size = features
    for layer in range(layers):
        lo, hi = g.const([layer * dirs], np.int64), g.const([(layer + 1) * dirs], np.int64)
        init = [g.node("Slice", [s, lo, hi]) for s in state_names]
        gates = GATES[cell]
        w, r = g.weight(dirs, gates * hidden, size), g.weight(dirs, gates * hidden, hidden)
        b = g.weight(dirs, 2 * gates * hidden)
        extra = {"linear_before_reset": 1} if cell == "gru" else {}
        args = [seq, w, r, b, seq_lens, init[0]] + ([init[1]] if cell == "lstm" else [])
        outs = g.node(
            OP[cell],
            args,
            n_out=len(state_names) + 1,
            hidden_size=hidden,
            direction="bidirectional" if bidirectional else "forward",
            **extra,
        )
        for s, o in zip(state_names, outs[1:], strict=True):
            finals[s].append(o)
        y = g.node("Transpose", [outs[0]], perm=[0, 2, 1, 3])  # [time, batch, dirs, hidden]
        seq = g.node("Reshape", [y, g.const([0, 0, -1], np.int64)])
        size = dirs * hidden
    hn = {
        s: g.node("Concat", finals[s], axis=0) if layers > 1 else g.node("Identity", finals[s])
        for s in state_names
    }
    if topology == "many_to_one":
        last = g.node("Transpose", [finals["h0"][-1]], perm=[1, 0, 2])
        feat = g.node("Reshape", [last, g.const([0, -1], np.int64)])
    else:
        feat = g.node("Transpose", [seq], perm=[1, 0, 2])
    y = g.node("Add", [g.node("MatMul", [feat, g.weight(size, out, scale=1.0)]), g.weight(out)])
    g.nodes.append(helper.make_node("Identity", [y], ["y"]))
    outputs = [
        _io("y", TensorProto.FLOAT, ["batch", out] if topology == "many_to_one" else ["batch", "time", out])
    ]
    for s, o in zip(state_names, ["hn", "cn"], strict=False):
        g.nodes.append(helper.make_node("Identity", [hn[s]], [o]))
        outputs.append(_io(o, TensorProto.FLOAT, [layers * dirs, "batch", hidden]))
    graph = helper.make_graph(g.nodes, f"{cell}_{topology}", inputs, outputs, g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def init_model(cond=4, *, hidden=5, layers=1, lstm=True, seed=1) -> onnx.ModelProto:
    """one_to_many ``init``: ``cond [batch, C]`` -> ``h0`` (and ``c0``) ``[layers, batch, hidden]``."""
    g = _Graph(seed)
    outputs, names = [], ["h0", "c0"] if lstm else ["h0"]
    for name in names:
        z = g.node(
            "Tanh",
            [
                g.node(
                    "Add",
                    [g.node("MatMul", ["cond", g.weight(cond, layers * hidden)]), g.weight(layers * hidden)],
                )
            ],
        )
        z = g.node("Reshape", [z, g.const([0, layers, hidden], np.int64)])
        g.nodes.append(helper.make_node("Transpose", [z], [name], perm=[1, 0, 2]))
        outputs.append(_io(name, TensorProto.FLOAT, [layers, "batch", hidden]))
    graph = helper.make_graph(
        g.nodes, "init", [_io("cond", TensorProto.FLOAT, ["batch", cond])], outputs, g.inits
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    return model


def vad_model(samples=8, hidden=6, seed=3) -> tuple[onnx.ModelProto, dict]:
    """A silero-like detector: ``input [batch, samples]``, ``state [2, batch, hidden]``, ``sr`` scalar
    -> ``output [batch, 1]``, ``stateN``. Returns the model and its weights for a numpy reference."""
    g = _Graph(seed)
    w = g.rng.uniform(-0.5, 0.5, (samples, hidden)).astype(np.float32)
    z = g.node("MatMul", ["input", g.const(w)])
    srf = g.node("Mul", [g.node("Cast", ["sr"], to=TensorProto.FLOAT), g.const(1e-4)])
    mixed = g.node("Add", [g.node("Add", [g.node("Mul", ["state", g.const(0.9)]), z]), srf])
    g.nodes.append(helper.make_node("Tanh", [mixed], ["stateN"]))
    mean = g.node("ReduceMean", ["stateN"], axes=[0, 2], keepdims=0)
    g.nodes.append(
        helper.make_node("Sigmoid", [g.node("Unsqueeze", [mean, g.const([1], np.int64)])], ["output"])
    )
    inputs = [
        _io("input", TensorProto.FLOAT, ["batch", samples]),
        _io("state", TensorProto.FLOAT, [2, "batch", hidden]),
        _io("sr", TensorProto.INT64, []),
    ]
    outputs = [
        _io("output", TensorProto.FLOAT, ["batch", 1]),
        _io("stateN", TensorProto.FLOAT, [2, "batch", hidden]),
    ]
    model = helper.make_model(
        helper.make_graph(g.nodes, "vad", inputs, outputs, g.inits),
        opset_imports=[helper.make_opsetid("", OPSET)],
    )
    model.ir_version = 8
    return model, {"w": w}


def vad_reference(frames: np.ndarray, w: np.ndarray, sr: int, hidden: int) -> tuple[np.ndarray, np.ndarray]:
    """numpy reference for :func:`vad_model`: frames ``[steps, batch, samples]``."""
    state = np.zeros((2, frames.shape[1], hidden), np.float32)
    probs = []
    for frame in frames:
        state = np.tanh(state * np.float32(0.9) + frame @ w + np.float32(sr) * np.float32(1e-4))
        probs.append(1 / (1 + np.exp(-state.mean(axis=(0, 2))))[:, None])
    return np.stack(probs), state


def raw_lstm_model(features=3, hidden=4, seed=5) -> onnx.ModelProto:
    """A bare, time-major ONNX LSTM: ``X [seq, batch, F]``, ``initial_h/initial_c`` -> ``Y, Y_h, Y_c``."""
    g = _Graph(seed)
    w, r, b = g.weight(1, 4 * hidden, features), g.weight(1, 4 * hidden, hidden), g.weight(1, 8 * hidden)
    g.nodes.append(
        helper.make_node(
            "LSTM", ["X", w, r, b, "", "initial_h", "initial_c"], ["Y", "Y_h", "Y_c"], hidden_size=hidden
        )
    )
    state = [1, "batch", hidden]
    inputs = [
        _io("X", TensorProto.FLOAT, ["seq", "batch", features]),
        _io("initial_h", TensorProto.FLOAT, state),
        _io("initial_c", TensorProto.FLOAT, state),
    ]
    outputs = [
        _io("Y", TensorProto.FLOAT, ["seq", 1, "batch", hidden]),
        _io("Y_h", TensorProto.FLOAT, state),
        _io("Y_c", TensorProto.FLOAT, state),
    ]
    model = helper.make_model(
        helper.make_graph(g.nodes, "raw", inputs, outputs, g.inits),
        opset_imports=[helper.make_opsetid("", OPSET)],
    )
    model.ir_version = 8
    return model


def write_bundle(root: Path, models: dict[str, onnx.ModelProto], manifest: Manifest) -> Path:
    """Save ``{file: model}`` into ``root`` with a manifest listing each file's sha256.

    File names: ``model.onnx`` (fp32), ``model.<variant>.onnx``, ``init.onnx`` (role init).
    """
    root.mkdir(parents=True, exist_ok=True)
    files = {}
    for rel, model in models.items():
        onnx.save(model, str(root / rel))
        role = "init" if rel.startswith("init") else "model"
        variant = None if role == "init" else (rel.split(".")[1] if rel.count(".") == 2 else "fp32")
        files[rel] = FileEntry(sha256_file(root / rel), (root / rel).stat().st_size, variant, role)
    data = Manifest(**{**manifest.__dict__, "files": files}).to_dict()
    (root / "manifest.json").write_text(json.dumps(data, indent=2))
    return root


def rnn_manifest(
    cell="lstm",
    *,
    features=3,
    hidden=5,
    out=2,
    layers=1,
    bidirectional=False,
    topology="many_to_many",
    lengths=False,
    vocab=None,
    input_kw=None,
    output_kw=None,
    condition=None,
    series=None,
) -> Manifest:
    """The manifest export would write for :func:`rnn_model` with the same arguments."""
    dirs = 2 if bidirectional else 1
    shape = (layers * dirs, "batch", hidden)
    state = [StateSpec("h0", "hn", shape)] + ([StateSpec("c0", "cn", shape)] if cell == "lstm" else [])
    if vocab:
        spec = InputSpec(features=None, dtype="int64", kind="tokens", vocab_size=vocab, **(input_kw or {}))
    else:
        spec = InputSpec(features=features, lengths="lengths" if lengths else None, **(input_kw or {}))
    return Manifest(
        name=f"test-{cell}",
        input=spec,
        output=OutputSpec(size=out, **({"kind": "regression"} | (output_kw or {}))),
        state=tuple(state),
        condition=condition,
        series=series,
        topology=topology,
        cell=cell,
        layers=layers,
        hidden_size=hidden,
        bidirectional=bidirectional,
    )


def make_bundle(
    root: Path,
    *,
    extra: dict | None = None,
    input_kw=None,
    output_kw=None,
    condition=None,
    series=None,
    **kw,
) -> Path:
    """Write the bundle for ``rnn_model(**kw)`` (plus ``extra`` files) and return its folder."""
    manifest = rnn_manifest(input_kw=input_kw, output_kw=output_kw, condition=condition, series=series, **kw)
    return write_bundle(root, {"model.onnx": rnn_model(**kw), **(extra or {})}, manifest)


def ort_reference(model_path, feeds: dict, names=None) -> list[np.ndarray]:
    """Plain onnxruntime, 1 thread: the independent reference every test compares against."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(model_path), so, providers=["CPUExecutionProvider"])
    return sess.run(names, feeds)


def zeros_state(cell, batch, hidden=5, layers=1, dirs=1) -> dict[str, np.ndarray]:
    names = ["h0", "c0"] if cell == "lstm" else ["h0"]
    return {n: np.zeros((layers * dirs, batch, hidden), np.float32) for n in names}
