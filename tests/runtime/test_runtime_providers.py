"""Provider selection, fallback policy, variant choice and thread settings.

GPU paths cannot run here; they are tested through the pure selection functions and through a
CPU-only onnxruntime that is told CUDA exists (it then reports CPU, and the policy must notice).
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import onnxruntime as ort
import pytest
from _runtime_models import make_bundle, rnn_model

from edgernn.runtime import InputError, ProviderError, ProviderFallbackWarning, RuntimeConfig, Session
from edgernn.runtime import providers as prov

CPU, CUDA, TRT, OV = prov.CPU, prov.CUDA, prov.TENSORRT, prov.OPENVINO


@pytest.mark.parametrize(
    ("provider", "available", "wanted", "chain"),
    [
        ("auto", [CPU], [CPU], [CPU]),
        ("auto", [CUDA, CPU], [CPU], [CPU]),  # auto: the CPU, big batches routed to CUDA per call
        ("cpu", [CUDA, CPU], [CPU], [CPU]),
        ("cuda", [CUDA, CPU], [CUDA], [CUDA, CPU]),
        ("cuda", [CPU], [CUDA], [CPU]),
        ("tensorrt", [TRT, CUDA, CPU], [TRT, CUDA, CPU], [TRT, CUDA, CPU]),
        ("tensorrt", [CUDA, CPU], [TRT, CUDA, CPU], [CUDA, CPU]),
        (["cuda", "cpu"], [CPU], [CUDA, CPU], [CPU]),
        (["OpenVINOExecutionProvider"], [CPU], ["OpenVINOExecutionProvider"], [CPU]),
        ("openvino", [OV, CPU], [OV], [OV, CPU]),
        ("OpenVINO", [CPU], [OV], [CPU]),
    ],
)
def test_resolve_providers(provider, available, wanted, chain):
    assert prov.resolve_providers(provider, available) == (wanted, chain)


@pytest.mark.parametrize("bad", ["gpu", "", []])
def test_resolve_refuses_unknown(bad):
    with pytest.raises(ProviderError, match="provider: expected"):
        prov.resolve_providers(bad, [CPU])


def test_fallback_policy():
    prov.check_fallback(CUDA, CUDA, "error")  # no fallback, nothing happens
    with pytest.raises(
        ProviderError, match=f"requested execution provider {CUDA}, but the session runs on {CPU}"
    ):
        prov.check_fallback(CUDA, CPU, "error")
    with pytest.warns(ProviderFallbackWarning, match="runs on CPUExecutionProvider"):
        prov.check_fallback(CUDA, CPU, "warn")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        prov.check_fallback(CUDA, CPU, "silent")
    with pytest.raises(ProviderError, match="fallback: expected one of warn, error, silent, got 'quiet'"):
        prov.check_fallback(CUDA, CPU, "quiet")


@pytest.mark.parametrize(
    ("variant", "have", "provider", "picked"),
    [
        ("auto", ["fp32", "int8", "fp16"], CPU, "int8"),
        ("auto", ["fp32", "int8", "fp16"], CUDA, "fp32"),  # fp16 only when asked for
        ("auto", ["fp32", "int8", "fp16"], TRT, "fp32"),
        ("auto", ["fp32", "int8"], CUDA, "fp32"),
        ("auto", ["fp32", "fp16"], CPU, "fp32"),
        ("auto", [], CPU, "fp32"),
        ("fp32", ["fp32", "int8"], CPU, "fp32"),
        ("auto", ["fp32", "int8"], OV, "fp32"),  # OpenVINO splits DynamicQuantizeLSTM with the CPU EP
    ],
)
def test_pick_variant(variant, have, provider, picked):
    assert prov.pick_variant(variant, have, provider) == picked


def test_requested_cuda_on_a_cpu_build_follows_the_policy(tmp_path):
    root = make_bundle(tmp_path / "b")
    x = np.ones((1, 3, 3), np.float32)
    with pytest.warns(ProviderFallbackWarning, match="requested execution provider CUDAExecutionProvider"):
        session = Session.load(root, provider="cuda")
    assert (session.provider, session.requested_provider) == (CPU, CUDA)
    assert session.describe()["providers"] == [CPU]
    np.testing.assert_array_equal(session.run(x).output, Session.load(root, provider="cpu").run(x).output)
    with pytest.raises(ProviderError, match="runs on CPUExecutionProvider \\(fallback='error'\\)"):
        Session.load(root, provider="cuda", fallback="error")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert Session.load(root, provider="cuda", fallback="silent").provider == CPU


def test_session_reports_what_actually_runs(tmp_path, monkeypatch):
    """onnxruntime is told CUDA is installed, so the session asks for it; the CPU build ignores it and
    get_providers() says CPU: the check after creation must catch that."""
    from edgernn.runtime import loading as session_module

    monkeypatch.setattr(session_module.ort, "get_available_providers", lambda: [CUDA, CPU])
    root = make_bundle(tmp_path / "b")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # onnxruntime's own note about the missing provider
        with pytest.raises(
            ProviderError,
            match="requested execution provider CUDAExecutionProvider, but the session runs on CPU",
        ):
            Session.load(root, provider="cuda", fallback="error")
        auto = Session.load(root, provider="auto", fallback="error")  # auto runs on the CPU
    assert (auto.requested_provider, auto.provider) == (CPU, CPU)
    assert auto.describe()["auto_gpu"] == {"min_batch": prov.AUTO_GPU_MIN_BATCH, "loaded": False, "error": ""}


def test_auto_fp16_on_a_session_that_lands_on_cpu_reloads_a_cpu_variant(tmp_path, monkeypatch):
    from edgernn.runtime import loading as session_module

    monkeypatch.setattr(session_module.ort, "get_available_providers", lambda: [CUDA, CPU])
    root = make_bundle(tmp_path / "b", extra={"model.fp16.onnx": rnn_model(seed=4)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        session = Session.load(root, provider="auto")
    assert (session.provider, session.variant) == (CPU, "fp32")


def test_thread_settings_are_explicit(tmp_path):
    root = make_bundle(tmp_path / "b")
    session = Session.load(root, provider="cpu", threads=1, options=RuntimeConfig(spin_wait=False))
    so = session._engine.ort.get_session_options()
    assert (so.intra_op_num_threads, so.inter_op_num_threads) == (1, 1)
    assert so.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert session.describe()["config"]["intra_op_threads"] == 1
    spin = Session.load(root, provider="cpu", options=RuntimeConfig(intra_op_threads=2, spin_wait=True))
    assert spin._engine.ort.get_session_options().intra_op_num_threads == 2
    assert (
        spin._engine.ort.get_session_options().get_session_config_entry("session.inter_op.allow_spinning")
        == "1"
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"intra_op_threads": 0}, "intra_op_threads: expected a positive int or None, got 0"),
        ({"inter_op_threads": -2}, "inter_op_threads: expected a positive int or None, got -2"),
        ({"graph_optimization": "max"}, "graph_optimization: expected one of disable, basic, extended, all"),
    ],
)
def test_runtime_config_is_checked(kwargs, message):
    with pytest.raises(InputError, match=message):
        RuntimeConfig(**kwargs)


def test_device_of_providers():
    config = RuntimeConfig(device_id=1)
    assert prov.device_of(CUDA, config) == ("cuda", 1)
    assert prov.device_of(TRT, config) == ("cuda", 1)
    assert prov.device_of(CPU, config) == ("cpu", 0)
    assert prov.provider_options([TRT, CUDA, CPU], config) == [
        (TRT, {"device_id": "1"}),
        (CUDA, {"device_id": "1", "use_tf32": "0"}),  # fp32 stays fp32 unless TF32 is asked for
        CPU,
    ]
    tf32 = RuntimeConfig(cuda_tf32=True)  # device 0 goes unnamed: naming it makes onnxruntime warn
    assert prov.provider_options([CUDA], tf32, cuda_graph=True) == [
        (CUDA, {"use_tf32": "1", "enable_cuda_graph": "1"})
    ]


def test_openvino_options_keep_fp32_unless_bf16_is_asked_for():
    fp32 = prov.provider_options([OV, CPU], RuntimeConfig(intra_op_threads=1))
    assert fp32[1] == CPU and fp32[0][0] == OV
    options = fp32[0][1]
    assert options["device_type"] == "CPU" and options["precision"] == "FP32"  # the only CPU precisions
    assert options["num_of_threads"] == "1" and options["num_streams"] == "1"
    assert json.loads(options["load_config"]) == {
        "CPU": {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32"}
    }
    bf16 = prov.openvino_options(RuntimeConfig(openvino_bf16=True))
    assert json.loads(bf16["load_config"])["CPU"]["INFERENCE_PRECISION_HINT"] == "bf16"
    assert "num_of_threads" not in bf16  # unset threads: OpenVINO's own default
    assert prov.device_of(OV, RuntimeConfig()) == ("cpu", 0)  # streams keep host buffers


@pytest.mark.skipif(OV in ort.get_available_providers(), reason="the OpenVINO EP is installed here")
def test_openvino_without_its_build_falls_back_by_policy(tmp_path):
    root = make_bundle(tmp_path / "b")
    with pytest.warns(ProviderFallbackWarning, match=f"requested execution provider {OV}"):
        assert Session.load(root, provider="openvino").provider == CPU
    with pytest.raises(ProviderError, match="fallback='error'"):
        Session.load(root, provider="openvino", fallback="error")


@pytest.mark.openvino
@pytest.mark.skipif(OV not in ort.get_available_providers(), reason="needs onnxruntime-openvino")
def test_openvino_runs_exact_fp32_and_bf16_close(tmp_path):
    root = make_bundle(tmp_path / "b", cell="gru", layers=2, hidden=16)
    x = np.random.default_rng(0).standard_normal((2, 9, 3)).astype(np.float32)
    cpu = Session.load(root, provider="cpu", threads=1)
    fp32 = Session.load(root, provider="openvino", threads=1, fallback="error")
    assert fp32.provider == OV
    np.testing.assert_allclose(fp32.run(x).output, cpu.run(x).output, atol=1e-5)
    stream = fp32.stream(2)
    steps = np.stack([stream.step(x[:, t]).output for t in range(9)], 1)
    np.testing.assert_allclose(steps, cpu.run(x).output, atol=1e-5)
    bf16 = Session.load(
        root, provider="openvino", options=RuntimeConfig(intra_op_threads=1, openvino_bf16=True)
    )
    np.testing.assert_allclose(bf16.run(x).output, cpu.run(x).output, atol=5e-2)


def test_a_gpu_provider_that_fails_to_start_falls_back_by_policy(tmp_path, monkeypatch):
    """onnxruntime-gpu installed, but no usable GPU: creating the CUDA session fails."""
    from edgernn.runtime import loading
    from edgernn.runtime import loading as session_module

    real = loading.create_session

    def no_gpu(model, chain, config, variant, **kw):
        if chain[0] != CPU:
            raise session_module.BundleError(f"{model.path}: CUDA failed to start")
        return real(model, chain, config, variant, **kw)

    monkeypatch.setattr(session_module.ort, "get_available_providers", lambda: [CUDA, CPU])
    monkeypatch.setattr(loading, "create_session", no_gpu)
    root = make_bundle(
        tmp_path / "b", extra={"model.fp16.onnx": rnn_model(seed=4), "model.int8.onnx": rnn_model(seed=5)}
    )
    with pytest.warns(ProviderFallbackWarning, match="requested execution provider CUDAExecutionProvider"):
        session = Session.load(root, provider="cuda")
    assert (session.provider, session.variant) == (CPU, "int8")  # auto variant re-picked for CPU
    with pytest.raises(ProviderError, match="fallback='error'"):
        Session.load(root, provider="cuda", fallback="error")
    auto = Session.load(root, provider="auto", fallback="error")
    assert (auto.provider, auto.variant, auto.model_path.name) == (CPU, "int8", "model.int8.onnx")
    bare = Session.load(root / "model.onnx", provider="auto")
    assert bare.provider == CPU
