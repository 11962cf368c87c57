"""What report.md recommends: the fastest variant within budget per call pattern, fp32 unless another
is clearly faster, never a variant refused for streaming for streams, nothing when the model loses."""

from __future__ import annotations

from edgernn.advice import advice_lines, advise, pick
from edgernn.runtime.records import Metric
from edgernn.summary import Timing, VariantSummary

CPU = "CPUExecutionProvider"
MD = {"strong": lambda s: f"**{s}**", "code": lambda s: f"`{s}`"}  # how report.md marks up the advice


def _summary(int8_seq: float, int8_step: float, stream_ok: bool = True, verdict=None):
    metric = Metric("rmse", 1.0, False)
    variants = {
        "fp32": VariantSummary(metric, 15565),
        "int8": VariantSummary(metric, 16794, stream_ok=stream_ok, stream_note="refused for streaming: +3%"),
    }
    timing = [
        Timing("fp32", "sequence", 70, CPU, p50_ms=0.052, p99_ms=4.5),
        Timing("int8", "sequence", 70, CPU, p50_ms=int8_seq, p99_ms=0.2),
        Timing("fp32", "stream", 70, CPU, p50_ms=0.017, p99_ms=0.05),
        Timing("int8", "stream", 70, CPU, p50_ms=int8_step, p99_ms=0.05),
    ]
    return {"variants": variants, "timing": timing, "verdict": verdict}


def recommendation(s):
    return advice_lines(advise(s["verdict"], s["variants"], s["timing"]), s["variants"], **MD)


def test_fp32_stays_unless_another_variant_is_clearly_faster():
    s = _summary(int8_seq=0.050, int8_step=0.018)  # 4 % faster on sequences: noise, and bigger
    assert pick(s["variants"], s["timing"], "sequence").variant == "fp32"
    lines = recommendation(s)
    assert lines[0].startswith("**Ship `fp32`**")
    assert "int8 50 µs and 16.4 KiB: not faster by more than 5%" in lines[1]
    fast = _summary(int8_seq=0.020, int8_step=0.010)
    choice = pick(fast["variants"], fast["timing"], "sequence")
    assert choice.variant == "int8" and round(choice.speedup, 2) == 2.6
    assert recommendation(fast)[0].startswith("**Ship `int8`**")


def test_a_variant_refused_for_streaming_is_never_recommended_for_streams():
    s = _summary(int8_seq=0.020, int8_step=0.005, stream_ok=False)
    assert pick(s["variants"], s["timing"], "stream").variant == "fp32"
    lines = recommendation(s)
    assert lines[0].startswith("**Ship by call pattern**")
    assert lines[-1] == "- `int8` is not for streaming: refused for streaming: +3%"


def test_a_model_that_loses_to_its_baseline_is_not_recommended():
    lines = recommendation(_summary(0.02, 0.01, verdict="not better than persistence"))
    assert lines == ["**Do not ship any variant**: the model does not beat its naive baseline (see above)."]
