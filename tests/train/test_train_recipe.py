"""The classifier recipe: what it decides (a seed ensemble, augmentation) and what it leaves alone,
and the bundle manifest's ``recipe`` record, which says the same as the printed ``model:`` line."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

pytest.importorskip("torch")
from click.testing import CliRunner  # noqa: E402
from train_fixtures import write_classes_npz, write_series_csv  # noqa: E402

from edgernn.runtime import Bundle  # noqa: E402
from edgernn.train.config import CLASSIFIER_LR, PLAIN_LR, DataConfig, ModelConfig, TrainConfig  # noqa: E402
from edgernn.train.data import load_dataset  # noqa: E402
from edgernn.train.model import SequenceModel  # noqa: E402
from edgernn.train.recipe import FCN_WIDTH, FCN_WORK, MEMBERS, resolve  # noqa: E402


def test_classifiers_get_an_ensemble_and_flags_win(tmp_path):
    data = load_dataset(DataConfig(path=str(write_classes_npz(tmp_path / "c.npz"))))
    model, train, line = resolve(ModelConfig(), TrainConfig(), data)
    assert (model.members, train.augment) == (MEMBERS, False)  # augmentation is opt-in (measured)
    assert f"a seed ensemble of {MEMBERS} in one graph" in line and "jittered" not in line
    # 6 steps: no front end, so no convolutional branch beside it (the recurrence reads every step)
    assert (model.fcn_width, train.threads, train.lr) == (0, 1, PLAIN_LR)
    assert "convolutional branch" not in line
    model, train, line = resolve(ModelConfig(members=1), TrainConfig(augment=True), data)
    assert (model.members, train.augment) == (1, True)
    assert "seed ensemble" not in line and "window-sliced and jittered" in line


def test_long_series_get_a_two_layer_front_end_unless_told(tmp_path):
    x = np.random.default_rng(0).normal(size=(24, 300, 1)).astype(np.float32)
    np.savez(tmp_path / "long.npz", x=x, y=np.arange(24) % 2)
    data = load_dataset(DataConfig(path=str(tmp_path / "long.npz")))
    model, _, line = resolve(ModelConfig(), TrainConfig(), data)
    assert (model.downsample, model.front_layers) == (5, 2)
    assert "strided Conv1d front end x5 (300 -> 60 steps) and a second Conv1d (kernel 5)" in line
    model, _, _ = resolve(
        ModelConfig(downsample=3), TrainConfig(), data
    )  # a flag wins, the rest still decided
    assert (model.downsample, model.front_layers) == (3, 2)
    model, _, line = resolve(ModelConfig(front_layers=1), TrainConfig(), data)
    assert model.front_layers == 1 and "second Conv1d" not in line


def test_classifiers_get_a_convolutional_branch_reading_about_128_steps_unless_told(tmp_path):
    x = np.random.default_rng(0).normal(size=(24, 300, 1)).astype(np.float32)
    np.savez(tmp_path / "long.npz", x=x, y=np.arange(24) % 2)
    data = load_dataset(DataConfig(path=str(tmp_path / "long.npz")))
    model, _, line = resolve(ModelConfig(), TrainConfig(), data)
    assert (model.fcn_width, model.fcn_stride) == (FCN_WIDTH, 3)  # ceil(300 / 128)
    assert "convolutional branch beside the recurrence (LSTM-FCN: Conv1d 128-256-128" in line
    assert "windows of 3 steps averaged" in line
    model, _, line = resolve(ModelConfig(fcn_width=0), TrainConfig(), data)
    assert model.fcn_width == 0 and "convolutional branch" not in line
    built = SequenceModel(dataclasses.replace(model, input_size=1, output_size=2, output_kind="classes"))
    assert built.fcn is None


def test_the_branch_reads_fewer_steps_for_big_batches_and_uses_every_core(tmp_path):
    """Its work per update stays at FCN_WORK (batch x steps): a batch of 32 reads 64 steps."""
    x = np.random.default_rng(0).normal(size=(400, 640, 1)).astype(np.float32)
    np.savez(tmp_path / "big.npz", x=x, y=np.arange(400) % 2)
    data = load_dataset(DataConfig(path=str(tmp_path / "big.npz")))
    model, train, _ = resolve(ModelConfig(), TrainConfig(), data)
    assert (train.batch_size, model.fcn_stride, train.threads) == (32, 640 // (FCN_WORK // 32), 0)
    assert train.lr == CLASSIFIER_LR
    model, train, _ = resolve(ModelConfig(fcn_width=0), TrainConfig(), data)
    assert (train.threads, train.lr) == (1, PLAIN_LR)  # one small recurrence: one thread
    _, train, _ = resolve(ModelConfig(), TrainConfig(threads=2, lr=0.01), data)
    assert (train.threads, train.lr) == (2, 0.01)  # given flags win
    _, train, _ = resolve(ModelConfig(), TrainConfig(), data, world_size=2)
    assert train.threads == 1  # data-parallel processes share the cores


def test_forecasters_keep_the_plain_model(tmp_path):
    csv = write_series_csv(tmp_path / "s.csv")
    data = load_dataset(DataConfig(path=str(csv), columns=("temp", "load"), target=("load",), window=8))
    model, train, line = resolve(ModelConfig(), TrainConfig(), data)
    assert (model.members, model.fcn_width, train.augment, line) == (1, 0, False, None)


def _trained_bundle(tmp_path, data, *flags):
    """``edgernn train`` (2 epochs, hidden 4) on ``data`` with ``flags``, exported to ``tmp_path/b``:
    the command's output and the export report."""
    from edgernn.export.from_run import export_run
    from edgernn.train.cli import train_command

    args = ["--data", str(data), "--out", str(tmp_path / "run"), "--epochs", "2", "--hidden", "4", *flags]
    result = CliRunner().invoke(train_command, args)
    assert result.exit_code == 0, result.output
    return result.output, export_run(tmp_path / "run", tmp_path / "b")


def test_the_manifest_records_the_recipe_as_the_model_line_says(tmp_path):
    path = write_classes_npz(tmp_path / "c.npz", samples=40, steps=70)  # long: front end + branch
    output, _ = _trained_bundle(tmp_path, path, "--augment")
    line = next(s for s in output.splitlines() if s.startswith("model: "))
    manifest = Bundle.load(tmp_path / "b").manifest
    assert manifest.state == () and not manifest.streamable  # whole sequences: no state in the graph
    assert manifest.outputs == ()  # nor is the state it returns a further output
    recipe = manifest.recipe
    assert recipe["summary"] == line.removeprefix("model: ")
    chosen = (recipe["members"], recipe["augment"], recipe["epochs"], recipe["pool"], recipe["fcn_width"])
    assert chosen == ("3", "true", "2", "meanmax", "128")


def test_select_last_keeps_the_final_epoch(tmp_path):
    import json

    from edgernn.train.cli import train_command

    path = write_classes_npz(tmp_path / "c.npz", samples=40, steps=9)
    args = ["--data", str(path), "--out", str(tmp_path / "run"), "--epochs", "3", "--hidden", "4"]
    result = CliRunner().invoke(train_command, [*args, "--select", "last", "--members", "1"])
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert (summary["best_epoch"], summary["epochs_run"]) == (3, 3)


def test_znorm_keeps_the_variation_of_a_series_far_from_zero():
    """float64 z-normalisation of the same float32 input is the reference. Centring on the mean
    directly (no shift by the first step) was 3.2e-4 off here and 0.2 apart in a trained PLAID
    model's logits between PyTorch and onnxruntime."""
    import torch

    from edgernn.train.model import _EPS, per_series_znorm

    rng = np.random.default_rng(0)
    x = (0.33 + 1e-4 * rng.standard_normal((4, 500, 1))).astype(np.float32)
    lengths = np.array([500, 431, 77, 500])
    want = np.zeros(x.shape)
    for i, n in enumerate(lengths):
        s = x[i, :n].astype(np.float64)
        want[i, :n] = (s - s.mean(0)) / (s.std(0) + _EPS)
    got = per_series_znorm(torch.from_numpy(x), torch.from_numpy(lengths)).numpy()
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)


def test_a_znorm_classifier_of_levels_far_from_zero_exports_scaled_not_centred(tmp_path):
    """PLAID's shape of data (currents 1e-4 apart at levels far from the training mean): the run
    scales the inputs without centring them (z-normalising ignores centring, which in float32 would
    round the variation away) and the default export gate passes."""
    rng = np.random.default_rng(2)
    y = np.arange(40) % 2
    t = np.linspace(0, 6, 120)
    wave = np.where(y[:, None] == 1, np.sin(t), np.sign(np.sin(t)))[..., None]
    level = rng.uniform(50, 500, size=(40, 1, 1))
    x = (level + 1e-4 * level * wave).astype(np.float32)
    np.savez(tmp_path / "d.npz", x=x, y=y)
    _, report = _trained_bundle(tmp_path, tmp_path / "d.npz")
    spec = Bundle.load(tmp_path / "b").manifest.input
    plain = load_dataset(DataConfig(path=str(tmp_path / "d.npz"))).info  # centred and scaled
    assert plain.input_mean[0] > 50 and spec.mean == (0.0,) and spec.std == plain.input_std
    assert report.manifest.validation.max_abs_diff < 1e-4
