"""edgernn.export: PyTorch -> ONNX with native recurrent ops, verified; quantized variants.

Heavy modules (torch, onnx) load on first use of the names below.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "export": "edgernn.export.api",
    "ExportMeta": "edgernn.export.api",
    "ExportReport": "edgernn.export.api",
    "ExportConfig": "edgernn.export.config",
    "Check": "edgernn.export.verify",
    "inspect_path": "edgernn.export.inspect",
    "summarize": "edgernn.export.graph",
    "load_model": "edgernn.export.graph",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'edgernn.export' has no attribute {name!r}")
