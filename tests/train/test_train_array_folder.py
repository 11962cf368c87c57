"""A folder of ``.npy`` files trains like the ``.npz`` holding the same arrays (it failed with
"[Errno 21] Is a directory" while hashing the data), and a changed array changes the data's sha256."""

from __future__ import annotations

import numpy as np
from train_fixtures import write_classes_npz

from edgernn.train.config import DataConfig
from edgernn.train.data import load_dataset


def test_a_folder_of_npy_files_reads_like_the_npz(tmp_path):
    npz = write_classes_npz(tmp_path / "c.npz")
    folder = tmp_path / "arrays"
    folder.mkdir()
    with np.load(npz) as data:
        for key in data.files:
            np.save(folder / f"{key}.npy", data[key])
    a, b = load_dataset(DataConfig(path=str(npz))), load_dataset(DataConfig(path=str(folder)))
    for split in ("train", "val", "test"):
        np.testing.assert_array_equal(getattr(a, split).x, getattr(b, split).x)
        np.testing.assert_array_equal(getattr(a, split).y, getattr(b, split).y)
    assert a.info.labels == b.info.labels
    before = b.info.sha256
    y = np.load(folder / "y.npy")
    np.save(folder / "y.npy", (y + 1) % 3)
    assert load_dataset(DataConfig(path=str(folder))).info.sha256 != before


def test_arrays_train_does_not_read_are_not_read(tmp_path):
    """An extra member (here a pickled object array) is left alone, as before the one reader."""
    path = write_classes_npz(tmp_path / "c.npz")
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    np.savez(tmp_path / "extra.npz", **arrays, notes=np.array([{"by": "me"}], dtype=object))
    a = load_dataset(DataConfig(path=str(path)))
    b = load_dataset(DataConfig(path=str(tmp_path / "extra.npz")))
    np.testing.assert_array_equal(a.train.x, b.train.x)
