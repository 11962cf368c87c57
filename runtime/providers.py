"""Execution providers, variants and thread settings: what is asked for, and what really runs.

Pure functions of their arguments (the available providers are passed in), so the GPU paths are
tested on a CPU-only machine; :func:`check_fallback` applies the ``fallback`` policy to both the
providers onnxruntime lacks and those that a created session reports it did not take.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from .errors import InputError, ProviderError
from .limits import max_threads
from .vocab import AUTO, CPU, CUDA, FP32, GPU_PROVIDERS, INT8, OPENVINO, PROVIDER_ALIASES, TENSORRT

FALLBACK_POLICIES = ("warn", "error", "silent")
# provider="auto" sends Session.run calls of this many sequences or more to CUDA, when installed.
# Where one CUDA call of T=100 (~2.3 ms on an H100, flat up to 16 sequences) overtakes the CPU, which
# auto runs int8 on: 1 int8 LSTM 2x256 sequence takes ~1 ms on a 2-core EPYC thread, a GRU classifier
# 0.75 ms; fp32 on the H100 host's own CPU 3 ms. At 4 sequences CUDA won in every case measured.
AUTO_GPU_MIN_BATCH = 4
OPTIMIZATION_LEVELS = ("disable", "basic", "extended", "all")


class ProviderFallbackWarning(UserWarning):
    """A requested execution provider is not the one that runs; the session uses the next one."""


@dataclass(frozen=True)
class RuntimeConfig:
    """How onnxruntime runs a session; every default is chosen for one low-latency stream."""

    intra_op_threads: int | None = None  # threads inside one op; None: onnxruntime's default (one per core)
    # Both thread counts are at most max(64, 4 x cores): more only costs start-up time (10000 took a minute).
    inter_op_threads: int = 1  # recurrent graphs are a chain of nodes, so parallel nodes rarely help
    spin_wait: bool | None = (
        None  # True: lowest latency, burns CPU between calls; False: idle; None: ORT default
    )
    graph_optimization: str = "all"  # "disable" | "basic" | "extended" | "all"
    device_id: int = 0  # GPU index for CUDA/TensorRT
    log_severity: int = 3  # onnxruntime's own log: 0 verbose ... 3 errors only
    cuda_tf32: bool = False  # fp32 on CUDA stays fp32 (onnxruntime's default TF32 moves LSTM state ~1e-4)
    cuda_graphs: bool = True  # GPU streams replay a captured CUDA graph per step (~3x faster steps)
    openvino_bf16: bool = False  # OpenVINO EP in bf16 (avx512_bf16/AMX CPUs; ~1e-3 off fp32); off stays exact

    def __post_init__(self) -> None:
        if self.graph_optimization not in OPTIMIZATION_LEVELS:
            raise InputError(
                f"graph_optimization: expected one of {', '.join(OPTIMIZATION_LEVELS)}, "
                f"got {self.graph_optimization!r}"
            )
        for name in ("intra_op_threads", "inter_op_threads"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                raise InputError(f"{name}: expected a positive int or None, got {value!r}")
            if value is not None and value > max_threads():
                raise InputError(
                    f"{name}: expected at most {max_threads()} (4 per core, at least 64), got {value}"
                )


def resolve_providers(provider: str | Sequence[Any], available: Sequence[str]) -> tuple[list[str], list[str]]:
    """Turn ``provider`` into ``(wanted, chain)``: the providers asked for, in order, and the chain to
    create the session with (those this onnxruntime build has, CPU last).

    ``auto`` is the CPU: streams and small batches run faster there than on a GPU (see
    :func:`auto_device` for the batches that go to CUDA when it is installed). ``tensorrt`` is
    TensorRT, then CUDA, then CPU; ``openvino`` is onnxruntime-openvino's OpenVINO EP, then CPU. A list names providers (short or full names) in order. CPU always
    ends the chain, since onnxruntime assigns it the nodes that other providers cannot run.
    """
    if isinstance(provider, str):
        key = provider.lower()
        if key == AUTO:
            return [CPU], [CPU]
        if key == "tensorrt":
            wanted = [TENSORRT, CUDA, CPU]
        elif key in PROVIDER_ALIASES:
            wanted = [PROVIDER_ALIASES[key]]
        else:
            raise ProviderError(
                f"provider: expected auto, cpu, cuda, tensorrt, openvino or a list, got {provider!r}"
            )
    elif not isinstance(provider, list | tuple) or not all(isinstance(p, str) for p in provider):
        raise ProviderError(
            f"provider: expected auto, cpu, cuda, tensorrt, openvino or a list of names, got {provider!r}"
        )
    else:
        names = cast("Sequence[str]", provider)  # every item checked to be a str just above
        wanted = [PROVIDER_ALIASES.get(p.lower(), p) for p in names]
        if not wanted:
            raise ProviderError("provider: expected at least one provider in the list, got an empty list")
    chain = [p for p in wanted if p in available]
    if CPU not in chain:
        chain.append(CPU)
    return wanted, chain


def check_policy(policy: str) -> None:
    """Refuse an unknown ``fallback`` policy name."""
    if policy not in FALLBACK_POLICIES:
        raise ProviderError(f"fallback: expected one of {', '.join(FALLBACK_POLICIES)}, got {policy!r}")


def check_fallback(requested: str, actual: str, policy: str) -> None:
    """Apply the fallback policy when ``actual`` (what runs) is not ``requested``."""
    check_policy(policy)
    if requested == actual:
        return
    message = f"requested execution provider {requested}, but the session runs on {actual}"
    if policy == "error":
        raise ProviderError(message + " (fallback='error')")
    if policy == "warn":
        warnings.warn(
            message + " (pass fallback='silent' to accept this quietly)", ProviderFallbackWarning, 3
        )


def auto_device(batch: int, cuda_available: bool) -> str:
    """Where ``provider="auto"`` runs one ``Session.run`` of ``batch`` sequences: CUDA from
    :data:`AUTO_GPU_MIN_BATCH` sequences up when the CUDA EP is installed, else the CPU. Streams always
    stay on the CPU: one step is a few small matrix products, cheaper there than one GPU launch."""
    return CUDA if cuda_available and batch >= AUTO_GPU_MIN_BATCH else CPU


def pick_variant(variant: str, have: Sequence[str], provider: str) -> str:
    """``auto``: int8 on the CPU if present (its recurrent kernel is the fastest there), else fp32.
    fp16 is only chosen when asked for: on the GPUs measured it was no faster at these sizes, and fp32
    is exact. The OpenVINO EP gets fp32: it splits ``DynamicQuantizeLSTM`` between itself and the CPU
    EP, which ran slower than the CPU EP alone."""
    if variant != AUTO:
        return variant
    if provider == CPU and INT8 in have:
        return INT8
    if FP32 in have or not have:
        return FP32
    return sorted(have)[0]


def variant_reason(
    requested: str, chosen: str, have: Sequence[str], provider: str, skipped: Sequence[str] = ()
) -> str:
    """Why ``chosen`` runs, in a few words (what ``Session.describe()`` and ``edgernn run`` say);
    ``skipped``: variants left out because they are refused for streaming."""
    if requested != AUTO:
        return "asked for"
    if skipped:
        return f"auto: {', '.join(skipped)} refused for streaming by quantize's check"
    if chosen == INT8:
        return "auto: int8 is picked on the CPU when the bundle has it; --variant fp32 runs the exact model"
    if provider == CPU and chosen == FP32:
        return "auto: the bundle has no int8 variant"
    return f"auto: the bundle's {chosen} variant ({', '.join(have)} available)"


def provider_options(chain: Sequence[str], config: RuntimeConfig, *, cuda_graph: bool = False) -> list[Any]:
    """The ``providers`` argument for ``InferenceSession``: names, with a device id for GPU providers,
    TF32 as configured on CUDA, and ``cuda_graph`` for the session that captures stream steps."""
    out: list[Any] = []
    for p in chain:
        if p == CUDA:
            options = {"use_tf32": "1" if config.cuda_tf32 else "0"}
            if config.device_id:  # device 0 is the default; naming it makes onnxruntime >= 1.26 look
                options["device_id"] = str(config.device_id)  # for a plugin EP and log a warning
            if cuda_graph:
                options["enable_cuda_graph"] = "1"
            out.append((p, options))
        elif p in GPU_PROVIDERS:
            out.append((p, {"device_id": str(config.device_id)}) if config.device_id else p)
        elif p == OPENVINO:
            out.append((p, openvino_options(config)))
        else:
            out.append(p)
    return out


def openvino_options(config: RuntimeConfig) -> dict[str, str]:
    """OpenVINO EP options: its CPU device, latency-minded, with edgernn's thread count. The EP accepts
    only FP32/ACCURACY as ``precision`` on a CPU; bf16 is OpenVINO's own inference-precision hint."""
    hints = {
        "PERFORMANCE_HINT": "LATENCY",
        "INFERENCE_PRECISION_HINT": "bf16" if config.openvino_bf16 else "f32",
    }
    options = {
        "device_type": "CPU",
        "precision": "FP32",
        "num_streams": "1",
        "load_config": json.dumps({"CPU": hints}),
    }
    if config.intra_op_threads is not None:
        options["num_of_threads"] = str(config.intra_op_threads)
    return options


def session_options(ort: Any, config: RuntimeConfig) -> Any:
    """An ``ort.SessionOptions`` with every thread setting explicit."""
    so = ort.SessionOptions()
    if config.intra_op_threads is not None:
        so.intra_op_num_threads = config.intra_op_threads
    so.inter_op_num_threads = config.inter_op_threads
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = {
        "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }[config.graph_optimization]
    so.log_severity_level = config.log_severity
    if config.spin_wait is not None:
        flag = "1" if config.spin_wait else "0"
        so.add_session_config_entry("session.intra_op.allow_spinning", flag)
        so.add_session_config_entry("session.inter_op.allow_spinning", flag)
    return so


def device_of(provider: str, config: RuntimeConfig) -> tuple[str, int]:
    """Where streaming state lives between steps: on the GPU for GPU providers, else in host memory."""
    return ("cuda", config.device_id) if provider in GPU_PROVIDERS else ("cpu", 0)
