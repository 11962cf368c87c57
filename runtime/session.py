"""The shared, stateless :class:`Session`: load a bundle or a bare ``.onnx``, run whole sequences.

A Session holds no per-call state, so any number of threads may call it at once; recurrent state
lives in the caller's :class:`~edgernn.runtime.stream.Stream` objects (``session.stream()``).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from . import providers as prov
from ._ort import ort
from .bundle import Bundle, manifest_from_graph
from .cuda_graphs import CudaGraphs
from .engine import Engine
from .errors import BundleError, EdgernnError, InputError, ProviderError
from .graphscan import scan_graph
from .manifest import Manifest
from .modelfile import check_model_file
from .providers import RuntimeConfig
from .result import Result
from .signature import Signature, build_signature
from .statepairs import StatePair, infer_state_pairs
from .validate import check_lengths, check_min_length
from .vocab import AUTO, BARE_VARIANT, FP16, FP32, METADATA_KEY, ROLE_INIT

if TYPE_CHECKING:
    from .stream import Stream


class Session:
    """A loaded model. Create it with :meth:`load` (or :meth:`from_bundle` / :meth:`from_onnx`);
    share it between threads freely."""

    def __init__(
        self,
        engine: Engine,
        *,
        model_path: Path,
        variant: str,
        requested: str,
        config: RuntimeConfig,
        init_session: Any = None,
    ) -> None:
        self._engine = engine
        self._init = init_session
        self._model_path = model_path
        self._variant = variant
        self._config = config
        self._requested = requested
        self._gpu: _GpuRoute | None = None  # provider="auto" with the CUDA EP installed
        self._inferred: tuple[StatePair, ...] = ()  # bare .onnx: state pairs read from the graph
        self._state_source = "manifest"  # where the state pairs came from, when not inferred
        self._providers: tuple[str, ...] = tuple(engine.ort.get_providers())
        x, manifest = engine.sig.x, engine.manifest
        plain = manifest.input.kind == "features" and len(x.dims) == 3 and x.time_axis == 1
        self._fast_dtype = x.dtype if plain and isinstance(x.dims[2], int) else None
        self._fast_features = x.dims[2] if self._fast_dtype is not None else -1

    @classmethod
    def load(
        cls,
        path: str | Path,
        *,
        provider: str | Sequence[str] = AUTO,
        variant: str = AUTO,
        threads: int | None = None,
        fallback: str = "warn",
        options: RuntimeConfig | None = None,
        state_map: Mapping[str, str] | None = None,
        constants: Mapping[str, Any] | None = None,
    ) -> Session:
        """Load a bundle folder (:meth:`from_bundle`) or a bare ``.onnx`` (:meth:`from_onnx`).

        ``provider``: ``auto`` (CUDA when usable, else CPU), ``cpu``, ``cuda``, ``tensorrt`` or a list.
        ``variant``: ``auto`` (int8 on CPU, fp16 on GPU, when present; else fp32) or a variant name.
        ``threads``: intra-op threads (inter-op stays 1); ``options`` sets every thread knob.
        ``fallback``: what happens when the requested provider is not the one that runs: ``warn``
        (default), ``error`` (raise :class:`ProviderError`) or ``silent``.
        ``state_map`` names the state pairs of a bare ``.onnx``; ``constants`` pins extra graph
        inputs, e.g. ``{"sr": 16000}``.
        """
        path = Path(path)
        common = {"provider": provider, "threads": threads, "fallback": fallback, "options": options}
        if path.is_dir():
            if state_map is not None:
                raise InputError(
                    "state_map: applies to bare .onnx files; a bundle's manifest lists its state"
                )
            return cls.from_bundle(path, variant=variant, constants=constants, **common)
        if path.is_file():
            return cls.from_onnx(path, state_map=state_map, constants=constants, **common)
        raise BundleError(f"{path}: expected a bundle folder or an .onnx file, found nothing there")

    @classmethod
    def from_bundle(
        cls,
        path: str | Path | Bundle,
        *,
        provider: str | Sequence[str] = AUTO,
        variant: str = AUTO,
        threads: int | None = None,
        fallback: str = "warn",
        options: RuntimeConfig | None = None,
        constants: Mapping[str, Any] | None = None,
    ) -> Session:
        """Load a bundle folder (or an already parsed :class:`Bundle`): every file it uses checked
        against the manifest, the variant picked for the provider that runs. Arguments as in
        :meth:`load`."""
        plan = _Plan.make(provider, threads, fallback, options)
        bundle = path if isinstance(path, Bundle) else Bundle.load(path)
        sess, chosen, model_path = _open_bundle(bundle, variant, plan)
        init = _init_session(bundle, plan.options, sess.get_providers(), plan.config)
        on_gpu = functools.partial(
            cls.from_bundle, bundle, variant=FP32 if variant == AUTO else variant, constants=constants
        )
        return cls._finish(sess, bundle.manifest, plan, constants, model_path, chosen, init, on_gpu)

    @classmethod
    def from_onnx(
        cls,
        path: str | Path,
        *,
        provider: str | Sequence[str] = AUTO,
        threads: int | None = None,
        fallback: str = "warn",
        options: RuntimeConfig | None = None,
        state_map: Mapping[str, str] | None = None,
        constants: Mapping[str, Any] | None = None,
    ) -> Session:
        """Load a bare ``.onnx``: described by its edgernn metadata when it has some, else by its
        graph (state pairs from names and shapes, or ``state_map``). Arguments as in :meth:`load`."""
        path = Path(path)
        plan = _Plan.make(provider, threads, fallback, options)
        try:
            sess = _create(path, plan.options, plan.chain, plan.config, BARE_VARIANT)
        except BundleError:
            if plan.chain[0] == prov.CPU:
                raise
            sess = _create(path, plan.options, [prov.CPU], plan.config, BARE_VARIANT)  # the GPU failed
        pinned = set(constants or ())
        metadata = sess.get_modelmeta().custom_metadata_map
        inputs = [a for a in sess.get_inputs() if a.name not in pinned]
        graph = None if METADATA_KEY in metadata else scan_graph(path)
        inferred: tuple[StatePair, ...] = ()
        source = "metadata" if METADATA_KEY in metadata and state_map is None else "state_map"
        if state_map is None and METADATA_KEY not in metadata:
            inferred = tuple(infer_state_pairs(inputs, sess.get_outputs(), graph))
            state_map = {p.input: p.output for p in inferred}
        manifest = manifest_from_graph(
            path.name,
            metadata,
            inputs,
            sess.get_outputs(),
            dict(state_map) if state_map is not None else None,
            graph,
        )
        on_gpu = functools.partial(cls.from_onnx, path, state_map=state_map, constants=constants)
        session = cls._finish(sess, manifest, plan, constants, path, BARE_VARIANT, None, on_gpu)
        session._inferred, session._state_source = inferred, source
        return session

    @classmethod
    def _finish(cls, sess, manifest, plan: _Plan, constants, model_path, variant, init, on_gpu) -> Session:
        """Check what runs, resolve the signature, and set up CUDA graphs (GPU) or auto's GPU route."""
        prov.check_fallback(plan.wanted[0], sess.get_providers()[0], plan.policy)
        sess.disable_fallback()  # onnxruntime would otherwise rerun a failed GPU call on CPU, silently
        signature = build_signature(manifest, sess.get_inputs(), sess.get_outputs(), constants)
        device = prov.device_of(sess.get_providers()[0], plan.config)
        graphs = None
        if device[0] == "cuda" and plan.config.cuda_graphs:
            graphs = CudaGraphs(
                lambda: _create(model_path, plan.options, plan.chain, plan.config, variant, cuda_graph=True)
            )
        session = cls(
            Engine(sess, manifest, signature, device, graphs),
            model_path=model_path,
            variant=variant,
            requested=plan.wanted[0],
            config=plan.config,
            init_session=init,
        )
        if plan.auto_gpu:  # big batches go to a CUDA session of the same model, made when first needed
            session._gpu = _GpuRoute(
                functools.partial(on_gpu, provider="cuda", fallback="error", options=plan.config)
            )
        return session

    @property
    def manifest(self) -> Manifest:
        """What the model is: the bundle's manifest, or one read from a bare file's graph."""
        return self._engine.manifest

    @property
    def signature(self) -> Signature:
        """Resolved inputs, state pairs, constants and scaling of the loaded graph."""
        return self._engine.sig

    @property
    def model_path(self) -> Path:
        """The model file that was loaded."""
        return self._model_path

    @property
    def variant(self) -> str:
        """The variant that runs (``fp32``, ``int8``, ...; ``onnx`` for a bare file)."""
        return self._variant

    @property
    def config(self) -> RuntimeConfig:
        """Thread and optimisation settings the session was created with."""
        return self._config

    @property
    def requested_provider(self) -> str:
        """The first provider asked for."""
        return self._requested

    @property
    def providers(self) -> tuple[str, ...]:
        """The provider chain onnxruntime reports, first one first."""
        return self._providers

    @property
    def provider(self) -> str:
        """The execution provider that actually runs, as the session reports it."""
        return self._providers[0]

    @property
    def device(self) -> tuple[str, int]:
        """Where streaming state lives: ``("cuda", id)`` for GPU providers, else ``("cpu", 0)``."""
        return self._engine.device

    @property
    def inferred_state(self) -> tuple[StatePair, ...]:
        """A bare ``.onnx`` loaded without ``state_map``: the state pairs read from its graph, each
        with the rule that found it (empty for bundles, edgernn-exported files and given maps)."""
        return self._inferred

    def describe(self) -> dict[str, Any]:
        """What runs: model file, variant, requested and actual providers, thread settings, and the
        state pairs (with the rule that inferred each, for a bare ``.onnx``)."""
        rules = {p.input: p.rule for p in self._inferred}
        state = [
            {"input": s.input, "output": s.output, "rule": rules.get(s.input, self._state_source)}
            for s in self.manifest.state
        ]
        return {
            "state": state,
            "time_axis": self._engine.sig.x.time_axis,
            "model": str(self._model_path),
            "variant": self._variant,
            "requested_provider": self._requested,
            "provider": self.provider,
            "providers": list(self._providers),
            "config": dataclasses.asdict(self._config),
            "auto_gpu": None if self._gpu is None else self._gpu.describe(),
        }

    def run(
        self,
        x: Any,
        lengths: Any = None,
        state: Mapping[str, Any] | None = None,
        *,
        return_state: bool = False,
    ) -> Result:
        """Run whole sequences ``x`` (raw feature values, ``[batch, time, features]``; token models
        ``[batch, time]`` ids) in one call.

        ``lengths`` (``[batch]``) marks valid steps when the model has a lengths input; ``state``
        starts from a given state (zeros otherwise); ``return_state`` adds the final state.
        """
        engine = self._engine
        sig = engine.sig
        if (  # the common case, checked with as little code as possible: it runs cache-cold after ORT
            type(x) is np.ndarray
            and x.dtype == self._fast_dtype
            and x.ndim == 3
            and x.shape[2] == self._fast_features
            and x.size
            and x.flags.c_contiguous
            and np.isfinite(x).all()
        ):
            xs = x if sig.in_scale is None else (x - sig.in_scale[0]) / sig.in_scale[1]
        else:
            xs = engine.prepare_input(x)
        batch = xs.shape[sig.x.batch_axis] if sig.x.batch_axis is not None else 1
        if sig.min_length > 1:
            check_min_length(sig.x.name, xs.shape[sig.x.time_axis], sig.min_length)
        feeds = {sig.x.name: xs, **sig.constants}
        if sig.lengths is not None:
            time = xs.shape[sig.x.time_axis]
            feeds[sig.lengths] = (
                np.full(batch, time, sig.lengths_dtype)
                if lengths is None
                else check_lengths(sig.lengths, lengths, batch, time, sig.min_length).astype(
                    sig.lengths_dtype, copy=False
                )
            )
        elif lengths is not None:
            raise InputError("lengths: this model has no lengths input, so every sequence runs to its end")
        if self._gpu is not None:
            engine = self._gpu.engine_for(batch, engine)
        feeds.update(
            engine.initial_state(batch) if state is None else engine.check_state(state, batch, partial=True)
        )
        names = engine.output_names
        values = engine.run(names + engine.state_output_names if return_state else names, feeds)
        final = None
        if return_state:
            final = {inp.name: v for (inp, _), v in zip(sig.states, values[len(names) :], strict=True)}
        return engine.result(values[: len(names)], final)

    def stream(self, batch: int = 1) -> Stream:
        """A new :class:`Stream` with its own zero state, for ``batch`` parallel sequences."""
        from .stream import Stream

        return Stream(self._engine, batch)

    def generate(
        self, cond: Any, steps: int, *, temperature: float | None = None, seed: int | None = None
    ) -> Result:
        """one_to_many: map ``cond`` (``[batch, cond features]``) to the initial state, then decode
        ``steps`` steps, feeding outputs back.

        Token models pick the argmax, or sample at ``temperature`` with ``seed``; feature models feed
        each output back as the next input. ``output`` is ``[batch, steps, ...]`` in real units (token
        ids for token models); ``state`` is the final state.
        """
        from .generate import generate

        return generate(self._engine, self._init, cond, steps, temperature=temperature, seed=seed)


@dataclass(frozen=True)
class _Plan:
    """Provider and thread settings resolved once, before any file is opened."""

    config: RuntimeConfig
    wanted: list[str]  # the providers asked for, in order
    chain: list[str]  # what the session is created with (installed ones, CPU last)
    policy: str  # fallback policy; ``auto`` falls back silently, by definition
    options: Any  # ort.SessionOptions
    auto_gpu: bool  # provider="auto" with the CUDA EP installed: big batches may run there

    @classmethod
    def make(cls, provider, threads, fallback, options) -> _Plan:
        config = options or RuntimeConfig()
        if threads is not None:
            config = dataclasses.replace(config, intra_op_threads=threads)
        prov.check_policy(fallback)
        available = ort.get_available_providers()
        wanted, chain = prov.resolve_providers(provider, available)
        auto = isinstance(provider, str) and provider.lower() == AUTO
        policy = "silent" if auto else fallback
        return cls(
            config, wanted, chain, policy, prov.session_options(ort, config), auto and prov.CUDA in available
        )


class _GpuRoute:
    """provider="auto": a CUDA session of the same model for runs of many sequences, created on the
    first such run; if CUDA cannot start, every run stays on the CPU and :meth:`describe` says why."""

    def __init__(self, load: Any) -> None:
        self._load = load
        self._engine: Engine | None = None
        self.error = ""

    def engine_for(self, batch: int, cpu: Engine) -> Engine:
        if prov.auto_device(batch, not self.error) != prov.CUDA:
            return cpu
        if self._engine is None:
            try:
                self._engine = self._load()._engine
            except EdgernnError as err:
                self.error = str(err)
                return cpu
        return self._engine

    def describe(self) -> dict[str, Any]:
        return {"min_batch": prov.AUTO_GPU_MIN_BATCH, "loaded": self._engine is not None, "error": self.error}


def _create(
    path: Path, so: Any, chain: list[str], config: RuntimeConfig, variant: str, *, cuda_graph: bool = False
) -> Any:
    """An InferenceSession on ``chain``; :class:`BundleError` if onnxruntime cannot load the file.

    The file is checked first, so external data outside the model's folder is never read."""
    check_model_file(path)
    try:
        return ort.InferenceSession(
            str(path), sess_options=so, providers=prov.provider_options(chain, config, cuda_graph=cuda_graph)
        )
    except Exception as err:  # onnxruntime raises its own pybind exception types
        hint = " (the fp16 variant needs a GPU provider)" if variant == FP16 and chain[0] == prov.CPU else ""
        detail = " ".join(str(err).split())  # one line: some onnxruntime messages span several
        raise BundleError(f"{path}: onnxruntime could not load the model{hint}: {detail}") from None


def _open_bundle(bundle: Bundle, variant: str, plan: _Plan) -> tuple[Any, str, Path]:
    """Create the session for the chosen variant. When a GPU chain fails to start or lands on CPU, an
    ``auto`` variant is picked again for CPU (fp16 has no CPU kernels; int8 is faster there)."""
    so, chain, config = plan.options, plan.chain, plan.config
    chosen = prov.pick_variant(variant, bundle.variants(), chain[0])
    if chain[0] == prov.CPU:
        _refuse_cuda_fp16(bundle, chosen)
    path = bundle.model_path(chosen)
    try:
        sess = _create(path, so, chain, config, chosen)
    except BundleError:
        if chain[0] == prov.CPU:
            raise
        sess = None
    if chain[0] == prov.CPU or (sess is not None and sess.get_providers()[0] != prov.CPU):
        return sess, chosen, path
    on_cpu = prov.pick_variant(variant, bundle.variants(), prov.CPU)
    _refuse_cuda_fp16(bundle, on_cpu)
    if sess is None or on_cpu != chosen:
        path = bundle.model_path(on_cpu)
        sess = _create(path, so, [prov.CPU], config, on_cpu)
    return sess, on_cpu, path


def _refuse_cuda_fp16(bundle: Bundle, variant: str) -> None:
    """An fp16 variant built for CUDA never reaches a CPU session: onnxruntime's CPU EP has no fp16
    recurrent kernels and has crashed (not raised) creating sessions for them."""
    if variant != FP16 or FP16 not in bundle.variants():
        return
    record = (bundle.manifest.quantization or {}).get(FP16)
    if record is None or record.settings.get("target") != "cpu":
        raise ProviderError(
            f"{bundle.root}: the fp16 variant is built for CUDA, and this session would run on "
            f"{prov.CPU}, which has no fp16 recurrent kernels; use provider='cuda', or the fp32/int8 variant"
        )


def _init_session(bundle: Bundle, so: Any, chain: list[str], config: RuntimeConfig) -> Any:
    """one_to_many bundles: the file with role ``init`` (condition -> initial state)."""
    init = [rel for rel, e in bundle.manifest.files.items() if e.role == ROLE_INIT]
    if not init:
        return None
    return _create(bundle.file(init[0]), so, list(chain), config, "init")
