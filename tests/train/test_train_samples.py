"""Labelled sequences from NPZ: class labels as ids, a fixed --test-data split, the data: lines, the
1-NN baseline (against a hand loop) and the verdicts that keep untrained or barely tested models home."""

from __future__ import annotations

import numpy as np
import pytest

from edgernn.runtime.errors import InputError
from edgernn.train.baselines import NN_NAME, nearest_neighbour, znormalise
from edgernn.train.config import DataConfig
from edgernn.train.data import load_dataset
from edgernn.train.records import TrainingSummary
from edgernn.train.splits import Split


def _npz(path, y, n=40, steps=5, seed=0, **extra):
    x = np.random.default_rng(seed).normal(size=(n, steps, 2)).astype(np.float32)
    np.savez(path, x=x, y=y, **extra)
    return path, x


def test_string_labels_become_ids_kept_as_labels(tmp_path):
    y = np.array(["walk", "run", "sit", "run"] * 10)
    path, _ = _npz(tmp_path / "s.npz", y)
    data = load_dataset(DataConfig(path=str(path)))
    assert data.info.labels == ("run", "sit", "walk") and data.info.task == "classify"
    whole = np.concatenate([data.train.y, data.val.y, data.test.y])
    assert sorted(whole.tolist()) == sorted({"run": 0, "sit": 1, "walk": 2}[v] for v in y)
    assert any("3 string labels mapped to ids" in n for n in data.info.notes)


def test_one_based_ids_make_no_phantom_class(tmp_path):
    path, _ = _npz(tmp_path / "s.npz", np.array([1, 2, 3, 2] * 10))
    data = load_dataset(DataConfig(path=str(path)))
    assert data.info.labels == ("1", "2", "3")
    assert set(np.concatenate([data.train.y, data.val.y, data.test.y]).tolist()) == {0, 1, 2}


def test_float_labels_with_few_integers_ask_for_the_task(tmp_path):
    path, _ = _npz(tmp_path / "s.npz", np.array([1.0, 2.0] * 20))
    with pytest.raises(
        InputError, match=r"holds only 2 integer values \(1, 2\); are they classes\? pass --task"
    ):
        load_dataset(DataConfig(path=str(path)))
    assert load_dataset(DataConfig(path=str(path), task="classify")).info.labels == ("1", "2")
    assert load_dataset(DataConfig(path=str(path), task="regress")).info.task == "regress"


def test_test_data_is_the_test_split_and_train_val_come_from_data(tmp_path):
    path, x = _npz(tmp_path / "a.npz", np.array([0, 1] * 20))
    test_path, tx = _npz(tmp_path / "b.npz", np.array([1, 0, 1]), n=3, steps=7, seed=1)
    data = load_dataset(DataConfig(path=str(path), test_data=str(test_path)))
    assert data.info.split_sizes == (34, 6, 3)  # val: 15 % of the 40 --data samples
    assert np.array_equal(data.test.x[:, :7], tx) and data.test.y.tolist() == [1, 0, 1]
    assert data.test.lengths.tolist() == [7, 7, 7]  # time axes differ: padded, with lengths
    assert data.train.lengths.tolist() == [5] * 34 and np.all(data.train.x[:, 5:] == 0)
    seen = {tuple(r[:5].ravel()) for r in np.concatenate([data.train.x, data.val.x])}
    assert seen == {tuple(r.ravel()) for r in x}
    lines = "\n".join(data.info.notes)
    assert "43 samples x 5..7 steps (ragged, padded to 7) x 2 features" in lines
    assert f"splits train / val / test: 34 / 6 / 3 (test from --test-data {test_path})" in lines
    assert "2 classes; training counts: 0 " in lines


def test_test_data_must_match(tmp_path):
    path, _ = _npz(tmp_path / "a.npz", np.array([0, 1] * 20))
    other = tmp_path / "b.npz"
    np.savez(other, x=np.zeros((3, 5, 4), np.float32), y=np.array([0, 1, 0]))
    with pytest.raises(
        InputError, match=r"--test-data .*b.npz: 'x' is \(3, 5, 4\), expected \[samples, time, 2\]"
    ):
        load_dataset(DataConfig(path=str(path), test_data=str(other)))


def test_znormalise_ragged_matches_each_series_alone():
    rng = np.random.default_rng(0)
    x = rng.normal(3, 2, size=(3, 6, 2))
    lengths = np.array([6, 3, 4])
    z = znormalise(x, lengths)
    for i, n in enumerate(lengths):
        alone = (x[i, :n] - x[i, :n].mean(0)) / x[i, :n].std(0)
        assert np.allclose(z[i, :n], alone, atol=1e-12) and np.all(z[i, n:] == 0)


def test_nearest_neighbour_matches_a_hand_loop_and_subsamples_with_a_note():
    rng = np.random.default_rng(1)
    train = Split(x=rng.normal(size=(30, 8, 1)), y=rng.integers(0, 3, 30))
    test = Split(x=rng.normal(size=(12, 8, 1)), y=rng.integers(0, 3, 12))
    pred, note = nearest_neighbour(train, test)
    zs = [(s - s.mean()) / s.std() for s in train.x[:, :, 0]]
    want = [
        train.y[int(np.argmin([np.sum((z - (q - q.mean()) / q.std()) ** 2) for z in zs]))]
        for q in test.x[:, :, 0]
    ]
    assert pred.tolist() == want and note == ""
    _, note = nearest_neighbour(train, test, budget=12 * 8 * 10)
    assert note == f"{NN_NAME} compared each test series with 10 of 30 training series (subsampled)"


def _summary(**kw):
    base = dict(metric="accuracy", best_val_metric=0.9, best_epoch=4, test_metric=0.8, test_loss=0.5,
                baseline=NN_NAME, baseline_metric=0.7, epochs_run=10, stopped=None, checkpoint="c",
                processes=1, seconds=1.0, test_samples=100)  # fmt: skip
    return TrainingSummary(**{**base, **kw})


def test_verdicts():
    assert _summary().verdict() is None and _summary().caveat() is None
    assert (
        "do not ship" in _summary(test_metric=0.7).verdict()
        and NN_NAME in _summary(test_metric=0.7).verdict()
    )
    untrained = _summary(best_epoch=0).verdict()
    assert untrained.startswith("validation never beat the initial weights (best epoch 0 of 10)")
    assert untrained.endswith("do not ship this model")
    assert (
        "holds 10 samples (< 30): the verdict rests on too little data" in _summary(test_samples=10).caveat()
    )


def _long_csv(path, series, labels, shuffle_time=False):
    lines = ["sequence,time,a,b,label"]
    for k, (s, lab) in enumerate(zip(series, labels, strict=True)):
        steps = list(range(len(s)))[::-1] if shuffle_time else range(len(s))
        lines += [f"s{k},{t * 0.5},{float(s[t, 0])!r},{float(s[t, 1])!r},{lab}" for t in steps]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_long_format_csv_reads_like_the_same_npz(tmp_path):
    rng = np.random.default_rng(3)
    series = [rng.normal(size=(n, 2)).astype(np.float32) for n in [5, 3, 4, 5] * 10]
    labels = ["up", "down"] * 20
    csv_path = _long_csv(tmp_path / "long.csv", series, labels, shuffle_time=True)
    x = np.zeros((40, 5, 2), np.float32)
    for i, s in enumerate(series):
        x[i, : len(s)] = s
    npz = tmp_path / "same.npz"
    np.savez(npz, x=x, y=np.array(labels), lengths=np.array([len(s) for s in series]))
    a, b = load_dataset(DataConfig(path=str(csv_path))), load_dataset(DataConfig(path=str(npz)))
    assert a.info.labels == b.info.labels == ("down", "up") and a.info.variable_length
    for split in ("train", "val", "test"):
        sa, sb = getattr(a, split), getattr(b, split)
        assert (
            np.array_equal(sa.x, sb.x)
            and np.array_equal(sa.y, sb.y)
            and np.array_equal(sa.lengths, sb.lengths)
        )


def test_long_format_csv_refuses_two_labels_for_one_sequence(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("id,x,label\na,1,p\na,2,q\n")
    with pytest.raises(InputError, match=r"line 3: sequence 'a' has label 'q', but 'p' on line 2"):
        load_dataset(DataConfig(path=str(path)))


def test_long_format_csv_as_test_data(tmp_path):
    rng = np.random.default_rng(4)
    train = _long_csv(tmp_path / "tr.csv", [rng.normal(size=(4, 2)) for _ in range(30)], ["a", "b", "c"] * 10)
    test = _long_csv(tmp_path / "te.csv", [rng.normal(size=(4, 2)) for _ in range(6)], ["c", "a"] * 3)
    data = load_dataset(DataConfig(path=str(train), test_data=str(test)))
    assert data.info.split_sizes == (26, 4, 6)
    assert [data.info.labels[i] for i in data.test.y] == ["c", "a"] * 3


def test_nan_padding_reads_as_lengths(tmp_path):
    """A ragged set padded with NaN (aeon's and sktime's numpy layouts) loads as the same set with
    lengths and zero padding; NaN inside a sequence, or a sequence of NaN only, is refused by index."""
    rng = np.random.default_rng(0)
    lengths = rng.integers(3, 12, size=30)
    x = rng.normal(size=(30, 11, 2)).astype(np.float32)
    padding = np.arange(11)[None, :] >= lengths[:, None]
    zeros, nan = x.copy(), x.copy()
    zeros[padding], nan[padding] = 0.0, np.nan
    y = np.arange(30) % 3
    np.savez(tmp_path / "zeros.npz", x=zeros, y=y, lengths=lengths)
    np.savez(tmp_path / "nan.npz", x=nan, y=y)
    np.savez(tmp_path / "nan_lengths.npz", x=nan, y=y, lengths=lengths)
    want = load_dataset(DataConfig(path=str(tmp_path / "zeros.npz")))
    for name in ("nan.npz", "nan_lengths.npz"):
        got = load_dataset(DataConfig(path=str(tmp_path / name)))
        for split in ("train", "val", "test"):
            a, b = getattr(got, split), getattr(want, split)
            np.testing.assert_array_equal(a.x, b.x)
            np.testing.assert_array_equal(a.lengths, b.lengths)
        assert ("lengths read from the trailing NaN padding of x" in got.info.notes) == (name == "nan.npz")
    nan[4, 1, 0] = np.nan
    np.savez(tmp_path / "inside.npz", x=nan, y=y)
    with pytest.raises(
        InputError, match=r"NaN or infinite value at index \(4, 1, 0\), before its last value"
    ):
        load_dataset(DataConfig(path=str(tmp_path / "inside.npz")))
    nan[5] = np.nan
    np.savez(tmp_path / "empty.npz", x=nan, y=y, lengths=lengths)
    with pytest.raises(InputError, match=r"index \(4, 1, 0\), within its length"):
        load_dataset(DataConfig(path=str(tmp_path / "empty.npz")))
    nan[4, 1, 0] = 0.0
    np.savez(tmp_path / "all_nan.npz", x=nan, y=y)
    with pytest.raises(InputError, match="sequence 5 of array 'x' is NaN at every step"):
        load_dataset(DataConfig(path=str(tmp_path / "all_nan.npz")))
