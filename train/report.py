"""Epoch hooks that write the run directory and show progress, plus the loss curve and summary."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from edgernn.runtime.fileio import atomic_write_bytes, atomic_write_text

from .baselines import describe
from .checkpoint import RESUME_FILE, WEIGHTS_FILE, save_resume, save_weights
from .loop import Trainer
from .records import TrainingSummary

LEGEND = "(* = the best validation metric so far; that epoch's weights are the checkpoint)"
METRICS_FILE = "metrics.jsonl"
PLOT_FILE = "loss.png"


def read_metrics(run_dir: Path, up_to_epoch: int | None = None) -> list[dict[str, Any]]:
    """The records of ``metrics.jsonl`` (those up to ``up_to_epoch`` when given)."""
    path = run_dir / METRICS_FILE
    if not path.is_file():
        return []
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r for r in records if up_to_epoch is None or r["epoch"] <= up_to_epoch]


class RunWriter:
    """Writes the best weights, the resume checkpoint and ``metrics.jsonl`` after every epoch.

    Order matters for crash safety: best weights, then the resume point, then the metrics (which
    a resume truncates to its own epoch). Each file is replaced atomically.
    """

    def __init__(self, run_dir: Path, records: list[dict[str, Any]] | None = None) -> None:
        self.run_dir = run_dir
        self.records = list(records or [])

    def on_epoch_end(self, trainer: Trainer, record: dict[str, Any], improved: bool) -> None:
        """Persist this epoch (see the class docstring for the order)."""
        if improved:
            meta = {"epoch": str(record["epoch"]), "val_metric": repr(record["val_metric"])}
            save_weights(self.run_dir / WEIGHTS_FILE, trainer.model.state_dict(), metadata=meta)
        save_resume(self.run_dir / RESUME_FILE, trainer)
        self.records.append(record)
        lines = "".join(json.dumps(r, allow_nan=True) + "\n" for r in self.records)
        atomic_write_text(self.run_dir / METRICS_FILE, lines)


class ProgressHook:
    """A progress bar with epoch, loss and validation metric; plain lines when not on a terminal."""

    def __init__(self, console: Console, epochs: int, metric: str, start_epoch: int = 0) -> None:
        self.console = console
        self.metric = metric
        self.epochs = epochs
        self.bar = Progress(
            TextColumn("[bold]train"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
            disable=not console.is_terminal,
        )
        self.task = self.bar.add_task("", total=epochs, completed=start_epoch)
        self.legend_shown = False

    def __enter__(self) -> ProgressHook:
        self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.stop()

    def on_epoch_end(self, trainer: Trainer, record: dict[str, Any], improved: bool) -> None:
        """Advance the bar (or print a line) with the epoch, train loss and val metric."""
        loss = record["train_loss"]
        text = (
            f"epoch {record['epoch']}/{self.epochs} loss {'-' if loss is None else f'{loss:.4f}'} "
            f"val_{self.metric} {record['val_metric']:.4f}{' *' if improved else ''}"
        )
        if self.bar.disable:
            if record["epoch"] == 0 or not self.legend_shown:
                self.console.print(LEGEND, highlight=False)
                self.legend_shown = True
            self.console.print(text, highlight=False)
        self.bar.update(self.task, completed=record["epoch"], description=text)


def plot_losses(run_dir: Path, records: list[dict[str, Any]], metric: str) -> Path | None:
    """Write ``loss.png`` (train/val loss and the validation metric); None without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib.figure import Figure
    except ImportError:
        return None
    import io

    fig = Figure(figsize=(7, 4), dpi=100)
    ax = fig.add_subplot()
    trained = [r for r in records if r["train_loss"] is not None]
    ax.plot([r["epoch"] for r in trained], [r["train_loss"] for r in trained], label="train loss")
    ax.plot([r["epoch"] for r in records], [r["val_loss"] for r in records], label="val loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_yscale("log" if all(r["val_loss"] > 0 for r in records) else "linear")
    twin = ax.twinx()
    twin.plot([r["epoch"] for r in records], [r["val_metric"] for r in records], "k:", label=f"val {metric}")
    twin.set_ylabel(f"val {metric}")
    fig.legend(loc="upper right")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return atomic_write_bytes(run_dir / PLOT_FILE, buffer.getvalue())


def summary_lines(summary: TrainingSummary) -> list[str]:
    """The short end-of-run report."""
    metric, baseline = summary.metric, summary.baseline
    test, naive = summary.test_metric, summary.baseline_metric
    if metric == "accuracy":
        compare = f"test accuracy {test:.2%} vs {baseline} baseline {naive:.2%}"
    else:
        ratio = test / naive if naive and math.isfinite(naive) else float("nan")
        compare = f"test {metric} {test:.4g} vs {baseline} baseline {naive:.4g} (ratio {ratio:.2f})"
    lines = [
        f"best val {metric} {summary.best_val_metric:.4g} (epoch {summary.best_epoch}, "
        f"{summary.epochs_run} epochs, {summary.stopped})",
        compare,
        *(f"note: {n}" for n in summary.notes),
    ]
    if summary.baselines:
        shown = describe(summary.baselines, metric, test).split(": ", 1)[1]
        lines.append(f"simple {summary.simple}s: {shown}")
    return [*lines, f"checkpoint {summary.checkpoint}"]
