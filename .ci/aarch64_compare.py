"""The aarch64 check's Python side (called by .ci/aarch64).

  build WORK     x86: a small LSTM forecaster bundle with fp32 and int8 (train, export, quantize in one
                 process), the input CSV and the input array.
  device WORK TAG  any CPU: Session.run and a 20-step stream of each variant of the packed bundle, and
                 `edgernn run --stream` of fp32 in this process -> WORK/TAG.npz, WORK/TAG-run-fp32.csv;
                 prints the cold start (import + load + first run) of this process.
  compare WORK   x86: aarch64's outputs against x86's (Session.run, stream, `edgernn run` CSVs); exit 1
                 on a difference beyond fp32's 1e-5 relative or the int8 variant's own max_abs_diff.

The device side imports only edgernn.runtime and numpy.
"""

from __future__ import annotations

import csv
import json
import sys
import time
from pathlib import Path

T0 = time.perf_counter()
ROWS, STEPS, BATCH = 48, 20, 2  # input rows fed to `edgernn run`; stream steps; Session.run batch
VARIANTS = ("fp32", "int8")  # both in one pack (the single-variant manifest is a unit test's matter)
FP32_RTOL = 1e-5  # max |aarch64 - x86| / max |x86|
# What a device install may leave out (docs/deploy.md): the runtime's paths must never import them.
NOT_ON_THE_RUNTIME_PATH = (
    "rich",
    "pygments",
    "markdown_it",
    "google",
    "flatbuffers",
    "torch",
    "onnx",
    "matplotlib",
)


def build(work: Path) -> None:
    """Train (2 epochs), export and quantize a 2-layer LSTM on the bundled sunspots, in one process."""
    import numpy as np

    from edgernn.cli import cli

    run, bundle = work / "run", work / "bundle"
    steps = [
        ["train", "--dataset", "sunspots", "--cell", "lstm", "--layers", "2", "--hidden", "24"],
        ["export", str(run), "--out", str(bundle)],
        ["quantize", str(bundle), "--variant", "int8", "--force"],
    ]
    steps[0] += ["--epochs", "2", "--out", str(run)]
    for args in steps:
        cli.main(args, standalone_mode=False)
    source = Path(__file__).resolve().parent.parent / "train" / "data" / "sunspots.csv"
    lines = source.read_text(encoding="utf-8").splitlines()
    (work / "input.csv").write_text("\n".join([lines[0], *lines[-ROWS:]]) + "\n", encoding="utf-8")
    values = np.array([float(line.split(",")[1]) for line in lines[1:]], np.float32)
    x = np.stack([values[-ROWS:], values[-2 * ROWS : -ROWS]])[:BATCH, :, None]
    np.save(work / "x.npy", x)


def device(work: Path, tag: str) -> None:
    """Session.run and a stream of each packed bundle; outputs to WORK/TAG.npz."""
    import numpy as np

    from edgernn.runtime import Session

    imported = time.perf_counter()
    x = np.load(work / "x.npy")
    out, cold = {}, {}
    for variant in VARIANTS:
        start = time.perf_counter()
        session = Session.load(work / "pack" / "bundle", provider="cpu", variant=variant, threads=1)
        out[f"{variant}_run"] = session.run(x).output
        cold[variant] = time.perf_counter() - start
        stream = session.stream(batch=BATCH)
        out[f"{variant}_stream"] = np.stack([stream.step(x[:, t]).output for t in range(STEPS)], axis=1)
    np.savez(work / f"{tag}.npz", **out)
    loaded = [f"{v} {s * 1000:.0f} ms" for v, s in cold.items()]
    print(f"{tag}: import {1000 * (imported - T0):.0f} ms; load + first run: {', '.join(loaded)}")
    from edgernn.cli import cli  # `edgernn run` in this process: one emulated start fewer

    args = ["run", str(work / "pack" / "bundle"), str(work / "input.csv"), "--variant", "fp32", "--stream"]
    cli.main([*args, "--threads", "1", "--out", str(work / f"{tag}-run-fp32.csv")], standalone_mode=False)
    pulled = sorted({m.split(".")[0] for m in sys.modules} & set(NOT_ON_THE_RUNTIME_PATH))
    if pulled:
        sys.exit(
            f"{tag}: the runtime imported {', '.join(pulled)}; expected only numpy, click and onnxruntime"
        )


def _read_csv(path: Path):
    import numpy as np

    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    return np.array([[float(v) for v in row[-1:]] for row in rows[1:]], np.float64)


def compare(work: Path) -> None:
    """aarch64 against x86, per variant and path; one line each, exit 1 on any failure."""
    import numpy as np

    manifest = json.loads((work / "bundle" / "manifest.json").read_text(encoding="utf-8"))
    int8_tol = float(manifest["quantization"]["int8"]["max_abs_diff"])
    x86, arm = np.load(work / "x86.npz"), np.load(work / "arm.npz")
    pairs = {key: (arm[key], x86[key]) for key in x86.files}
    for name in sorted(p.name for p in work.glob("x86-run-*.csv")):
        pairs[name[4:-4]] = (_read_csv(work / f"arm-{name[4:]}"), _read_csv(work / name))
    failed = 0
    for key, (a, b) in sorted(pairs.items()):
        if a.shape != b.shape:
            print(f"FAIL {key}: aarch64 shape {a.shape}, x86 {b.shape}")
            failed += 1
            continue
        diff = float(np.max(np.abs(a.astype(np.float64) - b)))
        scale = float(np.max(np.abs(b))) or 1.0
        if "fp32" in key:
            ok, bound = diff / scale <= FP32_RTOL, f"relative {diff / scale:.2e} <= {FP32_RTOL:g}"
        else:
            ok, bound = diff <= int8_tol, f"<= the int8 variant's own max_abs_diff {int8_tol:.3g}"
        ulp = diff / float(np.spacing(np.float32(scale)))
        print(
            f"{'ok  ' if ok else 'FAIL'} {key}: max |aarch64 - x86| {diff:.3g} ({ulp:.1f} float32 ulps at {scale:.3g}), {bound}"
        )
        failed += not ok
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    command, work = sys.argv[1], Path(sys.argv[2])
    if command == "build":
        build(work)
    elif command == "device":
        device(work, sys.argv[3])
    else:
        compare(work)
