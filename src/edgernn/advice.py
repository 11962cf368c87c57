"""What a pipeline run says first: whether the model beats its naive baseline, and which variant to
ship for each measured call pattern (whole sequences, stream steps)."""

from __future__ import annotations

from typing import Any

from edgernn.runtime.vocab import CPU, FP32, VARIANT_FILES

NOISE = 1.05  # another variant must beat fp32's p50 by more than this to be worth its rounding


def pick(variants: dict[str, Any], timing: list[dict[str, Any]], mode: str) -> dict[str, Any] | None:
    """The variant to ship for ``mode`` (``sequence`` or ``stream``): the fastest p50 on the CPU among
    the variants kept within the metric budget (and allowed to stream), fp32 unless another is clearly
    faster; None when nothing was timed."""
    rows = {
        t["variant"]: t
        for t in timing
        if t["mode"] == mode
        and t["provider"] == CPU
        and t.get("p50_ms")
        and t["variant"] in variants
        and (mode != "stream" or variants[t["variant"]].get("stream_ok", True))
    }
    if not rows:
        return None
    best = min(rows.values(), key=lambda t: t["p50_ms"])
    fp32 = rows.get(FP32)
    if fp32 is not None and best is not fp32 and best["p50_ms"] * NOISE > fp32["p50_ms"]:
        best = fp32
    name = best["variant"]
    size, fp32_size = variants[name]["size_bytes"], variants[FP32]["size_bytes"]
    return {
        "variant": name,
        "mode": mode,
        "seq": best.get("seq"),
        "p50_ms": best["p50_ms"],
        "speedup": fp32["p50_ms"] / best["p50_ms"] if fp32 else None,
        "size_bytes": size,
        "size_ratio": size / fp32_size,
        "others": {v: t["p50_ms"] for v, t in rows.items() if v != name},
    }


def _ms(value: float) -> str:
    return f"{value * 1000:.0f} µs" if value < 1 else f"{value:.2f} ms"


def _kib(size: int) -> str:
    return f"{size / 1024:.1f} KiB"


def describe(choice: dict[str, Any], variants: dict[str, Any]) -> str:
    """One sentence for one call pattern's pick."""
    name = choice["variant"]
    what = "whole sequences" if choice["mode"] == "sequence" else "streaming (one step per call)"
    length = f", T={choice['seq']}" if choice["mode"] == "sequence" and choice.get("seq") else ""
    unit = "per sequence" if choice["mode"] == "sequence" else "per step"
    size = _kib(choice["size_bytes"]) + (f", {choice['size_ratio']:.2f}x fp32's size" if name != FP32 else "")
    text = (
        f"for {what}{length}, batch 1: `{name}` ({VARIANT_FILES.get(name, name)}, {size}), "
        f"p50 {_ms(choice['p50_ms'])} {unit}"
    )
    if choice["speedup"] is not None and name != FP32:
        text += f", {choice['speedup']:.2f}x fp32's speed"
    if name == FP32 and choice["others"]:
        slower = ", ".join(
            f"{v} {_ms(ms)} and {_kib(variants[v]['size_bytes'])}" for v, ms in choice["others"].items()
        )
        text += f" ({slower}: not faster by more than {NOISE - 1:.0%})"
    return text


def recommendation(summary: dict[str, Any]) -> list[str]:
    """The report's opening lines after the verdict: what to ship, per measured call pattern."""
    if summary.get("verdict"):
        return ["**Do not ship any variant**: the model does not beat its naive baseline (see above)."]
    variants, timing = summary["variants"], summary["timing"]
    choices = [c for c in (pick(variants, timing, m) for m in ("sequence", "stream")) if c is not None]
    if not choices:
        return ["No variant was timed on the CPU, so there is no recommendation."]
    names = {c["variant"] for c in choices}
    head = f"**Ship `{choices[0]['variant']}`**" if len(names) == 1 else "**Ship by call pattern**"
    lines = [
        f"{head}: the fastest variant within the metric budget, measured on this machine (CPU, 1 thread)."
    ]
    lines += [f"- {describe(c, variants)}" for c in choices]
    refused = {
        v: i["stream_note"] for v, i in variants.items() if not i.get("stream_ok", True) and i["stream_note"]
    }
    lines += [f"- `{v}` is not for streaming: {note}" for v, note in refused.items()]
    return lines
