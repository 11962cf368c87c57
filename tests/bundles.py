"""Write small bundles (model file + manifest.json) for tests."""

from __future__ import annotations

import json
from pathlib import Path

import onnx

from edgernn.runtime.fileio import sha256_file
from edgernn.runtime.manifest import FileEntry, InputSpec, Manifest, OutputSpec, StateSpec


def lstm_manifest(**overrides) -> Manifest:
    """A plausible manifest of a 2-layer LSTM many_to_many regressor."""
    fields = dict(
        name="tiny-lstm",
        topology="many_to_many",
        cell="lstm",
        layers=2,
        hidden_size=8,
        input=InputSpec(name="x", features=4, mean=(0.0, 1.0, 2.0, 3.0), std=(1.0, 1.0, 2.0, 2.0)),
        output=OutputSpec(name="y", kind="regression", size=8, units="spots"),
        state=(StateSpec("h0", "hn", (2, "batch", 8)), StateSpec("c0", "cn", (2, "batch", 8))),
        opset=17,
        producer={"edgernn": "0.1.0"},
    )
    fields.update(overrides)
    return Manifest(**fields)


def write_bundle(root: Path, model: onnx.ModelProto, manifest: Manifest | None = None) -> Path:
    """Save ``model`` as ``root/model.onnx`` and a manifest listing it with its sha256."""
    root.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(root / "model.onnx"))
    path = root / "model.onnx"
    entry = FileEntry(sha256=sha256_file(path), size_bytes=path.stat().st_size, variant="fp32")
    manifest = manifest or lstm_manifest()
    data = manifest.to_dict()
    data["files"] = {
        "model.onnx": {
            "sha256": entry.sha256,
            "size_bytes": entry.size_bytes,
            "variant": "fp32",
            "role": "model",
        }
    }
    (root / "manifest.json").write_text(json.dumps(data, indent=2))
    return root
