"""Augmentation of training sequences: window slicing against a numpy interpolation of the drawn
window, padding untouched, seeded draws, and the recipe's choice recorded in the bundle manifest."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edgernn.train import augment as aug  # noqa: E402
from edgernn.train.batches import Batch  # noqa: E402


def _batch() -> Batch:
    x = torch.from_numpy(np.random.default_rng(0).normal(size=(4, 30, 2)).astype(np.float32))
    x[1, 18:] = 0.0  # padding past length 18
    return Batch(x=x, y=torch.zeros(4, dtype=torch.long), lengths=torch.tensor([30, 18, 30, 2]))


def test_window_slicing_is_linear_interpolation_of_a_window_of_each_sequence(monkeypatch):
    monkeypatch.setattr(aug, "JITTER", 0.0)
    batch = _batch()
    out = aug.augment(batch, seed=3, epoch=1, step=0).x.numpy()
    x = batch.x.numpy()
    for i, n in enumerate(batch.lengths.tolist()):
        assert np.array_equal(out[i, n:], x[i, n:])  # padding is never touched
        # the sliced series is x read at n evenly spaced positions inside [0, n-1] covering >= 90 %
        best = None
        for start in np.linspace(0, 0.1 * (n - 1), 41):
            for width in np.linspace(0.9 * (n - 1), (n - 1) - start, 41):
                pos = start + np.arange(n) / max(n - 1, 1) * width
                want = np.stack([np.interp(pos, np.arange(n), x[i, :n, f]) for f in range(2)], 1)
                err = np.abs(want - out[i, :n]).max()
                best = err if best is None else min(best, err)
        assert best < 0.08, (i, best)  # the grid of windows comes within 0.08 of the drawn one


def test_draws_are_seeded_and_jitter_has_the_stated_scale():
    batch = _batch()
    one, two = (aug.augment(batch, seed=1, epoch=2, step=3).x for _ in range(2))
    assert torch.equal(one, two)
    assert not torch.equal(one, aug.augment(batch, seed=1, epoch=3, step=3).x)
    flat = Batch(x=torch.zeros(64, 200, 1), y=torch.zeros(64, dtype=torch.long))
    noise = aug.augment(flat, seed=0, epoch=1, step=0).x  # slicing a constant leaves only the noise
    assert float(noise.std()) == pytest.approx(aug.JITTER, rel=0.02)


def test_token_inputs_are_left_alone():
    batch = Batch(x=torch.ones(2, 5, dtype=torch.long), y=torch.zeros(2, dtype=torch.long))
    assert aug.augment(batch, 0, 1, 0) is batch
