"""Run ``edgernn pipeline`` with defaults on public series and print the table of docs/forecasting.md.

The series come from data files inside two PyPI wheels that this script never installs:
``pip download --no-deps statsmodels==0.15.0 vega_datasets==0.9.0 -d WHEELS``, then
``python benchmarks/forecasting_eval.py --wheels WHEELS --out OUT [NAME ...]``. Each series is written
as a small CSV under ``OUT/data`` (a few are reshaped: one stock of a long table, month-day-year
dates as ``Jan 2000``), then the pipeline runs on it under ``OUT/runs/NAME`` and its summary is read
back; one JSON line per series, the table in ``OUT/table.json``. ``--smoke`` (CI): one series of
``examples/data`` for 1 epoch, in a temporary folder, no wheels needed.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SM = "statsmodels/datasets/"
VEGA = "vega_datasets/_data/"
# name: (wheel prefix, member, how to rewrite it, extra pipeline flags)
SERIES = {
    "co2_weekly": (None, "examples/data/co2_weekly.csv", None, []),
    "elnino_sst": (None, "examples/data/elnino_sst_monthly.csv", None, []),
    "us_realgdp_q": (None, "examples/data/us_macro_quarterly.csv", None, ["--target", "realgdp"]),
    "us_unemp_q": (None, "examples/data/us_macro_quarterly.csv", None, ["--target", "unemp"]),
    "elec_equip_m": ("statsmodels", SM + "elec_equip/elec_equip.csv", "elec", []),
    "nile_y": ("statsmodels", SM + "nile/nile.csv", None, []),
    "sunspots_y": ("statsmodels", SM + "sunspots/sunspots.csv", "sunspots", []),
    "danish_lrm_q": ("statsmodels", SM + "danish_data/data.csv", "danish", ["--target", "lrm"]),
    "seattle_temp_h": ("vega_datasets", VEGA + "seattle-temps.csv", None, []),
    "sf_temp_h": ("vega_datasets", VEGA + "sf-temps.csv", None, []),
    "seattle_tmax_d": ("vega_datasets", VEGA + "seattle-weather.csv", "weather", ["--target", "temp_max"]),
    "msft_m": ("vega_datasets", VEGA + "stocks.csv", "msft", []),
    "us_nonfarm_m": ("vega_datasets", VEGA + "us-employment.csv", "nonfarm", []),
}


def _member(wheels: Path, prefix: str | None, member: str) -> str:
    if prefix is None:
        return (REPO / member).read_text(encoding="utf-8-sig")
    wheel = next(wheels.glob(f"{prefix}-*.whl"))
    with zipfile.ZipFile(wheel) as z:
        return z.read(member).decode("utf-8-sig")


def _rewrite(text: str, how: str | None) -> str:
    """The CSV as the pipeline reads it (header, then rows), for the few that need reshaping."""
    if how is None:
        return text
    rows = list(csv.reader(io.StringIO(text)))
    if how == "elec":  # "Jan-1-1995" -> "Jan 1995"; the long column name -> orders
        out = [["month", "orders"]] + [[f"{r[0].split('-')[0]} {r[0].split('-')[2]}", r[1]] for r in rows[1:]]
    elif how == "sunspots":  # YEAR (float) -> year
        out = [["year", "sunspots"]] + [[str(int(float(r[0]))), r[1]] for r in rows[1:]]
    elif how == "danish":  # 1974Q1 quarters, five columns
        out = rows
    elif how == "weather":  # a text column ('weather') left out
        out = [r[:5] for r in rows]
    elif how == "msft":  # one symbol; "Jan 1 2000" -> "Jan 2000"
        out = [["month", "price"]] + [
            [f"{r[1].split()[0]} {r[1].split()[2]}", r[2]] for r in rows[1:] if r[0] == "MSFT"
        ]
    elif how == "nonfarm":
        out = [[r[0], r[1]] for r in rows]
    else:
        raise ValueError(how)
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(out)
    return buffer.getvalue()


def _row(name: str, summary: dict) -> dict:
    t = summary["training"]
    scores = {b["name"]: b["metric"] for b in t.get("baselines") or []}
    model = t["test_metric"]
    seasonal = {k: v for k, v in scores.items() if k.startswith("seasonal naive")}
    best_seasonal = min(seasonal.items(), key=lambda kv: kv[1]) if seasonal else None
    series = summary["model"]["series"] or {}
    return {
        "series": name,
        "step": series.get("step"),
        "rows": sum(summary["model"]["split_sizes"]),
        "model_rmse": model,
        "vs_persistence": model / scores["persistence"] if scores.get("persistence") else None,
        "vs_seasonal": (model / best_seasonal[1], best_seasonal[0]) if best_seasonal else None,
        "vs_mean": model / scores["training mean"] if scores.get("training mean") else None,
        "strongest": t["baseline"],
        "verdict": summary["verdict"] or f"better ({model / t['baseline_metric']:.2f}x {t['baseline']})",
        "difference": series.get("difference"),
        "seasons": series.get("seasons"),
        "reason": series.get("reason"),
    }


SMOKE_FLAGS = ["--epochs", "1", "--profile-iters", "3", "--no-torch-baseline"]


def run_series(wheels: Path | None, out: Path, names: list[str], extra: list[str]) -> list[dict]:
    """Write each series' CSV, run the pipeline on it, and return one table row per series."""
    (out / "data").mkdir(parents=True, exist_ok=True)
    rows = []
    for name in names:
        prefix, member, how, flags = SERIES[name]
        path = out / "data" / f"{name}.csv"
        path.write_text(_rewrite(_member(wheels or Path("."), prefix, member), how))
        run = out / "runs" / name
        cmd = ["edgernn", "pipeline", "--data", str(path), "--out", str(run), "--overwrite", *flags, *extra]
        done = subprocess.run(cmd, capture_output=True, text=True)
        (out / f"{name}.log").write_text(done.stdout + done.stderr)
        if done.returncode != 0:
            rows.append({"series": name, "error": (done.stderr.strip().splitlines() or ["?"])[-1]})
        else:
            rows.append(_row(name, json.loads((run / "summary.json").read_text())))
        print(json.dumps(rows[-1]), flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help=f"series to run (default: all): {', '.join(SERIES)}")
    parser.add_argument("--wheels", type=Path, help="folder with the statsmodels and vega_datasets wheels")
    parser.add_argument("--out", type=Path, help="folder for the CSVs, runs and table.json")
    parser.add_argument("--smoke", action="store_true", help="one bundled series, 1 epoch (for CI)")
    args = parser.parse_args(argv)
    if args.smoke:
        with tempfile.TemporaryDirectory() as tmp:
            rows = run_series(None, Path(tmp), ["us_unemp_q"], SMOKE_FLAGS)
        ok = "error" not in rows[0]
        print(f"forecasting eval: 1 series, {rows[0].get('verdict', rows[0].get('error'))} -> smoke")
        return 0 if ok else 1
    if args.wheels is None or args.out is None:
        parser.error("--wheels and --out are needed (or --smoke)")
    rows = run_series(args.wheels, args.out, args.names or list(SERIES), [])
    (args.out / "table.json").write_text(json.dumps(rows, indent=1))
    return 0 if all("error" not in r for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
