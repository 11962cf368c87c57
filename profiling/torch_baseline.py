"""PyTorch baselines for ``edgernn profile --torch``: the bundle's source model, eager and compiled.

A bundle exported from a training run carries ``source/config.json`` + ``source/model.safetensors``;
:func:`edgernn.train.run.load_run` rebuilds the module from them. Each baseline times
``module(x, state)`` on exactly the model-space inputs onnxruntime gets, with the state carried step
by step in stream mode, under ``torch.inference_mode`` and ``torch.set_num_threads(cell.threads)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edgernn.runtime.bundle import Bundle
from edgernn.runtime.errors import BundleError, InputError, MissingDependencyError, ProviderError
from edgernn.runtime.vocab import GPU_PROVIDERS, PROVIDER_ALIASES, SOURCE_DIR, SOURCE_FILES


def _torch() -> Any:
    try:
        import torch
    except ImportError:
        raise MissingDependencyError(
            "--torch needs PyTorch, which is not installed: pip install 'edgernn[torch]'"
        ) from None
    return torch


def bundle_baselines(bundle: str | Path, *, compile: bool = False) -> list[TorchBaseline]:
    """Eager (and ``torch.compile``) baselines from a bundle's ``source/`` checkpoint."""
    _torch()
    root = Path(bundle)
    if not root.is_dir():
        raise InputError(
            f"--torch: expected an edgernn bundle folder (its source/ holds the PyTorch model), got {root}"
        )
    loaded = Bundle.load(root)
    missing = [rel for rel in SOURCE_FILES if rel not in loaded.manifest.files]
    if missing:
        raise BundleError(
            f"--torch: expected {', '.join(SOURCE_FILES)} in {root}, missing {', '.join(missing)}; "
            "bundles from `edgernn export RUN_DIR` carry them"
        )
    for rel in SOURCE_FILES:
        loaded.file(rel)  # sha256 against the manifest
    from edgernn.train.run import load_run

    module, _ = load_run(root / SOURCE_DIR)
    out = [TorchBaseline("torch-eager", module)]
    if compile:
        out.append(TorchBaseline("torch-compile", module, compile=True))
    return out


class TorchBaseline:
    """A PyTorch module following ``forward(x, state=None) -> (y, state)``, timed as a profile baseline."""

    def __init__(self, name: str, module: Any, *, compile: bool = False) -> None:
        torch = _torch()
        self.name = name
        self.module = module.eval()
        self.compile = compile
        self.versions = {"torch": torch.__version__}

    def runner(self, cell: Any, pool: Sequence[Any]) -> _TorchRunner:
        """A runner over ``pool`` (model-space numpy inputs) for ``cell``'s mode, threads and device."""
        torch = _torch()
        torch.set_num_threads(cell.threads)
        gpu = PROVIDER_ALIASES[cell.provider] in GPU_PROVIDERS
        if gpu and not torch.cuda.is_available():
            raise ProviderError(f"{self.name}: cell {cell.label} runs on a GPU, but this torch has no CUDA")
        device = torch.device("cuda" if gpu else "cpu")
        module = self.module.to(device)
        fn = module
        if self.compile:
            torch._dynamo.reset()  # a fresh cache per cell: no silent fall-back to eager after recompiles
            fn = torch.compile(module, dynamic=False)
        steps = cell.seq if cell.mode == "stream" else None
        return _TorchRunner(torch, fn, pool, steps=steps, device=device)


class _TorchRunner:
    def __init__(self, torch: Any, fn: Any, pool: Sequence[Any], *, steps: int | None, device: Any) -> None:
        self._torch, self._fn, self._steps = torch, fn, steps
        self._sync = torch.cuda.synchronize if device.type == "cuda" else None
        if steps is None:
            self._pool = [torch.from_numpy(np.ascontiguousarray(x)).to(device) for x in pool]
        else:  # one step [batch, ...] becomes a one-step sequence [batch, 1, ...]
            self._pool = [[torch.from_numpy(x).unsqueeze(1).to(device) for x in seq] for seq in pool]
        self._state = None

    def reset(self) -> None:
        self._state = None

    def __call__(self, i: int) -> np.ndarray:
        with self._torch.inference_mode():
            if self._steps is None:
                y, _ = self._fn(self._pool[i % len(self._pool)])
            else:
                x = self._pool[(i // self._steps) % len(self._pool)][i % self._steps]
                y, self._state = self._fn(x, self._state)
                y = y[:, 0] if y.dim() == 3 else y
            if self._sync is not None:
                self._sync()
        return y.cpu().numpy()
