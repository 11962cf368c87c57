"""The run directory contract with export: load_run, manifest specs, eval.npz, safetensors only."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from train_fixtures import QUIET, tiny, write_classes_npz, write_cond_npz  # noqa: E402

from edgernn.runtime.manifest import Manifest  # noqa: E402
from edgernn.train import load_run  # noqa: E402
from edgernn.train.config import DataConfig, RunConfig  # noqa: E402
from edgernn.train.data import load_dataset  # noqa: E402
from edgernn.train.datasets import presets  # noqa: E402
from edgernn.train.errors import RunError  # noqa: E402
from edgernn.train.run import manifest_specs  # noqa: E402
from edgernn.train.training import run_training  # noqa: E402

# it checks loss.png, so in-process training draws it (tests/conftest.py)
pytestmark = pytest.mark.plots

SUNSPOTS = DataConfig(dataset="sunspots", **presets("sunspots")[0])


@pytest.fixture(scope="module")
def sun_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "sun"
    model_cfg, train_cfg = tiny(cell="lstm", epochs=2)
    run_training(RunConfig(SUNSPOTS, model_cfg, train_cfg), out, console=QUIET)
    return out


def test_run_directory_holds_the_contract_files(sun_run):
    names = sorted(p.name for p in sun_run.iterdir())
    assert names == [
        "config.json", "eval.npz", "loss.png", "metrics.jsonl", "model.safetensors", "resume.safetensors",
        "summary.json",
    ]  # fmt: skip
    doc = json.loads((sun_run / "config.json").read_text())
    assert set(doc) == {"format", "version", "model", "train", "data_config", "data"}
    summary = json.loads((sun_run / "summary.json").read_text())
    assert summary["baseline"] == "persistence" and summary["metric"] == "rmse"
    assert summary["checkpoint"].endswith("model.safetensors")


def test_eval_npz_holds_the_raw_test_split_and_a_training_sample(sun_run):
    data = load_dataset(SUNSPOTS)
    with np.load(sun_run / "eval.npz", allow_pickle=False) as f:
        assert sorted(f.files) == ["calib_x", "mask", "x", "y"]
        assert np.array_equal(f["x"], data.test.x) and np.array_equal(f["y"], data.test.y)
        assert f["x"].max() > 100  # raw sunspot numbers, not normalised
        calib = f["calib_x"]
    train_rows = {row.tobytes() for row in data.train.x}
    assert len(calib) == min(64, len(data.train)) and all(row.tobytes() in train_rows for row in calib)


def test_load_run_returns_the_best_model_in_eval_mode(sun_run):
    model, info = load_run(sun_run)
    assert not model.training and next(model.parameters()).device.type == "cpu"
    assert info.model.cell == "lstm" and info.data.units == "sunspot number"
    assert info.summary.best_epoch in (0, 1, 2)
    from safetensors.torch import load_file

    saved = load_file(sun_run / "model.safetensors")
    assert set(saved) == set(model.state_dict())
    assert all(torch.equal(saved[k], v) for k, v in model.state_dict().items())


def test_manifest_specs_for_a_regression_forecaster(sun_run):
    _, info = load_run(sun_run)
    specs = manifest_specs(info)
    assert specs.input.features == 1 and specs.input.mean == info.data.input_mean
    assert specs.output.kind == "regression" and specs.output.units == "sunspot number"
    assert specs.output.mean == specs.input.mean  # input and target are the same series
    assert specs.condition is None
    manifest = Manifest(name="sun", input=specs.input, output=specs.output, topology=info.model.topology,
                        cell=info.model.cell)  # fmt: skip
    assert Manifest.from_dict(json.loads(json.dumps(manifest.to_dict()))) == manifest


@pytest.mark.parametrize("kind", ["classes", "one_to_many", "tokens"])
def test_manifest_specs_for_classes_conditions_and_tokens(tmp_path, kind):
    if kind == "classes":
        data = DataConfig(path=str(write_classes_npz(tmp_path / "c.npz")))
    elif kind == "one_to_many":
        data = DataConfig(path=str(write_cond_npz(tmp_path / "g.npz")))
    else:
        (tmp_path / "t.txt").write_text("the cat sat on the mat. " * 60)
        data = DataConfig(path=str(tmp_path / "t.txt"), window=8, stride=8)
    model_cfg, train_cfg = tiny(epochs=1)
    run_training(RunConfig(data, model_cfg, train_cfg), tmp_path / "r", console=QUIET)
    _, info = load_run(tmp_path / "r")
    specs = manifest_specs(info)
    if kind == "classes":
        assert specs.output.labels == ("f0", "f1", "f2") and specs.output.size == 3
        assert specs.input.features == 3 and len(specs.input.std) == 3
    elif kind == "one_to_many":
        assert specs.condition.features == 2 and specs.condition.mean == info.data.cond_mean
        assert specs.input.features == specs.output.size == 1
    else:
        assert specs.input.kind == "tokens" and specs.input.dtype == "int64"
        assert specs.input.vocab_size == len(info.data.vocab) == specs.output.size
        assert specs.output.labels[0] == "<unk>"
    Manifest(name="m", input=specs.input, output=specs.output, condition=specs.condition,
             topology=info.model.topology)  # fmt: skip


def test_pickle_checkpoints_are_refused(sun_run, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(sun_run, run)
    model, _ = load_run(run)
    torch.save(model.state_dict(), run / "model.safetensors")  # a pickle under the right name
    with pytest.raises(RunError, match="not a readable safetensors file.*never loads pickle"):
        load_run(run)
    (run / "model.safetensors").rename(run / "model.pt")
    with pytest.raises(RunError, match=r"no model.safetensors; found model.pt, but edgernn refuses pickle"):
        load_run(run)


def test_broken_run_directories(sun_run, tmp_path):
    with pytest.raises(RunError, match="run directory not found"):
        load_run(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(RunError, match="no config.json; not an edgernn training run"):
        load_run(tmp_path / "empty")
    import shutil

    run = tmp_path / "run"
    shutil.copytree(sun_run, run)
    doc = json.loads((run / "config.json").read_text())
    doc["model"]["hidden_size"] = 99
    (run / "config.json").write_text(json.dumps(doc))
    with pytest.raises(RunError, match="weights do not match config.json"):
        load_run(run)
    doc["model"]["colour"] = "red"
    (run / "config.json").write_text(json.dumps(doc))
    with pytest.raises(RunError, match="model field 'colour': unknown field"):
        load_run(run)
    doc["version"] = 7
    (run / "config.json").write_text(json.dumps(doc))
    with pytest.raises(RunError, match="expected version 1, got 7"):
        load_run(run)


def test_a_series_small_test_caveat_counts_scored_steps_not_sequences(tmp_path):
    """A CSV series is one long test sequence: its verdict rests on the scored steps, so a test split
    of 1 sequence with dozens of steps gets no 'too little data' warning (it did: "holds 1 samples")."""
    model_cfg, train_cfg = tiny(cell="gru", epochs=1)
    trained = run_training(RunConfig(SUNSPOTS, model_cfg, train_cfg), tmp_path / "r", console=QUIET)
    test = load_dataset(SUNSPOTS).test
    assert len(test) == 1 and trained.summary.test_samples == int(test.mask.sum()) >= 30
    assert trained.summary.caveat() is None
