"""The benchmark model: a 2-layer LSTM 40 -> 256 with a linear head, exported as edgernn exports it.

Built with ``torch.onnx.export(dynamo=False)`` (native LSTM nodes, dynamic batch and time) and
wrapped in a bundle with a manifest, so the runtime loads it exactly as it would an exported one.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

FEATURES, HIDDEN, LAYERS, OUTPUTS = 40, 256, 2, 8


def build_module(outputs: int = OUTPUTS):
    """The PyTorch model (seeded): ``forward(x, h0, c0) -> (y, hn, cn)``."""
    import torch
    from torch import nn

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.rnn = nn.LSTM(FEATURES, HIDDEN, LAYERS, batch_first=True)
            self.head = nn.Linear(HIDDEN, outputs)

        def forward(self, x, h0, c0):
            y, (hn, cn) = self.rnn(x, (h0, c0))
            return self.head(y), hn, cn

    torch.manual_seed(0)
    return Net().eval()


def build_bundle(root: Path, *, outputs: int = OUTPUTS) -> Path:
    """Export the model into ``root/model.onnx`` and write ``root/manifest.json``; return ``root``."""
    import torch

    from edgernn.runtime.fileio import sha256_file
    from edgernn.runtime.manifest import FileEntry, InputSpec, Manifest, OutputSpec, StateSpec

    net = build_module(outputs)
    root.mkdir(parents=True, exist_ok=True)
    path = root / "model.onnx"
    state = torch.zeros(LAYERS, 1, HIDDEN)
    axes = {"x": {0: "batch", 1: "time"}, "y": {0: "batch", 1: "time"}}
    axes |= {n: {1: "batch"} for n in ("h0", "c0", "hn", "cn")}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            net,
            (torch.randn(1, 5, FEATURES), state, state),
            str(path),
            input_names=["x", "h0", "c0"],
            output_names=["y", "hn", "cn"],
            dynamic_axes=axes,
            dynamo=False,
        )
    shape = (LAYERS, "batch", HIDDEN)
    manifest = Manifest(
        name="bench-lstm",
        input=InputSpec(features=FEATURES),
        output=OutputSpec(kind="regression", size=outputs),
        state=(StateSpec("h0", "hn", shape), StateSpec("c0", "cn", shape)),
        topology="many_to_many",
        cell="lstm",
        layers=LAYERS,
        hidden_size=HIDDEN,
        files={"model.onnx": FileEntry(sha256_file(path), path.stat().st_size, "fp32")},
    )
    (root / "manifest.json").write_text(json.dumps(manifest.to_dict(), indent=2))
    return root


def build_net(cell: str = "lstm", outputs: int = OUTPUTS):
    """The same shape of model as edgernn users export (``forward(x, state=None) -> (y, state)``):
    2 layers x 256 of ``cell`` (lstm or gru), 40 features, a linear head; seeded."""
    import torch
    from torch import nn

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.rnn = {"lstm": nn.LSTM, "gru": nn.GRU}[cell](FEATURES, HIDDEN, LAYERS, batch_first=True)
            self.head = nn.Linear(HIDDEN, outputs)

        def forward(self, x, state=None):
            y, state = self.rnn(x, state)
            return self.head(y), state

    torch.manual_seed(0)
    return Net().eval()


def export_with_int8(root: Path, cell: str = "lstm"):
    """Export :func:`build_net` with edgernn into ``root/bundle`` and add the int8 variant through the
    public quantize API (scored on fp32's own outputs plus noise); returns ``(bundle, net)``."""
    import numpy as np
    import torch

    from edgernn.export import export
    from edgernn.export.quantization import QuantizeConfig, quantize
    from edgernn.runtime import Session

    net = build_net(cell)
    bundle = root / "bundle"
    export(net, torch.randn(1, 8, FEATURES), bundle)
    x = np.random.default_rng(0).standard_normal((16, 100, FEATURES)).astype(np.float32)
    noise = 0.1 * np.random.default_rng(2).standard_normal((16, 100, OUTPUTS))
    np.savez(root / "eval.npz", x=x, y=Session.load(bundle, provider="cpu").run(x).output + noise)
    quantize(bundle, ["int8"], eval_path=root / "eval.npz", config=QuantizeConfig(latency_iters=10))
    return bundle, net
