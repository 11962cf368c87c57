"""Bundle loading checks the files it uses against their sha256."""

from __future__ import annotations

import json

import pytest
from bundles import write_bundle
from onnx_models import stacked_lstm

from edgernn.runtime.bundle import Bundle
from edgernn.runtime.errors import BundleError


@pytest.fixture
def bundle_dir(tmp_path):
    return write_bundle(tmp_path / "b", stacked_lstm())


def test_load_and_checked_model_path(bundle_dir):
    bundle = Bundle.load(bundle_dir)
    assert bundle.variants() == ["fp32"]
    assert bundle.model_path("fp32") == bundle_dir / "model.onnx"
    assert bundle.verify() == {"model.onnx": "ok"}


def test_tampered_model_is_refused(bundle_dir):
    with open(bundle_dir / "model.onnx", "ab") as f:
        f.write(b"\0")
    bundle = Bundle.load(bundle_dir)
    with pytest.raises(BundleError, match="sha256 mismatch"):
        bundle.model_path("fp32")
    assert bundle.verify() == {"model.onnx": "sha256 mismatch"}


def test_missing_model_and_variant(bundle_dir):
    bundle = Bundle.load(bundle_dir)
    with pytest.raises(BundleError, match="expected a 'int8' model variant, the bundle has: fp32"):
        bundle.model_path("int8")
    (bundle_dir / "model.onnx").unlink()
    with pytest.raises(BundleError, match="lists 'model.onnx', but the file is missing"):
        bundle.model_path("fp32")


@pytest.mark.parametrize("bad", ["../model.onnx", "/etc/passwd", "a/../../b.onnx"])
def test_paths_outside_the_bundle_are_refused(bundle_dir, bad):
    data = json.loads((bundle_dir / "manifest.json").read_text())
    data["files"][bad] = data["files"]["model.onnx"]
    (bundle_dir / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(BundleError, match="must be a plain path inside the bundle"):
        Bundle.load(bundle_dir)


def test_bad_manifest_json_and_missing_folder(tmp_path, bundle_dir):
    (bundle_dir / "manifest.json").write_text("{not json")
    with pytest.raises(BundleError, match="manifest.json: expected JSON"):
        Bundle.load(bundle_dir)
    with pytest.raises(BundleError, match="expected a bundle folder"):
        Bundle.load(tmp_path / "nope")
