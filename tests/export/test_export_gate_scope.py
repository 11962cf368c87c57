"""The gate judges what the model will see: with the data's own inputs given, random inputs past the
training length are a recorded warning, not a refusal; without them the gate holds every check."""

from __future__ import annotations

import re

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from export_models import Seq  # noqa: E402

from edgernn.export import export  # noqa: E402
from edgernn.export.errors import ExportError  # noqa: E402
from edgernn.runtime.bundle import Bundle  # noqa: E402

TRAIN_T = 6


class LongDrift(Seq):
    """Differs from its traced graph only on inputs longer than the training length (the tracer bakes
    in the branch taken at the example's length): the stand-in for a trained net that amplifies
    noise it never saw."""

    def forward(self, x, state=None, lengths=None):
        y, state = super().forward(x, state, lengths)
        return (y + 0.5 if x.shape[1] > TRAIN_T else y), state


def _real(n=20):
    return np.random.default_rng(1).standard_normal((n, TRAIN_T, 4)).astype(np.float32)


def test_random_inputs_past_training_length_are_a_warning(tmp_path):
    real = _real()
    model = LongDrift(cell="gru", layers=1, topology="many_to_one")
    report = export(
        model, torch.from_numpy(real[:2]), tmp_path / "b", exporter="torchscript", real_inputs=real
    )
    warned = {c.name for c in report.warnings}
    assert warned and all(c.max_abs_diff == pytest.approx(0.5, abs=1e-4) for c in report.warnings)
    assert all(f"T={2 * TRAIN_T + 3}" in name for name in warned), warned
    assert report.max_abs_diff < 1e-4  # the gating checks: real data and lengths up to the training length
    real_checks = {c.name: c for c in report.checks if "real inputs" in c.name}
    assert (
        real_checks["parity real inputs"].passed
        and "20 real sequences" in real_checks["parity real inputs"].detail
    )
    assert real_checks["stream step-by-step real inputs"].passed
    recorded = Bundle.load(tmp_path / "b").manifest.validation.checks
    assert {c.name for c in recorded if c.warning and not c.passed} == warned


def test_without_real_inputs_the_gate_still_refuses(tmp_path):
    real = _real()
    model = LongDrift(cell="gru", layers=1, topology="many_to_one")
    with pytest.raises(ExportError, match=r"parity T=15 B=1"):
        export(model, torch.from_numpy(real[:2]), tmp_path / "b", exporter="torchscript")
    assert not (tmp_path / "b").exists()


def test_real_input_mismatch_still_refuses(tmp_path):
    real = np.random.default_rng(1).standard_normal((20, 2 * TRAIN_T, 4)).astype(np.float32)
    model = LongDrift(cell="gru", layers=1, topology="many_to_one")
    with pytest.raises(ExportError, match=r"parity real inputs"):
        export(
            model, torch.from_numpy(real[:2, :3]), tmp_path / "b", exporter="torchscript", real_inputs=real
        )


class IllConditioned(Seq):
    """sin of a large multiple of the logits: float32 rounding in PyTorch alone moves y by about as
    much as onnxruntime's does (the stand-in for a trained net that is ill-conditioned on noise)."""

    def forward(self, x, state=None, lengths=None):
        y, state = super().forward(x, state, lengths)
        return torch.sin(3e4 * y), state


def test_an_ill_conditioned_random_input_is_judged_against_float64(tmp_path):
    model = IllConditioned(cell="lstm", layers=1, topology="many_to_one")
    report = export(model, torch.randn(2, TRAIN_T, 4), tmp_path / "b", exporter="torchscript", state=False)
    assert report.warnings and all("ill-conditioned random input" in c.detail for c in report.warnings)
    for check in report.warnings:  # onnxruntime within 8x of PyTorch float32's own error
        ort_err, torch_err = (float(v) for v in re.findall(r"(\d\.\d\de-\d\d)", check.detail)[:2])
        assert check.max_abs_diff > 1e-5 and ort_err <= 1e-5 + 8 * torch_err


def test_a_wrong_graph_is_not_excused_by_float64():
    from edgernn.export.conditioning import judged_against_float64
    from edgernn.runtime.records import Check

    failed = Check("parity T=9 B=3", False, 5e-4, "")
    want, exact = [np.zeros(3, np.float32)], [np.full(3, 1e-4)]  # PyTorch float32 1e-4 from exact
    near = judged_against_float64(failed, [np.full(3, 5e-4, np.float32)], want, lambda: exact, atol=1e-4)
    assert near.warning and not near.passed  # 4e-4 from exact <= 1e-4 + 8 x 1e-4
    far = judged_against_float64(failed, [np.full(3, 5e-3, np.float32)], want, lambda: exact, atol=1e-4)
    assert not far.warning and not far.passed
    assert "onnxruntime 4.90e-03, PyTorch float32 1.00e-04" in far.detail
