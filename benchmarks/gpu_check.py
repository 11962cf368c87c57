"""End-to-end check of the CUDA execution provider on a lent GPU (a few minutes).

On the 2-layer LSTM 40 -> 256 bundle (with an fp16 variant), side by side in one process:
1. providers: ``cuda`` runs on CUDA with fallback="error"; ``auto`` runs batch 1 on the CPU and a big
   batch on CUDA; no session logs onnxruntime's "No registered plugin EP device" warning;
2. exactness: fp32 on CUDA (TF32 off, the default) vs the CPU <= 1e-5 on outputs and final state; fp16
   within 5e-2; the TF32 difference is shown for reference;
3. streams: a CUDA stream (CUDA graphs on, and off) reproduces the CPU run <= 1e-5 at batch 1, 3 and
   8, after reset and after setting the state;
4. latency (median of 3 repeats of the per-call median, with their spread): the stream step at batch
   1 and 64 against bare onnxruntime CUDA, PyTorch cuDNN and the CPU; whole sequences at batch 1 /
   64 / 256 against PyTorch cuDNN; the batch from which CUDA beats one CPU thread (auto's rule).
Targets: CUDA-graph step at batch 1 <= 150 us, batch-64 step <= 2x the batch-1 step. Prints the
ratios last, in one line; exits 1 on a failed check. Without the CUDA provider it says so and exits 1
(0 with ``--smoke``, which still builds the bundle and its fp16 variant on the CPU).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _lstm import FEATURES, HIDDEN, LAYERS, build_bundle, build_module  # noqa: E402
from _results import add_json_option, metric, write  # noqa: E402

FP32_ATOL, FP16_ATOL = 1e-5, 5e-2
STEP_TARGET_US, BATCH_STEP_RATIO = 150.0, 2.0
WARNING = "No registered plugin EP device found"


def add_fp16_variant(root: Path) -> None:
    """``model.fp16.onnx`` through edgernn's own conversion (fp16 weights and math, fp32 I/O)."""
    import dataclasses
    import json

    from edgernn.export.quantize_ops import fp16
    from edgernn.runtime.fileio import sha256_file
    from edgernn.runtime.manifest import FileEntry, Manifest

    fp16(root / "model.onnx", root / "model.fp16.onnx", target="cuda")
    manifest = Manifest.from_dict(json.loads((root / "manifest.json").read_text()))
    path = root / "model.fp16.onnx"
    files = {**manifest.files, path.name: FileEntry(sha256_file(path), path.stat().st_size, "fp16")}
    (root / "manifest.json").write_text(json.dumps(dataclasses.replace(manifest, files=files).to_dict()))


def timed(fn: Callable[[], object], calls: int, repeats: int = 3) -> tuple[float, float]:
    """(median, spread) in µs of ``repeats`` medians of ``calls`` timed calls each, after a warm-up."""
    for _ in range(max(3, calls // 10)):
        fn()
    medians = []
    for _ in range(repeats):
        times = []
        for _ in range(calls):
            t0 = time.perf_counter_ns()
            fn()
            times.append(time.perf_counter_ns() - t0)
        medians.append(statistics.median(times) / 1e3)
    return statistics.median(medians), max(medians) - min(medians)


class Checks:
    def __init__(self) -> None:
        self.failures: list[str] = []

    def __call__(self, ok: bool, what: str) -> None:
        print(f"{'ok  ' if ok else 'FAIL'} {what}", flush=True)
        if not ok:
            self.failures.append(what)


def check_warning(root: Path, check: Checks) -> None:
    code = (
        "import sys; from edgernn.runtime import Session; "
        f"Session.load({str(root)!r}, provider='cuda', fallback='error').run(__import__('numpy').zeros((1, 3, {FEATURES}), 'float32'))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=root.parent
    )
    check(proc.returncode == 0, f"a CUDA session in a fresh process exits 0 ({proc.stderr.strip()[-200:]})")
    check(WARNING not in proc.stderr, f"no {WARNING!r} warning on stderr")


def check_exactness(root: Path, x: np.ndarray, check: Checks) -> dict[str, float]:
    from edgernn.runtime import RuntimeConfig, Session

    cpu = Session.load(root, provider="cpu", variant="fp32")
    cuda = Session.load(root, provider="cuda", variant="fp32", fallback="error")
    tf32 = Session.load(
        root, provider="cuda", variant="fp32", fallback="error", options=RuntimeConfig(cuda_tf32=True)
    )
    half = Session.load(root, provider="cuda", variant="fp16", fallback="error")
    check(cuda.provider == "CUDAExecutionProvider", f"provider=cuda runs on {cuda.provider}")
    options = cuda._engine.ort.get_provider_options()["CUDAExecutionProvider"]
    check(options.get("use_tf32") == "0", f"TF32 off by default (use_tf32={options.get('use_tf32')})")
    ref, got = cpu.run(x, return_state=True), cuda.run(x, return_state=True)
    err = {
        "fp32": float(np.abs(got.output - ref.output).max()),
        "fp32_c": float(np.abs(got.state["c0"] - ref.state["c0"]).max()),
        "tf32": float(np.abs(tf32.run(x, return_state=True).state["c0"] - ref.state["c0"]).max()),
        "fp16": float(np.abs(half.run(x).output - ref.output).max()),
    }
    check(
        max(err["fp32"], err["fp32_c"]) <= FP32_ATOL,
        f"fp32 CUDA vs CPU: y {err['fp32']:.2e}, c {err['fp32_c']:.2e}",
    )
    print(f"     (with TF32 on: c differs by {err['tf32']:.2e})")
    check(err["fp16"] <= FP16_ATOL, f"fp16 CUDA vs CPU max|diff| {err['fp16']:.2e} (atol {FP16_ATOL:g})")
    auto = Session.load(root, provider="auto")
    auto.run(x[:1])
    small = auto.describe()["auto_gpu"]["loaded"]
    big = np.tile(x, (8, 1, 1))  # 64 sequences
    np.testing.assert_allclose(auto.run(big).output, cpu.run(big).output, atol=1e-4)
    check(auto.provider == "CPUExecutionProvider" and not small, "auto runs batch 1 on the CPU")
    check(
        auto.describe()["auto_gpu"]["loaded"],
        f"auto sends batch {len(big)} to CUDA ({auto.describe()['auto_gpu']})",
    )
    return err


def check_streams(root: Path, x: np.ndarray, check: Checks) -> None:
    from edgernn.runtime import RuntimeConfig, Session

    cpu = Session.load(root, provider="cpu", variant="fp32")
    for graphs in (True, False):
        cuda = Session.load(
            root, provider="cuda", variant="fp32", fallback="error", options=RuntimeConfig(cuda_graphs=graphs)
        )
        for batch in (1, 3, 8):
            xb = x[:batch, :40]
            ref = cpu.run(xb, return_state=True)
            stream = cuda.stream(batch)
            stream.step(xb[:, 0])
            stream.reset()  # a reset stream starts from zero again
            out = np.stack([stream.step(xb[:, t]).output for t in range(xb.shape[1])], axis=1)
            err = float(np.abs(out - ref.output).max())
            err_c = float(np.abs(stream.state["c0"] - ref.state["c0"]).max())
            label = (
                f"CUDA stream (graphs {'on' if graphs else 'off'}, replaying: {stream.cuda_graph}) b{batch}"
            )
            check(
                np.isfinite(out).all() and max(err, err_c) <= FP32_ATOL,
                f"{label} vs CPU run: y {err:.2e}, c {err_c:.2e}",
            )
        half = cpu.run(x[:3, :20], return_state=True)
        resumed = cuda.stream(3)
        resumed.state = half.state
        rest = np.stack([resumed.step(x[:3, t]).output for t in range(20, 40)], axis=1)
        err = float(np.abs(rest - cpu.run(x[:3, :40]).output[:, 20:]).max())
        check(
            err <= FP32_ATOL,
            f"CUDA stream (graphs {'on' if graphs else 'off'}) after setting the state: {err:.2e}",
        )
        if graphs:
            reason = cuda._engine.graphs.reason if cuda._engine.graphs else "no graph runner"
            check(
                stream.cuda_graph, f"the LSTM bundle's stream replays a CUDA graph ({reason or 'captured'})"
            )


def measure(root: Path, x: np.ndarray, calls: int) -> dict[str, tuple[float, float]]:
    import onnxruntime as ort
    import torch

    from edgernn.runtime import RuntimeConfig, Session

    t = {}
    cuda = Session.load(root, provider="cuda", variant="fp32", fallback="error")
    plain = Session.load(
        root, provider="cuda", variant="fp32", fallback="error", options=RuntimeConfig(cuda_graphs=False)
    )
    cpu = Session.load(root, provider="cpu", variant="fp32", threads=1)
    for batch in (1, 64):
        s = cuda.stream(batch)
        xs = x[:1, 0].repeat(batch, 0) if batch > len(x) else x[:batch, 0]
        t[f"step_graph_b{batch}"] = timed(lambda s=s, xs=xs: s.step(xs), calls)
    sp = plain.stream(1)
    t["step_plain_b1"] = timed(lambda: sp.step(x[:1, 0]), calls)
    sc = cpu.stream(1)
    t["step_cpu_b1"] = timed(lambda: sc.step(x[:1, 0]), calls)
    bare = ort.InferenceSession(
        str(root / "model.onnx"), providers=[("CUDAExecutionProvider", {"use_tf32": "0"})]
    )
    zeros = np.zeros((LAYERS, 1, HIDDEN), np.float32)
    state = {"h0": zeros, "c0": zeros}

    def bare_step() -> None:
        _, state["h0"], state["c0"] = bare.run(None, {"x": x[:1, :1], **state})

    t["step_bare_b1"] = timed(bare_step, calls)
    net = build_module().cuda()
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False

    def torch_call(xb: np.ndarray, carry: list | None = None):
        def run() -> None:
            with torch.inference_mode():
                xt = torch.from_numpy(xb).cuda()
                h = carry[0] if carry else torch.zeros(LAYERS, len(xb), HIDDEN, device="cuda")
                c = carry[1] if carry else torch.zeros(LAYERS, len(xb), HIDDEN, device="cuda")
                y, hn, cn = net(xt, h, c)
                y.cpu().numpy()
                if carry is not None:
                    carry[:] = [hn, cn]

        return run

    t["step_torch_b1"] = timed(torch_call(x[:1, :1], []), calls)
    for batch, steps in ((1, 100), (64, 100), (256, 400)):
        xb = np.ascontiguousarray(np.resize(x, (batch, steps, FEATURES)))
        n = max(10, calls // (4 if batch > 1 else 2))
        t[f"run_cuda_b{batch}_T{steps}"] = timed(lambda xb=xb: plain.run(xb), n)
        t[f"run_torch_b{batch}_T{steps}"] = timed(torch_call(xb), n)
    for batch in (1, 2, 4, 8, 16, 32, 64):
        xb = np.ascontiguousarray(np.resize(x, (batch, 100, FEATURES)))
        n = max(5, calls // 20)
        t[f"auto_cpu_b{batch}"] = timed(lambda xb=xb: cpu.run(xb), n)
        t[f"auto_cuda_b{batch}"] = timed(lambda xb=xb: plain.run(xb), n)
    for key, (median, spread) in t.items():
        print(f"     {key:22s} {median:9.1f} us  (spread {spread:.1f} us over 3 repeats)")
    return t


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="few iterations; without a GPU, only build")
    add_json_option(parser)
    args = parser.parse_args(argv)
    import onnxruntime as ort

    tmp = tempfile.TemporaryDirectory()
    root = build_bundle(Path(tmp.name) / "bundle")
    add_fp16_variant(root)
    print(f"bundle with fp32 and fp16 variants: {sorted(p.name for p in root.glob('*.onnx'))}")
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        print(
            f"no CUDAExecutionProvider in this onnxruntime ({ort.get_available_providers()}); nothing to check"
        )
        return 0 if args.smoke else 1
    check = Checks()
    x = np.random.default_rng(0).standard_normal((8, 100, FEATURES)).astype(np.float32)
    check_warning(root, check)
    err = check_exactness(root, x, check)
    check_streams(root, x, check)
    t = measure(root, x, 30 if args.smoke else 300)
    step, step64 = t["step_graph_b1"][0], t["step_graph_b64"][0]
    check(step <= STEP_TARGET_US, f"CUDA-graph stream step b1 {step:.0f} us (<= {STEP_TARGET_US:.0f})")
    check(step64 <= BATCH_STEP_RATIO * step, f"b64 step {step64:.0f} us <= {BATCH_STEP_RATIO}x b1")
    faster = [b for b in (1, 2, 4, 8, 16, 32, 64) if t[f"auto_cuda_b{b}"][0] < t[f"auto_cpu_b{b}"][0]]
    print(f"     CUDA beats one CPU thread (T=100) from batch {faster[0] if faster else 'never'}")
    tmp.cleanup()
    verdict = "ok" if not check.failures else f"FAIL ({len(check.failures)}): {'; '.join(check.failures)}"
    print(
        f"gpu ratios: step graph/bare {step / t['step_bare_b1'][0]:.2f}, graph/plain "
        f"{step / t['step_plain_b1'][0]:.2f}, vs torch step {t['step_torch_b1'][0] / step:.2f}x, "
        f"run b1/b64/b256 vs torch {t['run_torch_b1_T100'][0] / t['run_cuda_b1_T100'][0]:.2f}/"
        f"{t['run_torch_b64_T100'][0] / t['run_cuda_b64_T100'][0]:.2f}/"
        f"{t['run_torch_b256_T400'][0] / t['run_cuda_b256_T400'][0]:.2f}x, fp32 err {err['fp32']:.1e}, "
        f"fp16 err {err['fp16']:.1e} -> {verdict}"
    )
    figures = [metric(f"{key} (median of 3 repeats)", median, "µs") for key, (median, _) in t.items()]
    figures += [metric(f"{kind} on CUDA vs fp32 on the CPU, max abs diff", e, "") for kind, e in err.items()]
    figures.append(
        metric("CUDA-graph stream step b1", step, "µs", f"<= {STEP_TARGET_US:g}", step <= STEP_TARGET_US)
    )
    write(args.json, "gpu_check", figures, verdict="ok" if not check.failures else "FAIL", smoke=args.smoke)
    return 0 if not check.failures else 1


if __name__ == "__main__":
    sys.exit(main())
