"""edgernn.runtime: run exported recurrent models with onnxruntime alone (no torch, no onnx).

Depends on numpy and onnxruntime only; it imports nothing else of edgernn. Shapes below are raw
(unnormalised) values; the session applies the manifest's normalisation::

    session = Session.load("bundle/")           # shared, stateless, thread-safe
    session.run(x).output                        # x: [batch, time, features] raw values
    stream = session.stream(batch=1)             # owns its state; many per session
    y_t = stream.step(x_t).output                # x_t: [batch, features]
    stream.state, stream.reset()                 # checkpoint / clear
    batcher = session.batcher(max_batch=64)      # many streams, one onnxruntime call per tick
    h = batcher.open(); batcher.step({h: x_t})   # or h.step(x_t) from many threads
"""

from . import _ort  # noqa: F401  (fails early, naming the extra to install)
from .batcher import StreamBatcher
from .bundle import Bundle
from .errors import (
    BundleError,
    EdgernnError,
    InputError,
    MissingDependencyError,
    ModelRunError,
    ProviderError,
    UnsupportedError,
)
from .handle import StreamHandle
from .manifest import FileEntry, InputSpec, Manifest, OutputSpec, StateSpec
from .providers import ProviderFallbackWarning, RuntimeConfig
from .result import Result
from .session import Session
from .stream import Stream

__all__ = [
    "Bundle",
    "BundleError",
    "EdgernnError",
    "FileEntry",
    "InputError",
    "InputSpec",
    "Manifest",
    "MissingDependencyError",
    "ModelRunError",
    "OutputSpec",
    "ProviderError",
    "ProviderFallbackWarning",
    "Result",
    "RuntimeConfig",
    "Session",
    "StateSpec",
    "Stream",
    "StreamBatcher",
    "StreamHandle",
    "UnsupportedError",
]
