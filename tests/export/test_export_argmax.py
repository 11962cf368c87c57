"""The classifier gate's argmax check: every real sequence gets the same class from onnxruntime as
from PyTorch, and the check says how many did; logits within the tolerance but on the other side of a
tie still refuse the export."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from edgernn.export.verify import Verifier  # noqa: E402


def _verifier(got: np.ndarray, want: np.ndarray) -> Verifier:
    verifier = Verifier.__new__(Verifier)  # no graph needed: the runs are given
    verifier._real_runs = lambda x, lengths: [([got[:3]], [want[:3]]), ([got[3:]], [want[3:]])]
    return verifier


def test_argmax_agreement_passes_only_when_every_class_is_the_same():
    want = np.array([[0.0, 1.0], [2.0, 1.0], [0.5, 0.50002], [1.0, 0.0], [0.0, 3.0]], np.float32)
    same = _verifier(want + 1e-6, want)._argmax("argmax real inputs", np.zeros((5, 1, 1)), None)
    assert same.passed and "argmax agrees on 5/5 real sequences (share 1.0000, required 1.0)" in same.detail
    flipped = want.copy()
    flipped[2] = [0.50002, 0.5]  # within atol 1e-4 of PyTorch, but the other class
    check = _verifier(flipped, want)._argmax("argmax real inputs", np.zeros((5, 1, 1)), None)
    assert not check.passed and check.refused
    assert "argmax agrees on 4/5 real sequences (share 0.8000" in check.detail
    assert check.max_abs_diff == pytest.approx(2e-5, abs=1e-6)
