"""A small PyTorch model of the general contract, exported with native GRU nodes, as a bundle whose
manifest lists its further inputs and outputs (``Manifest.inputs`` / ``Manifest.outputs``).

``Conditioned.forward(x, h0, aux, cond, memory, memory_mask, speaker) -> (y, hn, gate, pooled)``:

- ``x [batch, time, 3]``, ``h0 -> hn [1, batch, 6]``: the sequence and its state;
- ``aux [batch, time, 2]``: runs step for step with x;
- ``cond [batch, 4]``, ``speaker [batch]`` int64 ids in [0, 3]: one per sequence;
- ``memory [batch, memory_time, 5]`` with ``memory_mask [batch, memory_time]`` bool: a length of its own;
- ``y [batch, time, 2]``, ``gate [batch, time, 1]`` (timed), ``pooled [batch, 3]`` (not timed).

Every step's input depends on x and aux at that step plus the per-sequence inputs, so stepping a
stream equals one whole-sequence run.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import onnx
from _runtime_models import write_bundle

from edgernn.runtime.manifest import InputSpec, Manifest, OutputSpec, StateSpec, TensorSpec

FEATURES, AUX, COND, MEM, HIDDEN, OUT, SPEAKERS = 3, 2, 4, 5, 6, 2, 4
INPUTS = ("x", "h0", "aux", "cond", "memory", "memory_mask", "speaker")
OUTPUTS = ("y", "hn", "gate", "pooled")


def module():
    """The PyTorch module (seeded weights, eval mode)."""
    import torch
    from torch import nn

    class Conditioned(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.aux = nn.Linear(AUX, FEATURES)
            self.cond = nn.Linear(COND, FEATURES)
            self.mem = nn.Linear(MEM, FEATURES)
            self.speaker = nn.Embedding(SPEAKERS, FEATURES)
            self.gru = nn.GRU(FEATURES, HIDDEN, batch_first=True)
            self.head = nn.Linear(HIDDEN, OUT)
            self.gate = nn.Linear(HIDDEN, 1)
            self.pool = nn.Linear(MEM, 3)

        def forward(self, x, h0, aux, cond, memory, memory_mask, speaker):
            mask = memory_mask.to(memory.dtype)[..., None]
            mean = (memory * mask).sum(1) / mask.sum(1).clamp(min=1.0)
            bias = self.cond(cond) + self.mem(mean) + self.speaker(speaker)
            y, hn = self.gru(x + self.aux(aux) + bias[:, None], h0)
            pooled = (self.pool(memory) * mask).amax(1)
            return self.head(y), hn, torch.sigmoid(self.gate(y)), pooled

    torch.manual_seed(0)
    return Conditioned().eval()


def manifest(**overrides) -> Manifest:
    """The manifest export would write for :func:`module` (overrides replace fields)."""
    inputs = (
        TensorSpec("aux", ("batch", "time", AUX), module="forward(aux=...)"),
        TensorSpec("cond", ("batch", COND), module="forward(cond=...)"),
        TensorSpec("memory", ("batch", "memory_time", MEM), module="forward(memory=...)"),
        TensorSpec("memory_mask", ("batch", "memory_time"), dtype="bool", module="forward(memory_mask=...)"),
        TensorSpec(
            "speaker", ("batch",), dtype="int64", module="forward(speaker=...)", low=0, high=SPEAKERS - 1
        ),
    )
    outputs = (
        TensorSpec("gate", ("batch", "time", 1), module="forward()[2]"),
        TensorSpec("pooled", ("batch", 3), module="forward()[3]"),
    )
    fields = dict(
        name="conditioned-gru",
        input=InputSpec(name="x", features=FEATURES),
        output=OutputSpec(name="y", kind="regression", size=OUT),
        state=(StateSpec("h0", "hn", (1, "batch", HIDDEN)),),
        topology="many_to_many",
        cell="gru",
        layers=1,
        hidden_size=HIDDEN,
        inputs=inputs,
        outputs=outputs,
    )
    fields.update(overrides)
    return Manifest(**fields)


def export_model(path: Path) -> onnx.ModelProto:
    """Export :func:`module` with the TorchScript exporter (native GRU), batch/time/memory_time dynamic."""
    import torch

    args = example(2, 5, 3, seed=9, torch_tensors=True)
    dynamic = {
        "x": {0: "batch", 1: "time"},
        "h0": {1: "batch"},
        "aux": {0: "batch", 1: "time"},
        "cond": {0: "batch"},
        "memory": {0: "batch", 1: "memory_time"},
        "memory_mask": {0: "batch", 1: "memory_time"},
        "speaker": {0: "batch"},
        "y": {0: "batch", 1: "time"},
        "hn": {1: "batch"},
        "gate": {0: "batch", 1: "time"},
        "pooled": {0: "batch"},
    }
    torch.onnx.export(
        module(),
        tuple(args[name] for name in INPUTS),
        str(path),
        dynamo=False,
        opset_version=17,
        input_names=list(INPUTS),
        output_names=list(OUTPUTS),
        dynamic_axes=dynamic,
    )
    return onnx.load(str(path))


def example(batch: int, time: int, memory_time: int, *, seed: int = 0, torch_tensors: bool = False) -> dict:
    """Inputs for one call by graph input name (``h0`` zeros)."""
    rng = np.random.default_rng(seed)
    mask = rng.random((batch, memory_time)) < 0.7
    mask[:, 0] = True
    arrays = {
        "x": rng.standard_normal((batch, time, FEATURES)).astype(np.float32),
        "h0": np.zeros((1, batch, HIDDEN), np.float32),
        "aux": rng.standard_normal((batch, time, AUX)).astype(np.float32),
        "cond": rng.standard_normal((batch, COND)).astype(np.float32),
        "memory": rng.standard_normal((batch, memory_time, MEM)).astype(np.float32),
        "memory_mask": mask,
        "speaker": rng.integers(0, SPEAKERS, batch).astype(np.int64),
    }
    if torch_tensors:
        import torch

        return {k: torch.from_numpy(v) for k, v in arrays.items()}
    return arrays


def further(arrays: dict) -> dict:
    """The further inputs of ``arrays`` (all but x and the state)."""
    return {k: v for k, v in arrays.items() if k not in ("x", "h0")}


def torch_reference(arrays: dict) -> dict:
    """PyTorch's outputs by graph output name."""
    import torch

    with torch.no_grad():
        outs = module()(*(torch.from_numpy(arrays[name]) for name in INPUTS))
    return {name: out.numpy() for name, out in zip(OUTPUTS, outs, strict=True)}


def make_bundle(root: Path, model: onnx.ModelProto, **overrides) -> Path:
    """The bundle for ``model`` with :func:`manifest` (``overrides`` replace its fields)."""
    return write_bundle(root, {"model.onnx": model}, manifest(**overrides))


def replace_input(name: str, **changes) -> tuple[TensorSpec, ...]:
    """The manifest's inputs with input ``name`` changed."""
    return tuple(dataclasses.replace(s, **changes) if s.name == name else s for s in manifest().inputs)


def small_module(kind: str):
    """Two more shapes of further input, on a GRU over ``x [batch, time, 3]`` with ``h0 -> hn``:
    ``"time_major"`` takes ``bias [time, batch]`` (x's time on axis 0); ``"pairwise"`` takes
    ``pair [batch, time, time]`` (x's time twice: it runs whole, never streamed)."""
    import torch
    from torch import nn

    class Small(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.gru = nn.GRU(FEATURES, HIDDEN, batch_first=True)

        def forward(self, x, h0, extra):
            if kind == "time_major":
                x = x + extra.transpose(0, 1)[..., None]
            else:
                x = x + extra.sum(-1, keepdim=True)
            y, hn = self.gru(x, h0)
            return y, hn

    torch.manual_seed(1)
    return Small().eval()


SMALL_SHAPES = {"time_major": ("time", "batch"), "pairwise": ("batch", "time", "time")}


def small_bundle(root: Path, kind: str) -> Path:
    """Export :func:`small_module` (TorchScript, native GRU) as a bundle; its further input is ``extra``."""
    import torch

    shape = SMALL_SHAPES[kind]
    sizes = {"batch": 2, "time": 4}
    args = (torch.randn(2, 4, FEATURES), torch.zeros(1, 2, HIDDEN), torch.randn(*(sizes[d] for d in shape)))
    path = root.parent / f"{root.name}.onnx"
    torch.onnx.export(
        small_module(kind),
        args,
        str(path),
        dynamo=False,
        opset_version=17,
        input_names=["x", "h0", "extra"],
        output_names=["y", "hn"],
        dynamic_axes={
            "x": {0: "batch", 1: "time"},
            "h0": {1: "batch"},
            "extra": dict(enumerate(shape)),
            "y": {0: "batch", 1: "time"},
            "hn": {1: "batch"},
        },
    )
    fields = dict(
        name=f"small-{kind}",
        output=OutputSpec(name="y", kind="raw", size=HIDDEN),
        inputs=(TensorSpec("extra", shape),),
        outputs=(),
    )
    return write_bundle(root, {"model.onnx": onnx.load(str(path))}, manifest(**fields))


def small_reference(kind: str, x: np.ndarray, extra: np.ndarray) -> np.ndarray:
    """PyTorch's ``y`` for :func:`small_module` from zero state."""
    import torch

    with torch.no_grad():
        h0 = torch.zeros(1, x.shape[0], HIDDEN)
        return small_module(kind)(torch.from_numpy(x), h0, torch.from_numpy(extra))[0].numpy()
