"""Simple forecasts beside the model (persistence, seasonal naive per season, training mean), the
seasons they use, and decisions that do not depend on the data's units; checked against numpy by hand."""

from __future__ import annotations

import numpy as np
import pytest

from edgernn.train.baselines import BaselineScore, strongest
from edgernn.train.config import DataConfig
from edgernn.train.data import load_dataset
from edgernn.train.records import TrainingSummary
from edgernn.train.seasons import find
from edgernn.train.splits import time_bounds
from edgernn.train.timeindex import index_of


def _monthly(tmp_path, scale=1.0, rows=144, name="m.csv"):
    rng = np.random.default_rng(5)
    t = np.arange(rows)
    y = (100 + 0.5 * t + 20 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 1, rows)) * scale
    months = np.datetime64("1990-01") + np.arange(rows).astype("timedelta64[M]")
    path = tmp_path / name
    path.write_text(
        "month,sales\n" + "\n".join(f"{m},{v:.9g}" for m, v in zip(months, y, strict=True)) + "\n"
    )
    return path, np.array([float(f"{v:.9g}") for v in y], dtype=np.float32)


def test_seasonal_naive_and_mean_are_cut_from_the_rows_the_model_is_scored_on(tmp_path):
    path, y = _monthly(tmp_path)
    data = load_dataset(DataConfig(path=str(path), window=12, difference="1"))
    assert (
        data.info.series.seasons == (12,)
        and "monthly rows: a year is 12 rows" in data.info.series.season_reasons
    )
    test = data.test
    (mask,) = test.mask
    rows = np.arange(test.y.shape[1])[mask]  # positions scored; their target rows:
    first = len(y) - int(mask.sum())
    target_rows = first + np.arange(int(mask.sum()))
    np.testing.assert_array_equal(test.y[0, rows, 0], y[target_rows])
    np.testing.assert_array_equal(test.naive["seasonal naive (12)"][0, rows, 0], y[target_rows - 12])
    n_train = time_bounds(len(y), DataConfig(path=str(path)))[0]
    np.testing.assert_allclose(
        test.naive["training mean"][0, rows, 0], y[:n_train].astype(np.float64).mean(), rtol=1e-6
    )


def test_many_to_one_seasonal_naive_looks_back_whole_seasons_per_lead(tmp_path):
    path, y = _monthly(tmp_path)
    data = load_dataset(DataConfig(path=str(path), window=12, horizon=3, topology="many_to_one"))
    last = len(y) - 1 - 3  # the last sample's last input row
    naive = data.test.naive["seasonal naive (12)"][-1]
    np.testing.assert_array_equal(naive, [y[last + 1 - 12], y[last + 2 - 12], y[last + 3 - 12]])
    np.testing.assert_array_equal(data.test.baseline[-1], [y[last]] * 3)


def test_the_verdict_names_the_strongest_baseline():
    scores = (
        BaselineScore("persistence", 10.0),
        BaselineScore("seasonal naive (12)", 4.0),
        BaselineScore("training mean", 30.0),
    )
    best = strongest(scores, higher_is_better=False)
    assert best.name == "seasonal naive (12)"
    summary = TrainingSummary("rmse", 5, 1, 4.64, 0.1, best.name, best.metric, 3, None, "w", 1, 1.0, scores)
    assert summary.headline() == "1.16x seasonal naive (12)"
    assert summary.verdict() == (
        "not better than the strongest simple forecast, seasonal naive (12), on the test split (rmse 4.64 vs 4, "
        "1.16x seasonal naive (12)): do not ship this model"
    )


def test_volts_and_nanovolts_decide_alike(tmp_path):
    volts, _ = _monthly(tmp_path, 1.0, name="v.csv")
    nano, _ = _monthly(tmp_path, 1e-9, name="n.csv")
    tiny, _ = _monthly(tmp_path, 1e-12, name="t.csv")  # std ~ 1e-11: still standardised
    datasets = [load_dataset(DataConfig(path=str(p), window=12)) for p in (volts, nano, tiny)]
    infos = [d.info for d in datasets]
    seen = [(d.train.x - d.info.input_mean) / d.info.input_std for d in datasets]  # what the model sees
    assert all(np.allclose(s, seen[0], atol=1e-5) for s in seen)
    reasons = {i.series.reason for i in infos}
    assert len(reasons) == 1, reasons
    for info, scale in zip(infos, (1.0, 1e-9, 1e-12), strict=True):
        assert info.input_std[0] == pytest.approx(infos[0].input_std[0] * scale, rel=1e-5)
        assert info.output_std[0] == pytest.approx(infos[0].output_std[0] * scale, rel=1e-5)


def _times(start, count, step):
    return np.datetime64(start, "s") + np.arange(count) * np.timedelta64(step, "s")


@pytest.mark.parametrize(
    "step_s,count,want",
    [(1800, 2000, (48, 336)), (3600, 1000, (24, 168)), (900, 3000, (96, 672)), (86400, 800, (7, 365))],
)
def test_seasons_from_the_spacing(step_s, count, want):
    times = _times("2020-01-06", count, step_s)
    index = index_of("t", times)
    got = find(index, times, np.zeros(count))
    assert tuple(s.period for s in got) == want and index.period == want[0]
    assert index.step == {1800: "half-hourly", 3600: "hourly", 900: "15-minute", 86400: "daily"}[step_s]


def test_business_days_have_a_five_row_week():
    days = np.arange(np.datetime64("2020-01-06"), np.datetime64("2021-06-01"))
    weekdays = days[((days.astype(np.int64) + 3) % 7) < 5].astype("datetime64[s]")
    got = find(index_of("d", weekdays), weekdays, np.zeros(len(weekdays)))
    assert got[0].period == 5 and "business days" in got[0].reason


def test_a_season_from_the_autocorrelation_when_the_spacing_does_not_say():
    rng = np.random.default_rng(0)
    t = np.arange(400)
    y = 5 * np.sin(2 * np.pi * t / 17) + rng.normal(0, 0.3, 400)
    (season,) = find(None, None, y)
    assert season.period == 17 and "autocorrelation peaks at lag 17" in season.reason
    assert find(None, None, rng.normal(size=400)) == ()  # white noise: no season


def test_a_two_valued_default_target_gets_a_warning(tmp_path):
    rng = np.random.default_rng(1)
    rows = 120
    path = tmp_path / "d.csv"
    body = [f"{i},{v:.4f},{int(i % 10 == 0)}" for i, v in enumerate(rng.normal(size=rows).cumsum())]
    path.write_text("t,level,holiday\n" + "\n".join(body) + "\n")
    notes = load_dataset(DataConfig(path=str(path), window=8)).info.notes
    assert (
        "warning: the default target 'holiday' (the last column) is two-valued (a flag or dummy?) in training; "
        "pass --target NAME (candidates: t, level)"
    ) in notes
    assert not any(
        "default target" in n
        for n in load_dataset(DataConfig(path=str(path), window=8, target=("level",))).info.notes
    )
