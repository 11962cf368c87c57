"""GRU and LSTM against their peers, side by side in one process: PyTorch eager, OpenVINO (the
``openvino`` package: fp32 with dynamic shapes, and bf16 reshaped to the call's shape), bare
onnxruntime fp32, and edgernn's variants (fp32, int8) through ``Session``; 2 layers x 256, 40
features, a linear head, 1 thread everywhere.

Targets (edgernn best = its fastest variant in the cell):
- GRU, batch 1, T=100: edgernn best >= 1.2x OpenVINO fp32;
- LSTM int8, batch 1, T=100: <= 3x its compute floor, FLOOR_MS (82.9 M MAC; the int8 recurrent weights
  stream from L2 at ~240 GB/s and VNNI does 64 MAC per instruction: ~0.22-0.25 ms, plus the input
  projections and the head);
- batch 32, T=100: edgernn best >= 2x PyTorch eager, for both cells.
Also shown, without a target: one stream step (batch 1, state carried). Each round runs every peer
for ~20 ms in an order that alternates; a ratio is the median of per-round ratios, shown with its
min-max. Outputs are compared with bare onnxruntime fp32 first. Prints the ratios last; exits 1 on a
miss. ``--smoke`` runs two short rounds without the target check, and runs without openvino.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _lstm import FEATURES, HIDDEN, LAYERS, export_with_int8  # noqa: E402
from _results import add_json_option, metric, write  # noqa: E402

GRU_VS_OPENVINO = 1.2
FLOOR_MS, MAX_VS_FLOOR = 0.3, 3.0
VS_TORCH_B32 = 2.0
BLOCK_S = 0.02
CASES = (("b1 T100", 1, 100), ("b32 T100", 32, 100), ("stream step", 1, None))


class Peer:
    """One engine on one case: ``call()`` runs it once; ``output()`` gives ``y`` for the parity check."""

    def __init__(self, name: str, call: Callable[[], object], output: Callable[[], np.ndarray]) -> None:
        self.name, self.call, self.output = name, call, output


def torch_peers(net, x: np.ndarray, stream: bool) -> list[Peer]:
    import torch

    xt = torch.from_numpy(x)
    state = [None]

    def call():
        with torch.inference_mode():
            if not stream:
                return net(xt)[0]
            y, state[0] = net(xt, state[0])
            return y

    def output():
        state[0] = None
        return call().numpy()

    return [Peer("pytorch eager", call, output)]


def openvino_peers(path: Path, cell: str, x: np.ndarray, stream: bool) -> list[Peer]:
    import openvino as ov

    core = ov.Core()
    names = ["h0", "c0"] if cell == "lstm" else ["h0"]
    zeros = np.zeros((LAYERS, x.shape[0], HIDDEN), np.float32)
    peers = []
    for precision, static in (("f32", False), ("bf16", True)):
        model = core.read_model(str(path))
        if static:  # bf16 with the call's shape fixed: its fastest form (the fp32 reference stays dynamic)
            model.reshape({"x": list(x.shape), **{n: list(zeros.shape) for n in names}})
        config = {
            "INFERENCE_NUM_THREADS": 1,
            "NUM_STREAMS": 1,
            "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_PRECISION_HINT": precision,
        }
        request = core.compile_model(model, "CPU", config).create_infer_request()
        feeds = {"x": x, **dict.fromkeys(names, zeros)}

        def call(request=request, feeds=feeds):
            out = request.infer(feeds, share_inputs=True)
            if stream:  # carry the state: the next step starts where this one ended
                for i, n in enumerate(names, 1):
                    feeds[n] = out[i]
            return out[0]

        def output(call=call, feeds=feeds):
            feeds.update(dict.fromkeys(names, zeros))
            return np.array(call())

        label = "openvino fp32" if precision == "f32" else "openvino bf16 (static)"
        peers.append(Peer(label, call, output))
    return peers


def onnxruntime_peer(path: Path, cell: str, x: np.ndarray, stream: bool) -> Peer:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = so.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    names = ["h0", "c0"] if cell == "lstm" else ["h0"]
    zeros = np.zeros((LAYERS, x.shape[0], HIDDEN), np.float32)
    feeds = {"x": x, **dict.fromkeys(names, zeros)}

    def call():
        out = sess.run(None, feeds)
        if stream:
            feeds.update(zip(names, out[1:], strict=True))
        return out[0]

    def output():
        feeds.update(dict.fromkeys(names, zeros))
        return call()

    return Peer("onnxruntime fp32", call, output)


def edgernn_sessions(bundle: Path) -> dict:
    """edgernn's variants on the CPU EP, and on the OpenVINO EP (fp32, bf16) where this onnxruntime is
    onnxruntime-openvino."""
    import onnxruntime as ort

    from edgernn.runtime import RuntimeConfig, Session

    def load(provider, variant, **config):
        options = RuntimeConfig(intra_op_threads=1, **config)
        return Session.load(bundle, provider=provider, variant=variant, options=options, fallback="error")

    sessions = {f"edgernn {v}": load("cpu", v) for v in ("fp32", "int8")}
    if "OpenVINOExecutionProvider" in ort.get_available_providers():
        sessions["edgernn openvino fp32"] = load("openvino", "fp32")
        sessions["edgernn openvino bf16"] = load("openvino", "fp32", openvino_bf16=True)
    return sessions


def edgernn_peers(bundle: Path, x: np.ndarray, stream: bool) -> list[Peer]:
    peers = []
    for name, session in edgernn_sessions(bundle).items():
        if stream:
            s, step = session.stream(x.shape[0]), x[:, 0]

            def call(s=s, step=step):
                return s.step(step).output

            def output(s=s, call=call):
                s.reset()
                return call()[:, None]

        else:

            def call(session=session):
                return session.run(x).output

            output = call
        peers.append(Peer(name, call, output))
    return peers


def interleave(peers: list[Peer], rounds: int) -> dict[str, list[float]]:
    """Seconds per call of each peer, one value per round (the mean of a ~BLOCK_S block)."""
    block = {}
    for p in peers:
        t0 = time.perf_counter()
        for _ in range(3):
            p.call()
        block[p.name] = max(1, round(BLOCK_S / ((time.perf_counter() - t0) / 3)))
    times: dict[str, list[float]] = {p.name: [] for p in peers}
    for r in range(-1, rounds):  # round -1 warms every peer up in turn and is not kept
        for p in peers if r % 2 == 0 else peers[::-1]:
            n = block[p.name]
            t0 = time.perf_counter()
            for _ in range(n):
                p.call()
            if r >= 0:
                times[p.name].append((time.perf_counter() - t0) / n)
    return times


def measure(cell: str, bundle: Path, net, rounds: int, have_ov: bool) -> dict:
    """Every case of one cell: per-round times by peer and the parity against onnxruntime fp32."""
    import torch

    torch.set_num_threads(1)
    out = {}
    rng = np.random.default_rng(1)
    for label, batch, steps in CASES:
        x = rng.standard_normal((batch, steps or 1, FEATURES)).astype(np.float32)
        stream = steps is None
        peers = torch_peers(net, x, stream) + [onnxruntime_peer(bundle / "model.onnx", cell, x, stream)]
        if have_ov:
            peers += openvino_peers(bundle / "model.onnx", cell, x, stream)
        peers += edgernn_peers(bundle, x, stream)
        reference = np.asarray(peers[1].output())
        diffs = {p.name: float(np.max(np.abs(np.asarray(p.output()) - reference))) for p in peers}
        out[label] = {"times": interleave(peers, rounds), "diffs": diffs}
    return out


def paired(times: dict[str, list[float]], slow: str, fast: str) -> list[float]:
    return [a / b for a, b in zip(times[slow], times[fast], strict=True)]


def best_edgernn(times: dict[str, list[float]]) -> str:
    return min((n for n in times if n.startswith("edgernn")), key=lambda n: statistics.median(times[n]))


def variant_of(name: str) -> str:
    return name.removeprefix("edgernn ")


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.2f}x ({min(values):.2f}-{max(values):.2f})"


def show(cell: str, results: dict) -> None:
    for label, res in results.items():
        unit, scale = ("us", 1e6) if label == "stream step" else ("ms", 1e3)
        times, diffs = res["times"], res["diffs"]
        ref = "openvino fp32" if "openvino fp32" in times else "pytorch eager"
        print(f"{cell} {label} ({unit} per call; x = {ref} time / this time, per round):")
        for name, t in sorted(times.items(), key=lambda kv: statistics.median(kv[1])):
            print(
                f"  {name:24s} {statistics.median(t) * scale:9.3f} {unit}  {spread(paired(times, ref, name)):22s}"
                f" max|diff| vs onnxruntime fp32 {diffs[name]:.1e}"
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="two short rounds, no target check (for CI)")
    parser.add_argument("--rounds", type=int, default=31)
    add_json_option(parser)
    args = parser.parse_args(argv)
    try:
        import openvino  # noqa: F401

        have_ov = True
    except ImportError:
        have_ov = False
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for cell in ("lstm", "gru"):
            bundle, net = export_with_int8(Path(tmp) / cell, cell)
            results[cell] = measure(cell, bundle, net, 2 if args.smoke else args.rounds, have_ov)
    for cell, res in results.items():
        show(cell, res)
    if not have_ov:
        print(
            "openvino is not installed: OpenVINO skipped, GRU vs OpenVINO not measured (pip install openvino)"
        )
    return verdict(results, have_ov, args.smoke, args.json)


def timings(results: dict) -> list[dict]:
    """Every engine's median time per cell and case (ms per call; µs per stream step)."""
    out = []
    for cell, res in results.items():
        for label, r in res.items():
            unit, scale = ("µs", 1e6) if label == "stream step" else ("ms", 1e3)
            for name, t in r["times"].items():
                out.append(metric(f"{cell.upper()} {label}: {name}", statistics.median(t) * scale, unit))
    return out


def verdict(results: dict, have_ov: bool, smoke: bool, json_path=None) -> int:
    gru = results["gru"]["b1 T100"]["times"]
    gru_best = best_edgernn(gru)
    gru_x = statistics.median(paired(gru, "openvino fp32", gru_best)) if have_ov else float("nan")
    int8_ms = statistics.median(results["lstm"]["b1 T100"]["times"]["edgernn int8"]) * 1e3
    b32 = {}
    for cell in ("lstm", "gru"):
        times = results[cell]["b32 T100"]["times"]
        name = best_edgernn(times)
        b32[cell] = (variant_of(name), statistics.median(paired(times, "pytorch eager", name)))
    ok = (
        have_ov
        and gru_x >= GRU_VS_OPENVINO
        and int8_ms <= MAX_VS_FLOOR * FLOOR_MS
        and all(x >= VS_TORCH_B32 for _, x in b32.values())
    )
    word = "smoke" if smoke else ("ok" if ok else "MISS")
    gru_text = f"{gru_x:.2f}x" if have_ov else "n/a (no openvino)"
    print(
        f"peers (1 thread): GRU b1 T100 edgernn {variant_of(gru_best)} {gru_text} OpenVINO fp32 "
        f"(>= {GRU_VS_OPENVINO}); LSTM int8 b1 T100 {int8_ms:.3f} ms = {int8_ms / FLOOR_MS:.2f}x the "
        f"{FLOOR_MS} ms floor (<= {MAX_VS_FLOOR:g}); b32 T100 vs PyTorch eager: LSTM {b32['lstm'][0]} "
        f"{b32['lstm'][1]:.2f}x, GRU {b32['gru'][0]} {b32['gru'][1]:.2f}x (>= {VS_TORCH_B32:g}) -> {word}"
    )
    floor_x = int8_ms / FLOOR_MS
    figures = [
        metric(
            "LSTM int8 b1 T=100 / its compute floor",
            floor_x,
            "x",
            f"<= {MAX_VS_FLOOR:g}",
            floor_x <= MAX_VS_FLOOR,
        ),
        *(
            metric(
                f"{c.upper()} b32 T=100: edgernn best ({v}) / PyTorch eager",
                x,
                "x",
                f">= {VS_TORCH_B32:g}",
                x >= VS_TORCH_B32,
            )
            for c, (v, x) in b32.items()
        ),
    ]
    if have_ov:
        figures.insert(
            0,
            metric(
                f"GRU b1 T=100: edgernn best ({variant_of(gru_best)}) / OpenVINO fp32",
                gru_x,
                "x",
                f">= {GRU_VS_OPENVINO}",
                gru_x >= GRU_VS_OPENVINO,
            ),
        )
    write(json_path, "peers", figures + timings(results), verdict=word, smoke=smoke)
    return 0 if smoke or ok else 1


if __name__ == "__main__":
    sys.exit(main())
