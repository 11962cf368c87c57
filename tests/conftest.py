"""Shared test setup: the repository paths and the fixtures several packages' tests use.

Test files live in per-package folders (runtime/, export/, train/, profiling/, cli/, badinput/); the
helper modules beside this file (model builders, the one import blocker in ``blocked_imports.py``)
are importable from every folder because pytest puts this folder on ``sys.path`` for conftest.py.
"""

from __future__ import annotations

import sys
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


@pytest.fixture(scope="module", autouse=True)
def _loss_plot_only_where_checked(request):
    """In-process training skips ``loss.png`` unless the test module is marked ``plots``.

    Drawing and encoding that chart with matplotlib takes ~0.65 s of a 1.15 s tiny training run, in
    dozens of runs of the fast suite. Modules whose tests look at the chart or compare a run folder
    with one a subprocess wrote (``grep -rn "mark.plots" tests``) carry ``pytestmark =
    pytest.mark.plots`` and draw it. Processes the tests start (CLI subprocesses, torchrun) draw it.
    """
    training = sys.modules.get("edgernn.train.training")  # imported at collection by the train tests
    if training is None or request.node.get_closest_marker("plots") is not None:
        yield
        return
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(training, "plot_losses", lambda run_dir, records, metric: None)
        yield
