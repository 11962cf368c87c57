"""Losses with padding masks and the shared scorer, against hand computations."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

from edgernn.train.batches import time_chunks, to_batch  # noqa: E402
from edgernn.train.config import DataInfo  # noqa: E402
from edgernn.train.objective import Objective, score  # noqa: E402
from edgernn.train.splits import Split  # noqa: E402


def info(**kw) -> DataInfo:
    base = dict(
        source="t",
        sha256="0",
        task="classify",
        topology="many_to_many",
        input_kind="tokens",
        feature_names=(),
        output_kind="classes",
        output_names=(),
        labels=("a", "b", "c"),
        metric="accuracy",
    )
    return DataInfo(**{**base, **kw})  # fmt: skip


def test_masked_loss_ignores_padding_exactly():
    objective = Objective(info())
    out = torch.randn(3, 4, 3)
    y = torch.tensor([[0, 1, 2, 0], [1, 1, 0, 0], [2, 0, 0, 0]])
    lengths = [4, 2, 1]
    mask = torch.arange(4)[None, :] < torch.tensor(lengths)[:, None]
    valid_out = torch.cat([out[i, :n] for i, n in enumerate(lengths)])
    valid_y = torch.cat([y[i, :n] for i, n in enumerate(lengths)])
    expected = F.cross_entropy(valid_out, valid_y)
    assert torch.allclose(objective._masked_loss(out, y, mask), expected, atol=1e-6)
    out2 = out.clone()
    out2[~mask] = 1e3  # whatever sits in the padding
    assert torch.allclose(objective._masked_loss(out2, y, mask), expected, atol=1e-6)


def test_regression_loss_is_the_mean_square_over_scored_steps():
    objective = Objective(info(output_kind="regression", metric="rmse", labels=None))
    out, y = torch.zeros(1, 3, 2), torch.tensor([[[1.0, 1.0], [2.0, 0.0], [9.0, 9.0]]])
    mask = torch.tensor([[True, True, False]])
    assert float(objective._masked_loss(out, y, mask)) == pytest.approx((1 + 1 + 4 + 0) / 4)


def test_score_by_hand():
    y = np.array([[0, 1], [1, 1]])
    assert score("accuracy", np.array([[0, 0], [1, 1]]), y, None) == 0.75
    assert score("accuracy", np.array([[0, 0], [1, 1]]), y, np.array([[True, False], [True, True]])) == 1.0
    assert score("rmse", np.array([[3.0], [0.0]]), np.array([[0.0], [4.0]]), None) == pytest.approx(
        np.sqrt(12.5)
    )
    logp = np.log(np.array([0.5, 0.25, 0.25]))
    assert score("nll", logp, np.array([[0, 1]]), None) == pytest.approx(-(np.log(0.5) + np.log(0.25)) / 2)


def test_time_chunks_cut_lengths_and_masks():
    split = Split(x=np.arange(10).reshape(2, 5), y=np.zeros((2, 5), int), lengths=np.array([5, 2]))
    chunks = time_chunks(to_batch(split, info()), 2, per_step_targets=True)
    assert [c.x.shape[1] for c in chunks] == [2, 2, 1]
    assert [c.lengths.tolist() for c in chunks] == [[2, 2], [2, 1], [1, 1]]  # at least 1 step to pack
    assert chunks[1].mask.tolist() == [[True, True], [False, False]]
    assert chunks[2].mask.tolist() == [[True], [False]]
