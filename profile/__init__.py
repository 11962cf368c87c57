"""edgernn.profile: latency of a bundle's variants over providers, threads, batch and sequence
length, in sequence or stream mode, beside optional PyTorch baselines.

numpy and onnxruntime only; torch loads only for ``--torch`` baselines and matplotlib for plots::

    from edgernn.profile import ProfileConfig, profile
    report = profile("bundle", ProfileConfig(mode="stream"))
"""

from __future__ import annotations

if __name__ == "profile":  # pragma: no cover - exercised in a subprocess test
    # This folder is `edgernn.profile`; run from the repository root (`python -m ...`, `python -c`),
    # it would shadow the standard library's `profile`, which cProfile (and torch) import. Hand the
    # import over to the real module.
    import importlib.util
    import sys
    import sysconfig
    from pathlib import Path

    _spec = importlib.util.spec_from_file_location(
        "profile", Path(sysconfig.get_path("stdlib")) / "profile.py"
    )
    sys.modules["profile"] = _std = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(_std)
else:
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
