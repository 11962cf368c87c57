"""Import onnxruntime once, with an error that names the extra to install."""

from __future__ import annotations

from .errors import MissingDependencyError

try:
    import onnxruntime as ort
except ImportError as err:  # pragma: no cover - exercised in a subprocess test
    raise MissingDependencyError(
        "edgernn.runtime needs onnxruntime, which is not installed: "
        "pip install 'edgernn[cpu]' (or 'edgernn[gpu]' for CUDA; never both)"
    ) from err

__all__ = ["ort"]
