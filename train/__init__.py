"""edgernn.train: recurrent models (RNN/LSTM/GRU) and BPTT training in PyTorch.

Names load lazily, so ``import edgernn.train`` never pulls in torch until a model is needed.
"""

from __future__ import annotations

from edgernn._lazy import lazy_names

_LAZY = {
    "ModelConfig": ".config",
    "TrainConfig": ".config",
    "DataConfig": ".config",
    "DataInfo": ".config",
    "TrainingSummary": ".records",
    "SequenceModel": ".model",
    "load_dataset": ".data",
    "run_training": ".training",
    "RunResult": ".training",
    "RunInfo": ".run",
    "ManifestSpecs": ".run",
    "load_run": ".run",
    "read_run_info": ".run",
    "manifest_specs": ".run",
    "TrainError": ".errors",
    "RunError": ".errors",
}

__all__ = sorted(_LAZY)
__getattr__, __dir__ = lazy_names(__name__, _LAZY)
