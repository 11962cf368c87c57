"""edgernn.export: PyTorch -> ONNX with native recurrent ops, verified; quantized variants; inspect.

Heavy modules (torch, onnx) load on first use of the names below::

    from edgernn.export import export, quantize
    report = export(model, example_x, "bundle")      # verified, or ExportError and nothing written
    quantize("bundle", ["int8"])                       # each variant gated, scored and timed
"""

from __future__ import annotations

from edgernn._lazy import lazy_names

_LAZY = {
    "export": ".api",
    "ExportMeta": ".api",
    "ExportReport": ".api",
    "ExportConfig": ".config",
    "ExportError": ".errors",
    "Check": ".verify",
    "quantize": ".quantization",
    "QuantizeConfig": ".quantization",
    "QuantizeReport": ".quantization",
    "VariantResult": ".quantization",
    "inspect_path": ".inspection",
    "summarize": ".graph",
    "load_model": ".graph",
    "rnn_with_lengths": ".rnn_ops",
}

__all__ = sorted(_LAZY)
__getattr__, __dir__ = lazy_names(__name__, _LAZY)
