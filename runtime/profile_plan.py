"""What a profile will measure, settled before any timing: variants, providers, and a probe call.

Variants come from the bundle (fp16 built for CUDA is skipped on CPU-only sweeps, with a note);
providers this onnxruntime lacks are refused with the fallback named; one untimed probe call at the
first cell's shape turns a dim the model refuses into a clear error before the sweep starts.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import providers as prov
from ._ort import ort
from .bundle import Bundle
from .errors import EdgernnError, InputError, ProviderError
from .profile_cells import random_inputs
from .profile_config import FILE_VARIANT, ProfileConfig
from .providers import RuntimeConfig
from .session import Session


def load(
    target: Path, config: ProfileConfig, variant: str, provider: str, threads: int, *, quiet: bool = False
) -> Session:
    """A session for one cell; a provider that does not start is an error, never a silent fallback.
    ``quiet`` silences onnxruntime's own error log (the probe turns its failures into one message)."""
    return Session.load(
        target,
        provider=provider,
        variant="auto" if variant == FILE_VARIANT else variant,
        options=RuntimeConfig(intra_op_threads=threads, log_severity=4 if quiet else 3),
        fallback="error",
        constants=config.constants() or None,
        state_map=config.state_pairs(),
    )


def check_providers(names: Sequence[str]) -> None:
    """Refuse providers this onnxruntime build lacks, naming the fallback a session would take."""
    available = ort.get_available_providers()
    for name in names:
        full = prov.ALIASES[name]
        if full not in available:
            raise ProviderError(
                f"--provider {name}: expected {full} in this onnxruntime build, got only "
                f"{', '.join(available)}; a session would fall back to {prov.CPU} and time the CPU instead "
                f"(install onnxruntime-gpu, or profile --provider cpu)"
            )


def resolve_variants(target: Path, config: ProfileConfig) -> tuple[list[str], list[str], dict[str, dict]]:
    """``(variants, notes, accuracy per variant)`` for ``target``; a bare .onnx is its one variant."""
    if not target.is_dir():
        if config.variants not in (None, (FILE_VARIANT,)):
            raise InputError(
                f"--variant {','.join(config.variants)}: {target.name} is a single .onnx file; variants "
                "apply to bundles"
            )
        return [FILE_VARIANT], [], {}
    bundle = Bundle.load(target)
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
        gpu = any(prov.ALIASES[p] in prov.GPU_PROVIDERS for p in config.providers)
        cuda_fp16 = "fp16" in have and quant.get("fp16", {}).get("settings", {}).get("target") != "cpu"
        variants = [v for v in have if gpu or v != "fp16" or not cuda_fp16]
        if len(variants) < len(have):
            notes.append("fp16 skipped: built for CUDA, no CPU kernel; ask for it with --variant fp16")
    return variants, notes, {v: accuracy_of(bundle.manifest, v) for v in variants}


def probe_variant(target: Path, variants: list[str]) -> str:
    """fp32 when the bundle has it (it loads on the CPU EP), whatever the sweep asks for."""
    if target.is_dir() and "fp32" in Bundle.load(target).variants():
        return "fp32"
    return variants[0]


def accuracy_of(manifest: Any, variant: str) -> dict[str, Any]:
    """What export (fp32 vs PyTorch) and quantize (variant vs fp32) recorded about accuracy."""
    if variant == "fp32":
        v = manifest.validation or {}
        out = {"max_abs_diff_vs_torch": v.get("max_abs_diff"), "torch_metric": v.get("torch_metric")}
    else:
        q = (manifest.quantization or {}).get(variant, {})
        out = {
            "metric": q.get("metric"),
            "metric_delta_vs_fp32": q.get("metric_delta"),
            "max_abs_diff_vs_fp32": q.get("max_abs_diff"),
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
    except EdgernnError:
        raise
    except Exception as err:  # onnxruntime's own exception types
        hint = "; ".join(notes) or f"pin dims with --input {sig.name}=..."
        raise InputError(
            f"input {sig.name!r}: expected the model to accept shape {list(shape)}, onnxruntime refused it: "
            f"{str(err).splitlines()[0][:300]} ({hint})"
        ) from None
