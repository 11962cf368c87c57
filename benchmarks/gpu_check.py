"""End-to-end check of the CUDA execution provider on a lent GPU (runs in well under 5 minutes).

Checks, on the 2-layer LSTM 40 -> 256 bundle with an fp16 variant:
1. provider selection: ``cuda`` runs on CUDA with fallback="error"; ``auto`` picks CUDA and fp16;
2. parity with CPU: ``session.run`` fp32 (atol 1e-4) and fp16 (atol 5e-2), batch 8, T=100;
3. IO binding: a CUDA stream keeps its state in GPU OrtValues and reproduces the CPU run (atol 1e-4);
4. latency (median, batch 1): stream.step and session.run T=100 against bare onnxruntime on CUDA.
Prints the ratios last, in one line; exits 1 on a failed check. Without the CUDA provider it says
so and exits 1, or 0 with ``--smoke``, which still builds and checks the fp16 graph on CPU.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _lstm import FEATURES, HIDDEN, LAYERS, build_bundle  # noqa: E402

FP32_ATOL, FP16_ATOL = 1e-4, 5e-2


def add_fp16_variant(root: Path) -> None:
    """Write ``model.fp16.onnx`` (fp16 weights and math, float32 inputs/outputs) and list it."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from edgernn.runtime.fileio import sha256_file

    model = onnx.load(str(root / "model.onnx"))
    graph = model.graph
    for i, init in enumerate(graph.initializer):
        if init.data_type == TensorProto.FLOAT:
            half = numpy_helper.from_array(numpy_helper.to_array(init).astype(np.float16), init.name)
            graph.initializer[i].CopyFrom(half)
    casts = []
    for value in graph.input:
        for node in graph.node:
            node.input[:] = [f"{value.name}_fp16" if n == value.name else n for n in node.input]
        casts.append(helper.make_node("Cast", [value.name], [f"{value.name}_fp16"], to=TensorProto.FLOAT16))
    for value in graph.output:
        for node in graph.node:
            node.output[:] = [f"{value.name}_fp16" if n == value.name else n for n in node.output]
        casts.append(helper.make_node("Cast", [f"{value.name}_fp16"], [value.name], to=TensorProto.FLOAT))
    nodes = casts[: len(graph.input)] + list(graph.node) + casts[len(graph.input) :]
    del graph.node[:]
    graph.node.extend(nodes)
    del graph.value_info[:]
    onnx.checker.check_model(model)
    onnx.shape_inference.infer_shapes(model, strict_mode=True)
    onnx.save(model, str(root / "model.fp16.onnx"))
    manifest = json.loads((root / "manifest.json").read_text())
    path = root / "model.fp16.onnx"
    manifest["files"]["model.fp16.onnx"] = {
        "sha256": sha256_file(path),
        "size_bytes": path.stat().st_size,
        "variant": "fp16",
        "role": "model",
    }
    (root / "manifest.json").write_text(json.dumps(manifest, indent=2))


def median_us(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="few iterations; without a GPU, only build")
    args = parser.parse_args(argv)
    import onnxruntime as ort

    from edgernn.runtime import Session

    tmp = tempfile.TemporaryDirectory()
    root = build_bundle(Path(tmp.name) / "bundle")
    add_fp16_variant(root)
    print(f"bundle with fp32 and fp16 variants: {sorted(p.name for p in root.glob('*.onnx'))}")
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        print(
            f"no CUDAExecutionProvider in this onnxruntime ({ort.get_available_providers()}); nothing to check"
        )
        return 0 if args.smoke else 1
    failures: list[str] = []

    def check(ok: bool, what: str) -> None:
        print(f"{'ok  ' if ok else 'FAIL'} {what}")
        if not ok:
            failures.append(what)

    cpu = Session.load(root, provider="cpu", variant="fp32")
    cuda = Session.load(root, provider="cuda", variant="fp32", fallback="error")
    half = Session.load(root, provider="cuda", variant="fp16", fallback="error")
    auto = Session.load(root, provider="auto", fallback="error")
    check(cuda.provider == "CUDAExecutionProvider", f"provider=cuda runs on {cuda.provider}")
    check(
        (auto.provider, auto.variant) == ("CUDAExecutionProvider", "fp16"),
        f"auto -> {auto.provider} {auto.variant}",
    )

    x = np.random.default_rng(0).standard_normal((8, 100, FEATURES)).astype(np.float32)
    ref = cpu.run(x, return_state=True)
    got = cuda.run(x, return_state=True)
    err32 = float(np.abs(got.output - ref.output).max())
    check(
        err32 <= FP32_ATOL and np.abs(got.state["c0"] - ref.state["c0"]).max() <= FP32_ATOL,
        f"fp32 CUDA vs CPU max|diff| {err32:.2e} (atol {FP32_ATOL:g})",
    )
    err16 = float(np.abs(half.run(x).output - ref.output).max())
    check(err16 <= FP16_ATOL, f"fp16 CUDA vs CPU max|diff| {err16:.2e} (atol {FP16_ATOL:g})")

    stream = cuda.stream(batch=8)
    device = stream._buffers[0][0].device_name().lower()
    steps = np.stack([stream.step(x[:, t]).output for t in range(50)], axis=1)
    err_stream = float(np.abs(steps - ref.output[:, :50]).max())
    check(device == "cuda", f"stream state lives on {device}")
    check(err_stream <= FP32_ATOL, f"CUDA stream (IO binding) vs CPU run max|diff| {err_stream:.2e}")

    repeats = 20 if args.smoke else 300
    so = ort.SessionOptions()
    bare = ort.InferenceSession(str(root / "model.onnx"), so, providers=["CUDAExecutionProvider"])
    x1, x100 = x[:1, :1], x[:1]
    zeros = np.zeros((LAYERS, 1, HIDDEN), np.float32)
    state = {"h0": zeros, "c0": zeros}

    def bare_step() -> None:
        _, state["h0"], state["c0"] = bare.run(None, {"x": x1, **state})

    one = cuda.stream()
    x_step = x1[:, 0]
    bare_step_us = median_us(bare_step, repeats)
    edge_step_us = median_us(lambda: one.step(x_step), repeats)
    bare_run_us = median_us(lambda: bare.run(None, {"x": x100, "h0": zeros, "c0": zeros}), repeats // 3)
    edge_run_us = median_us(lambda: cuda.run(x100), repeats // 3)
    cpu_stream = cpu.stream()
    cpu_step_us = median_us(lambda: cpu_stream.step(x_step), repeats // 3)
    print(
        f"step T=1:  bare CUDA {bare_step_us:.0f} us, edgernn CUDA {edge_step_us:.0f} us, edgernn CPU {cpu_step_us:.0f} us"
    )
    print(f"run T=100: bare CUDA {bare_run_us:.0f} us, edgernn CUDA {edge_run_us:.0f} us")
    tmp.cleanup()
    verdict = "ok" if not failures else f"FAIL ({len(failures)})"
    print(
        f"gpu ratios: step {edge_step_us / bare_step_us:.3f}, run T=100 {edge_run_us / bare_run_us:.3f}, "
        f"fp32 err {err32:.1e}, fp16 err {err16:.1e} -> {verdict}"
    )
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
