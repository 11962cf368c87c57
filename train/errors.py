"""The training stage's errors. Light on purpose: importing them loads no torch."""

from edgernn.runtime.errors import EdgernnError


class TrainError(EdgernnError):
    """Training stopped: non-finite loss or gradients, a signal, or a failed process."""


class RunError(EdgernnError):
    """A run directory or checkpoint is missing, malformed, a pickle, or does not match its config."""
