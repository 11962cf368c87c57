"""Users' own CSVs: three public series with a date column, each through `edgernn pipeline` with the
default settings, forecasting one step ahead at every row.

* weekly Mauna Loa CO2 (trend + yearly cycle): the time column is found, the unit-root test picks a
  first difference, the graph adds the predicted change back to the last level;
* quarterly US macro data, real GDP from all 12 series (multivariate, trending): first differences
  for GDP and for each input whose unit root is not rejected;
* monthly El Nino sea-surface temperature (a season, no trend): stationary, so levels.

Target: test RMSE <= 0.85x persistence on each. Sources and licences: examples/data/NOTICE.md.

    python examples/csv_forecasts.py --out runs/csv-forecasts
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from click.testing import CliRunner

from edgernn.cli import cli

DATA = Path(__file__).resolve().parent / "data"
SERIES = {
    "co2": ("co2_weekly.csv", []),
    "realgdp": ("us_macro_quarterly.csv", ["--target", "realgdp"]),
    "sst": ("elnino_sst_monthly.csv", []),
}


def main(out: Path) -> dict:
    """Run the pipeline on each CSV; returns per series its ratio to persistence and the decision."""
    results = {}
    for name, (file, flags) in SERIES.items():
        args = ["pipeline", "--data", str(DATA / file), *flags, "--out", str(out / name)]
        result = CliRunner().invoke(
            cli, [*args, "--profile-iters", "20", "--no-torch-baseline", "--overwrite"]
        )
        if result.exit_code != 0:
            raise SystemExit(f"{name}: {result.output[-2000:]}")
        summary = json.loads((out / name / "summary.json").read_text())
        series = summary["model"]["series"]
        results[name] = {
            "ratio": summary["ratio"],
            "rmse": summary["training"]["test_metric"],
            "persistence_rmse": summary["training"]["baseline_metric"],
            "difference": series["difference"],
            "changes": series["changes"],
            "step": series["step"],
        }
        print(f"{name}: ratio {results[name]['ratio']:.2f} ({series['difference']}: {series['reason']})")
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/csv-forecasts"))
    main(parser.parse_args().out)
