"""``edgernn.export.quantize``: int8 and fp16 variants of a bundle, each gated, scored and timed."""

from __future__ import annotations

import dataclasses
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgernn.runtime import Session
from edgernn.runtime._ort import ort
from edgernn.runtime.bundle import Bundle
from edgernn.runtime.errors import BundleError, InputError, UnsupportedError
from edgernn.runtime.manifest import Manifest
from edgernn.runtime.records import Check, Metric, VariantRecord
from edgernn.runtime.vocab import (
    CUDA,
    FP16,
    FP32,
    INT8,
    INT8_STATIC,
    QUANTIZE_TMP_PREFIX,
    QUANTIZED_VARIANTS,
    VARIANT_FILES,
)

from . import quantize_ops as ops
from .bundle_update import bundle_lock, commit, private_copy, remove_stale_temps
from .config import with_overrides
from .errors import ExportError
from .evaluate import EvalData, bundle_eval_data, check_eval_shape, p50_latency_ms, score, score_stream
from .variant_gate import gate, loads_in_isolation


def available_providers() -> list[str]:
    """The execution providers this onnxruntime build has (a seam for tests)."""
    return ort.get_available_providers()


WEIGHT_CANDIDATES = (("s8", False), ("u8", False), ("s8", True), ("u8", True))


@dataclass(frozen=True)
class QuantizeConfig:
    """How to quantize; CLI flags of ``edgernn quantize`` map onto these fields."""

    variants: tuple[str, ...] = (INT8,)  # int8 (dynamic) is the default CPU variant
    weight_type: str = "auto"  # auto measures s8/u8 x reduce_range and keeps the most accurate within budget
    per_channel: bool = False  # per-channel weight scales; optional, measured per bundle
    calibration: str = "minmax"  # int8-static: minmax | entropy | percentile
    calib_samples: int = 64  # int8-static: calibration sequences drawn from the data
    fp16_target: str = "cuda"  # fp16 is for CUDA; "cpu" keeps recurrent ops fp32
    max_metric_drop: float = 0.01  # refuse a variant whose task metric is >1 % (relative) worse
    force: bool = False  # keep a variant that breaks the budget anyway
    latency_iters: int = 50  # p50 over this many runs (CPU, 1 thread, batch 1)


@dataclass(frozen=True)
class Reference:
    """The fp32 model every variant is judged against: its metric, outputs, latency and size."""

    session: Session
    metric: Metric
    pred: np.ndarray  # raw model outputs on the eval data
    p50_ms: float
    size_bytes: int
    torch_metric: Metric | None = None
    stream_metric: Metric | None = None  # fp32 streamed step by step on the first sequences
    stream_reference: Metric | None = None  # fp32 on the same sequences run whole (what streams compare to)
    load_ms: float = 0.0  # how long the session took to load (its cold start, for a profiler reusing it)

    def to_dict(self) -> dict:
        """JSON-ready (what ``quantize_report.json`` calls ``fp32``)."""
        out = {
            "metric": dataclasses.asdict(self.metric),
            "p50_ms": self.p50_ms,
            "size_bytes": self.size_bytes,
        }
        for name in ("torch_metric", "stream_metric"):
            if getattr(self, name) is not None:
                out[name] = dataclasses.asdict(getattr(self, name))
        return out


@dataclass(frozen=True)
class QuantizeReport:
    """fp32 reference numbers and one :class:`VariantRecord` per variant asked for."""

    bundle: Path
    fp32: Reference
    results: tuple[VariantRecord, ...]
    manifest: Manifest  # the bundle's manifest as quantize left it

    def as_bundle(self) -> Bundle:
        """The bundle with its new manifest already loaded (nothing is read back)."""
        return Bundle(self.bundle, self.manifest)

    @property
    def refused(self) -> list[str]:
        """Variants that were not written."""
        return [r.variant for r in self.results if not r.accepted]

    def to_dict(self) -> dict:
        """JSON-ready."""
        return {
            "bundle": str(self.bundle),
            "fp32": self.fp32.to_dict(),
            "variants": [r.to_dict() for r in self.results],
        }


def quantize(
    bundle: str | Path | Bundle,
    variants: list[str] | tuple[str, ...] = (INT8,),
    *,
    config: QuantizeConfig | None = None,
    eval_path: str | Path | None = None,
    calib_path: str | Path | None = None,
    eval_data: EvalData | None = None,
    **overrides: Any,
) -> QuantizeReport:
    """Add quantized variants to ``bundle``; each is gated against fp32, scored on held-back data
    and timed. Variants over the metric budget are refused (not written) unless ``config.force``.

    ``config`` fields may also be given as keywords (``max_metric_drop=0.02``). ``eval_data`` (or
    ``eval_path``) replaces the bundle's own ``eval.npz`` when given."""
    config = with_overrides(config or QuantizeConfig(), {**overrides, "variants": tuple(variants)})
    for v in config.variants:
        if v not in QUANTIZED_VARIANTS:
            raise InputError(f"variant: expected one of {', '.join(QUANTIZED_VARIANTS)}, got {v!r}")
    # A path is checked to be a bundle before its lock; under the lock the manifest is read again,
    # since another writer may have changed it while this one waited.
    given = bundle if isinstance(bundle, Bundle) else Bundle.load(bundle)
    root = given.root
    if given.manifest.inputs:  # scored, gated and calibrated on x alone: refused before any work
        names = ", ".join(spec.name for spec in given.manifest.inputs)
        raise UnsupportedError(
            f"{root}: this bundle takes further inputs ({names}) beside x, which quantize does not feed "
            "to its gate, scoring and calibration; nothing was written (the fp32 model runs as exported)"
        )
    with bundle_lock(root):  # writers of one bundle take turns; the manifest is read under the lock
        loaded = Bundle.load(root)
        remove_stale_temps(root)
        with tempfile.TemporaryDirectory(prefix=QUANTIZE_TMP_PREFIX, dir=root) as tmp:
            return _quantize(loaded, Path(tmp), config, eval_path, calib_path, eval_data)


def _quantize(loaded: Bundle, tmp: Path, config, eval_path, calib_path, eval_data) -> QuantizeReport:
    fp32_path = private_copy(loaded, tmp / "fp32")  # onnxruntime's tools write beside their input
    if ops.is_quantized(fp32_path):
        raise BundleError(f"{loaded.root}: its fp32 model is already quantized; quantize the fp32 export")
    data = eval_data if eval_data is not None else bundle_eval_data(loaded, eval_path)
    calib = EvalData.load(calib_path) if calib_path else data
    check_eval_shape(loaded, data.x, "eval")
    if calib is not data:
        check_eval_shape(loaded, calib.x, "calib")
    reference = _reference(loaded, data, config)
    builder = _Builder(loaded, fp32_path, data, calib, reference, config)
    made = {variant: builder.build(variant, tmp) for variant in config.variants}
    results = [result for result, _ in made.values()]
    manifest = commit(loaded.root, loaded, results, {v: path for v, (_, path) in made.items()})
    return QuantizeReport(loaded.root, reference, tuple(results), manifest)


def _reference(bundle: Bundle, data: EvalData, config: QuantizeConfig) -> Reference:
    started = time.perf_counter()
    session = Session.from_bundle(bundle, provider="cpu", variant=FP32, threads=1)
    load_ms = (time.perf_counter() - started) * 1e3
    metric, pred = score(session, data)
    validation = bundle.manifest.validation
    streamed = score_stream(session, data)
    return Reference(
        stream_metric=streamed[0] if streamed else None,
        stream_reference=streamed[1] if streamed else None,
        session=session,
        metric=metric,
        pred=pred,
        p50_ms=p50_latency_ms(session, data.x[:1], iters=config.latency_iters),
        size_bytes=session.model_path.stat().st_size,
        torch_metric=validation.torch_metric if validation is not None else None,
        load_ms=load_ms,
    )


@dataclass
class _Builder:
    """Makes, gates, scores and times one variant at a time against the fp32 reference."""

    bundle: Bundle
    fp32_path: Path
    data: EvalData
    calib: EvalData
    reference: Reference
    config: QuantizeConfig

    def build(self, variant: str, tmp: Path) -> tuple[VariantRecord, Path]:
        """The variant's record and the temp file holding it; the quantizer's own failures (a full
        disk, a graph it cannot handle) become one :class:`ExportError`."""
        try:
            return self._build(variant, tmp)
        except (BundleError, InputError):
            raise
        except Exception as err:  # onnxruntime's quantization tools raise anything
            detail = " ".join(str(err).split())[:300]
            raise ExportError(
                f"{self.bundle.root}: {variant}: onnxruntime's quantizer failed ({type(err).__name__}: {detail}); "
                "nothing was written"
            ) from None

    def _build(self, variant: str, tmp: Path) -> tuple[VariantRecord, Path]:
        if variant == INT8:
            return self._int8(tmp)
        path = tmp / VARIANT_FILES[variant]
        if variant == INT8_STATIC:
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

    def _int8(self, tmp: Path) -> tuple[VariantRecord, Path]:
        wt = self.config.weight_type
        # a pinned weight type still measures reduce_range (7-bit weights) beside the full range: CPUs
        # without VNNI (AVX2 only) saturate int8 products in 16 bits, and there full-range weights are
        # far off (a hidden-8 LSTM: cell state 0.53 off, 0.005 with reduce_range)
        options = WEIGHT_CANDIDATES if wt == "auto" else [(wt, False), (wt, True)]
        candidates = []
        for weight_type, reduce_range in options:
            path = tmp / f"int8-{weight_type}-{int(reduce_range)}.onnx"
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
            candidates.append((self._measure(INT8, path, settings), path))
        # by accuracy alone, so the same bundle always gets the same file: on a shared machine the
        # settings' timings differ by less than their noise
        ok = [c for c in candidates if c[0].accepted] or candidates
        best, path = min(ok, key=lambda c: (not c[0].stream_accepted, c[0].max_abs_diff))
        table = tuple(
            {**r.settings, "p50_ms": r.p50_ms, "metric_delta": r.metric_delta, "max_abs_diff": r.max_abs_diff}
            for r, _ in candidates
        )
        return dataclasses.replace(best, candidates=table), path

    def _measure(self, variant: str, path: Path, settings: dict) -> VariantRecord:
        quantized, float_recurrent, _ = ops.describe_ops(path)
        if variant in (INT8, INT8_STATIC) and not quantized:
            raise InputError(
                f"{self.bundle.root}: the model has no node that {variant} can quantize; nothing was written"
            )
        size = path.stat().st_size
        common = {
            "variant": variant,
            "file": VARIANT_FILES[variant],
            "size_bytes": size,
            "size_ratio": size / self.reference.size_bytes,
            "quantized_ops": quantized,
            "float_recurrent": tuple(float_recurrent),
            "settings": settings,
        }
        provider = self._provider(variant)
        if provider is None:
            why = "it is built for CUDA and this onnxruntime has no CUDA EP to verify it on"
            return self._unverifiable(common, Check("runs on the CUDA EP", False, float("inf"), why))
        if variant == FP16 and provider == "cpu":  # onnxruntime can crash (not raise) on fp16 graphs
            loads = loads_in_isolation(path)
            if not loads.passed:
                return self._unverifiable(common, loads)
        session = Session.from_onnx(path, provider=provider, threads=1, fallback="error")
        common["settings"] = {**settings, "verified_on": session.provider, "tf32": session.config.cuda_tf32}
        checks = gate(self.reference.session, session, variant, self.data.x[:8])
        metric, pred = score(session, self.data)
        drop = metric.relative_drop(self.reference.metric)
        ms = p50_latency_ms(session, self.data.x[:1], iters=self.config.latency_iters)
        failed = [c.name for c in checks if not c.passed and not _streamed(c)]
        within = drop <= self.config.max_metric_drop
        stream_metric, stream_ok, stream_note = self._stream_verdict(session, checks)
        return VariantRecord(
            **common,
            metric=metric,
            metric_delta=drop,
            max_abs_diff=float(np.max(np.abs(pred - self.reference.pred))),
            p50_ms=ms,
            speedup=self.reference.p50_ms / ms,
            accepted=(within and not failed) or self.config.force,
            note=_note(variant, float_recurrent, failed, within, drop, self.config),
            checks=tuple(checks),
            stream_metric=stream_metric,
            stream_accepted=stream_ok,
            stream_note=stream_note,
        )

    def _stream_verdict(self, session: Session, checks: list[Check]) -> tuple[Metric | None, bool, str]:
        """The variant streamed step by step: its metric, and whether it may stream. Dynamic int8 scales
        each call's inputs by their own range, so a stream (one step per call) can differ from the same
        rows in one call; the stream is held to the same budget against fp32 as the whole sequence."""
        scored = score_stream(session, self.data)
        broken = [c for c in checks if _streamed(c) and not c.passed]
        if scored is None:
            return None, not broken, ""
        streamed, _ = scored
        reference = self.reference.stream_reference
        drop = streamed.relative_drop(reference)
        notes = [f"{c.name}: {c.detail}" for c in broken]
        if drop > self.config.max_metric_drop:
            notes.append(
                f"streamed step by step its {streamed.name} is {streamed.value:.4g}, {drop:+.2%} against fp32's "
                f"{reference.value:.4g} (budget {self.config.max_metric_drop:.0%})"
            )
        if not notes:
            return streamed, True, f"streamed {streamed.name} {streamed.value:.4g} ({drop:+.2%} vs fp32)"
        return streamed, False, "refused for streaming: " + "; ".join(notes) + "; stream the fp32 variant"

    def _provider(self, variant: str) -> str | None:
        """Where a variant is verified: fp16 built for CUDA on the CUDA EP (None when there is none),
        everything else on the CPU EP that int8 kernels need."""
        if variant != FP16 or self.config.fp16_target == "cpu":
            return "cpu"
        return "cuda" if CUDA in available_providers() else None

    def _unverifiable(self, common: dict, loads: Check) -> VariantRecord:
        nan = float("nan")
        kept = " (kept: --force)" if self.config.force else "; refused"
        return VariantRecord(
            **common,
            metric=dataclasses.replace(self.reference.metric, value=nan),
            metric_delta=nan,
            max_abs_diff=nan,
            p50_ms=nan,
            speedup=nan,
            accepted=self.config.force,
            note=f"cannot be verified on this machine: {loads.detail}{kept}",
            checks=(loads,),
        )

    def _calib_feeds(self) -> list[dict[str, np.ndarray]]:
        source = self.calib.calib_x if self.calib.calib_x is not None else self.calib.x
        sig = self.reference.session.signature
        feeds = []
        for row in source[: self.config.calib_samples]:
            x = sig.to_model(np.ascontiguousarray(row[None], dtype=sig.x.dtype))
            feed = {sig.x.name: x, **sig.zero_state(1)}
            if sig.lengths:
                feed[sig.lengths] = np.array([x.shape[1]], np.int64)
            feeds.append(feed)
        return feeds


def _streamed(check: Check) -> bool:
    return "stream" in check.name


def _note(variant, float_recurrent, failed, within, drop, config) -> str:
    parts = []
    if variant == INT8 and float_recurrent:
        parts.append(
            f"stayed float: {', '.join(float_recurrent)} (onnxruntime has no int8 GRU/RNN kernel; heads quantized)"
        )
    if variant == INT8_STATIC:
        parts.append("QDQ on heads/projections only; recurrent ops run in float (no QDQ recurrent kernels)")
    if variant == FP16 and config.fp16_target == "cpu" and float_recurrent:
        parts.append(f"recurrent ops kept fp32 (no fp16 kernel on the CPU EP): {', '.join(float_recurrent)}")
    if failed:
        parts.append(f"failed gate: {', '.join(failed)}")
    if not within:
        verdict = " (kept: --force)" if config.force else "; refused"
        parts.append(f"metric {drop:+.2%} over the {config.max_metric_drop:.0%} budget{verdict}")
    return "; ".join(parts)
