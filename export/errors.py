"""The export stage's error. Light on purpose: the CLI and ``edgernn`` import it without torch."""

from edgernn.runtime.errors import EdgernnError


class ExportError(EdgernnError):
    """An export failed a graph requirement or the verification gate; the message names the module."""
