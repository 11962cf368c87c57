"""edgernn: recurrent sequence models from PyTorch training to embedded onnxruntime inference.

Stages live in ``edgernn.train``, ``edgernn.export`` and ``edgernn.runtime``; the names
re-exported here load lazily, so ``import edgernn`` never pulls in torch or onnx.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "Bundle": "edgernn.runtime",
    "Manifest": "edgernn.runtime",
    "EdgernnError": "edgernn.runtime",
    "BundleError": "edgernn.runtime",
    "InputError": "edgernn.runtime",
    "ProviderError": "edgernn.runtime",
    "ExportError": "edgernn.runtime",
    "TrainError": "edgernn.runtime",
}

__all__ = ["__version__", *sorted(_LAZY)]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'edgernn' has no attribute {name!r}")
