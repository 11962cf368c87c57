"""What a profile will measure, settled before any timing: variants, providers, and a probe call.

Variants come from the bundle (fp16 built for CUDA is skipped on CPU-only sweeps, with a note);
providers this onnxruntime lacks are refused with the fallback named; one untimed probe call at the
first cell's shape turns a dim the model refuses into a clear error before the sweep starts.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edgernn.runtime._ort import ort
from edgernn.runtime.bundle import Bundle
from edgernn.runtime.errors import InputError, ModelRunError, ProviderError, UnsupportedError
from edgernn.runtime.manifest import Manifest
from edgernn.runtime.providers import RuntimeConfig
from edgernn.runtime.session import Session
from edgernn.runtime.vocab import (
    BARE_VARIANT,
    CPU,
    FP16,
    FP32,
    GPU_PROVIDERS,
    PROVIDER_ALIASES,
    PROVIDER_PACKAGES,
)

from .cells import random_inputs
from .config import ProfileConfig


class Loader:
    """The sessions of a sweep: each (variant, provider, threads) is loaded once, and that load's
    time is the cold start reported for every cell that uses it. Several sweeps of one target (the
    pipeline's sequence and stream passes) share a loader, so a variant is never loaded twice.

    A provider that does not start is an error, never a silent fallback. onnxruntime's own log is
    quiet: failures reach the caller as one typed error each."""

    def __init__(
        self,
        target: Path | Bundle,
        config: ProfileConfig,
        loaded: Mapping[tuple[str, str, int], tuple[Session, float]] | None = None,
    ) -> None:
        """``loaded``: sessions the caller already holds, ``(variant, provider, threads) -> (session,
        load_ms)`` (the pipeline's fp32 reference from quantize), used instead of loading again."""
        if isinstance(target, Bundle):  # already loaded by the caller (the pipeline)
            self.target, self.bundle = target.root, target
        else:
            self.target = Path(target)
            self.bundle = Bundle.load(self.target) if self.target.is_dir() else None  # read once
        further = self.bundle.manifest.inputs if self.bundle is not None else ()
        if further:  # every cell feeds x alone (runs, streams, the batcher, op timing)
            raise UnsupportedError(
                f"{self.target}: this bundle takes further inputs ({', '.join(s.name for s in further)}) "
                "beside x, which profile does not generate; time it with session.run(x, inputs=...)"
            )
        self._constants = config.constants() or None
        self._state_map = config.state_pairs()
        self._loaded: dict[tuple[str, str, int], tuple[Session, float]] = dict(loaded or {})
        self._interrupted = False

    def interrupt(self) -> None:
        """Stop every session loaded so far (Ctrl-C); loading another is refused."""
        self._interrupted = True
        for session, _ in list(self._loaded.values()):
            session.interrupt()

    def get(self, variant: str, provider: str, threads: int) -> tuple[Session, float]:
        """``(session, load_ms)`` for one cell's settings."""
        key = (variant, provider, threads)
        if self._interrupted:
            raise KeyboardInterrupt
        if key not in self._loaded:
            t0 = time.perf_counter_ns()
            options = RuntimeConfig(intra_op_threads=threads, log_severity=4)
            common = {
                "provider": provider,
                "options": options,
                "fallback": "error",
                "constants": self._constants,
            }
            if self.bundle is not None:
                session = Session.from_bundle(self.bundle, variant=variant, **common)
            else:
                session = Session.from_onnx(self.target, state_map=self._state_map, **common)
            self._loaded[key] = (session, (time.perf_counter_ns() - t0) / 1e6)
        return self._loaded[key]


def check_providers(names: Sequence[str]) -> None:
    """Refuse providers this onnxruntime build lacks, naming the fallback a session would take."""
    available = ort.get_available_providers()
    for name in names:
        full = PROVIDER_ALIASES[name]
        if full not in available:
            package, extra = PROVIDER_PACKAGES[full]
            raise ProviderError(
                f"--provider {name}: expected {full} in this onnxruntime build, got only "
                f"{', '.join(available)}; a session would fall back to {CPU} and time the CPU instead "
                f"(install {package}: pip install 'edgernn[{extra}]', or profile --provider cpu)"
            )


def resolve_variants(
    target: Path, bundle: Bundle | None, config: ProfileConfig
) -> tuple[list[str], list[str], dict[str, dict]]:
    """``(variants, notes, accuracy per variant)`` for ``target``; a bare .onnx is its one variant."""
    if bundle is None:
        if config.variants not in (None, (BARE_VARIANT,)):
            raise InputError(
                f"--variant {','.join(config.variants)}: {target.name} is a single .onnx file; variants "
                "apply to bundles"
            )
        return [BARE_VARIANT], [], {}
    have, notes = bundle.variants(), []
    quant = bundle.manifest.quantization or {}
    if config.variants is not None:
        missing = [v for v in config.variants if v not in have]
        if missing:
            raise InputError(
                f"--variant {','.join(missing)}: expected variants of {target}, which has {', '.join(have)} "
                "(add variants with edgernn quantize)"
            )
        variants = list(config.variants)
    else:
        gpu = any(PROVIDER_ALIASES[p] in GPU_PROVIDERS for p in config.providers)
        cuda_fp16 = FP16 in have and (FP16 not in quant or quant[FP16].settings.get("target") != "cpu")
        variants = [v for v in have if gpu or v != FP16 or not cuda_fp16]
        if len(variants) < len(have):
            notes.append("fp16 skipped: built for CUDA, no CPU kernel; ask for it with --variant fp16")
    return variants, notes, {v: accuracy_of(bundle.manifest, v) for v in variants}


def probe_variant(bundle: Bundle | None, variants: list[str]) -> str:
    """fp32 when the bundle has it (it loads on the CPU EP), whatever the sweep asks for."""
    if bundle is not None and FP32 in bundle.variants():
        return FP32
    return variants[0]


def accuracy_of(manifest: Manifest, variant: str) -> dict[str, Any]:
    """What export (fp32 vs PyTorch) and quantize (variant vs fp32) recorded about accuracy."""
    if variant == FP32:
        v = manifest.validation
        if v is None:
            return {}
        torch_metric = dataclasses.asdict(v.torch_metric) if v.torch_metric is not None else None
        out = {"max_abs_diff_vs_torch": v.max_abs_diff, "torch_metric": torch_metric}
    else:
        q = (manifest.quantization or {}).get(variant)
        if q is None:
            return {}
        out = {
            "metric": dataclasses.asdict(q.metric),
            "metric_delta_vs_fp32": q.metric_delta,
            "max_abs_diff_vs_fp32": q.max_abs_diff,
        }
    return {k: v for k, v in out.items() if v is not None}


def probe_call(session: Session, config: ProfileConfig, shape: tuple[int, ...], notes: Sequence[str]) -> None:
    """One untimed call at the first cell's shape, so a dim the model refuses fails before the sweep."""
    x = random_inputs(session, shape, np.random.default_rng(config.seed), 1)[0]
    sig = session.signature.x
    try:
        if config.mode == "sequence":
            session.run(x)
        else:
            step = x if sig.time_axis is None else np.ascontiguousarray(np.take(x, 0, axis=sig.time_axis))
            session.stream(1 if sig.batch_axis is None else shape[sig.batch_axis]).step(step)
    except ModelRunError as err:  # onnxruntime refused the shape
        hint = "; ".join(notes) or f"pin dims with --input {sig.name}=..."
        detail = str(err).split("running the model", 1)[-1]
        raise InputError(
            f"input {sig.name!r}: expected the model to accept shape {list(shape)}, onnxruntime refused it"
            f"{detail[:300]} ({hint})"
        ) from None
