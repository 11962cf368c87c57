"""The words every stage shares, spelled once: variants and their files, file roles, bundle paths,
execution providers, and the model enums of the manifest.

Nothing else in edgernn spells these out; train, export, profile and the face import them from here.
"""

from __future__ import annotations

# -- the bundle ------------------------------------------------------------------------------------
MANIFEST_NAME = "manifest.json"
METADATA_KEY = "edgernn.manifest"  # metadata_props key holding the manifest JSON in a bare .onnx
EVAL_FILE = "eval.npz"  # the held-back test split (raw units), shipped for scoring variants
INIT_FILE = "init.onnx"  # one_to_many: condition -> initial state
SOURCE_DIR = "source"  # the PyTorch checkpoint, for baselines; the runtime never reads it
SOURCE_CONFIG = f"{SOURCE_DIR}/config.json"
SOURCE_WEIGHTS = f"{SOURCE_DIR}/model.safetensors"
SOURCE_FILES = (SOURCE_CONFIG, SOURCE_WEIGHTS)
QUANTIZE_REPORT = "quantize_report.json"  # what `edgernn quantize` writes beside the manifest
QUANTIZE_TMP_PREFIX = ".quantize-"  # quantize's private folder inside the bundle, while it runs

# -- model variants --------------------------------------------------------------------------------
FP32, INT8, INT8_STATIC, FP16 = "fp32", "int8", "int8-static", "fp16"
TENSOR_DTYPES = ("float32", "int64", "int32", "bool")  # dtypes of further named inputs/outputs
VARIANTS = (FP32, INT8, INT8_STATIC, FP16)  # every variant a bundle may list
QUANTIZED_VARIANTS = VARIANTS[1:]  # what `edgernn quantize` makes
VARIANT_FILES = {
    FP32: "model.onnx",
    INT8: "model.int8.onnx",
    INT8_STATIC: "model.int8-static.onnx",
    FP16: "model.fp16.onnx",
}
BARE_VARIANT = "onnx"  # the one "variant" of a bare .onnx loaded without a bundle
AUTO = "auto"  # let the runtime choose (a variant, or a provider)

# -- file roles in the manifest --------------------------------------------------------------------
ROLE_MODEL, ROLE_INIT, ROLE_ORT, ROLE_OPS_CONFIG, ROLE_DATA, ROLE_SOURCE = (
    "model",
    "init",
    "ort",
    "ops_config",
    "data",
    "source",
)
ROLES = (ROLE_MODEL, ROLE_INIT, ROLE_ORT, ROLE_OPS_CONFIG, ROLE_DATA, ROLE_SOURCE)

# -- execution providers ---------------------------------------------------------------------------
CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
TENSORRT = "TensorrtExecutionProvider"
OPENVINO = "OpenVINOExecutionProvider"  # onnxruntime-openvino: runs on the CPU, through OpenVINO
PROVIDER_ALIASES = {"cpu": CPU, "cuda": CUDA, "tensorrt": TENSORRT, "openvino": OPENVINO}  # short -> full
PROVIDER_NAMES = tuple(PROVIDER_ALIASES)
GPU_PROVIDERS = (CUDA, TENSORRT)
PROVIDER_PACKAGES = {  # the onnxruntime build (and edgernn extra) that brings each provider
    CPU: ("onnxruntime", "cpu"),
    CUDA: ("onnxruntime-gpu", "gpu"),
    TENSORRT: ("onnxruntime-gpu", "gpu"),
    OPENVINO: ("onnxruntime-openvino", "openvino"),
}

# -- what a model is -------------------------------------------------------------------------------
TOPOLOGIES = ("many_to_one", "many_to_many", "one_to_many")
STEP_TOPOLOGIES = ("many_to_many", "one_to_many")  # outputs carry a time axis
CELLS = ("rnn", "lstm", "gru")
INPUT_KINDS = ("features", "tokens")
OUTPUT_KINDS = ("classes", "regression", "tokens", "raw")  # raw: a third-party model's output
TRAINED_OUTPUT_KINDS = OUTPUT_KINDS[:3]  # what training produces


def short_provider(name: str) -> str:
    """``CPUExecutionProvider`` -> ``cpu``; unknown names come back as they are."""
    return next((k for k, v in PROVIDER_ALIASES.items() if v == name), name)
