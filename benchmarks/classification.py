"""Sequence classification with edgernn's defaults on public labelled-sequence sets (UCR/UEA format),
beside 1-NN Euclidean and 1-NN DTW on the same official train/test split.

Usage: ``python benchmarks/classification.py DIR [DIR ...] [--flags "..."] [--json out.json]``, each
DIR holding ``NAME_TRAIN.ts`` and ``NAME_TEST.ts`` (the sets inside the aeon wheel:
``pip download --no-deps aeon`` and unzip ``aeon/datasets/data``), or ``train.npz``/``test.npz``.
Each set is written to NPZ as the docs say, trained with ``edgernn train --data train.npz --test-data
test.npz`` and default settings (extra flags only with ``--flags``), exported, and the bundle is
scored through ``Session`` on the official test split. DTW: full-series DTW with a Sakoe-Chiba band
of 10 % of the length, on z-normalised series, in numpy (pairs vectorised, the band looped).
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

DTW_BAND = 0.1  # Sakoe-Chiba half-width as a share of the length
DTW_PAIR_BLOCK = 20000  # pairs per vectorised block (memory: block x band floats)


def read_ts(path: Path) -> tuple[list[np.ndarray], np.ndarray]:
    """A ``.ts`` file (sktime/aeon format): each series ``[T, F]`` and its label (strings)."""
    series, labels, data = [], [], False
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if not data:
            data = line.lower().startswith("@data")
            continue
        *dims, label = line.split(":")
        rows = [np.array([float(v) if v != "?" else np.nan for v in d.split(",")]) for d in dims]
        steps = min(len(r) for r in rows)
        series.append(np.stack([r[:steps] for r in rows], axis=1))
        labels.append(label.strip())
    return series, np.array(labels)


def to_arrays(series: list[np.ndarray], labels: np.ndarray) -> dict[str, np.ndarray]:
    """NPZ arrays as edgernn reads them: x ``[N, T, F]`` zero-padded, ``lengths`` when ragged, y."""
    series = [np.nan_to_num(s[~np.isnan(s).any(axis=1)]) for s in series]
    steps = max(len(s) for s in series)
    x = np.zeros((len(series), steps, series[0].shape[1]), np.float32)
    for i, s in enumerate(series):
        x[i, : len(s)] = s
    arrays = {"x": x, "y": labels}
    lengths = np.array([len(s) for s in series])
    if (lengths != steps).any():
        arrays["lengths"] = lengths
    return arrays


def load_set(folder: Path) -> tuple[dict, dict]:
    """Official train and test arrays of the set in ``folder``."""
    if (folder / "train.npz").is_file():
        return tuple(dict(np.load(folder / f"{s}.npz")) for s in ("train", "test"))
    name = folder.name
    return tuple(to_arrays(*read_ts(folder / f"{name}_{s}.ts")) for s in ("TRAIN", "TEST"))


def znorm(x: np.ndarray, lengths: np.ndarray | None) -> np.ndarray:
    from edgernn.train.baselines import znormalise

    return znormalise(x, lengths)


def one_nn_euclidean(train: dict, test: dict) -> float:
    a, b = znorm(train["x"], train.get("lengths")), znorm(test["x"], test.get("lengths"))
    steps = max(a.shape[1], b.shape[1])
    a, b = (np.pad(v, ((0, 0), (0, steps - v.shape[1]), (0, 0))).reshape(len(v), -1) for v in (a, b))
    dist = (a**2).sum(1)[None, :] - 2 * b @ a.T
    return float((train["y"][dist.argmin(1)] == test["y"]).mean())


def _dtw_pairs(q: np.ndarray, r: np.ndarray, band: int) -> np.ndarray:
    """DTW distances of pairs ``q[i]`` vs ``r[i]`` (``[P, T, F]`` each, equal T), band ``band``."""
    pairs, steps = q.shape[0], q.shape[1]
    inf = np.inf
    prev = np.full((pairs, steps + 1), inf)
    prev[:, 0] = 0.0
    for i in range(1, steps + 1):
        cur = np.full((pairs, steps + 1), inf)
        lo, hi = max(1, i - band), min(steps, i + band)
        cost = ((q[:, i - 1 : i, :] - r[:, lo - 1 : hi, :]) ** 2).sum(-1)  # [P, hi-lo+1]
        diag = np.minimum(prev[:, lo - 1 : hi], prev[:, lo : hi + 1])  # match, or step in q
        for k, j in enumerate(range(lo, hi + 1)):
            cur[:, j] = cost[:, k] + np.minimum(diag[:, k], cur[:, j - 1])
        prev = cur
        if i > 1:
            prev[:, 0] = inf
    return prev[:, steps]


def one_nn_dtw(train: dict, test: dict) -> float:
    """1-NN DTW (band DTW_BAND) on z-normalised series; ragged series are resampled to the longest."""
    a, b = _resampled(train), _resampled(test)
    steps = max(a.shape[1], b.shape[1])
    a, b = _stretch(a, steps), _stretch(b, steps)
    band = max(1, int(round(DTW_BAND * steps)))
    qi, ri = np.meshgrid(np.arange(len(b)), np.arange(len(a)), indexing="ij")
    qi, ri = qi.ravel(), ri.ravel()
    dist = np.empty(len(qi))
    for lo in range(0, len(qi), DTW_PAIR_BLOCK):
        s = slice(lo, lo + DTW_PAIR_BLOCK)
        dist[s] = _dtw_pairs(b[qi[s]], a[ri[s]], band)
    nearest = dist.reshape(len(b), len(a)).argmin(1)
    return float((train["y"][nearest] == test["y"]).mean())


def _resampled(arrays: dict) -> np.ndarray:
    x, lengths = arrays["x"].astype(np.float64), arrays.get("lengths")
    z = znorm(x, lengths)
    if lengths is None:
        return z
    out = np.empty_like(z)
    for i, n in enumerate(lengths):
        out[i] = _stretch(z[i : i + 1, :n], z.shape[1])[0]
    return out


def _stretch(x: np.ndarray, steps: int) -> np.ndarray:
    if x.shape[1] == steps:
        return x
    old = np.linspace(0, 1, x.shape[1])
    new = np.linspace(0, 1, steps)
    return np.stack([np.stack([np.interp(new, old, s[:, f]) for f in range(s.shape[1])], 1) for s in x])


def train_and_score(train: dict, test: dict, flags: list[str], work: Path) -> dict:
    """edgernn train (defaults + flags) -> export -> Session accuracy on the official test split."""
    np.savez(work / "train.npz", **train)
    np.savez(work / "test.npz", **test)
    run, bundle = work / "run", work / "bundle"
    cmd = [sys.executable, "-m", "edgernn", "train", "--data", str(work / "train.npz")]
    cmd += ["--test-data", str(work / "test.npz"), "--out", str(run), *flags]
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-2000:])
    summary = json.loads((run / "summary.json").read_text())
    output = (proc.stdout + proc.stderr).splitlines()
    data_lines = [line for line in output if line.startswith(("data:", "model:", "warning:"))]
    from edgernn.export.from_run import export_run
    from edgernn.runtime import Session

    export_run(run, bundle)
    result = Session.load(bundle).run(test["x"].astype(np.float32), lengths=test.get("lengths"))
    accuracy = float((np.asarray(result.labels).astype(str) == test["y"].astype(str)).mean())
    return {
        "accuracy": accuracy,
        "torch_accuracy": summary["test_metric"],
        "best_epoch": summary["best_epoch"],
        "epochs": summary["epochs_run"],
        "train_seconds": round(seconds, 1),
        "lines": data_lines,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sets", nargs="*", type=Path)
    parser.add_argument("--smoke", action="store_true", help="one committed set, 1 epoch, no DTW (for CI)")
    parser.add_argument("--flags", default="", help="extra edgernn train flags, e.g. '--epochs 5'")
    parser.add_argument("--no-dtw", action="store_true")
    parser.add_argument("--no-baselines", action="store_true", help="only train (baselines known)")
    parser.add_argument("--no-train", action="store_true", help="only the 1-NN baselines")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if args.smoke:
        _smoke()
        return
    if not args.sets:
        parser.error("name at least one set folder (or --smoke)")
    rows = []
    for folder in args.sets:
        train, test = load_set(folder)
        row = {"set": folder.name, "train": len(train["x"]), "test": len(test["x"]),
               "steps": int(train["x"].shape[1]), "channels": int(train["x"].shape[2]),
               "ragged": "lengths" in train, "classes": len(set(train["y"].tolist()))}  # fmt: skip
        if not args.no_baselines:
            row["1nn_ed"] = one_nn_euclidean(train, test)
            started = time.perf_counter()
            row["1nn_dtw"] = None if args.no_dtw else one_nn_dtw(train, test)
            row["dtw_seconds"] = round(time.perf_counter() - started, 1)
        if not args.no_train:
            with tempfile.TemporaryDirectory() as tmp:
                row.update(train_and_score(train, test, shlex.split(args.flags), Path(tmp)))
        rows.append(row)
        print(json.dumps(row), flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


def _smoke() -> None:
    """CI's smoke run: the committed BasicMotions set, trained 1 epoch, scored through Session."""
    data = Path(__file__).resolve().parents[1] / "tests" / "data" / "classification"
    with tempfile.TemporaryDirectory() as tmp:
        arrays = [dict(np.load(data / f"BasicMotions_{s}.npz")) for s in ("train", "test")]
        row = train_and_score(*arrays, ["--epochs", "1"], Path(tmp))
    print(f"classification: BasicMotions, 1 epoch, accuracy {row.get('accuracy')} -> smoke")


if __name__ == "__main__":
    main()
