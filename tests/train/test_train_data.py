"""Loaders, splits, normalisation and baselines, checked against hand computations."""

from __future__ import annotations

import numpy as np
import pytest
from train_fixtures import write_classes_npz, write_cond_npz, write_series_csv, write_tagging_npz

from edgernn.runtime.errors import InputError
from edgernn.train.config import DataConfig
from edgernn.train.data import load_dataset


def series(tmp_path, **kw):
    path = write_series_csv(tmp_path / "s.csv")
    cfg = DataConfig(path=str(path), columns=("temp", "load"), target=("load",), window=8, **kw)
    return load_dataset(cfg), np.loadtxt(path, delimiter=",", skiprows=1, usecols=(1, 2), dtype=np.float32)


def test_csv_many_to_one_windows_split_in_time_order(tmp_path):
    data, raw = series(tmp_path, topology="many_to_one", horizon=2)
    # 120 rows: train targets in rows 0..83, val 84..101, test 102..119
    assert data.info.split_sizes == (75, 17, 17)
    assert np.array_equal(data.train.x[0], raw[0:8])
    assert np.array_equal(data.train.y[0], raw[8:10, 1])
    assert np.array_equal(data.val.x[0], raw[76:84])  # inputs may reach back into training rows
    assert np.array_equal(data.val.y[0], raw[84:86, 1])
    assert np.array_equal(data.test.y[-1], raw[118:120, 1])
    assert np.array_equal(data.test.baseline[-1], [raw[117, 1]] * 2)  # persistence: last seen value
    mean, std = raw[:84].mean(0), raw[:84].std(0)
    assert np.allclose(data.info.input_mean, mean, rtol=1e-6)
    assert np.allclose(data.info.input_std, std, rtol=1e-6)
    assert np.allclose(data.info.output_mean, [mean[1]] * 2, rtol=1e-6)
    assert data.info.output_names == ("load[t+1]", "load[t+2]")


def test_csv_many_to_many_scores_only_the_splits_own_targets(tmp_path):
    data, raw = series(tmp_path, stride=4, difference="none")  # (the sine has a 25-row season)
    starts = range(0, 84 - 1 - 8 + 1, 4)
    assert len(data.train) == len(starts)
    assert np.array_equal(data.train.y[1, :, 0], raw[5:13, 1])  # the next value at every step
    (test_x,), (test_y,), (mask,) = data.test.x, data.test.y, data.test.mask
    assert np.array_equal(test_x, raw[102 - 1 - 8 : 119])
    assert np.array_equal(test_y[:, 0], raw[102 - 8 : 120, 1])
    assert mask.sum() == 18 and not mask[:8].any()
    rmse = np.sqrt(np.mean((raw[101:119, 1] - raw[102:120, 1]) ** 2))
    from edgernn.train.objective import Objective

    assert Objective(data.info).baseline(data.test) == pytest.approx(rmse, rel=1e-6)


def test_csv_one_to_many_condition_is_the_flattened_window(tmp_path):
    data, raw = series(tmp_path, topology="one_to_many", horizon=3)
    assert np.array_equal(data.train.cond[0], raw[0:8].reshape(-1))
    assert np.array_equal(data.train.y[0, :, 0], raw[8:11, 1])
    assert data.train.x[0, 0, 0] == pytest.approx(data.info.output_mean[0])  # start value: the mean
    assert np.array_equal(data.train.x[0, 1:, 0], raw[8:10, 1])
    assert data.info.cond_names[:2] == ("temp[t-7]", "load[t-7]") and data.info.cond_names[-1] == "load[t]"


@pytest.mark.parametrize(
    "content,message",
    [
        ("a,b\n1,2\n3\n", r"line 3 has 1 fields, expected 2"),
        ("a,b\n1,2\n3,x\n", r"line 3, column 'b': 'x' is not a number"),
        ("a,b\n1,2\n3,nan\n", r"line 3, column 'b': 'nan' is not a finite number"),
        ("a,b\n1,\n", r"line 2, column 'b': empty cell"),
        ("", r"empty file"),
        ("a,b\n", r"no data rows"),
    ],
)
def test_bad_csv_names_file_line_and_column(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(InputError, match=message) as err:
        load_dataset(DataConfig(path=str(path), window=1))
    assert str(path) in str(err.value)


def test_csv_unknown_column_window_too_long_and_empty_split(tmp_path):
    path = write_series_csv(tmp_path / "s.csv", rows=30)
    with pytest.raises(InputError, match=r"unknown column 'nope' \(columns: date, temp, load\)"):
        load_dataset(DataConfig(path=str(path), columns=("temp", "nope")))
    with pytest.raises(
        InputError, match=r"--window 40 \+ --horizon 1 = 41 rows is longer than the training part"
    ):
        load_dataset(DataConfig(path=str(path), columns=("load",), window=40))
    with pytest.raises(InputError, match=r"0 samples in the test split"):
        load_dataset(
            DataConfig(path=str(path), columns=("load",), window=4, horizon=5, topology="many_to_one")
        )


def test_npz_classes_with_lengths_fit_statistics_on_train_only(tmp_path):
    path = write_classes_npz(tmp_path / "c.npz")
    data = load_dataset(DataConfig(path=str(path)))
    info = data.info
    assert (info.task, info.topology, info.output_kind, info.labels) == (
        "classify", "many_to_one", "classes", ("f0", "f1", "f2"),
    )  # fmt: skip
    order = np.random.default_rng(0).permutation(96)
    with np.load(path) as raw:
        x, n = raw["x"][order[:68]], raw["lengths"][order[:68]]
        assert np.array_equal(data.train.x, raw["x"][order[:68]])
        assert np.array_equal(data.test.y, raw["y"][order[82:]])
    valid = x[np.arange(6)[None, :] < n[:, None]]  # padding excluded from the statistics
    assert np.allclose(info.input_mean, valid.mean(0), atol=1e-6)
    assert np.allclose(info.input_std, valid.std(0), atol=1e-6)
    majority = np.bincount(data.train.y).argmax()
    assert np.all(data.test.baseline == majority)
    again = load_dataset(DataConfig(path=str(path)))
    assert np.array_equal(again.val.x, data.val.x)  # deterministic


def test_npz_tokens_tagging_and_npy_folder(tmp_path):
    path = write_tagging_npz(tmp_path / "t.npz")
    data = load_dataset(DataConfig(path=str(path)))
    assert (data.info.input_kind, data.info.topology, data.info.labels) == (
        "tokens",
        "many_to_many",
        ("0", "1"),
    )
    folder = tmp_path / "arrays"
    folder.mkdir()
    with np.load(path) as raw:
        for key in raw.files:
            np.save(folder / f"{key}.npy", raw[key])
    from_folder = load_dataset(DataConfig(path=str(folder / "x.npy")))
    assert np.array_equal(from_folder.train.x, data.train.x)


def test_npz_one_to_many_from_features_and_from_class_labels(tmp_path):
    data = load_dataset(DataConfig(path=str(write_cond_npz(tmp_path / "g.npz"))))
    assert (data.info.topology, data.info.cond_kind, data.info.output_kind) == (
        "one_to_many",
        "features",
        "regression",
    )
    assert np.allclose(data.train.x[:, 1:], data.train.y[:, :-1])
    classes = load_dataset(
        DataConfig(path=str(write_classes_npz(tmp_path / "c.npz")), topology="one_to_many")
    )
    info = classes.info
    assert (info.cond_kind, info.cond_names, info.task) == ("classes", ("f0", "f1", "f2"), "regress")
    assert np.array_equal(classes.train.cond.sum(1), np.ones(len(classes.train)))  # one-hot rows


@pytest.mark.parametrize(
    "arrays,message",
    [
        ({"x": np.zeros((4, 3, 1))}, r"missing array 'y'"),
        (
            {"x": np.zeros((4, 3, 1)), "y": np.array([0, 1, 0])},
            r"array 'y': expected one entry per sequence \(4\), got \[3\]",
        ),
        (
            {"x": np.full((4, 3, 1), np.nan), "y": np.zeros(4, int)},
            r"sequence 0 of array 'x' is NaN at every step; expected at least one value",
        ),
        (
            {"x": np.zeros((4, 3, 1)), "y": np.zeros(4, int), "lengths": np.array([1, 2, 3, 4])},
            r"array 'lengths': expected \[4\] integers in \[1, 3\] \(the time axis of x\), got \[4\] int64 in \[1, 4\]",
        ),
        ({"x": np.zeros((4, 3, 1)), "y": np.linspace(0.1, 0.9, 4)}, None),
    ],
)
def test_bad_npz_arrays(tmp_path, arrays, message):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    if message is None:  # a valid file whose splits end up empty
        message = r"0 samples in the val split"
    with pytest.raises(InputError, match=message):
        load_dataset(DataConfig(path=str(path), val_fraction=0.1, test_fraction=0.1))


def test_npz_with_pickled_objects_is_refused(tmp_path):
    path = tmp_path / "obj.npz"
    np.savez(path, x=np.array([{"a": 1}], dtype=object), y=np.zeros(1))
    with pytest.raises(
        InputError, match=r"obj.npz: it holds Python objects; edgernn never unpickles \(allow_pickle=False\)"
    ):
        load_dataset(DataConfig(path=str(path)))


def test_text_vocabulary_windows_and_unigram_baseline(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("abcab" * 40 + "zzz" + "abcab" * 4)  # 'z' only outside the training split
    data = load_dataset(DataConfig(path=str(path), window=5, stride=5, val_fraction=0.1, test_fraction=0.1))
    info = data.info
    assert info.vocab == ("<unk>", "a", "b", "c")
    assert np.array_equal(data.train.x[0], [1, 2, 3, 1, 2]) and np.array_equal(
        data.train.y[0], [2, 3, 1, 2, 1]
    )
    assert (data.val.x == 0).any() or (data.test.x == 0).any()  # 'z' became <unk>
    train_ids = np.array([1, 2, 3, 1, 2] * 40)[: int(round(len(path.read_text()) * 0.8))]
    freq = (np.bincount(train_ids, minlength=4) + 1.0) / (len(train_ids) + 4.0)
    assert np.allclose(np.exp(data.train.baseline), freq, rtol=1e-5)
    from edgernn.train.objective import Objective

    expected = -np.log(freq[data.test.y]).mean()
    assert Objective(info).baseline(data.test) == pytest.approx(expected, rel=1e-5)


def test_bundled_datasets_load_with_their_presets():
    from edgernn.train.datasets import presets

    for name, splits in (("sunspots", (1, 1)), ("digits", (270, 270)), ("text", None)):
        data_kw, _, _ = presets(name)
        data = load_dataset(DataConfig(dataset=name, **data_kw))
        assert data.info.source == f"bundled:{name}"
        if splits:
            assert data.info.split_sizes[1:] == splits
    sun = load_dataset(DataConfig(dataset="sunspots", **presets("sunspots")[0]))
    assert sun.info.units == "sunspot number"
    assert int(sun.test.mask.sum()) == 309 - 263  # 1963..2008 scored
