"""edgernn: recurrent sequence models from PyTorch training to embedded onnxruntime inference.

The stages are ``edgernn.train``, ``edgernn.export``, ``edgernn.runtime`` and ``edgernn.profiling``;
this package is the face that wires them together (the CLI, ``pipeline`` and ``demo``). The names
re-exported here load lazily, so ``import edgernn`` never pulls in torch, onnx or onnxruntime.
"""

from __future__ import annotations

from ._lazy import lazy_names
from ._version import __version__

_LAZY = {
    "Bundle": "edgernn.runtime",
    "Manifest": "edgernn.runtime",
    "Session": "edgernn.runtime",
    "EdgernnError": "edgernn.runtime.errors",
    "BundleError": "edgernn.runtime.errors",
    "InputError": "edgernn.runtime.errors",
    "ProviderError": "edgernn.runtime.errors",
    "ExportError": "edgernn.export.errors",
    "TrainError": "edgernn.train.errors",
    "RunError": "edgernn.train.errors",
    "PipelineConfig": "edgernn.pipeline",
    "PipelineSummary": "edgernn.summary",
    "run_pipeline": "edgernn.pipeline",
}

__all__ = ["__version__", *sorted(_LAZY)]
__getattr__, __dir__ = lazy_names(__name__, _LAZY)
