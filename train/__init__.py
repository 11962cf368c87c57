"""edgernn.train: recurrent models (RNN/LSTM/GRU) and BPTT training in PyTorch.

Names load lazily, so ``import edgernn.train`` never pulls in torch until a model is needed::

    from edgernn.train import DataConfig, ModelConfig, RunConfig, run_training
    trained = run_training(RunConfig(DataConfig(dataset="sunspots"), ModelConfig(cell="gru")), "runs/s")
    trained.model, trained.summary.test_metric      # the best model in memory, its test score
"""

from __future__ import annotations

from edgernn._lazy import lazy_names

_LAZY = {
    "RunConfig": ".config",
    "ModelConfig": ".config",
    "TrainConfig": ".config",
    "DataConfig": ".config",
    "DataInfo": ".config",
    "TrainingSummary": ".records",
    "SequenceModel": ".model",
    "load_dataset": ".data",
    "run_training": ".training",
    "TrainedRun": ".run",
    "load_trained": ".run",
    "RunInfo": ".run",
    "load_run": ".run",
    "TrainError": ".errors",
    "RunError": ".errors",
}

__all__ = sorted(_LAZY)
__getattr__, __dir__ = lazy_names(__name__, _LAZY)
