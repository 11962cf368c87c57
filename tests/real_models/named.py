"""Bundles with further named inputs (manifest ``inputs``), held to the model through
``edgernn.runtime``: ``Session.run(x, lengths, state, inputs=...)`` for whole sequences, a ``Stream``
fed chunk by chunk (``feed(chunk, inputs=...)``) for streams. Every further input is generated from
its manifest record (batch axis at the check's batch, ``time`` at x's length, a length of its own at
another length, integers within ``[low, high]``) and the model is called as its author calls it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from edgernn.runtime import Session

from .entry import Entry, feats, tokens

OWN = 5  # a further input's own length is the check's time plus this (never the example's pairing)


def further_values(manifest, batch: int, time: int) -> dict[str, torch.Tensor]:
    """One tensor per further input for a check at (batch, time)."""
    out = {}
    for spec in manifest.inputs:
        shape = [
            batch if d == "batch" else time if d == "time" else time + OWN if isinstance(d, str) else d
            for d in spec.shape
        ]
        if spec.dtype == "float32":
            out[spec.name] = torch.randn(*shape)
        else:
            out[spec.name] = torch.randint(int(spec.low), int(spec.high) + 1, shape)
    return out


def one_step(bundle: Path, manifest) -> bool:
    """A decoder step: the graph's x carries one step per call (its time dim is fixed at 1)."""
    import onnxruntime as ort

    model = ort.InferenceSession(str(bundle / "model.onnx"), providers=["CPUExecutionProvider"])
    return next(a for a in model.get_inputs() if a.name == manifest.input.name).shape[1] == 1


class NamedRunner:
    """The bundle through ``edgernn.runtime.Session``, and the model on the same named inputs."""

    def __init__(self, entry: Entry, module, bundle: Path, manifest) -> None:
        self.entry, self.module, self.manifest = entry, module, manifest
        self.session = Session.load(bundle, provider="cpu")
        self.one_step = one_step(bundle, manifest)  # a decoder step: x carries one step per call

    def inputs(self, batch: int, time: int, steps: int | None = None):
        steps = steps or (1 if self.one_step else time)
        spec = self.manifest.input
        x = (
            tokens(self.entry.vocab, batch, steps)
            if spec.kind == "tokens"
            else feats(spec.features, batch, steps)
        )
        lengths = torch.full((batch,), steps) if spec.lengths else None
        state = [0.5 * torch.randn(s.shape[0], batch, s.shape[2]) for s in self.manifest.state]
        return x, lengths, state, further_values(self.manifest, batch, time)

    def ort(self, x, lengths, state, further) -> list[np.ndarray]:
        """``Session.run`` on the graph's side of things: y, then the final state in manifest order."""
        states = {s.input: t.numpy() for s, t in zip(self.manifest.state, state, strict=True)}
        result = self.session.run(
            x.numpy(),
            lengths=None if lengths is None else lengths.numpy(),
            state=states or None,
            inputs={k: v.numpy() for k, v in further.items()},
            return_state=True,
        )
        from .harness import further_shapes  # harness imports this module

        further_shapes(self.manifest, result.outputs, x.shape[0], x.shape[1])
        return [result.output, *(result.state or {}).values()]

    def torch(self, x, lengths, state, further):
        with torch.no_grad():
            y, s = self.entry.call(self.module, x, lengths, state or None, **further)
        return [y, *s]

    def compare(self, batch: int, time: int, diff) -> float:
        args = self.inputs(batch, time)
        return diff(self.ort(*args), self.torch(*args))

    def stream(self, diff) -> float:
        """Step by step (a decoder step) or in chunks of 3 through the graph, against the model on the
        whole sequence (a decoder step: the model stepped the same way); inputs with x's time axis
        are sliced with x, the others passed whole at every chunk."""
        batch, time = 2, 13
        x, lengths, state, further = self.inputs(batch, time, time)
        size = 1 if self.one_step else 3
        timed = {s.name: s.shape.index("time") for s in self.manifest.inputs if "time" in s.shape}
        got_state, want_state, ys, want_ys = list(state), list(state), [], []
        for start in range(0, time, size):
            chunk = x[:, start : start + size]
            part = {
                k: v.narrow(timed[k], start, chunk.shape[1]) if k in timed else v for k, v in further.items()
            }
            out = self.ort(chunk, None, got_state, part)
            ys.append(out[0])
            got_state = [torch.from_numpy(o) for o in out[1:]]
            if self.one_step:
                want = self.torch(chunk, None, want_state, part)
                want_ys.append(want[0])
                want_state = want[1:]
        if self.one_step:
            want = [torch.cat(want_ys, 1) if want_ys[0].dim() == 3 else want_ys[-1], *want_state]
        else:
            want = self.torch(x, lengths, state, further)
        y = np.concatenate(ys, axis=1) if want[0].dim() == 3 else ys[-1]
        return diff([y, *(s.numpy() for s in got_state)], want)
