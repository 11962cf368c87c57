"""Gradient health on hand-set gradients: per-layer norms, vanishing, exploding, NaN/Inf."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from edgernn.train.config import ModelConfig  # noqa: E402
from edgernn.train.health import (  # noqa: E402
    ExplodingGradientWarning,
    GradientHealth,
    NonFiniteError,
    VanishingGradientWarning,
    check_loss,
    group_name,
)
from edgernn.train.model import SequenceModel  # noqa: E402


def model_with_grads(value: float) -> SequenceModel:
    model = SequenceModel(
        ModelConfig(cell="gru", num_layers=2, bidirectional=True, input_size=2, hidden_size=3)
    )
    for p in model.parameters():
        p.grad = torch.full_like(p, value)
    return model


def test_group_names():
    assert group_name("rnn.weight_hh_l1_reverse") == ("rnn.l1", True)
    assert group_name("rnn.bias_ih_l0") == ("rnn.l0", True)
    assert group_name("head.weight") == ("head", False)


def test_per_layer_norms_match_hand_computation():
    model = model_with_grads(2.0)
    health = GradientHealth(model, vanish_threshold=0.0, vanish_steps=5, explode_factor=100.0)
    norms = health.norms()
    # layer 0: both directions, W_ih 9x2, W_hh 9x3, two biases of 9 -> 2 * (18 + 27 + 18) = 126 values
    assert norms["rnn.l0"] == pytest.approx(2.0 * math.sqrt(126))
    assert norms["rnn.l1"] == pytest.approx(2.0 * math.sqrt(2 * (54 + 27 + 18)))  # input is 2 * hidden = 6
    assert norms["head"] == pytest.approx(2.0 * math.sqrt(6 + 1))
    total = health.after_backward(epoch=1, step=1)
    assert total == pytest.approx(2.0 * math.sqrt(sum(p.numel() for p in model.parameters())))
    summary = health.epoch_summary()
    assert summary["grad_norm"]["head"] == pytest.approx(norms["head"]) and summary["warnings"] == []


def test_vanishing_warns_once_after_n_low_steps():
    model = model_with_grads(1e-9)
    health = GradientHealth(model, vanish_threshold=1e-6, vanish_steps=3, explode_factor=100.0)
    health.after_backward(1, 1)
    health.after_backward(1, 2)
    with pytest.warns(VanishingGradientWarning, match="stayed below 1e-06 for 3 steps"):
        health.after_backward(1, 3)
    health.after_backward(1, 4)  # no second warning for the same streak
    assert len(health.epoch_summary()["warnings"]) == 1


def test_exploding_warns_on_a_spike_after_warm_up():
    model = model_with_grads(1.0)
    health = GradientHealth(model, vanish_threshold=0.0, vanish_steps=5, explode_factor=50.0)
    for step in range(12):
        health.after_backward(1, step)
    for p in model.parameters():
        p.grad.mul_(60.0)
    with pytest.warns(ExplodingGradientWarning, match="is 60x its running mean"):
        health.after_backward(1, 12)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_gradient_or_loss_stops(bad):
    model = model_with_grads(1.0)
    model.head.bias.grad[0] = bad
    health = GradientHealth(model, vanish_threshold=0.0, vanish_steps=5, explode_factor=100.0)
    with pytest.raises(NonFiniteError, match=r"gradient became NaN/Inf in head at epoch 3, step 7"):
        health.after_backward(3, 7)
    with pytest.raises(NonFiniteError, match="the loss became"):
        check_loss(bad, 1, 1)


def test_health_state_round_trips():
    model = model_with_grads(1.0)
    a = GradientHealth(model, vanish_threshold=1e3, vanish_steps=50, explode_factor=100.0)
    for step in range(4):
        a.after_backward(1, step)
    b = GradientHealth(model, vanish_threshold=1e3, vanish_steps=50, explode_factor=100.0)
    b.load_state_dict(a.state_dict())
    assert (
        b.state_dict() == a.state_dict() == {"running_norm": a.running_norm, "steps_seen": 4, "low_streak": 4}
    )


def test_exploding_warns_on_an_absolute_blow_up_once_per_epoch_with_the_remedy():
    # a norm that is huge from the first step on: no jump over the (already huge) running norm
    model = model_with_grads(500.0)
    remedy = "lower --lr (now 50) and keep --clip-grad-norm on (now 0)"
    health = GradientHealth(
        model, vanish_threshold=0.0, vanish_steps=5, explode_factor=100.0, explode_norm=1e3, remedy=remedy
    )
    with pytest.warns(
        ExplodingGradientWarning, match=r"is above 1000 at epoch 1, step 0; lower --lr \(now 50\)"
    ):
        for step in range(20):
            health.after_backward(1, step)
    assert len(health.epoch_summary()["warnings"]) == 1  # once per epoch, not once per step
    with pytest.warns(ExplodingGradientWarning):
        health.after_backward(2, 20)
    assert health.epoch_summary()["warnings"][0].endswith(remedy)


def test_a_validation_error_many_times_its_best_is_divergence():
    from edgernn.train.health import DivergenceWarning

    health = GradientHealth(model_with_grads(1.0), 0.0, 5, 100.0, remedy="lower --lr")
    health.check_validation(1, 500.0, 56.0, higher_is_better=False)  # 8.9x: not yet
    assert health.epoch_summary()["warnings"] == []
    with pytest.warns(
        DivergenceWarning, match=r"validation metric 7966 at epoch 2 is 142x its best \(56.1\); lower --lr"
    ):
        health.check_validation(2, 7966.0, 56.1, higher_is_better=False)
    health.check_validation(3, 0.05, 0.9, higher_is_better=True)  # accuracy: never


def test_the_verdict_names_the_baseline_when_the_model_does_not_beat_it():
    from edgernn.train.records import TrainingSummary

    common = dict(best_val_metric=1, best_epoch=1, test_loss=1, epochs_run=1, stopped=None, checkpoint="c")
    worse = TrainingSummary("rmse", test_metric=1.25, baseline="persistence", baseline_metric=0.5,
                            processes=1, seconds=1, **common)  # fmt: skip
    assert worse.verdict() == (
        "not better than persistence on the test split (rmse 1.25 vs 0.5, 2.50x persistence): do not ship this model"
    )
    better = TrainingSummary("accuracy", test_metric=0.9, baseline="majority", baseline_metric=0.1,
                             processes=1, seconds=1, **common)  # fmt: skip
    assert better.verdict() is None and better.beats_baseline
