"""Checkpoints in safetensors (never pickle), written atomically: temp file, fsync, rename.

* ``model.safetensors``: the best weights (the unwrapped module's ``state_dict``).
* ``resume.safetensors``: everything ``--resume`` needs in one file, so it is always consistent:
  last weights, optimiser tensors and torch RNG states as tensors, and the rest (epoch, best
  metric, optimiser hyper-parameters, LR schedule, gradient-health statistics) as JSON in the
  safetensors metadata header under ``"edgernn_resume"``.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load as load_bytes
from safetensors.torch import save as save_bytes
from torch import Tensor

from edgernn.runtime.fileio import atomic_write_bytes

from .errors import RunError
from .loop import Progress, Trainer

WEIGHTS_FILE = "model.safetensors"
RESUME_FILE = "resume.safetensors"
_RESUME_KEY = "edgernn_resume"


def save_weights(
    path: str | Path, state_dict: dict[str, Tensor], metadata: dict[str, str] | None = None
) -> Path:
    """Write a ``state_dict`` as safetensors, atomically."""
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in state_dict.items()}
    return atomic_write_bytes(path, save_bytes(tensors, metadata=metadata))


def load_weights(path: str | Path) -> dict[str, Tensor]:
    """Read a safetensors file; anything else (a pickle, a truncated file) raises :class:`RunError`."""
    path = Path(path)
    if not path.is_file():
        raise RunError(f"{path}: checkpoint not found")
    try:
        return load_bytes(path.read_bytes())
    except (SafetensorError, ValueError, OSError) as err:
        raise RunError(
            f"{path}: not a readable safetensors file ({err}); edgernn never loads pickle"
        ) from None


def _flatten_optimizer(state: dict[str, Any]) -> tuple[dict[str, Tensor], dict[str, Any]]:
    tensors, plain = {}, {}
    for index, values in state["state"].items():
        plain[str(index)] = {}
        for key, value in values.items():
            if torch.is_tensor(value):
                tensors[f"optim.{index}.{key}"] = value
            else:
                plain[str(index)][key] = value
    return tensors, {"state": plain, "param_groups": state["param_groups"]}


def _unflatten_optimizer(tensors: dict[str, Tensor], meta: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {int(i): dict(v) for i, v in meta["state"].items()}
    for name, value in tensors.items():
        if name.startswith("optim."):
            _, index, key = name.split(".", 2)
            state.setdefault(int(index), {})[key] = value
    return {"state": state, "param_groups": meta["param_groups"]}


def save_resume(path: str | Path, trainer: Trainer) -> Path:
    """Write everything needed to continue ``trainer`` exactly where it is."""
    tensors = {f"model.{k}": v for k, v in trainer.model.state_dict().items()}
    optim_tensors, optim_meta = _flatten_optimizer(trainer.optimizer.state_dict())
    tensors.update(optim_tensors)
    tensors["rng.torch"] = torch.get_rng_state()
    if torch.cuda.is_available():
        for i, rng in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = rng
    meta = {
        "progress": dataclasses.asdict(trainer.progress),
        "optimizer": optim_meta,
        "scheduler": None if trainer.scheduler is None else trainer.scheduler.state_dict(),
        "health": trainer.health.state_dict(),
    }
    return save_weights(path, tensors, metadata={_RESUME_KEY: json.dumps(meta)})


def read_resume(path: str | Path) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """The tensors and JSON state of a resume checkpoint."""
    tensors = load_weights(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = json.loads((f.metadata() or {})[_RESUME_KEY])
    except (KeyError, json.JSONDecodeError, SafetensorError) as err:
        raise RunError(f"{path}: not an edgernn resume checkpoint ({err})") from None
    return tensors, meta


def restore(trainer: Trainer, tensors: dict[str, Tensor], meta: dict[str, Any]) -> None:
    """Load a resume checkpoint into a freshly built ``trainer`` (same configs)."""
    model_state = {k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")}
    trainer.model.load_state_dict(model_state)
    trainer.optimizer.load_state_dict(_unflatten_optimizer(tensors, meta["optimizer"]))
    if trainer.scheduler is not None and meta["scheduler"] is not None:
        trainer.scheduler.load_state_dict(meta["scheduler"])
    trainer.health.load_state_dict(meta["health"])
    trainer.progress = Progress(**meta["progress"])
    torch.set_rng_state(tensors["rng.torch"])
    cuda = [tensors[k] for k in sorted(tensors) if k.startswith("rng.cuda.")]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda)
