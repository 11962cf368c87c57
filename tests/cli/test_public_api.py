"""Each package's public names are what a user calls, and nothing else: the lists are pinned here,
so an internal helper never leaks into ``__all__`` (or out of it) without a decision."""

from __future__ import annotations

import importlib

import pytest

PUBLIC = {
    "edgernn": [
        "Bundle",
        "BundleError",
        "EdgernnError",
        "ExportError",
        "InputError",
        "Manifest",
        "PipelineConfig",
        "PipelineSummary",
        "ProviderError",
        "RunError",
        "Session",
        "TrainError",
        "__version__",
        "run_pipeline",
    ],
    "edgernn.runtime": [
        "Bundle",
        "BundleError",
        "EdgernnError",
        "FileEntry",
        "InputError",
        "InputSpec",
        "Manifest",
        "MissingDependencyError",
        "ModelRunError",
        "OutputSpec",
        "ProviderError",
        "ProviderFallbackWarning",
        "Result",
        "RuntimeConfig",
        "Session",
        "StateSpec",
        "Stream",
        "StreamBatcher",
        "StreamHandle",
        "UnsupportedError",
    ],
    "edgernn.export": [
        "ExportConfig",
        "ExportError",
        "ExportMeta",
        "ExportReport",
        "QuantizeConfig",
        "QuantizeReport",
        "export",
        "export_run",
        "export_trained",
        "inspect_path",
        "quantize",
        "rnn_with_lengths",
    ],
    "edgernn.train": [
        "DataConfig",
        "DataInfo",
        "ModelConfig",
        "RunConfig",
        "RunError",
        "RunInfo",
        "SequenceModel",
        "TrainConfig",
        "TrainError",
        "TrainedRun",
        "TrainingSummary",
        "load_dataset",
        "load_run",
        "load_trained",
        "run_training",
    ],
    "edgernn.profiling": [
        "Cell",
        "CellResult",
        "LatencyStats",
        "ProfileConfig",
        "ProfileReport",
        "over_budget",
        "profile",
        "write_outputs",
    ],
}


@pytest.mark.parametrize("package", sorted(PUBLIC))
def test_public_names_are_pinned_and_resolve(package):
    module = importlib.import_module(package)
    assert sorted(module.__all__) == PUBLIC[package]
    for name in module.__all__:  # every listed name loads (the lazy ones on first use)
        assert getattr(module, name) is not None, name


@pytest.mark.parametrize(
    "function", ["edgernn.export:export", "edgernn.export:quantize", "edgernn.profiling:profile"]
)
def test_every_stage_takes_its_config_object(function):
    """One way to configure: each stage's function takes its config as ``config``; the export
    gate's knobs are fields of ExportConfig, not 14 keyword arguments."""
    import inspect

    module, name = function.split(":")
    parameters = inspect.signature(getattr(importlib.import_module(module), name)).parameters
    assert "config" in parameters
    assert len([p for p in parameters.values() if p.kind is p.KEYWORD_ONLY]) <= 5


def test_a_keyword_shortcut_must_name_a_config_field(tmp_path):
    torch = pytest.importorskip("torch")
    from edgernn.export import ExportError, export

    with pytest.raises(ExportError, match=r"ExportConfig: no field 'lenghts'; expected some of .*lengths"):
        export(torch.nn.LSTM(2, 3, batch_first=True), torch.zeros(1, 4, 2), tmp_path / "b", lenghts=True)
    assert not (tmp_path / "b").exists()
