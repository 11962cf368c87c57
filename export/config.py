"""``ExportConfig``: every knob of an export, each default with its reason."""

from __future__ import annotations

from dataclasses import dataclass

EXPORTERS = ("auto", "torchscript", "dynamo")
# Tried in this order by exporter="auto"; the first that passes verification wins. The TorchScript
# exporter is deprecated upstream: dropping it is a matter of removing it from this tuple.
AUTO_ORDER = ("torchscript", "dynamo")


@dataclass(frozen=True)
class ExportConfig:
    """How to export and how hard to verify. CLI flags of ``edgernn export`` map onto these fields."""

    topology: str = "many_to_many"  # many_to_one | many_to_many | one_to_many
    state: bool = True  # module follows forward(x, state) -> (y, state); state becomes graph I/O
    lengths: bool = False  # add an int64 `lengths` input mapped to the op's sequence_lens
    opset: int = 17  # 17 loads in older edge runtimes and has every recurrent op we need
    exporter: str = "auto"  # auto | torchscript | dynamo
    atol: float = 1e-5  # fp32 tolerance: exporter and ORT kernels agree to ~1e-6 on tiny models
    rtol: float = 1e-4
    verify_lengths: tuple[int, ...] = (1, 0, -1)  # 0 = the example's length, -1 = 2x example + 3
    verify_batches: tuple[int, ...] = (1, 3)  # two batch sizes, one of them 1 (the streaming case)
    stream_chunk: int = 3  # chunk size for the chunked-streaming check
    allow_unrolled: bool = False  # accept Loop/Scan or missing native nodes (never by default)
    ort_format: bool = False  # also write model.ort + required-operators config for minimal builds
    seed: int = 0  # random verification inputs are reproducible
