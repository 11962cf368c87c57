"""Many-to-many: a GRU predicts next year's sunspot number at every step; the deployed bundle then
forecasts a whole decade by streaming with carried state, feeding each prediction back in.

Target: one-step test RMSE <= 0.7x persistence ("next year = this year").

    python examples/sunspots_forecast.py --out runs/example-sunspots
"""

from __future__ import annotations

import argparse
import inspect
import json
from pathlib import Path

import numpy as np
from _deployed import run_on_device

from edgernn.export.from_run import export_run
from edgernn.runtime import Session
from edgernn.train import DataConfig, ModelConfig, RunConfig, TrainConfig, run_training

HORIZON_YEARS = 10


def forecast(bundle: Path, history: np.ndarray, years: int) -> list[float]:
    """Stream ``history`` (raw sunspot numbers) through the model, then feed predictions back."""
    stream = Session.load(bundle, provider="cpu").stream()
    prediction = stream.feed(history.reshape(1, -1, 1)).output[0, -1]  # next year after the history
    out = []
    for _ in range(years):
        out.append(float(prediction[0]))
        prediction = stream.step(prediction.reshape(1, 1)).output[0]
    return out


def main(out: Path) -> dict:
    run, bundle = out / "run", out / "bundle"
    data = DataConfig(
        dataset="sunspots", columns=("sunspots",), target=("sunspots",), window=24, difference="none"
    )
    run_training(
        RunConfig(
            data, ModelConfig(cell="gru", hidden_size=32), TrainConfig(batch_size=16, epochs=80, patience=20)
        ),
        run,
    )
    export_run(run, bundle)

    test = np.load(bundle / "eval.npz")  # one sequence: 24 warm-up years, then 1963-2008 scored
    scored = test["mask"][0]
    x, y = test["x"][0, :, 0], test["y"][0, :, 0]
    pred = Session.load(bundle, provider="cpu").run(test["x"]).output[0, :, 0]
    rmse = float(np.sqrt(np.mean((pred - y)[scored] ** 2)))
    persistence = float(np.sqrt(np.mean((x - y)[scored] ** 2)))
    print(f"one-step test RMSE {rmse:.1f} vs persistence {persistence:.1f} (ratio {rmse / persistence:.2f})")

    history, actual = x[: len(x) - HORIZON_YEARS + 1], x[len(x) - HORIZON_YEARS + 1 :]
    actual = np.append(actual, y[-1])
    ahead = forecast(bundle, history, HORIZON_YEARS)
    # The same forecast() source, run where only numpy + onnxruntime + edgernn.runtime exist.
    on_device = run_on_device(
        "import json\nfrom pathlib import Path\nimport numpy as np\nfrom edgernn.runtime import Session\n"
        + inspect.getsource(forecast)
        + f"x = np.load({str(bundle / 'eval.npz')!r})['x'][0, :, 0]\n"
        + f"print(json.dumps(forecast(Path({str(bundle)!r}), x[: len(x) - {HORIZON_YEARS} + 1], {HORIZON_YEARS})))\n"
    )
    print("year  actual  forecast  torch-free")
    for i, (a, f, d) in enumerate(zip(actual, ahead, on_device, strict=True)):
        print(f"{2008 - HORIZON_YEARS + 1 + i}  {a:6.1f}  {f:8.1f}  {d:10.1f}")
    decade_rmse = float(np.sqrt(np.mean((np.array(ahead) - actual) ** 2)))
    flat = float(np.sqrt(np.mean((history[-1] - actual) ** 2)))
    print(
        f"{HORIZON_YEARS}-year streamed forecast RMSE {decade_rmse:.1f} vs repeating the last year {flat:.1f}"
    )
    return {
        "rmse": rmse,
        "persistence_rmse": persistence,
        "decade_rmse": decade_rmse,
        "flat_decade_rmse": flat,
        "same_on_device": bool(np.allclose(on_device, ahead, atol=1e-4)),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=Path("runs/example-sunspots"))
    print(json.dumps(main(parser.parse_args().out)))
