"""``edgernn.export.quantize``: int8 and fp16 variants of a bundle, each gated, scored and timed."""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgernn.runtime import Session
from edgernn.runtime.bundle import MANIFEST_NAME, Bundle
from edgernn.runtime.errors import BundleError, InputError
from edgernn.runtime.fileio import atomic_write_text, sha256_file
from edgernn.runtime.manifest import FileEntry, Manifest

from . import quantize_ops as ops
from .evaluate import EvalData, Metric, p50_latency_ms, score
from .variant_gate import gate

VARIANTS = ("int8", "int8-static", "fp16")
FILES = {"int8": "model.int8.onnx", "int8-static": "model.int8-static.onnx", "fp16": "model.fp16.onnx"}
WEIGHT_CANDIDATES = (("s8", False), ("u8", False), ("s8", True), ("u8", True))


@dataclass(frozen=True)
class QuantizeConfig:
    """How to quantize; CLI flags of ``edgernn quantize`` map onto these fields."""

    variants: tuple[str, ...] = ("int8",)  # int8 (dynamic) is the default CPU variant
    weight_type: str = "auto"  # auto measures s8/u8 x reduce_range and keeps the fastest within budget
    per_channel: bool = False  # per-channel weight scales; optional, measured per bundle
    calibration: str = "minmax"  # int8-static: minmax | entropy | percentile
    calib_samples: int = 64  # int8-static: calibration sequences drawn from the data
    fp16_target: str = "cuda"  # fp16 is for CUDA; "cpu" keeps recurrent ops fp32
    max_metric_drop: float = 0.01  # refuse a variant whose task metric is >1 % (relative) worse
    force: bool = False  # keep a variant that breaks the budget anyway
    latency_iters: int = 50  # p50 over this many runs (CPU, 1 thread, batch 1)


@dataclass(frozen=True)
class VariantResult:
    """One variant: what changed, what it costs in accuracy, what it gains in size and speed."""

    variant: str
    file: str
    size_bytes: int
    size_ratio: float
    metric: dict[str, Any]
    metric_delta: float  # relative drop against fp32 (positive = worse)
    max_abs_diff: float
    p50_ms: float
    speedup: float
    quantized_ops: dict[str, int]
    float_recurrent: list[str]
    settings: dict[str, Any]
    accepted: bool
    note: str = ""
    checks: list[dict] = field(default_factory=list)
    candidates: list[dict] = field(default_factory=list)


@dataclass(frozen=True)
class QuantizeReport:
    """fp32 reference numbers and one :class:`VariantResult` per variant asked for."""

    bundle: Path
    fp32: dict[str, Any]
    results: tuple[VariantResult, ...]

    @property
    def refused(self) -> list[str]:
        return [r.variant for r in self.results if not r.accepted]

    def to_dict(self) -> dict[str, Any]:
        return {
            "bundle": str(self.bundle),
            "fp32": self.fp32,
            "variants": [dataclasses.asdict(r) for r in self.results],
        }


def quantize(
    bundle: str | Path,
    variants: list[str] | tuple[str, ...] = ("int8",),
    *,
    config: QuantizeConfig | None = None,
    eval_path: str | Path | None = None,
    calib_path: str | Path | None = None,
) -> QuantizeReport:
    """Add quantized variants to ``bundle``; each is gated against fp32, scored on held-back data
    and timed. Variants over the metric budget are refused (not written) unless ``config.force``."""
    config = dataclasses.replace(config or QuantizeConfig(), variants=tuple(variants))
    for v in config.variants:
        if v not in VARIANTS:
            raise InputError(f"variant: expected one of {', '.join(VARIANTS)}, got {v!r}")
    root = Path(bundle)
    loaded = Bundle.load(root)
    fp32_path = loaded.model_path("fp32")
    if ops.is_quantized(fp32_path):
        raise BundleError(f"{fp32_path}: already quantized; quantize the fp32 export, not a variant")
    data = _eval_data(loaded, eval_path)
    calib = EvalData.load(calib_path) if calib_path else data
    _check_shape(loaded, data.x, "eval")
    if calib is not data:
        _check_shape(loaded, calib.x, "calib")
    fp32_session = Session.load(root, provider="cpu", variant="fp32", threads=1)
    fp32_metric, fp32_pred = score(fp32_session, data)
    sample = data.x[:1]
    fp32_ms = p50_latency_ms(fp32_session, sample, iters=config.latency_iters)
    fp32_size = fp32_path.stat().st_size
    fp32 = {"metric": dataclasses.asdict(fp32_metric), "p50_ms": fp32_ms, "size_bytes": fp32_size}
    torch_metric = (loaded.manifest.validation or {}).get("torch_metric")
    if torch_metric:
        fp32["torch_metric"] = torch_metric
    results = []
    with tempfile.TemporaryDirectory(prefix=".quantize-", dir=root) as tmp:
        ctx = _Context(
            loaded, fp32_path, Path(tmp), data, calib, fp32_metric, fp32_pred, fp32_ms, fp32_size, config
        )
        made = {}
        for variant in config.variants:
            result, made[variant] = ctx.build(variant)
            results.append(result)
        _commit(root, loaded, results, made)
    return QuantizeReport(root, fp32, tuple(results))


def _eval_data(bundle: Bundle, eval_path: str | Path | None) -> EvalData:
    if eval_path is not None:
        return EvalData.load(eval_path)
    data_files = [
        rel for rel, e in bundle.manifest.files.items() if e.role == "data" and rel.endswith(".npz")
    ]
    if not data_files:
        raise InputError(
            f"{bundle.root}: the bundle ships no evaluation data; pass --eval FILE.npz (arrays x, y) "
            "to score the variants (and --calib FILE.npz for int8-static)"
        )
    return EvalData.load(bundle.file(data_files[0]))


def _check_shape(bundle: Bundle, x: np.ndarray, what: str) -> None:
    spec = bundle.manifest.input
    want = ("n", "time") if spec.kind == "tokens" else ("n", "time", spec.features)
    ok = x.ndim == len(want) and (spec.kind == "tokens" or x.shape[-1] == spec.features)
    ok = ok and (
        np.issubdtype(x.dtype, np.integer) if spec.kind == "tokens" else np.issubdtype(x.dtype, np.number)
    )
    if not ok or len(x) == 0:
        raise InputError(
            f"{what} data for input {spec.name!r}: expected shape [{', '.join(map(str, want))}] "
            f"({'int' if spec.kind == 'tokens' else 'float'}), got {list(x.shape)} {x.dtype}"
        )


@dataclass
class _Context:
    bundle: Bundle
    fp32_path: Path
    tmp: Path
    data: EvalData
    calib: EvalData
    fp32_metric: Metric
    fp32_pred: np.ndarray
    fp32_ms: float
    fp32_size: int
    config: QuantizeConfig

    def build(self, variant: str) -> tuple[VariantResult, Path]:
        if variant == "int8":
            return self._int8()
        path = self.tmp / FILES[variant]
        if variant == "int8-static":
            ops.static_int8(
                self.fp32_path,
                path,
                self._calib_feeds(),
                method=self.config.calibration,
                per_channel=self.config.per_channel,
            )
            settings = {"calibration": self.config.calibration, "format": "QDQ", "ops": "MatMul/Gemm/Conv"}
        else:
            ops.fp16(self.fp32_path, path, target=self.config.fp16_target)
            settings = {"target": self.config.fp16_target}
        return self._measure(variant, path, settings), path

    def _int8(self) -> tuple[VariantResult, Path]:
        wt = self.config.weight_type
        options = WEIGHT_CANDIDATES if wt == "auto" else [(wt, False)]
        candidates = []
        for weight_type, reduce_range in options:
            path = self.tmp / f"int8-{weight_type}-{int(reduce_range)}.onnx"
            ops.dynamic_int8(
                self.fp32_path,
                path,
                weight_type=weight_type,
                reduce_range=reduce_range,
                per_channel=self.config.per_channel,
            )
            settings = {
                "weight_type": weight_type,
                "reduce_range": reduce_range,
                "per_channel": self.config.per_channel,
            }
            candidates.append((self._measure("int8", path, settings), path))
        ok = [c for c in candidates if c[0].accepted] or candidates
        fastest = min(r.p50_ms for r, _ in ok)
        best, path = min(ok, key=lambda c: (c[0].p50_ms > 1.05 * fastest, c[0].max_abs_diff))
        table = [
            {**r.settings, "p50_ms": r.p50_ms, "metric_delta": r.metric_delta, "max_abs_diff": r.max_abs_diff}
            for r, _ in candidates
        ]
        return dataclasses.replace(best, candidates=table), path

    def _measure(self, variant: str, path: Path, settings: dict) -> VariantResult:
        quantized, float_recurrent, _ = ops.describe_ops(path)
        if variant.startswith("int8") and not quantized:
            raise InputError(
                f"{self.bundle.root}: the model has no node that {variant} can quantize; nothing was written"
            )
        checks = gate(self.fp32_path, path, variant, self.bundle.manifest, self.model_x)
        size = path.stat().st_size
        common = {
            "variant": variant,
            "file": FILES[variant],
            "size_bytes": size,
            "size_ratio": size / self.fp32_size,
            "quantized_ops": quantized,
            "float_recurrent": float_recurrent,
            "settings": settings,
            "checks": [c.to_dict() for c in checks],
        }
        if not checks[0].passed and checks[0].name == "loads on the CPU EP":
            nan = float("nan")
            kept = " (kept: --force)" if self.config.force else "; refused"
            return VariantResult(
                **common,
                metric={**dataclasses.asdict(self.fp32_metric), "value": nan},
                metric_delta=nan,
                max_abs_diff=nan,
                p50_ms=nan,
                speedup=nan,
                accepted=self.config.force,
                note=f"cannot be verified on this machine: {checks[0].detail}{kept}",
            )
        session = Session.load(path, provider="cpu", threads=1)
        metric, pred = score(session, self.data)
        drop = metric.relative_drop(self.fp32_metric)
        ms = p50_latency_ms(session, self.data.x[:1], iters=self.config.latency_iters)
        failed = [c.name for c in checks if not c.passed]
        within = drop <= self.config.max_metric_drop
        return VariantResult(
            **common,
            metric=dataclasses.asdict(metric),
            metric_delta=drop,
            max_abs_diff=float(np.max(np.abs(pred - self.fp32_pred))),
            p50_ms=ms,
            speedup=self.fp32_ms / ms,
            accepted=(within and not failed) or self.config.force,
            note=_note(variant, float_recurrent, quantized, failed, within, drop, self.config),
        )

    @functools.cached_property
    def model_x(self) -> np.ndarray:
        """Up to 8 held-back sequences as the model sees them (normalised)."""
        session = Session.load(self.fp32_path, provider="cpu", threads=1)
        return session.prepare_input(self.data.x[:8])

    def _calib_feeds(self) -> list[dict[str, np.ndarray]]:
        source = self.calib.calib_x if self.calib.calib_x is not None else self.calib.x
        session = Session.load(self.fp32_path, provider="cpu", threads=1)
        feeds = []
        for row in source[: self.config.calib_samples]:
            x = session.prepare_input(row[None])
            feed = {session.signature.x.name: x, **session.initial_state(1)}
            if session.signature.lengths:
                feed[session.signature.lengths] = np.array([x.shape[1]], np.int64)
            feeds.append(feed)
        return feeds


def _note(variant, float_recurrent, quantized, failed, within, drop, config) -> str:
    parts = []
    if variant == "int8" and float_recurrent:
        parts.append(
            f"stayed float: {', '.join(float_recurrent)} (onnxruntime has no int8 GRU/RNN kernel; heads quantized)"
        )
    if variant == "int8-static":
        parts.append("QDQ on heads/projections only; recurrent ops run in float (no QDQ recurrent kernels)")
    if variant == "fp16" and config.fp16_target == "cpu" and float_recurrent:
        parts.append(f"recurrent ops kept fp32 (no fp16 kernel on the CPU EP): {', '.join(float_recurrent)}")
    if failed:
        parts.append(f"failed gate: {', '.join(failed)}")
    if not within:
        verdict = " (kept: --force)" if config.force else "; refused"
        parts.append(f"metric {drop:+.2%} over the {config.max_metric_drop:.0%} budget{verdict}")
    return "; ".join(parts)


def _commit(root: Path, bundle: Bundle, results: list[VariantResult], made: dict[str, Path]) -> None:
    """Move the accepted variants into the bundle so that a crash at any point leaves every file the
    manifest lists matching its sha256: variants being replaced leave the manifest first."""
    manifest = bundle.manifest
    accepted = [r for r in results if r.accepted]
    replaced = {r.file for r in accepted if r.file in manifest.files}
    files = {rel: e for rel, e in manifest.files.items() if rel not in replaced}
    quant = {v: q for v, q in (manifest.quantization or {}).items() if FILES.get(v) not in replaced}
    if replaced:
        _write_manifest(root, dataclasses.replace(manifest, files=files, quantization=quant))
    for r in accepted:
        os.replace(made[r.variant], root / r.file)
        path = root / r.file
        files[r.file] = FileEntry(sha256_file(path), path.stat().st_size, r.variant, "model")
        quant[r.variant] = {**dataclasses.asdict(r), "sha256": files[r.file].sha256}
    _write_manifest(root, dataclasses.replace(manifest, files=files, quantization=quant))


def _write_manifest(root: Path, manifest: Manifest) -> None:
    atomic_write_text(root / MANIFEST_NAME, json.dumps(manifest.to_dict(), indent=2))
