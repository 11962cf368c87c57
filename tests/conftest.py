"""Shared test setup: the repository paths and the fixtures several packages' tests use.

Test files live in per-package folders (runtime/, export/, train/, profiling/, cli/, badinput/); the
helper modules beside this file (model builders, the one import blocker in ``blocked_imports.py``)
are importable from every folder because pytest puts this folder on ``sys.path`` for conftest.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository checkout (benchmarks/, examples/, README.md)."""
    return REPO


@pytest.fixture(scope="session")
def sample_onnx() -> Path:
    """A committed third-party-style 2-layer LSTM (``tests/data/lstm2.onnx``)."""
    return DATA / "lstm2.onnx"


@pytest.fixture
def no_torchscript(monkeypatch):
    """torch.onnx.export as it will be once PyTorch removes the TorchScript exporter: dynamo=False raises."""
    torch = pytest.importorskip("torch")
    real = torch.onnx.export

    def export(*args, dynamo: bool = True, **kwargs):
        if not dynamo:
            raise RuntimeError("the TorchScript exporter is gone")
        return real(*args, dynamo=dynamo, **kwargs)

    monkeypatch.setattr(torch.onnx, "export", export)
