"""What a pipeline run says first: whether the model beats its naive baseline, and which variant to
ship for each measured call pattern (whole sequences, stream steps).

The advice is typed (:class:`Advice`); each renderer (report.md, the console) formats it with its
own markup, so nothing is built as markdown and stripped again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from edgernn.runtime.vocab import CPU, FP32, VARIANT_FILES

from .summary import Timing, VariantSummary

NOISE = 1.05  # another variant must beat fp32's p50 by more than this to be worth its rounding
MODES = ("sequence", "stream")


@dataclass(frozen=True)
class Choice:
    """The variant to ship for one call pattern, with what it was measured against."""

    variant: str
    mode: str
    seq: int | None
    p50_ms: float
    speedup: float | None  # fp32's p50 over this variant's
    size_bytes: int
    size_ratio: float  # this variant's size over fp32's
    others: dict[str, float] = field(default_factory=dict)  # the other timed variants' p50


@dataclass(frozen=True)
class Advice:
    """``ship`` is empty when nothing should ship (``blocked`` says why) or nothing was timed."""

    ship: tuple[Choice, ...] = ()
    blocked: bool = False  # the model does not beat its baseline
    not_for_streaming: dict[str, str] = field(default_factory=dict)  # variant -> why


def pick(variants: Mapping[str, VariantSummary], timing: Sequence[Timing], mode: str) -> Choice | None:
    """The variant to ship for ``mode`` (``sequence`` or ``stream``): the fastest p50 on the CPU among
    the variants kept within the metric budget (and allowed to stream), fp32 unless another is clearly
    faster; None when nothing was timed."""
    rows = {
        t.variant: t
        for t in timing
        if t.mode == mode
        and t.provider == CPU
        and t.p50_ms
        and t.variant in variants
        and (mode != "stream" or variants[t.variant].stream_ok)
    }
    if not rows:
        return None
    best = min(rows.values(), key=lambda t: t.p50_ms or 0.0)
    fp32 = rows.get(FP32)
    if fp32 is not None and best is not fp32 and (best.p50_ms or 0.0) * NOISE > (fp32.p50_ms or 0.0):
        best = fp32
    name, p50 = best.variant, best.p50_ms or 0.0
    size, fp32_size = variants[name].size_bytes, variants[FP32].size_bytes
    return Choice(
        variant=name,
        mode=mode,
        seq=best.seq,
        p50_ms=p50,
        speedup=(fp32.p50_ms or 0.0) / p50 if fp32 else None,
        size_bytes=size,
        size_ratio=size / fp32_size,
        others={v: t.p50_ms or 0.0 for v, t in rows.items() if v != name},
    )


def advise(verdict: str | None, variants: Mapping[str, VariantSummary], timing: Sequence[Timing]) -> Advice:
    """What to ship, per measured call pattern; nothing when the model loses to its baseline."""
    if verdict:
        return Advice(blocked=True)
    choices = tuple(c for c in (pick(variants, timing, m) for m in MODES) if c is not None)
    refused = {v: s.stream_note for v, s in variants.items() if not s.stream_ok and s.stream_note}
    return Advice(ship=choices, not_for_streaming=refused)


def _ms(value: float) -> str:
    return f"{value * 1000:.0f} µs" if value < 1 else f"{value:.2f} ms"


def _kib(size: int) -> str:
    return f"{size / 1024:.1f} KiB"


def describe(choice: Choice, variants: Mapping[str, VariantSummary], code: Callable[[str], str] = str) -> str:
    """One sentence for one call pattern's pick; ``code`` marks up variant names."""
    name = choice.variant
    what = "whole sequences" if choice.mode == "sequence" else "streaming (one step per call)"
    length = f", T={choice.seq}" if choice.mode == "sequence" and choice.seq else ""
    unit = "per sequence" if choice.mode == "sequence" else "per step"
    size = _kib(choice.size_bytes) + (f", {choice.size_ratio:.2f}x fp32's size" if name != FP32 else "")
    text = (
        f"for {what}{length}, batch 1: {code(name)} ({VARIANT_FILES.get(name, name)}, {size}), "
        f"p50 {_ms(choice.p50_ms)} {unit}"
    )
    if choice.speedup is not None and name != FP32:
        text += f", {choice.speedup:.2f}x fp32's speed"
    if name == FP32 and choice.others:
        slower = ", ".join(
            f"{v} {_ms(ms)} and {_kib(variants[v].size_bytes)}" for v, ms in choice.others.items()
        )
        text += f" ({slower}: not faster by more than {NOISE - 1:.0%})"
    return text


def advice_lines(
    advice: Advice,
    variants: Mapping[str, VariantSummary],
    *,
    strong: Callable[[str], str] = str,
    code: Callable[[str], str] = str,
) -> list[str]:
    """The advice as lines, marked up by ``strong`` and ``code`` (markdown, rich or plain text)."""
    if advice.blocked:
        return [
            strong("Do not ship any variant") + ": the model does not beat its naive baseline (see above)."
        ]
    if not advice.ship:
        return ["No variant was timed on the CPU, so there is no recommendation."]
    names = {c.variant for c in advice.ship}
    head = strong(f"Ship {code(advice.ship[0].variant)}" if len(names) == 1 else "Ship by call pattern")
    lines = [
        f"{head}: the fastest variant within the metric budget, measured on this machine (CPU, 1 thread)."
    ]
    lines += [f"- {describe(c, variants, code)}" for c in advice.ship]
    lines += [f"- {code(v)} is not for streaming: {note}" for v, note in advice.not_for_streaming.items()]
    return lines
