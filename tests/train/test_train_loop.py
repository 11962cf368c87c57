"""BPTT training: every cell and topology trains, TBPTT truncates, runs are exact and resumable."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from train_fixtures import QUIET, tiny, write_classes_npz, write_cond_npz, write_series_csv  # noqa: E402

from edgernn.train.batches import to_batch  # noqa: E402
from edgernn.train.checkpoint import load_weights  # noqa: E402
from edgernn.train.config import DataConfig, RunConfig  # noqa: E402
from edgernn.train.data import load_dataset  # noqa: E402
from edgernn.train.errors import TrainError  # noqa: E402
from edgernn.train.loop import Trainer  # noqa: E402
from edgernn.train.model import SequenceModel  # noqa: E402
from edgernn.train.objective import Objective  # noqa: E402
from edgernn.train.run import load_run  # noqa: E402
from edgernn.train.training import derive_model_config, run_training  # noqa: E402

# it checks loss.png, so in-process training draws it (tests/conftest.py)
pytestmark = pytest.mark.plots


def data_for(topology: str, tmp_path) -> DataConfig:
    if topology == "many_to_one":
        return DataConfig(path=str(write_classes_npz(tmp_path / "c.npz")))
    if topology == "many_to_many":
        # levels: the loop is under test here, not the differencing rule (the sine has a 25-row season)
        path = str(write_series_csv(tmp_path / "s.csv"))
        return DataConfig(path=path, columns=("temp", "load"), window=8, difference="none")
    return DataConfig(path=str(write_cond_npz(tmp_path / "g.npz")))


def records(run_dir) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def reference_test_metric(run_dir) -> float:
    """Recompute the test metric from eval.npz (raw units) and config.json with plain numpy."""
    model, info = load_run(run_dir)
    d = info.data
    with np.load(run_dir / "eval.npz") as f:
        arrays = {k: f[k] for k in f.files}
    x = (arrays["x"] - np.array(d.input_mean)) / np.array(d.input_std) if d.input_mean else arrays["x"]
    with torch.no_grad():
        if d.topology == "one_to_many":
            cond = (
                arrays["cond"]
                if d.cond_mean is None
                else (arrays["cond"] - d.cond_mean) / np.array(d.cond_std)
            )
            pred = model.generate(torch.tensor(cond, dtype=torch.float32), arrays["y"].shape[1]).numpy()
        else:
            lengths = torch.tensor(arrays["lengths"]) if "lengths" in arrays else None
            pred = model(torch.tensor(x, dtype=torch.float32), lengths=lengths)[0].numpy()
    if d.output_kind == "classes":
        return float((pred.argmax(-1) == arrays["y"]).mean())
    err = (pred * np.array(d.output_std) + np.array(d.output_mean) - arrays["y"]) ** 2
    mask = arrays.get("mask")
    return float(np.sqrt(err.mean(-1)[mask].mean() if mask is not None else err.mean()))


@pytest.mark.parametrize("topology", ["many_to_one", "many_to_many", "one_to_many"])
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_every_cell_and_topology_trains_and_reports_a_reproducible_test_metric(tmp_path, cell, topology):
    # the recurrent model alone: the classifier recipe's convolutional branch is tested in test_train_convbranch
    model_cfg, train_cfg = tiny(cell=cell, num_layers=2, epochs=4, lr=1e-2, fcn_width=0)
    result = run_training(
        RunConfig(data_for(topology, tmp_path), model_cfg, train_cfg), tmp_path / "run", console=QUIET
    )
    log = records(tmp_path / "run")
    assert [r["epoch"] for r in log] == [0, 1, 2, 3, 4]
    assert log[-1]["val_loss"] < log[0]["val_loss"]  # it learned something
    assert set(log[1]["grad_norm"]) == {"head", "rnn.l0", "rnn.l1"} | (
        {"init"} if topology == "one_to_many" else set()
    )
    assert all(v > 0 for v in log[1]["grad_norm"].values())
    assert result.summary.test_metric == pytest.approx(reference_test_metric(tmp_path / "run"), rel=1e-4)
    assert (tmp_path / "run" / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_tbptt_gradients_are_those_of_each_chunk_with_a_detached_state(tmp_path):
    data = load_dataset(
        DataConfig(
            path=str(write_series_csv(tmp_path / "s.csv")), columns=("load",), window=8, difference="none"
        )
    )
    model_cfg, train_cfg = tiny(
        cell="lstm", tbptt=4, optimizer="sgd", lr=1e-12, batch_size=1000, clip_grad_norm=0
    )
    torch.manual_seed(0)
    model = SequenceModel(derive_model_config(model_cfg, data))
    initial = copy.deepcopy(model)
    trainer = Trainer(model, Objective(data.info), train_cfg, torch.device("cpu"))
    seen = []
    record = trainer.health.after_backward

    def spy(epoch, step):
        seen.append([p.grad.clone() for p in model.parameters()])
        return record(epoch, step)

    trainer.health.after_backward = spy
    batch = to_batch(data.train, data.info)
    trainer._train_epoch(batch, epoch=1)
    assert len(seen) == 2  # one batch, two chunks of 4 steps

    def grads(loss):
        initial.zero_grad()
        loss.backward()
        return [p.grad.clone() for p in initial.parameters()]

    x, y = batch.x, batch.y
    out1, state = initial(x[:, :4])
    assert all(
        torch.allclose(a, b, atol=1e-6)
        for a, b in zip(seen[0], grads(((out1 - y[:, :4]) ** 2).mean()), strict=True)
    )
    out1, state = initial(x[:, :4])
    out2, _ = initial(x[:, 4:], tuple(s.detach() for s in state))
    truncated = grads(((out2 - y[:, 4:]) ** 2).mean())
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(seen[1], truncated, strict=True))
    out2, _ = initial(x[:, 4:], initial(x[:, :4])[1])  # full BPTT would differ
    full = grads(((out2 - y[:, 4:]) ** 2).mean())
    assert not all(torch.allclose(a, b, atol=1e-6) for a, b in zip(full, truncated, strict=True))


def test_same_seed_same_run_other_seed_other_run(tmp_path):
    data = data_for("many_to_one", tmp_path)
    runs = []
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        model_cfg, train_cfg = tiny(dropout=0.2, num_layers=2, seed=seed, epochs=2)
        run_training(RunConfig(data, model_cfg, train_cfg), tmp_path / name, console=QUIET)
        runs.append([(r["train_loss"], r["val_loss"]) for r in records(tmp_path / name)])
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


def test_early_stopping_ends_patience_epochs_after_the_best(tmp_path):
    model_cfg, train_cfg = tiny(epochs=60, patience=2, lr=3e-2)
    result = run_training(
        RunConfig(data_for("many_to_one", tmp_path), model_cfg, train_cfg), tmp_path / "r", console=QUIET
    )
    s = result.summary
    log = records(tmp_path / "r")
    # the best accuracy; among epochs that tie on it, the lowest validation loss (then the earliest)
    best = min(log, key=lambda r: (-r["val_metric"], r["val_loss"], r["epoch"]))
    assert s.best_epoch == best["epoch"]
    assert s.stopped == "early_stop" and s.epochs_run == s.best_epoch + 2 < 60


class Interrupt:
    """Simulate Ctrl-C right after the given epoch was checkpointed."""

    def __init__(self, after_epoch: int) -> None:
        self.after_epoch = after_epoch

    def on_epoch_end(self, trainer, record, improved):
        if record["epoch"] == self.after_epoch:
            raise KeyboardInterrupt


def test_resume_reproduces_the_uninterrupted_run(tmp_path):
    data = data_for("many_to_many", tmp_path)
    model_cfg, train_cfg = tiny(cell="gru", num_layers=2, dropout=0.3, epochs=5, tbptt=4)
    run_training(RunConfig(data, model_cfg, train_cfg), tmp_path / "whole", console=QUIET)
    with pytest.raises(KeyboardInterrupt):
        run_training(
            RunConfig(data, model_cfg, train_cfg), tmp_path / "cut", hooks=[Interrupt(2)], console=QUIET
        )
    assert [r["epoch"] for r in records(tmp_path / "cut")] == [0, 1, 2]
    run_training(RunConfig(data, model_cfg, train_cfg), tmp_path / "cut", resume=True, console=QUIET)

    def strip(log):
        return [{k: v for k, v in r.items() if k != "seconds"} for r in log]

    assert strip(records(tmp_path / "cut")) == strip(records(tmp_path / "whole"))
    a, b = (
        load_weights(tmp_path / "whole" / "model.safetensors"),
        load_weights(tmp_path / "cut" / "model.safetensors"),
    )
    assert all(torch.equal(a[k], b[k]) for k in a)
    whole, cut = (json.loads((tmp_path / n / "summary.json").read_text()) for n in ("whole", "cut"))
    assert whole["test_metric"] == cut["test_metric"]


class Blowup:
    """Snapshot the weights after every epoch; after ``epoch`` set a learning rate that must overflow."""

    def __init__(self, epoch: int) -> None:
        self.epoch, self.snapshots = epoch, {}

    def on_epoch_end(self, trainer, record, improved):
        self.snapshots[record["epoch"]] = {k: v.clone() for k, v in trainer.model.state_dict().items()}
        if record["epoch"] == self.epoch:
            for group in trainer.optimizer.param_groups:
                group["lr"] = 1e12


def test_exploding_run_stops_with_the_last_good_checkpoint_loadable(tmp_path):
    from edgernn.train.health import ExplodingGradientWarning

    model_cfg, train_cfg = tiny(optimizer="sgd", clip_grad_norm=0, epochs=6, lr=1e-2, schedule="none")
    blowup = Blowup(epoch=2)
    with (
        pytest.raises(
            TrainError, match=r"became (nan|inf).*last good checkpoint is intact: .*model.safetensors"
        ),
        pytest.warns(ExplodingGradientWarning, match="exploding gradients: norm .* its running mean"),
    ):
        data = data_for("many_to_many", tmp_path)
        run_training(RunConfig(data, model_cfg, train_cfg), tmp_path / "r", hooks=[blowup], console=QUIET)
    log = records(tmp_path / "r")
    assert [r["epoch"] for r in log] == [0, 1, 2]
    model, info = load_run(tmp_path / "r")
    assert info.summary is None  # the run never finished
    best_epoch = min(log, key=lambda r: (r["val_metric"], r["epoch"]))["epoch"]
    assert best_epoch > 0  # it did learn before the blow-up
    assert all(torch.equal(model.state_dict()[k], v) for k, v in blowup.snapshots[best_epoch].items())
    assert not list((tmp_path / "r").glob("*.tmp")) and not list((tmp_path / "r").glob(".*"))
