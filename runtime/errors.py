"""The base error and the runtime's own errors.

The CLI turns any :class:`EdgernnError` into one line on stderr and exit code 1. Messages say what
was expected and what was found. The other stages define theirs beside their code
(``edgernn.export.errors.ExportError``, ``edgernn.train.errors.TrainError`` / ``RunError``).
"""


class EdgernnError(Exception):
    """Base class for every error edgernn raises on purpose."""


class BundleError(EdgernnError):
    """A bundle, manifest or model file is missing, malformed or tampered with."""


class InputError(EdgernnError, ValueError):
    """An input tensor, file or flag does not match what the model or command expects."""


class ProviderError(EdgernnError):
    """An execution provider was asked for but cannot be used."""


class UnsupportedError(EdgernnError):
    """The model cannot do what was asked (streaming a bidirectional model, generating without an init file)."""


class ModelRunError(EdgernnError):
    """onnxruntime failed while running a loaded model (a node that cannot compute, out of memory,
    an interrupted call); the message names the model file and the input shapes."""


class MissingDependencyError(EdgernnError, ImportError):
    """An optional dependency is not installed; the message names the extra to install."""
