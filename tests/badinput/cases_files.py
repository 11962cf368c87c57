"""Bad model files, bundles and checkpoints."""

from __future__ import annotations

import os
from pathlib import Path

from edgernn.runtime import Bundle, BundleError, Session
from edgernn.train.errors import RunError

from . import inputs
from .registry import case, write_csv


# ---- ONNX files ------------------------------------------------------------------------------
@case("onnx-truncated-inspect", "model.onnx", "expected an ONNX model, could not parse it")
def _(tmp, base):
    return ["inspect", inputs.truncated(base.model, tmp / "model.onnx")]


@case("onnx-truncated-load", "model.onnx", "truncated or corrupt", error=BundleError)
def _(tmp, base):
    path = inputs.truncated(base.model, tmp / "model.onnx")
    return lambda: Session.load(path)


@case("onnx-random-bytes-run", "random.onnx", "expected an ONNX model, could not parse it")
def _(tmp, base):
    return ["run", inputs.random_bytes(tmp / "random.onnx"), write_csv(tmp, "1,2,3\n")]


@case("onnx-random-bytes-inspect", "random.onnx", "could not parse it", error=BundleError)
def _(tmp, base):
    from edgernn.export.inspection import inspect_path

    path = inputs.random_bytes(tmp / "random.onnx", seed=1)
    return lambda: inspect_path(path)


@case("onnx-checker-inspect", "bad.onnx", "fails the ONNX checker", "'nope'")
def _(tmp, base):
    return ["inspect", inputs.fails_checker(tmp / "bad.onnx")]


@case("onnx-checker-run", "bad.onnx", "onnxruntime could not load the model", "'nope'")
def _(tmp, base):
    return ["run", inputs.fails_checker(tmp / "bad.onnx"), write_csv(tmp, "1,2,3\n")]


@case("onnx-not-recurrent-stream", "mlp.onnx", "expected a model with state inputs/outputs to stream")
def _(tmp, base):
    return ["run", inputs.not_recurrent(tmp / "mlp.onnx"), write_csv(tmp, "1,2,3\n4,5,6\n"), "--stream"]


@case("module-not-recurrent-export", "holds no nn.LSTM, nn.GRU or nn.RNN", torch=True)
def _(tmp, base):
    import torch

    from edgernn.export import export

    return lambda: export(torch.nn.Linear(3, 2), torch.zeros(1, 4, 3), tmp / "out", state=False)


# ---- external data that points outside the model's folder -------------------------------------
@case("external-parent-inspect", "'../secret.bin'", "climbs out of the model's folder")
def _(tmp, base):
    (tmp / "secret.bin").write_bytes(b"secret" * 40)
    return ["inspect", inputs.external_data_model(tmp / "m" / "model.onnx", "../secret.bin")]


@case("external-absolute-run", "'/etc/passwd'", "an absolute path")
def _(tmp, base):
    return ["run", inputs.external_data_model(tmp / "model.onnx", "/etc/passwd"), write_csv(tmp, "1,2,3\n")]


@case("external-absolute-load", "secret.bin", "an absolute path", error=BundleError)
def _(tmp, base):
    (tmp / "secret.bin").write_bytes(b"secret" * 40)
    path = inputs.external_data_model(tmp / "m" / "model.onnx", str(tmp / "secret.bin"))
    return lambda: Session.load(path, provider="cpu")


@case("external-symlink-load", "'w.bin'", "through a link", "outside the model's folder", error=BundleError)
def _(tmp, base):
    (tmp / "secret.bin").write_bytes(b"secret" * 40)
    path = inputs.external_data_model(tmp / "m" / "model.onnx", "w.bin")
    os.symlink(tmp / "secret.bin", tmp / "m" / "w.bin")
    return lambda: Session.load(path, provider="cpu")


# ---- bundles ---------------------------------------------------------------------------------
def _tamper(bundle: Path) -> Path:
    (bundle / "model.onnx").write_bytes((bundle / "model.onnx").read_bytes() + b"\0")
    return bundle


@case("bundle-tampered-run", "model.onnx", "sha256 mismatch", "changed after export")
def _(tmp, base):
    return ["run", _tamper(base.copy_bundle(tmp / "b")), write_csv(tmp, "1,2,3\n")]


@case("bundle-tampered-load", "model.onnx", "sha256 mismatch", error=BundleError)
def _(tmp, base):
    bundle = _tamper(base.copy_bundle(tmp / "b"))
    return lambda: Session.load(bundle)


@case("bundle-missing-file-run", "lists 'model.onnx', but the file is missing")
def _(tmp, base):
    bundle = base.copy_bundle(tmp / "b")
    (bundle / "model.onnx").unlink()
    return ["run", bundle, write_csv(tmp, "1,2,3\n")]


@case("bundle-schema-version-inspect", "manifest.json", "'schema_version': expected 1, got 2")
def _(tmp, base):
    return [
        "inspect",
        inputs.edit_manifest(base.copy_bundle(tmp / "b"), lambda d: d.update(schema_version=2)),
    ]


@case("bundle-unknown-field-load", "manifest.json", "'input.colour': unknown field", error=BundleError)
def _(tmp, base):
    bundle = inputs.edit_manifest(base.copy_bundle(tmp / "b"), lambda d: d["input"].update(colour="red"))
    return lambda: Bundle.load(bundle)


@case("bundle-missing-field-run", "manifest.json", "'output': required field is missing")
def _(tmp, base):
    return [
        "run",
        inputs.edit_manifest(base.copy_bundle(tmp / "b"), lambda d: d.pop("output")),
        write_csv(tmp, "1,2,3\n"),
    ]


@case(
    "bundle-manifest-not-json-load", "manifest.json", "expected JSON, could not parse it", error=BundleError
)
def _(tmp, base):
    bundle = base.copy_bundle(tmp / "b")
    (bundle / "manifest.json").write_text('{"name": "x",')
    return lambda: Bundle.load(bundle)


@case(
    "bundle-manifest-deep-json-load", "manifest.json", "expected JSON, could not parse it", error=BundleError
)
def _(tmp, base):
    bundle = base.copy_bundle(tmp / "b")
    (bundle / "manifest.json").write_text("[" * 100_000)
    return lambda: Bundle.load(bundle)


@case("bundle-path-escape-load", "'../model.onnx'", "plain path inside the bundle", error=BundleError)
def _(tmp, base):
    bundle = inputs.edit_manifest(
        base.copy_bundle(tmp / "b"), lambda d: d.update(files={"../model.onnx": d["files"]["model.onnx"]})
    )
    return lambda: Bundle.load(bundle)


@case("onnx-metadata-not-object-load", "edgernn.manifest", "expected an object", error=BundleError)
def _(tmp, base):
    path = inputs.with_metadata(tmp / "model.onnx", "[1, 2]")
    return lambda: Session.load(path, provider="cpu")


# ---- checkpoints: safetensors + JSON only, never unpickled ----------------------------------
@case("checkpoint-pickle-export", "model.safetensors", "edgernn never loads pickle", torch=True)
def _(tmp, base):
    run = base.copy_run(tmp / "run")
    inputs.hostile_pickle(run / "model.safetensors", marker=tmp / "UNPICKLED")
    return ["export", run, "--out", tmp / "bundle"]


@case("checkpoint-pt-only-load", "found model.pt", "refuses pickle", error=RunError, torch=True)
def _(tmp, base):
    from edgernn.train import load_run

    run = base.copy_run(tmp / "run")
    inputs.hostile_pickle(run / "model.pt", marker=tmp / "UNPICKLED")
    (run / "model.safetensors").unlink()
    return lambda: load_run(run)


@case(
    "checkpoint-extra-tensor-export",
    "weights do not match config.json",
    "unexpected: evil.weight",
    torch=True,
)
def _(tmp, base):
    run = base.copy_run(tmp / "run")
    inputs.extra_tensor(run / "model.safetensors")
    return ["export", run, "--out", tmp / "bundle"]


@case(
    "export-fails-verification",
    "no exporter produced a model that passes verification",
    "nothing was written",
    "torchscript: ",
    torch=True,
)
def _(tmp, base):
    return [
        "export",
        base.run,
        "--out",
        tmp / "bundle",
        "--exporter",
        "torchscript",
        "--atol",
        "0",
        "--rtol",
        "0",
    ]
