"""edgernn.profiling: latency of a bundle's variants over providers, threads, batch and sequence
length, in sequence or stream mode, beside optional PyTorch baselines.

numpy and onnxruntime only; torch loads only for ``--torch`` baselines and matplotlib for plots::

    from edgernn.profiling import ProfileConfig, profile
    report = profile("bundle", ProfileConfig(mode="stream"))
"""

from __future__ import annotations

from edgernn._lazy import lazy_names

_LAZY = {
    "profile": ".engine",
    "ProfileConfig": ".config",
    "ProfileReport": ".result",
    "CellResult": ".result",
    "Cell": ".result",
    "over_budget": ".result",
    "LatencyStats": ".stats",
    "write_outputs": ".report",
}

__all__ = sorted(_LAZY)
__getattr__, __dir__ = lazy_names(__name__, _LAZY)
