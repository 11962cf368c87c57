"""The shared, stateless :class:`Session`: load a bundle or a bare ``.onnx``, run whole sequences.

A Session holds no per-call state, so any number of threads may call it at once; recurrent state
lives in the caller's :class:`~edgernn.runtime.stream.Stream` objects (``session.stream()``).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from . import providers as prov
from .bundle import Bundle
from .engine import Engine
from .errors import BundleError, InputError, UnsupportedError
from .loading import (
    GpuRoute,
    Plan,
    as_model_path,
    check_mapping,
    create_session,
    describe_bare,
    init_session,
    make_engine,
    open_bundle,
    profiling_session,
    stream_refusal,
)
from .manifest import Manifest
from .modelfile import ModelBytes, read_model
from .named import call_feeds
from .providers import RuntimeConfig
from .result import Result
from .signature import Signature
from .statepairs import StatePair
from .validate import check_min_length
from .vocab import AUTO, BARE_VARIANT, CPU, FP32

if TYPE_CHECKING:
    from .batcher import StreamBatcher
    from .stream import Stream


class Session:
    """A loaded model. Create it with :meth:`load` (or :meth:`from_bundle` / :meth:`from_onnx`);
    share it between threads freely."""

    def __init__(
        self,
        engine: Engine,
        *,
        model: ModelBytes,
        reload: Any,
        variant: str,
        requested: str,
        config: RuntimeConfig,
        init_session: Any = None,
    ) -> None:
        self._engine = engine
        self._init = init_session
        self._model_path = model.path
        self._model_sha256 = model.sha256
        self._reload = reload  # () -> ModelBytes: the same file again, checked against the same sha256
        self._variant = variant
        self._config = config
        self._requested = requested
        self._why = ""  # why this variant runs (set by from_bundle / from_onnx)
        self._gpu: GpuRoute | None = None  # provider="auto" with the CUDA EP installed
        self._bundle: Bundle | None = None  # the bundle this session came from (eval data, other variants)
        self._batch_checks: dict[
            tuple[int, float], Any
        ] = {}  # StreamBatcher's int8 checks, by (max_batch, budget)
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
        streaming: bool = False,
    ) -> Session:
        """Load a bundle folder (:meth:`from_bundle`) or a bare ``.onnx`` (:meth:`from_onnx`).

        ``provider``: ``auto`` (the CPU; runs of 4+ sequences go to CUDA when it is installed),
        ``cpu``, ``cuda``, ``tensorrt``, ``openvino`` (onnxruntime-openvino's EP;
        ``RuntimeConfig(openvino_bf16=True)`` for bf16) or a list.
        ``variant``: ``auto`` (int8 on the CPU when present, else fp32) or a variant name.
        ``threads``: intra-op threads (inter-op stays 1); ``options`` sets every thread knob.
        ``fallback``: what happens when the requested provider is not the one that runs: ``warn``
        (default), ``error`` (raise :class:`ProviderError`) or ``silent``.
        ``state_map`` names the state pairs of a bare ``.onnx``; ``constants`` pins extra graph
        inputs, e.g. ``{"sr": 16000}``, or further inputs (then not given to ``run``). ``streaming``:
        the caller will stream, so ``auto`` skips variants refused for streaming.
        """
        path = as_model_path(path)
        common: dict[str, Any] = {
            "provider": provider,
            "threads": threads,
            "fallback": fallback,
            "options": options,
        }
        if path.is_dir():
            if state_map is not None:
                raise InputError(
                    "state_map: applies to bare .onnx files; a bundle's manifest lists its state"
                )
            return cls.from_bundle(path, variant=variant, constants=constants, streaming=streaming, **common)
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
        streaming: bool = False,
    ) -> Session:
        """Load a bundle folder (or an already parsed :class:`Bundle`): every file it uses checked
        against the manifest, the variant picked for the provider that runs. Arguments as in
        :meth:`load`."""
        plan = Plan.make(provider, threads, fallback, options)
        check_mapping("constants", constants)
        bundle = path if isinstance(path, Bundle) else Bundle.load(as_model_path(path))
        sess, chosen, model = open_bundle(bundle, variant, plan, streaming)
        init = init_session(bundle, sess.get_providers(), plan.config)
        rel = bundle.model_file(chosen)
        on_gpu = functools.partial(
            cls.from_bundle, bundle, variant=FP32 if variant == AUTO else variant, constants=constants
        )
        session = cls._finish(
            sess, bundle.manifest, plan, constants, model, lambda: bundle.model(rel), chosen, init, on_gpu
        )
        skipped = [v for v in bundle.variants() if streaming and stream_refusal(bundle.manifest, v)]
        session._why = prov.variant_reason(variant, chosen, bundle.variants(), session.provider, skipped)
        session._bundle = bundle
        return session

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
        path = as_model_path(path)
        plan = Plan.make(provider, threads, fallback, options)
        check_mapping("constants", constants)
        check_mapping("state_map", state_map)
        model = read_model(path)
        try:
            sess = create_session(model, plan.chain, plan.config, BARE_VARIANT)
        except BundleError:
            if plan.chain[0] == CPU:
                raise
            sess = create_session(model, [CPU], plan.config, BARE_VARIANT)  # the GPU failed
        manifest, inferred, source = describe_bare(path.name, sess, model, state_map, constants)
        state_map = {s.input: s.output for s in manifest.state} if inferred else state_map
        reload = lambda: read_model(path, sha256=model.sha256)  # noqa: E731
        on_gpu = functools.partial(cls.from_onnx, path, state_map=state_map, constants=constants)
        session = cls._finish(sess, manifest, plan, constants, model, reload, BARE_VARIANT, None, on_gpu)
        session._why = "a bare .onnx file has one model"
        session._inferred, session._state_source = inferred, source
        return session

    @classmethod
    def _finish(
        cls,
        sess: Any,
        manifest: Manifest,
        plan: Plan,
        constants: Mapping[str, Any] | None,
        model: ModelBytes,
        reload: Callable[[], ModelBytes],
        variant: str,
        init: Any,
        on_gpu: Callable[..., Session],
    ) -> Session:
        """Check what runs, resolve the signature, and set up CUDA graphs (GPU) or auto's GPU route."""
        session = cls(
            make_engine(sess, manifest, plan, constants, model, reload, variant),
            model=model,
            reload=reload,
            variant=variant,
            requested=plan.wanted[0],
            config=plan.config,
            init_session=init,
        )
        if plan.auto_gpu:  # big batches go to a CUDA session of the same model, made when first needed
            load = functools.partial(on_gpu, provider="cuda", fallback="error", options=plan.config)
            session._gpu = GpuRoute(load)
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
    def model_sha256(self) -> str:
        """sha256 of the model bytes onnxruntime was given (a bundle's manifest lists the same)."""
        return self._model_sha256

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
            "sha256": self._model_sha256,
            "variant": self._variant,
            "requested_provider": self._requested,
            "provider": self.provider,
            "providers": list(self._providers),
            "config": dataclasses.asdict(self._config),
            "auto_gpu": None if self._gpu is None else self._gpu.describe(),
            "variant_reason": self._why,
            "choice": f"running the {self._variant} variant on {self.provider} ({self._why})",
        }

    def run(
        self,
        x: Any,
        lengths: Any = None,
        state: Mapping[str, Any] | None = None,
        *,
        inputs: Mapping[str, Any] | None = None,
        return_state: bool = False,
    ) -> Result:
        """Run whole sequences ``x`` (raw feature values, ``[batch, time, features]``; token models
        ``[batch, time]`` ids) in one call.

        ``lengths`` (``[batch]``) marks valid steps when the model has a lengths input; ``state``
        starts from a given state (zeros otherwise); ``inputs`` gives the further named inputs of a
        model that takes more than x (``manifest.inputs``: their dims name x's ``batch`` and
        ``time``); ``return_state`` adds the final state. Further outputs (``manifest.outputs``) are
        in ``result.outputs`` by name.
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
        if sig.min_length > 1:
            check_min_length(sig.x.name, xs.shape[sig.x.time_axis], sig.min_length)
        feeds = call_feeds(sig, xs, lengths, inputs, engine.manifest.name)
        batch = xs.shape[sig.x.batch_axis] if sig.x.batch_axis is not None else 1
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

    def interrupt(self) -> None:
        """Stop every call in progress on this session, from any thread (onnxruntime's
        ``RunOptions.terminate``); later calls fail too. What Ctrl-C in ``edgernn run`` does."""
        self._engine.interrupt()
        if self._gpu is not None:
            self._gpu.interrupt()

    def profiling_session(self, prefix: str) -> Any:
        """A second onnxruntime session of this model, with onnxruntime's profiler writing under
        ``prefix`` (``edgernn profile --ops``). The file is read again and must still have the sha256
        that was loaded."""
        return profiling_session(
            self._reload, self._model_sha256, self._providers, self._config, self._variant, prefix
        )

    def stream(self, batch: int = 1, *, inputs: Mapping[str, Any] | None = None) -> Stream:
        """A new :class:`Stream` with its own zero state, for ``batch`` parallel sequences; ``inputs``:
        further inputs without x's time axis, held for every step (see :meth:`Stream.step`).

        A variant that quantize refused for streaming (its streamed metric broke the budget) raises
        :class:`UnsupportedError` with the reason."""
        from .stream import Stream

        why = stream_refusal(self.manifest, self._variant)
        if why:
            raise UnsupportedError(f"{self.manifest.name}: the {self._variant} variant is {why}")

        return Stream(self._engine, batch, inputs=inputs)

    def batcher(self, max_batch: int = 64, **options: Any) -> StreamBatcher:
        """A :class:`StreamBatcher` stepping up to ``max_batch`` streams of this session in one call per
        tick; ``options`` as for :class:`StreamBatcher` (``max_wait_ms``, ``max_metric_drop``)."""
        from .batcher import StreamBatcher

        return StreamBatcher(self, max_batch, **options)

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
