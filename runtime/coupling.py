"""Whether a variant may be batched: dynamic int8 couples the streams that share a call.

``DynamicQuantizeLSTM`` and ``DynamicQuantizeLinear`` compute one quantization scale per call over
the whole tensor, so a stream's int8 output depends on the other streams in its tick (onnxruntime
offers no per-row scale for them). Variants without dynamic quantization (fp32, fp16, static QDQ) do
row-wise math, and batching them is exact. For a dynamic variant a :class:`StreamBatcher` first
measures what batching does, once per session and ``max_batch``:

- inputs: up to ``max_batch`` sequences of the bundle's ``eval.npz`` (its first ``MAX_STEPS`` steps),
  else random ones drawn around the manifest's normalisation;
- the variant stepped batched (all sequences in one tick per step), the same variant stepped stream by
  stream, and the fp32 variant when the bundle has one;
- the rule: with targets (``eval.npz`` has ``y``) the batched variant's task metric may be at most
  ``max_metric_drop`` (1 %, ``edgernn quantize``'s budget) worse than fp32's on the same sequences,
  the gate the variant passed when it was made; without targets, batching may move the outputs by at
  most ``max_metric_drop`` relative RMS against the variant stepped stream by stream.

Over budget, :func:`check_batching` raises :class:`UnsupportedError` with the numbers.
"""

from __future__ import annotations

import dataclasses
import io
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from .errors import EdgernnError, InputError, UnsupportedError
from .metrics import task_metric
from .modelfile import op_types
from .records import Metric
from .signature import TensorSig
from .slots import Slots
from .stream import Stream
from .vocab import EVAL_FILE, FP32, INT8

if TYPE_CHECKING:
    from .manifest import Manifest
    from .session import Session

DYNAMIC_OPS = frozenset({"DynamicQuantizeLSTM", "DynamicQuantizeLinear", "DynamicQuantizeMatMul"})
MAX_STREAMS = 256  # sequences measured at most (each is also stepped alone, so the check stays < 1 s)
MAX_STEPS = 64  # steps per sequence: enough for the state's error to settle
SEED = 0


@dataclass(frozen=True)
class Deviation:
    """What batching does to a dynamically quantized variant (relative RMS = RMS of the difference
    over RMS of the reference, on the main output in real units)."""

    variant: str
    source: str  # where the inputs came from
    streams: int
    steps: int
    vs_independent: float  # batched against the same variant stepped stream by stream
    vs_fp32: float | None  # batched against fp32 (None without an fp32 variant)
    independent_vs_fp32: float | None  # the variant's own error, stepped stream by stream
    metric_fp32: Metric | None  # task metrics on the same sequences (None without targets)
    metric_batched: Metric | None
    metric_drop: float | None  # batched against fp32, relative (positive: worse)
    budget: float
    passed: bool

    def summary(self) -> str:
        """One line with every number."""
        parts = [
            f"{self.variant} batched {self.streams} streams x {self.steps} steps ({self.source}): "
            f"outputs move {self.vs_independent:.3%} (relative RMS) against independent {self.variant} streams"
        ]
        if self.vs_fp32 is not None:
            parts.append(f"{self.vs_fp32:.3%} against fp32 (independent: {self.independent_vs_fp32:.3%})")
        if self.metric_drop is not None and self.metric_batched is not None and self.metric_fp32 is not None:
            parts.append(
                f"{self.metric_batched.name} {self.metric_batched.value:.4g} vs fp32 "
                f"{self.metric_fp32.value:.4g} ({self.metric_drop:+.2%}, budget {self.budget:.0%})"
            )
        else:
            parts.append(f"budget {self.budget:.0%} relative RMS against independent streams")
        return "; ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return dataclasses.asdict(self)


def is_dynamic(session: Session) -> bool:
    """True when the loaded model quantizes activations per call (see the module docstring)."""
    ops = op_types(session._reload().data)
    return bool(ops & DYNAMIC_OPS) or (not ops and session.variant == INT8)  # .ort files: by name


def check_batching(session: Session, max_batch: int, budget: float) -> Deviation | None:
    """None when batching ``session``'s variant is exact; else the measured :class:`Deviation`, or
    :class:`UnsupportedError` when it breaks ``budget`` (cached per ``max_batch`` and budget)."""
    if not isinstance(budget, int | float) or isinstance(budget, bool) or not budget >= 0:
        raise InputError(f"max_metric_drop: expected a number >= 0, got {budget!r}")
    if not is_dynamic(session):
        return None
    key = (min(max_batch, MAX_STREAMS), float(budget))
    deviation = session._batch_checks.get(key)
    if deviation is None:
        deviation = measure(session, key[0], budget)
        session._batch_checks[key] = deviation
    if not deviation.passed:
        raise UnsupportedError(
            f"{session.manifest.name}: refusing to batch the {session.variant} variant: dynamic int8 computes "
            f"one quantization scale per call, so batched streams change each other's outputs; "
            f"{deviation.summary()}. Batch the fp32 variant (variant='fp32'), or raise max_metric_drop"
        )
    return deviation


def measure(session: Session, streams: int, budget: float) -> Deviation:
    """Step up to ``streams`` sequences batched and one by one, score both (see the module docstring)."""
    x, y, source = _inputs(session, streams)
    batched = _batched(session, x)
    alone = _independent(session, x)
    fp32 = _fp32(session)
    reference = None if fp32 is None else _batched(fp32, x)
    metric_fp32 = metric_batched = drop = None
    if y is not None:
        manifest = session.manifest
        metric_batched = task_metric(manifest, _scored(manifest, batched), y)
        if reference is not None:
            metric_fp32 = task_metric(manifest, _scored(manifest, reference), y)
            drop = metric_batched.relative_drop(metric_fp32)
    vs_alone = _relative_rms(batched, alone)
    passed = drop <= budget if drop is not None else vs_alone <= budget
    return Deviation(
        variant=session.variant,
        source=source,
        streams=x.shape[0],
        steps=x.shape[1],
        vs_independent=vs_alone,
        vs_fp32=None if reference is None else _relative_rms(batched, reference),
        independent_vs_fp32=None if reference is None else _relative_rms(alone, reference),
        metric_fp32=metric_fp32,
        metric_batched=metric_batched,
        metric_drop=drop,
        budget=budget,
        passed=bool(passed),
    )


def _inputs(session: Session, streams: int) -> tuple[np.ndarray, np.ndarray | None, str]:
    """``(x, y, source)``: raw inputs ``[streams, steps, ...]`` and their targets when known."""
    manifest, sig = session.manifest, session.signature
    shape = _step_shape(sig.x)
    arrays = _eval_arrays(session)
    x = arrays.get("x")
    if x is not None and x.ndim == 2 + len(shape) and x.shape[2:] == shape and len(x) >= 2:
        y = arrays.get("y")
        keep_time = manifest.topology != "many_to_one"  # its target needs the whole sequence
        x = x[:streams, : MAX_STEPS if keep_time else None]
        if y is not None:
            y = y[:streams, : x.shape[1]] if keep_time else y[:streams]
        return np.ascontiguousarray(x, dtype=sig.x.dtype), y, f"{len(x)} sequences of {EVAL_FILE}"
    rng = np.random.default_rng(SEED)
    shape = (streams, MAX_STEPS, *shape)
    if sig.x.dtype.kind in "iu":
        x = rng.integers(0, manifest.input.vocab_size or 16, size=shape).astype(sig.x.dtype)
    else:
        x = rng.standard_normal(shape).astype(np.float32)
        if sig.in_scale is not None:
            x = x * sig.in_scale[1] + sig.in_scale[0]
        x = x.astype(sig.x.dtype)
    return x, None, "random inputs around the manifest's normalisation"


def _eval_arrays(session: Session) -> dict[str, np.ndarray]:
    """The bundle's held-back split (checked against its sha256), when it ships one for plain
    sequences (a lengths input or a one_to_many condition would need their own stepping)."""
    bundle, manifest = session._bundle, session.manifest
    usable = manifest.input.lengths is None and manifest.topology in ("many_to_many", "many_to_one")
    if bundle is None or EVAL_FILE not in manifest.files or not usable:
        return {}
    with np.load(io.BytesIO(bundle.read(EVAL_FILE)), allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def _step_shape(x: TensorSig) -> tuple[int, ...]:
    # a bundle (the only source of a batch check) fixes every dim but batch and time
    return tuple(cast(int, d) for i, d in enumerate(x.dims) if i not in (x.batch_axis, x.time_axis))


def _batched(session: Session, x: np.ndarray) -> np.ndarray:
    """The main output (real units) of every sequence of ``x``, all stepped in one tick per step."""
    engine, sig = session._engine, session.signature
    slots = Slots(engine, x.shape[0])
    slots.relayout(np.full(x.shape[0], -1))
    main = engine.output_names.index(sig.main)
    outs = []
    for t in range(x.shape[1]):
        slots.x_rows(x.shape[0])[...] = sig.to_model(np.ascontiguousarray(x[:, t]))
        outs.append(slots.run_all()[main])
    y = np.stack(outs, axis=1)
    return y if sig.out_scale is None else y * sig.out_scale[1] + sig.out_scale[0]


def _independent(session: Session, x: np.ndarray) -> np.ndarray:
    """The same, each sequence stepped alone (a ``Stream`` of batch 1)."""
    rows = []
    for seq in x:
        stream = Stream(session._engine, 1)
        rows.append(np.stack([stream.step(step[None]).output[0] for step in seq]))
    return np.stack(rows)


def _fp32(session: Session) -> Session | None:
    bundle = session._bundle
    if bundle is None or FP32 not in bundle.variants():
        return None
    try:
        return type(session).from_bundle(bundle, variant=FP32, provider="cpu", options=session.config)
    except EdgernnError:
        return None


def _scored(manifest: Manifest, pred: np.ndarray) -> np.ndarray:
    """Per-step outputs as the task scores them: every step, or the last one (many_to_one)."""
    return pred[:, -1] if manifest.topology == "many_to_one" else pred


def _relative_rms(a: np.ndarray, reference: np.ndarray) -> float:
    a, reference = np.asarray(a, np.float64), np.asarray(reference, np.float64)
    scale = float(np.sqrt(np.mean(reference**2)))
    diff = float(np.sqrt(np.mean((a - reference) ** 2)))
    return diff / scale if scale > 0 else (0.0 if diff == 0 else float("inf"))
