"""How a Session opens a model: the provider plan, the onnxruntime session made from checked bytes,
the variant a bundle runs (and the ones that may never reach a CPU session), and auto's GPU route."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import providers as prov
from ._ort import ort
from .bundle import Bundle, manifest_from_graph
from .cuda_graphs import CudaGraphs
from .engine import Engine
from .errors import BundleError, EdgernnError, InputError, ProviderError
from .graphscan import scan_graph
from .manifest import Manifest
from .modelfile import ModelBytes
from .providers import RuntimeConfig
from .signature import build_signature
from .statepairs import StatePair, infer_state_pairs
from .vocab import AUTO, CPU, CUDA, FP16, METADATA_KEY, ROLE_INIT


@dataclass(frozen=True)
class Plan:
    """Provider and thread settings resolved once, before any file is opened."""

    config: RuntimeConfig
    wanted: list[str]  # the providers asked for, in order
    chain: list[str]  # what the session is created with (installed ones, CPU last)
    policy: str  # fallback policy; ``auto`` falls back silently, by definition
    auto_gpu: bool  # provider="auto" with the CUDA EP installed: big batches may run there

    @classmethod
    def make(cls, provider: Any, threads: int | None, fallback: str, options: RuntimeConfig | None) -> Plan:
        if options is not None and not isinstance(options, RuntimeConfig):
            raise InputError(
                f"options: expected an edgernn.runtime.RuntimeConfig, got {type(options).__name__}"
            )
        config = options or RuntimeConfig()
        if threads is not None:
            config = dataclasses.replace(config, intra_op_threads=threads)
        prov.check_policy(fallback)
        available = ort.get_available_providers()
        wanted, chain = prov.resolve_providers(provider, available)
        auto = isinstance(provider, str) and provider.lower() == AUTO
        return cls(config, wanted, chain, "silent" if auto else fallback, auto and CUDA in available)


class GpuRoute:
    """provider="auto": a CUDA session of the same model for runs of many sequences, created on the
    first such run; if CUDA cannot start, every run stays on the CPU and :meth:`describe` says why."""

    def __init__(self, load: Any) -> None:
        self._load = load  # () -> Session on CUDA
        self._session: Any = None
        self.error = ""

    def engine_for(self, batch: int, cpu: Any) -> Any:
        """The engine that runs ``batch`` sequences: ``cpu``, or the CUDA one (loaded now if needed)."""
        if prov.auto_device(batch, not self.error) != CUDA:
            return cpu
        if self._session is None:
            try:
                self._session = self._load()
            except EdgernnError as err:
                self.error = str(err)
                return cpu
        return self._session._engine

    def interrupt(self) -> None:
        """Pass an interrupt on to the CUDA session, when there is one."""
        if self._session is not None:
            self._session.interrupt()

    def describe(self) -> dict[str, Any]:
        """The rule, and whether the CUDA session was loaded (or why it could not be)."""
        return {
            "min_batch": prov.AUTO_GPU_MIN_BATCH,
            "loaded": self._session is not None,
            "error": self.error,
        }


def refuse_cuda_fp16(bundle: Bundle, variant: str) -> None:
    """An fp16 variant built for CUDA never reaches a CPU session: onnxruntime's CPU EP has no fp16
    recurrent kernels and has crashed (not raised) creating sessions for them."""
    if variant != FP16 or FP16 not in bundle.variants():
        return
    record = (bundle.manifest.quantization or {}).get(FP16)
    if record is None or record.settings.get("target") != "cpu":
        raise ProviderError(
            f"{bundle.root}: the fp16 variant is built for CUDA, and this session would run on "
            f"{CPU}, which has no fp16 recurrent kernels; use provider='cuda', or the fp32/int8 variant"
        )


def stream_refusal(manifest: Manifest, variant: str) -> str:
    """Why ``variant`` may not stream ('' when it may): quantize's record of its streamed metric."""
    record = (manifest.quantization or {}).get(variant)
    if record is None or record.stream_accepted:
        return ""
    return record.stream_note or "refused for streaming"


def create_session(
    model: ModelBytes,
    chain: list[str],
    config: RuntimeConfig,
    variant: str,
    *,
    profile_prefix: str = "",
    cuda_graph: bool = False,
) -> Any:
    """An InferenceSession on ``chain`` from the bytes that were checked; :class:`BundleError` if
    onnxruntime cannot load them. onnxruntime is told the format edgernn decided on, and gets every
    external file from memory, so it never opens a path itself."""
    so = prov.session_options(ort, config)
    so.add_session_config_entry("session.load_model_format", model.format)
    if model.external:
        names, blobs = [loc for loc, _ in model.external], [blob for _, blob in model.external]
        so.add_external_initializers_from_files_in_memory(names, blobs, [len(b) for b in blobs])
    if profile_prefix:
        so.enable_profiling = True
        so.profile_file_prefix = profile_prefix
    try:
        return ort.InferenceSession(
            model.data, sess_options=so, providers=prov.provider_options(chain, config, cuda_graph=cuda_graph)
        )
    except Exception as err:  # onnxruntime raises its own pybind exception types
        hint = " (the fp16 variant needs a GPU provider)" if variant == FP16 and chain[0] == CPU else ""
        detail = " ".join(str(err).split())  # one line: some onnxruntime messages span several
        raise BundleError(f"{model.path}: onnxruntime could not load the model{hint}: {detail}") from None


def open_bundle(bundle: Bundle, variant: str, plan: Plan, streaming: bool) -> tuple[Any, str, ModelBytes]:
    """Create the session for the chosen variant. When a GPU chain fails to start or lands on CPU, an
    ``auto`` variant is picked again for CPU (fp16 has no CPU kernels; int8 is faster there);
    ``streaming`` leaves out variants quantize refused for streaming."""
    chain, config = plan.chain, plan.config
    have = [v for v in bundle.variants() if not (streaming and stream_refusal(bundle.manifest, v))]
    chosen = prov.pick_variant(variant, have, chain[0])
    if chain[0] == CPU:
        refuse_cuda_fp16(bundle, chosen)
    model = bundle.model(bundle.model_file(chosen))
    try:
        sess = create_session(model, chain, config, chosen)
    except BundleError:
        if chain[0] == CPU:
            raise
        sess = None
    if chain[0] == CPU or (sess is not None and sess.get_providers()[0] != CPU):
        return sess, chosen, model
    on_cpu = prov.pick_variant(variant, have, CPU)
    refuse_cuda_fp16(bundle, on_cpu)
    if sess is None or on_cpu != chosen:
        model = bundle.model(bundle.model_file(on_cpu))
        sess = create_session(model, [CPU], config, on_cpu)
    return sess, on_cpu, model


def make_engine(
    sess: Any,
    manifest: Manifest,
    plan: Plan,
    constants: Mapping[str, Any] | None,
    model: ModelBytes,
    reload: Callable[[], ModelBytes],
    variant: str,
) -> Engine:
    """The loaded session as an :class:`Engine`: the provider that runs checked against the fallback
    policy, the signature resolved against the graph, CUDA graphs set up when the config asks."""
    prov.check_fallback(plan.wanted[0], sess.get_providers()[0], plan.policy)
    sess.disable_fallback()  # onnxruntime would otherwise rerun a failed GPU call on CPU, silently
    signature = build_signature(manifest, sess.get_inputs(), sess.get_outputs(), constants)
    device = prov.device_of(sess.get_providers()[0], plan.config)
    graphs = None
    if device[0] == "cuda" and plan.config.cuda_graphs:
        graphs = CudaGraphs(
            lambda: create_session(reload(), plan.chain, plan.config, variant, cuda_graph=True)
        )
    return Engine(sess, manifest, signature, device, graphs, origin=model.path)


def profiling_session(
    reload: Callable[[], ModelBytes],
    sha256: str,
    providers: Sequence[str],
    config: RuntimeConfig,
    variant: str,
    prefix: str,
) -> Any:
    """A second session of the model that was loaded (read again, its sha256 unchanged), with
    onnxruntime's profiler writing under ``prefix``."""
    model = reload()
    if model.sha256 != sha256:
        raise BundleError(f"{model.path}: changed since it was loaded; load it again to profile it")
    return create_session(model, list(providers), config, variant, profile_prefix=prefix)


def init_session(bundle: Bundle, chain: list[str], config: RuntimeConfig) -> Any:
    """one_to_many bundles: the file with role ``init`` (condition -> initial state)."""
    init = [rel for rel, e in bundle.manifest.files.items() if e.role == ROLE_INIT]
    if not init:
        return None
    return create_session(bundle.model(init[0]), list(chain), config, "init")


def describe_bare(
    name: str, sess: Any, model: ModelBytes, state_map: Mapping[str, str] | None, constants: Any
) -> tuple[Manifest, tuple[StatePair, ...], str]:
    """A bare ``.onnx``'s manifest: from its edgernn metadata, else from its graph, with state pairs
    from ``state_map`` or inferred (each with its rule); also says where the pairs came from."""
    pinned = set(constants or ())
    metadata = sess.get_modelmeta().custom_metadata_map
    inputs = [a for a in sess.get_inputs() if a.name not in pinned]
    graph = None if METADATA_KEY in metadata else scan_graph(model.data)
    inferred: tuple[StatePair, ...] = ()
    source = "metadata" if METADATA_KEY in metadata and state_map is None else "state_map"
    if state_map is None and METADATA_KEY not in metadata:
        try:
            inferred = tuple(infer_state_pairs(inputs, sess.get_outputs(), graph))
        except BundleError as err:
            raise BundleError(f"{name}: {err}") from None
        state_map = {p.input: p.output for p in inferred}
    pairs = dict(state_map) if state_map is not None else None
    manifest = manifest_from_graph(name, metadata, inputs, sess.get_outputs(), pairs, graph)
    return manifest, inferred, source


def as_model_path(path: Any) -> Path:
    """``path`` (str or os.PathLike) as a Path whose kind can be asked; one clear error otherwise."""
    if not isinstance(path, str | os.PathLike):
        raise InputError(
            f"path: expected a bundle folder or an .onnx/.ort file (str or os.PathLike), got {type(path).__name__}"
        )
    model_path = Path(path)
    try:
        model_path.stat()
    except FileNotFoundError:
        pass  # the caller says what it expected to find there
    except OSError as err:  # a name too long, a link loop, no permission
        raise BundleError(f"{str(model_path)[:200]}: cannot read it ({err.strerror})") from None
    return model_path


def check_mapping(name: str, value: Any) -> None:
    """``constants``/``state_map``: None or a mapping of input names."""
    if value is not None and not (isinstance(value, Mapping) and all(isinstance(k, str) for k in value)):
        raise InputError(f"{name}: expected a dict of graph input names, got {type(value).__name__}")
