"""An ``edgernn run`` process against a bare onnxruntime script doing the same work, side by side.

Claim (2-layer LSTM 40 -> 256, T=100 from an .npy file, output to an .npy file): the ``edgernn run``
process (import + load + one inference + write) takes <= 1.5x the wall time and <= 1.25x the peak
RSS of a bare script that imports onnxruntime, loads the model, runs once and saves the output.
Processes alternate; each ratio compares medians. Outputs are checked equal. Prints the ratios last,
in one line; exits 1 on a miss (``--smoke``: few runs, no target check).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _lstm import FEATURES, HIDDEN, LAYERS, build_bundle  # noqa: E402
from _results import add_json_option, metric, write  # noqa: E402

MAX_WALL_RATIO = 1.5
MAX_RSS_RATIO = 1.25
BARE_SCRIPT = f"""
import sys
import numpy as np
import onnxruntime as ort
model, x_path, out_path = sys.argv[1:4]
sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
x = np.load(x_path)[None]
zeros = np.zeros(({LAYERS}, 1, {HIDDEN}), np.float32)
y = sess.run(["y"], {{"x": x, "h0": zeros, "c0": zeros}})[0]
np.save(out_path, y)
"""


# Runs in a small process of its own: a child's peak RSS counts what it shares with its parent
# before exec, so measuring from this (torch-laden) process would inflate both sides alike.
DRIVER = """
import json, os, subprocess, sys, time
cmds, runs = json.loads(sys.argv[1]), int(sys.argv[2])
def measure(cmd):
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{cmd[:3]} failed: {proc.stderr.read().decode()}")
    proc.stderr.close()
    return wall, usage.ru_maxrss / 1024
for cmd in cmds.values():
    measure(cmd)  # warm the page cache
out = {name: [] for name in cmds}
for r in range(runs):
    for name in (list(cmds) if r % 2 == 0 else list(cmds)[::-1]):
        out[name].append(measure(cmds[name]))
print(json.dumps(out))
"""


def measure_side_by_side(cmds: dict[str, list[str]], runs: int) -> dict[str, list[tuple[float, float]]]:
    """Per name: ``(wall seconds, peak RSS MiB)`` of each run, alternating the order every round."""
    proc = subprocess.run(
        [sys.executable, "-c", DRIVER, json.dumps(cmds), str(runs)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(proc.stderr.strip())
    return json.loads(proc.stdout)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="few runs, no target check (for CI)")
    add_json_option(parser)
    args = parser.parse_args(argv)
    runs = 2 if args.smoke else 15
    edgernn_bin = Path(sys.executable).with_name("edgernn")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        root = build_bundle(tmp / "bundle")
        np.save(tmp / "x.npy", np.random.default_rng(0).standard_normal((100, FEATURES)).astype(np.float32))
        bare = [
            sys.executable,
            "-c",
            BARE_SCRIPT,
            str(root / "model.onnx"),
            str(tmp / "x.npy"),
            str(tmp / "bare.npy"),
        ]
        edge = [str(edgernn_bin), "run", str(root), str(tmp / "x.npy"), "--out", str(tmp / "edge.npy")]
        edge += ["--provider", "cpu", "--variant", "fp32"]
        times = measure_side_by_side({"bare": bare, "edge": edge}, runs)
        err = float(np.abs(np.load(tmp / "bare.npy") - np.load(tmp / "edge.npy")).max())
    wall = {k: statistics.median(w for w, _ in v) for k, v in times.items()}
    rss = {k: statistics.median(m for _, m in v) for k, v in times.items()}
    print(f"parity: max|diff| {err:.2e}")
    print(f"bare onnxruntime script: {wall['bare'] * 1e3:.0f} ms wall, {rss['bare']:.1f} MiB peak RSS")
    print(f"edgernn run:             {wall['edge'] * 1e3:.0f} ms wall, {rss['edge']:.1f} MiB peak RSS")
    wall_ratio, rss_ratio = wall["edge"] / wall["bare"], rss["edge"] / rss["bare"]
    ok = err <= 1e-5 and (args.smoke or (wall_ratio <= MAX_WALL_RATIO and rss_ratio <= MAX_RSS_RATIO))
    verdict = "smoke" if args.smoke else ("ok" if ok else "MISS")
    print(
        f"startup ratios: wall {wall_ratio:.3f} (<= {MAX_WALL_RATIO}), "
        f"peak RSS {rss_ratio:.3f} (<= {MAX_RSS_RATIO}) -> {verdict}"
    )
    figures = [
        metric(
            "edgernn run / bare onnxruntime script, wall",
            wall_ratio,
            "x",
            f"<= {MAX_WALL_RATIO}",
            wall_ratio <= MAX_WALL_RATIO,
        ),
        metric(
            "edgernn run / bare onnxruntime script, peak RSS",
            rss_ratio,
            "x",
            f"<= {MAX_RSS_RATIO}",
            rss_ratio <= MAX_RSS_RATIO,
        ),
        metric("bare onnxruntime script wall", wall["bare"] * 1e3, "ms"),
        metric("edgernn run wall", wall["edge"] * 1e3, "ms"),
        metric("bare onnxruntime script peak RSS", rss["bare"], "MiB"),
        metric("edgernn run peak RSS", rss["edge"], "MiB"),
    ]
    write(args.json, "startup", figures, verdict=verdict, smoke=args.smoke)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
