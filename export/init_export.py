"""one_to_many bundles carry a second graph: ``cond -> h0[, c0]`` from ``module.init_state``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .config import ExportConfig
from .errors import ExportError
from .onnx_export import finalize, run_exporter
from .verify import Check, compare_outputs, cpu_session


class InitWrapper(torch.nn.Module):
    """``cond[batch, features] -> state tensors`` through the module's ``init_state``."""

    def __init__(self, module: torch.nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, cond: torch.Tensor):
        state = self.module.init_state(cond)
        return tuple(state) if isinstance(state, tuple | list) else (state,)


def export_init(
    module, path: Path, meta, shapes, state_in, config: ExportConfig, metadata_props, exporter: str
) -> list[Check]:
    """Export and verify the init graph with ``exporter`` (the one whose main graph passed); returns
    its checks (raises :class:`ExportError` on failure)."""
    if not hasattr(module, "init_state"):
        raise ExportError(
            f"topology one_to_many: expected {type(module).__name__}.init_state(cond) -> state, found none"
        )
    if meta.condition is None or not meta.condition.features:
        raise ExportError(
            "topology one_to_many: expected meta.condition with the conditioning vector's features"
        )
    wrapper = InitWrapper(module).eval()
    features = meta.condition.features
    run_exporter(
        exporter,
        wrapper,
        (torch.zeros(2, features),),
        path,
        input_names=["cond"],
        output_names=list(state_in),
        dynamic={"cond": {0: "batch"}, **{n: {1: "batch"} for n in state_in}},
        opset=config.opset,
    )
    io_dims = {
        "cond": ["batch", features],
        **{n: [r, "batch", h] for n, (r, h) in zip(state_in, shapes, strict=True)},
    }
    finalize(path, io_dims=io_dims, metadata={p.key: p.value for p in metadata_props})
    rng = np.random.default_rng(config.seed)
    session = cpu_session(path)
    checks = []
    for batch in config.verify_batches:
        cond = rng.standard_normal((batch, features), dtype=np.float32)
        with torch.no_grad():
            want = [t.numpy() for t in wrapper(torch.from_numpy(cond))]
        got = session.run(None, {"cond": cond})
        checks.append(compare_outputs(f"init parity B={batch}", got, want, config.atol, config.rtol))
    failed = [c for c in checks if not c.passed]
    if failed:
        raise ExportError(
            "init graph failed verification: "
            + "; ".join(f"{c.name} max abs diff {c.max_abs_diff:.3g}" for c in failed)
        )
    return checks
