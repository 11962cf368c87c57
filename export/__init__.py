"""edgernn.export: PyTorch -> ONNX with native recurrent ops, verified; quantized variants; inspect.

Heavy modules (torch, onnx) load on first use of the names below::

    from edgernn.export import ExportConfig, export, quantize
    report = export(model, example_x, "bundle")      # verified, or ExportError and nothing written
    report = export(model, example_x, "bundle", ExportConfig(lengths=True))  # or lengths=True
    quantize(report.as_bundle(), ["int8"])           # each variant gated, scored and timed
"""

from __future__ import annotations

from edgernn._lazy import lazy_names

_LAZY = {
    "export": ".api",
    "ExportMeta": ".api",
    "ExportReport": ".api",
    "ExportConfig": ".config",
    "ExportError": ".errors",
    "export_run": ".from_run",
    "export_trained": ".from_run",
    "quantize": ".quantization",
    "QuantizeConfig": ".quantization",
    "QuantizeReport": ".quantization",
    "inspect_path": ".inspection",
    "rnn_with_lengths": ".rnn_ops",
}

__all__ = sorted(_LAZY)
__getattr__, __dir__ = lazy_names(__name__, _LAZY)
