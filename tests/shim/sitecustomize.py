"""Counts what a process (and every child that inherits PYTHONPATH) opens: onnxruntime sessions,
bundle loads, manifest parses, eval.npz reads, opens of the run's and bundle's JSON files and
constructions of the PyTorch model, one line each in $EDGERNN_COUNT_LOG.

Used by tests/cli/test_pipeline.py (test_pipeline_on_bundled_data) as ``PYTHONPATH=tests/shim``; Python imports this module
at start-up, and it patches the counted functions right after their modules first load.
"""

import importlib.abc
import os
import sys

LOG = os.environ.get("EDGERNN_COUNT_LOG")


def _record(kind, what):
    with open(LOG, "a", encoding="utf-8") as f:
        f.write(f"{os.getpid()}\t{kind}\t{what}\n")


def _wrap(owner, attr, kind, describe):
    original = getattr(owner, attr)

    def counted(*args, **kwargs):
        _record(kind, describe(*args, **kwargs))
        return original(*args, **kwargs)

    setattr(owner, attr, counted)


def _ort(module):
    cls = module.InferenceSession
    init = cls.__init__

    def counted(self, path_or_bytes, *args, **kwargs):
        _record("session", path_or_bytes if isinstance(path_or_bytes, str) else "<bytes>")
        init(self, path_or_bytes, *args, **kwargs)

    cls.__init__ = counted


def _numpy(module):
    def describe(file, *args, **kwargs):
        return str(file)

    original = module.load

    def load(file, *args, **kwargs):
        if str(file).endswith("eval.npz"):
            _record("eval_read", describe(file))
        return original(file, *args, **kwargs)

    module.load = load


def _bundle(module):
    original = module.Bundle.load.__func__

    def load(cls, path):
        _record("bundle_load", str(path))
        return original(cls, path)

    module.Bundle.load = classmethod(load)


def _manifest(module):
    original = module.Manifest.from_dict.__func__

    def from_dict(cls, data):
        _record("manifest_parse", "")
        return original(cls, data)

    module.Manifest.from_dict = classmethod(from_dict)


def _model(module):
    init = module.SequenceModel.__init__

    def counted(self, *args, **kwargs):
        _record("model_built", "")
        init(self, *args, **kwargs)

    module.SequenceModel.__init__ = counted


WATCHED = ("config.json", "metrics.jsonl", "manifest.json")  # file names whose opens are counted


def _opens():
    """Count every open of a watched file name, through ``open`` and pathlib alike."""
    import builtins
    import io

    original = io.open

    def counted(file, *args, **kwargs):
        name = os.fspath(file) if isinstance(file, str | os.PathLike) else ""
        if isinstance(name, str) and name.endswith(WATCHED):
            _record("open", os.path.basename(name))
        return original(file, *args, **kwargs)

    builtins.open = io.open = counted


PATCHES = {
    "edgernn.train.model": _model,
    "onnxruntime.capi.onnxruntime_inference_collection": _ort,
    "numpy": _numpy,
    "edgernn.runtime.bundle": _bundle,
    "edgernn.runtime.manifest": _manifest,
}


class _AfterImport(importlib.abc.MetaPathFinder):
    """Find a patched module with the other finders, then patch it right after it executes."""

    def find_spec(self, name, path=None, target=None):
        patch = PATCHES.get(name)
        if patch is None:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                break
        else:
            return None
        execute = spec.loader.exec_module

        def exec_module(module):
            execute(module)
            patch(module)

        spec.loader.exec_module = exec_module
        return spec


if LOG:
    sys.meta_path.insert(0, _AfterImport())
    _opens()
