"""edgernn.train: recurrent models (RNN/LSTM/GRU) and BPTT training in PyTorch.

Names load lazily, so ``import edgernn.train`` never pulls in torch until a model is needed.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "ModelConfig": "edgernn.train.config",
    "TrainConfig": "edgernn.train.config",
    "DataConfig": "edgernn.train.config",
    "DataInfo": "edgernn.train.config",
    "SequenceModel": "edgernn.train.model",
    "load_dataset": "edgernn.train.data",
    "run_training": "edgernn.train.pipeline",
    "RunInfo": "edgernn.train.run",
    "ManifestSpecs": "edgernn.train.run",
    "load_run": "edgernn.train.run",
    "read_run_info": "edgernn.train.run",
    "manifest_specs": "edgernn.train.run",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'edgernn.train' has no attribute {name!r}")
