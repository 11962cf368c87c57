"""Differencing forecasters: the rule that picks the difference, and a graph that turns levels into
changes and back, checked against plain numpy in raw units."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edgernn.runtime.errors import InputError  # noqa: E402
from edgernn.train.config import DataConfig, ModelConfig, RunConfig  # noqa: E402
from edgernn.train.data import load_dataset  # noqa: E402
from edgernn.train.forecaster import DifferencingForecaster, build_model  # noqa: E402
from edgernn.train.model import SequenceModel  # noqa: E402
from edgernn.train.readers import read_table  # noqa: E402
from edgernn.train.stationarity import adf  # noqa: E402
from edgernn.train.training import derive_model_config  # noqa: E402


def test_adf_matches_statsmodels_on_the_co2_training_rows(repo_root):
    # statsmodels 0.15.0 adfuller(y, regression="c", autolag="AIC") on the same 1599 rows
    table = read_table(repo_root / "examples" / "data" / "co2_weekly.csv")
    t, lags, crit = adf(table.values[:1599, 0])
    assert (t, lags, crit) == pytest.approx((-0.687055211294473, 16, -2.8633686930199795), abs=1e-9)


def _csv(tmp_path, columns: dict[str, np.ndarray], start="2001-01-01", step="D"):
    rows = len(next(iter(columns.values())))
    times = np.datetime64(start) + np.arange(rows).astype(f"timedelta64[{step}]")
    lines = ["date," + ",".join(columns)]
    lines += [f"{t}," + ",".join(f"{c[i]:.6f}" for c in columns.values()) for i, t in enumerate(times)]
    path = tmp_path / "s.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def _series(seed=0, rows=240):
    rng = np.random.default_rng(seed)
    t = np.arange(rows)
    return {
        "walk": 50 + np.cumsum(rng.normal(0.3, 1, rows)),  # a trend: differenced
        "ar": np.convolve(rng.normal(0, 1, rows), 0.6 ** np.arange(20))[:rows],  # stationary: levels
        "season": 10 * np.sin(2 * np.pi * t / 7) + rng.normal(0, 0.05, rows),  # a weekly shape
    }


@pytest.mark.parametrize(
    "target,difference,want,changes",
    [
        ("walk", "auto", "first", ("walk",)),
        ("ar", "auto", "none", ("walk",)),
        ("season", "auto", "season", ("walk",)),
        ("walk", "1", "first", ("walk",)),
        ("walk", "none", "none", ()),
        ("walk", "season", "season", ("walk",)),
    ],
)
def test_the_rule_picks_the_difference_from_the_training_rows(tmp_path, target, difference, want, changes):
    path = _csv(tmp_path, _series())
    info = load_dataset(DataConfig(path=str(path), target=(target,), window=8, difference=difference)).info
    assert info.series.difference == want, info.series.reason
    changes = tuple(c for c in changes if not (c == target and want == "season"))
    assert info.series.changes == changes
    assert (
        info.series.period == 7
        and info.series.warmup == {"none": 1 if changes else 0, "first": 1, "season": 7}[want]
    )
    assert info.notes[1] == f"forecast: {info.series.reason}"


def test_impossible_differences_are_refused(tmp_path):
    path = _csv(tmp_path, _series())
    with pytest.raises(InputError, match="--difference 1: differencing needs --topology many_to_many"):
        load_dataset(DataConfig(path=str(path), target=("walk",), topology="many_to_one", difference="1"))
    with pytest.raises(InputError, match="the target 'walk' must be an input column too"):
        load_dataset(DataConfig(path=str(path), columns=("ar",), target=("walk",), difference="1"))
    plain = tmp_path / "plain.csv"
    plain.write_text("v\n" + "\n".join(str(v) for v in _series()["walk"]) + "\n")
    with pytest.raises(InputError, match="--difference season: needs a season"):
        load_dataset(DataConfig(path=str(plain), difference="season"))


def _model(tmp_path, target, difference="auto", cell="lstm"):
    columns = _series()
    if target == "drift":  # a weekly shape whose level wanders: the seasonal change has a unit root
        rng = np.random.default_rng(7)
        columns = {"drift": columns["season"] + np.cumsum(rng.normal(0, 0.5, len(columns["season"])))}
    path = _csv(tmp_path, columns)
    data = load_dataset(DataConfig(path=str(path), target=(target,), window=8, difference=difference))
    torch.manual_seed(0)
    config = derive_model_config(ModelConfig(cell=cell, hidden_size=6), data)
    model = build_model(config, data.info).eval()
    assert isinstance(model, DifferencingForecaster)
    return model, data


@pytest.mark.parametrize(
    "target,cell,want",
    [("walk", "lstm", "first"), ("season", "gru", "season"), ("drift", "lstm", "season+first")],
)
def test_levels_out_equal_a_numpy_computation_in_raw_units(tmp_path, target, cell, want):
    model, data = _model(tmp_path, target, cell=cell)
    info, t = data.info, data.info.transform
    raw = data.test.x[0].astype(np.float64)  # [time, columns] levels, raw units
    x = (raw - info.input_mean) / info.input_std
    with torch.no_grad():
        y, _ = model(torch.tensor(x[None], dtype=torch.float32))
    got = y[0].numpy().astype(np.float64) * info.output_std + info.output_mean
    # independently: changes in raw units (a cold start repeats the first row), standardised
    period = t.period
    c = t.targets[0]
    past = np.concatenate([np.repeat(raw[:1], period, axis=0), raw])  # rows t-period .. t
    feats = np.where(t.changed, raw - past[period - 1 : -1], raw)
    if t.difference in ("season", "season+first"):
        feats[:, c] = raw[:, c] - past[:-period, c]
    feats = (feats - t.feature_mean) / t.feature_std
    with torch.no_grad():
        core, _ = SequenceModel.forward(model, torch.tensor(feats[None], dtype=torch.float32))
    change = core[0].numpy().astype(np.float64) * info.output_std + t.change_mean
    base = raw[:, c] if t.difference == "first" else past[1 : 1 + len(raw), c]  # y[t], or y[t+1-P]
    if t.difference == "season+first":
        base = base + raw[:, c] - past[: len(raw), c]  # + y[t] - y[t-P]
    assert t.difference == want
    assert np.allclose(got[:, 0], base + change[:, 0], rtol=1e-5, atol=1e-4 * info.output_std[0])


@pytest.mark.parametrize("target", ["walk", "season", "drift"])
def test_a_stream_step_by_step_gives_the_whole_sequence(tmp_path, target):
    model, data = _model(tmp_path, target)
    info = data.info
    x = torch.tensor((data.test.x[:1] - info.input_mean) / info.input_std, dtype=torch.float32)
    with torch.no_grad():
        whole, final = model(x)
        state, pieces = None, []
        for i in range(0, x.shape[1], 5):  # chunks of 5 rows, state carried
            y, state = model(x[:, i : i + 5], state)
            pieces.append(y)
    assert torch.allclose(torch.cat(pieces, dim=1), whole, atol=1e-5)
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(state, final, strict=True))
    assert len(final) == len(model.state_names) and model.state_names[-1] == (
        "y_hist" if target in ("season", "drift") else "primed"
    )


def test_training_windows_prime_the_differences_unscored(tmp_path):
    _, data = _model(tmp_path, "season")
    train, test = data.train, data.test
    assert train.x.shape[1] == 8 + 7 and not train.mask[:, :7].any() and train.mask[:, 7:].all()
    # val/test start window + warm-up rows before their first scored target
    assert int(np.argmax(test.mask[0])) == 8 + 7


def _monthly(tmp_path, rows=180):
    rng = np.random.default_rng(5)
    t = np.arange(rows)
    value = 20 + 0.05 * t + 3 * np.sin(2 * np.pi * (t + 2) / 12) + rng.normal(0, 0.3, rows)
    months = np.datetime64("2001-03") + np.arange(rows).astype("timedelta64[M]")
    path = tmp_path / "m.csv"
    path.write_text(
        "month,v\n" + "\n".join(f"{m},{v:.5f}" for m, v in zip(months, value, strict=True)) + "\n"
    )
    return path, months


def test_calendar_features_follow_the_dates(tmp_path):
    path, months = _monthly(tmp_path)
    data = load_dataset(DataConfig(path=str(path), window=12, calendar=True))
    info = data.info
    assert info.series.calendar == ("sin1_year", "cos1_year", "sin2_year", "cos2_year")
    assert info.series.counter == "step0" and "from a row counter in the graph" in info.notes[-1]
    torch.manual_seed(0)
    model = build_model(derive_model_config(ModelConfig(hidden_size=4), data), info).eval()
    got = model._calendar(torch.full((1, 1, 1), 30.0), 120)[0].numpy()  # rows 30 .. 149
    # independently: the fraction of the calendar year each row's month starts at
    days = months[30:150].astype("datetime64[D]")
    year = days.astype("datetime64[Y]")
    fraction = (days - year.astype("datetime64[D]")).astype(float) / (
        (year + 1).astype("datetime64[D]") - year.astype("datetime64[D]")
    ).astype(float)
    want = np.stack([f(2 * np.pi * k * fraction) for k in (1, 2) for f in (np.sin, np.cos)], axis=1)
    # months are not quite twelfths of a year (up to 1.5 days off): harmonic k is off by <= k x 0.026
    assert np.abs(got - want)[:, :2].max() < 0.04 and np.abs(got - want)[:, 2:].max() < 0.08


def test_the_row_counter_starts_each_sample_where_it_starts(tmp_path):
    path, _ = _monthly(tmp_path)
    data = load_dataset(DataConfig(path=str(path), window=12, calendar=True))
    assert data.train.cond[:3, 0].tolist() == [0.0, 1.0, 2.0]  # training windows start at rows 0, 1, 2
    # test: one sequence from its first target row - horizon - window - warm-up
    assert data.test.cond[0, 0] == round(180 * 0.85) - 1 - 12 - data.info.series.warmup
    torch.manual_seed(0)
    model = build_model(derive_model_config(ModelConfig(hidden_size=4), data), data.info).eval()
    info = data.info
    x = torch.tensor((data.test.x - info.input_mean) / info.input_std, dtype=torch.float32)
    start = torch.tensor(data.test.cond)
    with torch.no_grad():
        whole, final = model(x, model.init_state(start))
        state, pieces = model.init_state(start), []
        for t in range(x.shape[1]):
            y, state = model(x[:, t : t + 1], state)
            pieces.append(y)
    assert torch.allclose(torch.cat(pieces, dim=1), whole, atol=1e-4)
    assert float(final[-1]) == float(start) + x.shape[1]


def test_calendar_needs_a_time_column_with_a_cycle(tmp_path):
    plain = tmp_path / "plain.csv"
    plain.write_text("v\n" + "\n".join(str(v) for v in range(100)) + "\n")
    with pytest.raises(
        InputError, match="--calendar: needs a time column whose step fits a day, week or year"
    ):
        load_dataset(DataConfig(path=str(plain), calendar=True))


def test_resume_refuses_a_run_whose_data_now_reads_differently(tmp_path):
    import dataclasses
    import json

    from train_fixtures import QUIET, tiny

    from edgernn.train import run_training

    path = _csv(tmp_path, _series())
    data = DataConfig(path=str(path), target=("walk",), window=8)
    model_config, train_config = tiny(epochs=1)
    run_training(RunConfig(data, model_config, train_config), tmp_path / "run", console=QUIET)
    doc = json.loads((tmp_path / "run" / "config.json").read_text())
    doc["data"]["transform"] = None  # as a run from before differencing recorded it
    (tmp_path / "run" / "config.json").write_text(json.dumps(doc))
    again = dataclasses.replace(train_config, epochs=2)
    with pytest.raises(InputError, match="reads the data differently from the run's"):
        run_training(RunConfig(data, model_config, again), tmp_path / "run", resume=True, console=QUIET)


def test_too_few_training_windows_earn_a_note(tmp_path):
    """60 rows: 42 training rows; the differenced inputs spend 1 row warming up, so a window of 32
    leaves 42 - 1 - 32 - 1 + 1 = 9 windows (horizon 1), and a window of 8 leaves 33."""
    path = _csv(tmp_path, _series(rows=60))
    few = load_dataset(DataConfig(path=str(path), target=("ar",), window=32)).info
    assert few.series.warmup == 1 and few.split_sizes[0] == 9
    assert few.notes[-1] == (
        "only 9 training windows (42 rows, --window 32): too few to trust the result; a shorter --window "
        "gives more"
    )
    enough = load_dataset(DataConfig(path=str(path), target=("ar",), window=8)).info
    assert enough.split_sizes[0] == 33 and not any(n.startswith("only ") for n in enough.notes)
