"""edgernn.runtime: run exported recurrent models with onnxruntime alone (no torch, no onnx).

Depends on numpy and onnxruntime only; it imports nothing else of edgernn.
"""

from . import _ort  # noqa: F401  (fails early, naming the extra to install)
from .bundle import Bundle, detect_state_pairs, manifest_from_graph
from .errors import (
    BundleError,
    EdgernnError,
    ExportError,
    InputError,
    MissingDependencyError,
    ProviderError,
    TrainError,
)
from .manifest import FileEntry, InputSpec, Manifest, OutputSpec, StateSpec

__all__ = [
    "Bundle",
    "BundleError",
    "EdgernnError",
    "ExportError",
    "FileEntry",
    "InputError",
    "InputSpec",
    "Manifest",
    "MissingDependencyError",
    "OutputSpec",
    "ProviderError",
    "StateSpec",
    "TrainError",
    "detect_state_pairs",
    "manifest_from_graph",
]
