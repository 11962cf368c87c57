"""One-to-many: a GRU draws an 8x8 digit row by row from its class label. The label (one-hot) sets
the initial state; the runtime's ``generate`` feeds each drawn row back in as the next input.

Metric: a separately trained digit classifier should recognise the drawn digits as their labels,
against the baseline of drawing the average digit for every label. Decoding a regression output is
deterministic, so each label has exactly one drawing; a PNG strip shows the ten of them.

    python examples/digit_generation.py --out runs/example-generation
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from _deployed import run_on_device

from edgernn.export.from_run import export_run
from edgernn.runtime import Session
from edgernn.train import DataConfig, ModelConfig, RunConfig, TrainConfig, run_training


def train_and_export(out: Path, topology: str, model: ModelConfig) -> Path:
    run, bundle = out / f"{topology}-run", out / f"{topology}-bundle"
    run_training(
        RunConfig(
            DataConfig(dataset="digits", topology=topology),
            model,
            TrainConfig(epochs=40, patience=10, augment=False),  # image rows: no time warps
        ),
        run,
    )
    export_run(run, bundle)
    return bundle


def save_grid(images: np.ndarray, path: Path) -> bool:
    """One row of generated digits (needs matplotlib: pip install 'edgernn[plot]')."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, axes = plt.subplots(1, len(images), figsize=(len(images), 1.2))
    for ax, image in zip(axes.flat, images, strict=True):
        ax.imshow(image, cmap="gray_r", vmin=0, vmax=16)
        ax.axis("off")
    fig.savefig(path, dpi=60, bbox_inches="tight")
    plt.close(fig)
    return True


def main(out: Path) -> dict:
    generator = train_and_export(out, "one_to_many", ModelConfig(cell="gru", hidden_size=128))
    classifier = train_and_export(
        out,
        "many_to_one",
        ModelConfig(cell="gru", hidden_size=128, bidirectional=True, dropout=0.3, members=1),
    )

    labels = np.arange(10)
    cond = np.eye(10, dtype=np.float32)[labels]
    drawn = Session.load(generator, provider="cpu").generate(cond, steps=8).output  # [10, 8 rows, 8 px]
    judge = Session.load(classifier, provider="cpu")
    accuracy = float((judge.run(drawn).labels == labels.astype(str)).mean())
    average = np.load(generator / "eval.npz")["y"].mean(axis=0, keepdims=True).repeat(len(labels), axis=0)
    baseline = float((judge.run(average).labels == labels.astype(str)).mean())
    print(f"classifier accuracy on drawn digits {accuracy:.0%} vs {baseline:.0%} for the average digit")
    if save_grid(drawn, out / "generated.png"):
        print(f"samples: {out / 'generated.png'}")

    on_device = run_on_device(
        f"""
        import json, numpy as np
        from edgernn.runtime import Session
        cond = np.eye(10, dtype=np.float32)[np.arange(10)]
        print(json.dumps(Session.load({str(generator)!r}).generate(cond, steps=8).output.round(3).tolist()))
        """
    )
    same = bool(np.allclose(on_device, drawn, atol=1e-2))
    print("torch-free run draws the same digits:", same)
    return {"accuracy": accuracy, "average_digit_accuracy": baseline, "same_on_device": same}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=Path("runs/example-generation"))
    print(json.dumps(main(parser.parse_args().out)))
