"""Hostile and careless inputs from the red-team pass of issue #14, each with its siblings, part 1:
the external-data guard, --out folders that are not ours, external data the manifest does not list,
and manifests that disagree with their graph (part 2, ``cases_hostile_inputs``: errors that used to
escape as tracebacks, outputs aimed into a bundle, unbounded costs, the leftovers)."""

from __future__ import annotations

import os
from pathlib import Path

import onnx
from _runtime_models import rnn_model
from onnx import TensorProto, helper

from edgernn.export.errors import ExportError
from edgernn.runtime import BundleError, Session
from edgernn.runtime.fileio import sha256_file

from . import inputs
from .registry import case, write_csv


# ---- 1. the external-data guard cannot be skipped ---------------------------------------------
def secret_model(folder: Path, *, producer: str = "ORTM", link: bool = True) -> Path:
    """``y = Identity(x)`` plus ``secret = Cast(w)``, ``w`` uint8 [1, 27, 1] kept in ``weights.bin``,
    a link to ``../secret/secret.txt``: the red team's repro (``ORTM`` lands at bytes 4..8)."""
    (folder / "secret").mkdir(parents=True, exist_ok=True)
    (folder / "secret" / "secret.txt").write_bytes(b"the secret is 42, keep out!")
    model_dir = folder / "model_dir"
    model_dir.mkdir(exist_ok=True)
    if link:
        os.symlink("../secret/secret.txt", model_dir / "weights.bin")
    w = TensorProto(name="w", data_type=TensorProto.UINT8, dims=[1, 27, 1])
    w.data_location = TensorProto.EXTERNAL
    for key, value in (("location", "weights.bin"), ("offset", "0"), ("length", "27")):
        entry = w.external_data.add()
        entry.key, entry.value = key, value
    nodes = [
        helper.make_node("Identity", ["x"], ["y"]),
        helper.make_node("Cast", ["w"], ["secret"], to=TensorProto.FLOAT),
    ]
    graph = helper.make_graph(
        nodes,
        "leak",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "time", 3])],
        [
            helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", "time", 3]),
            helper.make_tensor_value_info("secret", TensorProto.FLOAT, [1, 27, 1]),
        ],
        [w],
    )
    model = helper.make_model(graph, producer_name=producer, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(model_dir / "model.onnx"))
    return model_dir / "model.onnx"


@case("external-ortm-producer-run", "model.onnx", "onnxruntime could not load the model")
def _(tmp, base):
    path = secret_model(tmp)
    assert path.read_bytes()[4:8] == b"ORTM"
    return ["run", path, write_csv(tmp, "1,2,3\n"), "--out", tmp / "o.json"]


@case("external-ortm-producer-load", "model.onnx", "could not load the model", error=BundleError)
def _(tmp, base):
    path = secret_model(tmp)
    return lambda: Session.load(path, provider="cpu")


@case("external-ortm-producer-inspect", "model.onnx", "ORT-format model")
def _(tmp, base):
    return ["inspect", secret_model(tmp)]


@case("external-link-plain-producer-run", "'weights.bin'", "through a link", "outside the model's folder")
def _(tmp, base):
    return ["run", secret_model(tmp, producer="edgernn"), write_csv(tmp, "1,2,3\n"), "--out", tmp / "o.json"]


@case("external-in-subgraph-load", "in a subgraph or node attribute", error=BundleError)
def _(tmp, base):
    """onnxruntime would read a subgraph's external data from disk itself (relative to the working
    directory), so it is refused even inside the folder."""
    (tmp / "m").mkdir()
    (tmp / "m" / "inside.bin").write_bytes(bytes(16))
    path = _nested_external(tmp / "m" / "model.onnx", "inside.bin")
    return lambda: Session.load(path, provider="cpu")


def _nested_external(path: Path, location: str) -> Path:
    tensor = TensorProto(name="k", data_type=TensorProto.FLOAT, dims=[4])
    tensor.data_location = TensorProto.EXTERNAL
    entry = tensor.external_data.add()
    entry.key, entry.value = "location", location
    branch = helper.make_graph(
        [helper.make_node("Constant", [], ["c"], value=tensor)],
        "then",
        [],
        [helper.make_tensor_value_info("c", TensorProto.FLOAT, [4])],
    )
    graph = helper.make_graph(
        [helper.make_node("If", ["flag"], ["y"], then_branch=branch, else_branch=branch)],
        "g",
        [helper.make_tensor_value_info("flag", TensorProto.BOOL, [])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


# ---- 2. export --out never removes what edgernn did not write ---------------------------------
def _notes_folder(tmp: Path) -> Path:
    out = tmp / "d"
    (out / "sub").mkdir(parents=True)
    (out / "notes.txt").write_text("x\n")
    return out


@case("export-out-not-a-bundle", "--out", "is not empty and is not an edgernn bundle", torch=True)
def _(tmp, base):
    return ["export", base.run, "--out", _notes_folder(tmp)]


@case("export-out-is-the-run", "is the run directory", "or inside it", torch=True)
def _(tmp, base):
    run = base.copy_run(tmp / "run")
    return ["export", run, "--out", run]


@case("export-out-inside-the-run", "is the run directory", "or inside it", torch=True)
def _(tmp, base):
    run = base.copy_run(tmp / "run")
    return ["export", run, "--out", run / "bundle"]


@case("export-out-is-a-file", "keep.txt: is a regular file; expected a new folder", torch=True)
def _(tmp, base):
    (tmp / "keep.txt").write_text("mine")
    return ["export", base.run, "--out", tmp / "keep.txt"]


@case("export-out-is-a-link", "link: is a link; expected a new folder", torch=True)
def _(tmp, base):
    (tmp / "real").mkdir()
    os.symlink(tmp / "real", tmp / "link")
    return ["export", base.run, "--out", tmp / "link"]


@case("export-out-bundle-with-notes", "holds files it does not list", "notes.txt", torch=True)
def _(tmp, base):
    bundle = base.copy_bundle(tmp / "b")
    (bundle / "notes.txt").write_text("mine")
    return ["export", base.run, "--out", bundle]


@case(
    "export-api-out-not-a-bundle", "is not empty and is not an edgernn bundle", error=ExportError, torch=True
)
def _(tmp, base):
    import torch

    from edgernn.export import export

    out = _notes_folder(tmp)
    return lambda: export(torch.nn.GRU(3, 4, batch_first=True), torch.zeros(1, 4, 3), out)


# ---- 4. every file a model reads is listed and hashed -----------------------------------------
def _external_bundle(tmp: Path, base, *, listed: bool) -> Path:
    """The good bundle re-saved with its weights in ``w.bin``; the manifest knows the new model.onnx
    (and ``w.bin`` too when ``listed``)."""
    bundle = base.copy_bundle(tmp / "b")
    model = onnx.load(str(bundle / "model.onnx"))
    onnx.save(
        model, str(bundle / "model.onnx"), save_as_external_data=True, location="w.bin", size_threshold=0
    )

    def relist(data):
        data["files"]["model.onnx"]["sha256"] = sha256_file(bundle / "model.onnx")
        if listed:
            data["files"]["w.bin"] = {
                "sha256": sha256_file(bundle / "w.bin"),
                "size_bytes": 1,
                "role": "data",
            }

    return inputs.edit_manifest(bundle, relist)


@case("bundle-external-unlisted-run", "'w.bin', which manifest.json does not list")
def _(tmp, base):
    return ["run", _external_bundle(tmp, base, listed=False), write_csv(tmp, "1,2,3\n")]


@case("bundle-external-tampered-load", "w.bin", "sha256 mismatch", error=BundleError)
def _(tmp, base):
    bundle = _external_bundle(tmp, base, listed=True)
    data = bytearray((bundle / "w.bin").read_bytes())
    data[0] ^= 0x40
    (bundle / "w.bin").write_bytes(bytes(data))
    return lambda: Session.load(bundle, provider="cpu")


@case("bundle-file-links-outside-run", "'model.onnx' resolves (through a link)", "outside the bundle")
def _(tmp, base):
    bundle = base.copy_bundle(tmp / "b")
    os.replace(bundle / "model.onnx", tmp / "elsewhere.onnx")
    os.symlink(tmp / "elsewhere.onnx", bundle / "model.onnx")
    return ["run", bundle, write_csv(tmp, "1,2,3\n")]


# ---- 6. the manifest is checked against the graph at load --------------------------------------
def _manifest_case(tmp, base, change, *, model: onnx.ModelProto | None = None) -> Path:
    bundle = base.copy_bundle(tmp / "b")
    if model is not None:
        onnx.save(model, str(bundle / "model.onnx"))

    def edit(data):
        data["files"]["model.onnx"]["sha256"] = sha256_file(bundle / "model.onnx")
        change(data)

    return inputs.edit_manifest(bundle, edit)


def _state_dim(value):
    return lambda d: d["state"][0].update(shape=[1, "batch", value])


@case("manifest-state-dim-vs-graph-run", "state 'h0'", "manifest shape [1, 'batch', 9]")
def _(tmp, base):
    return ["run", _manifest_case(tmp, base, _state_dim(9)), write_csv(tmp, "1,2,3\n")]


@case("manifest-state-dim-negative-load", "'state[0].shape'", "got -8", error=BundleError)
def _(tmp, base):
    bundle = _manifest_case(tmp, base, _state_dim(-8))
    return lambda: Session.load(bundle, provider="cpu")


@case("manifest-state-dim-huge-run", "'state[0].shape'", "got 1000000000000")
def _(tmp, base):
    return ["run", _manifest_case(tmp, base, _state_dim(10**12)), write_csv(tmp, "1,2,3\n")]


@case("manifest-hidden-16-swapped-in-run", "manifest shape [1, 'batch', 5]", "graph [1, 'batch', 16]")
def _(tmp, base):
    swapped = rnn_model("lstm", features=3, hidden=16, out=2, seed=9)
    return ["run", _manifest_case(tmp, base, lambda d: None, model=swapped), write_csv(tmp, "1,2,3\n")]


@case("manifest-labels-count-load", "'output.labels': expected 2 labels", error=BundleError)
def _(tmp, base):
    bundle = _manifest_case(tmp, base, lambda d: d["output"].update(kind="classes", labels=["only"]))
    return lambda: Session.load(bundle, provider="cpu")


@case("manifest-output-std-1e39-run", "'output.std'", "float32 range", "1e+39")
def _(tmp, base):
    return [
        "run",
        _manifest_case(tmp, base, lambda d: d["output"].update(std=[1e39, 1.0])),
        write_csv(tmp, "1,2,3\n"),
    ]


@case("manifest-input-std-zero-load", "'input.std'", "values > 0", error=BundleError)
def _(tmp, base):
    bundle = _manifest_case(tmp, base, lambda d: d["input"].update(std=[1.0, 0.0, 1.0]))
    return lambda: Session.load(bundle, provider="cpu")


@case("manifest-output-size-vs-graph-load", "output.size is 7", "has 2", error=BundleError)
def _(tmp, base):
    bundle = _manifest_case(tmp, base, lambda d: d["output"].update(size=7))
    return lambda: Session.load(bundle, provider="cpu")


@case("manifest-layers-zero-load", "'layers': expected an int in [1,", "got 0", error=BundleError)
def _(tmp, base):
    bundle = _manifest_case(tmp, base, lambda d: d.update(layers=0))
    return lambda: Session.load(bundle, provider="cpu")


@case("manifest-hidden-size-vs-state-run", "hidden_size is 6", "state 'h0' has 5")
def _(tmp, base):
    return ["run", _manifest_case(tmp, base, lambda d: d.update(hidden_size=6)), write_csv(tmp, "1,2,3\n")]


@case("graph-extra-outputs-run", "the manifest describes outputs ['y', 'hn', 'cn']", "'extra'")
def _(tmp, base):
    model = rnn_model("lstm", features=3, hidden=5, out=2)
    model.graph.node.append(helper.make_node("Identity", ["x"], ["extra"]))
    model.graph.output.append(helper.make_tensor_value_info("extra", TensorProto.FLOAT, ["batch", "time", 3]))
    return ["run", _manifest_case(tmp, base, lambda d: None, model=model), write_csv(tmp, "1,2,3\n")]
