"""``edgernn inspect``: what is inside a bundle or an ``.onnx`` file.

onnx is imported only when a report is built, so ``edgernn inspect --help`` stays light.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from edgernn.runtime.bundle import MANIFEST_NAME, Bundle
from edgernn.runtime.contract import contract_lines
from edgernn.runtime.errors import BundleError
from edgernn.runtime.fileio import sha256_file


def inspect_path(path: str | Path) -> dict[str, Any]:
    """Build the inspect report for a bundle folder or a single ``.onnx`` file."""
    from .graph import load_model, summarize

    path = Path(path)
    if path.is_dir():
        bundle = Bundle.load(path)
        manifest, root = bundle.manifest, path
        status = bundle.verify()
        model_files = sorted(rel for rel, e in manifest.files.items() if e.role == "model")
    elif path.is_file():
        root, manifest, status = path.parent, None, {}
        if (root / MANIFEST_NAME).is_file():
            manifest = Bundle.load(root).manifest
        model_files = [path.name]
    else:
        raise BundleError(f"{path}: expected a bundle folder or an .onnx file, found nothing there")

    files, models = [], {}
    for rel in model_files:
        file_path = root / rel
        entry = manifest.files.get(rel) if manifest else None
        if not file_path.is_file():
            files.append({"path": rel, "size_bytes": None, "sha256": None, "check": "missing"})
            continue
        digest = sha256_file(file_path)
        if manifest is None:
            check = "no manifest"
        elif entry is None:
            check = "not in manifest"
        else:
            check = status.get(rel, "ok") if entry.sha256 == digest else "sha256 mismatch"
        files.append({"path": rel, "size_bytes": file_path.stat().st_size, "sha256": digest, "check": check})
        try:
            models[rel] = summarize(load_model(file_path)).to_dict()
        except BundleError as err:
            raise BundleError(f"{err}; manifest check: {check}") from None
    files += [
        {"path": rel, "size_bytes": None, "sha256": None, "check": check}
        for rel, check in status.items()
        if rel not in model_files
    ]
    return {
        "path": str(path),
        "kind": "bundle" if path.is_dir() else "onnx",
        "manifest": manifest.to_dict() if manifest else None,
        "files": files,
        "models": models,
    }


def _dims(dims: list[Any]) -> str:
    from rich.markup import escape

    return escape("[" + ", ".join(str(d) for d in dims) + "]")


def render(report: dict[str, Any], console: Any) -> None:
    """Print the report as rich tables."""
    from rich.table import Table

    manifest = report["manifest"]
    if manifest:
        console.print(
            f"[bold]{manifest['name']}[/]  topology={manifest['topology']} cell={manifest['cell']} "
            f"layers={manifest['layers']} hidden={manifest['hidden_size']} "
            f"bidirectional={manifest['bidirectional']}"
        )
        for line in [*columns_lines(manifest), *contract_lines(manifest), *_module_io_lines(report)]:
            console.print(line, highlight=False, markup=False, soft_wrap=True)
    files = Table("file", "size", "sha256", "manifest check", title="Files")
    for f in report["files"]:
        size = f"{f['size_bytes'] / 1024:.1f} KiB" if f["size_bytes"] is not None else "-"
        files.add_row(f["path"], size, (f["sha256"] or "-")[:16], f["check"])
    console.print(files)
    for rel, m in report["models"].items():
        opsets = ", ".join(f"{k} {v}" for k, v in m["opsets"].items())
        console.print(f"\n[bold]{rel}[/]  opset {opsets}; producer {m['producer']}; IR {m['ir_version']}")
        io = Table("", "name", "dtype", "dims", title="Inputs and outputs")
        for kind in ("inputs", "outputs"):
            for t in m[kind]:
                io.add_row(kind[:-1], t["name"], t["dtype"], _dims(t["dims"]))
        console.print(io)
        rec = Table(
            "node", "op", "direction", "hidden", "layout", "lengths", "graph", title="Recurrent nodes"
        )
        for n in m["recurrent"]:
            rec.add_row(
                n["name"],
                n["op_type"]
                + (f" ({', '.join(dict.fromkeys(n['activations']))})" if n["activations"] else ""),
                n["direction"],
                str(n["hidden_size"]),
                str(n["layout"]),
                "yes" if n["has_sequence_lens"] else "no",
                n["graph"],
            )
        console.print(rec)
        console.print(
            f"recurrent nodes: {len(m['recurrent'])}   Loop/Scan nodes: {m['loop_scan_count']}   "
            f"quantization: {m['quantization']}"
        )
        console.print("ops: " + ", ".join(f"{op}×{n}" for op, n in m["op_counts"].items()))
        console.print(
            "weights: "
            + (
                ", ".join(
                    f"{w['dtype']} {w['count']} tensors {w['size_bytes'] / 1024:.1f} KiB"
                    for w in m["weights"]
                )
                or "none"
            )
        )


def _module_io_lines(report: dict[str, Any]) -> list[str]:
    """How the module's own I/O maps onto the graph's (layout, view(-1), fractions), when it differs."""
    found = {m.get("metadata", {}).get("edgernn.module_io") for m in report["models"].values()} - {None}
    return [f"module I/O: {text}" for text in sorted(found)]


def columns_lines(manifest: dict[str, Any]) -> list[str]:
    """What goes in and comes out, by name: input columns in order, outputs with units, the series."""
    spec, out, series = manifest["input"], manifest["output"], manifest.get("series")
    lines = []
    if spec.get("columns"):
        lines.append(f"input columns (in order): {', '.join(spec['columns'])}")
    else:
        width = spec["features"] if spec["kind"] == "features" else "token ids"
        lines.append(f"input columns: not named ({width} per step, in the training data's order)")
    names = out.get("names") or out.get("labels")
    units = f" ({out['units']})" if out.get("units") else ""
    lines.append(f"outputs: {', '.join(names[:12]) if names else out['kind']}{units}")
    if series:
        time = f"time column {series['time_column']!r} ({series['step']}, {series['first']} .. {series['last']}); "
        lines.append(
            (time if series.get("time_column") else "")
            + f"difference: {series['difference']} ({series['reason']}); warm-up {series['warmup']} rows"
        )
        for period, why in zip(series.get("seasons") or (), series.get("season_reasons") or (), strict=False):
            lines.append(f"season {period} rows: {why}")
    return lines


@click.command("inspect")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON instead of tables.")
def inspect_command(path: Path, as_json: bool) -> None:
    """Show inputs/outputs, recurrent nodes, Loop/Scan count, weights and checksums of PATH.

    PATH is a bundle folder or an .onnx file.
    """
    report = inspect_path(path)
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        from rich.console import Console

        render(report, Console())
