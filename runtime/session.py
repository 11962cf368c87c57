"""The shared, stateless :class:`Session`: load a bundle or a bare ``.onnx``, run whole sequences.

A Session holds no per-call state, so any number of threads may call it at once; recurrent state
lives in the caller's :class:`~edgernn.runtime.stream.Stream` objects (``session.stream()``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import providers as prov
from ._ort import ort
from .bundle import Bundle, manifest_from_graph
from .errors import BundleError, InputError, UnsupportedError
from .manifest import Manifest
from .modelfile import check_model_file
from .providers import RuntimeConfig
from .result import Result
from .signature import Signature, build_signature
from .validate import as_input, check_lengths, check_tokens


class Session:
    """A loaded model. Create it with :meth:`Session.load`; share it between threads freely."""

    def __init__(
        self,
        ort_session: Any,
        manifest: Manifest,
        signature: Signature,
        *,
        model_path: Path,
        variant: str,
        requested: str,
        config: RuntimeConfig,
        init_session: Any = None,
    ) -> None:
        self._ort = ort_session
        self._init = init_session
        self._sig = signature
        self._zeros: dict[int, dict[str, np.ndarray]] = {}
        self._names = list(signature.outputs)
        self._names_state = self._names + [out for _, out in signature.states]
        self._main_index = self._names.index(signature.main)
        self._kind, self._labels = manifest.output.kind, manifest.output.labels
        x = signature.x
        plain = manifest.input.kind == "features" and len(x.dims) == 3 and x.time_axis == 1
        self._fast_dtype = x.dtype if plain and isinstance(x.dims[2], int) else None
        self._fast_features = x.dims[2] if self._fast_dtype is not None else -1
        self.manifest = manifest
        self.model_path = model_path
        self.variant = variant
        self.config = config
        self.requested_provider = requested
        self.providers: tuple[str, ...] = tuple(ort_session.get_providers())
        self.provider = self.providers[0]  # the EP that actually runs, as the session reports it
        self.device = prov.device_of(self.provider, config)

    @classmethod
    def load(
        cls,
        path: str | Path,
        *,
        provider: str | Sequence[str] = "auto",
        variant: str = "auto",
        threads: int | None = None,
        fallback: str = "warn",
        options: RuntimeConfig | None = None,
        state_map: Mapping[str, str] | None = None,
        constants: Mapping[str, Any] | None = None,
    ) -> Session:
        """Load a bundle folder, or a bare ``.onnx`` (state pairs from names/shapes or ``state_map``).

        ``provider``: ``auto`` (CUDA when usable, else CPU), ``cpu``, ``cuda``, ``tensorrt`` or a list.
        ``variant``: ``auto`` (int8 on CPU, fp16 on GPU, when present; else fp32) or a variant name.
        ``threads``: intra-op threads (inter-op stays 1); ``options`` sets every thread knob.
        ``fallback``: what happens when the requested provider is not the one that runs: ``warn``
        (default), ``error`` (raise :class:`ProviderError`) or ``silent``.
        ``constants`` pins extra graph inputs, e.g. ``{"sr": 16000}``.
        """
        config = options or RuntimeConfig()
        if threads is not None:
            config = dataclasses.replace(config, intra_op_threads=threads)
        prov.check_policy(fallback)
        wanted, chain = prov.resolve_providers(provider, ort.get_available_providers())
        policy = "silent" if isinstance(provider, str) and provider.lower() == "auto" else fallback
        so = prov.session_options(ort, config)
        path = Path(path)
        if path.is_dir():
            if state_map is not None:
                raise InputError(
                    "state_map: applies to bare .onnx files; a bundle's manifest lists its state"
                )
            bundle = Bundle.load(path)
            sess, chosen, model_path = _open_bundle(bundle, variant, so, chain, config)
            manifest = bundle.manifest
            init = _init_session(bundle, so, sess.get_providers(), config)
        elif path.is_file():
            model_path, chosen, init = path, "file", None
            try:
                sess = _create(path, so, chain, config, chosen)
            except BundleError:
                if chain[0] == prov.CPU:
                    raise
                sess = _create(path, so, [prov.CPU], config, chosen)  # the GPU provider failed to start
            pinned = set(constants or ())
            manifest = manifest_from_graph(
                path.name,
                sess.get_modelmeta().custom_metadata_map,
                [a for a in sess.get_inputs() if a.name not in pinned],
                sess.get_outputs(),
                dict(state_map) if state_map is not None else None,
            )
        else:
            raise BundleError(f"{path}: expected a bundle folder or an .onnx file, found nothing there")
        prov.check_fallback(wanted[0], sess.get_providers()[0], policy)
        sess.disable_fallback()  # onnxruntime would otherwise rerun a failed GPU call on CPU, silently
        signature = build_signature(manifest, sess.get_inputs(), sess.get_outputs(), constants)
        return cls(
            sess,
            manifest,
            signature,
            model_path=model_path,
            variant=chosen,
            requested=wanted[0],
            config=config,
            init_session=init,
        )

    @property
    def signature(self) -> Signature:
        """Resolved inputs, state pairs, constants and scaling of the loaded graph."""
        return self._sig

    def describe(self) -> dict[str, Any]:
        """What runs: model file, variant, requested and actual providers, thread settings."""
        return {
            "model": str(self.model_path),
            "variant": self.variant,
            "requested_provider": self.requested_provider,
            "provider": self.provider,
            "providers": list(self.providers),
            "config": dataclasses.asdict(self.config),
        }

    def run(
        self,
        x: Any,
        lengths: Any = None,
        state: Mapping[str, Any] | None = None,
        *,
        return_state: bool = False,
    ) -> Result:
        """Run whole sequences ``x`` (raw feature values, ``[batch, time, features]``) in one call.

        ``lengths`` (``[batch]``) marks valid steps when the model has a lengths input; ``state``
        starts from a given state (zeros otherwise); ``return_state`` adds the final state.
        """
        sig = self._sig
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
            xs = self.prepare_input(x)
        batch = xs.shape[sig.x.batch_axis] if sig.x.batch_axis is not None else 1
        feeds = {sig.x.name: xs, **sig.constants}
        if sig.lengths is not None:
            time = xs.shape[sig.x.time_axis]
            feeds[sig.lengths] = (
                np.full(batch, time, np.int64)
                if lengths is None
                else check_lengths(sig.lengths, lengths, batch, time)
            )
        elif lengths is not None:
            raise InputError("lengths: this model has no lengths input, so every sequence runs to its end")
        feeds.update(
            self.initial_state(batch) if state is None else self.check_state(state, batch, partial=True)
        )
        values = self._ort.run(self._names_state if return_state else self._names, feeds)
        final = None
        if return_state:
            final = {inp.name: v for (inp, _), v in zip(sig.states, values[len(sig.outputs) :], strict=True)}
        return self.result(values[: len(sig.outputs)], final)

    def stream(self, batch: int = 1) -> Any:
        """A new :class:`Stream` with its own zero state, for ``batch`` parallel sequences."""
        from .stream import Stream

        return Stream(self, batch)

    def generate(
        self, cond: Any, steps: int, *, temperature: float | None = None, seed: int | None = None
    ) -> Result:
        """one_to_many: map ``cond`` to the initial state, then decode ``steps`` steps, feeding outputs back.

        Token models pick the argmax, or sample at ``temperature`` with ``seed``; feature models feed
        each output back as the next input. ``output`` is ``[batch, steps, ...]`` in real units (token
        ids for token models); ``state`` is the final state.
        """
        from .generate import generate

        return generate(self, self._init, cond, steps, temperature=temperature, seed=seed)

    # Building blocks shared with Stream and generate.
    def prepare_input(
        self, x: Any, *, dims: Sequence[int | str] | None = None, fixed: dict | None = None
    ) -> np.ndarray:
        """Validate ``x`` against the input signature (or ``dims``), then normalise it."""
        spec = self._sig.x
        names = spec.axis_names
        if dims is not None and spec.time_axis is not None and len(dims) < len(spec.dims):
            names = names[: spec.time_axis] + names[spec.time_axis + 1 :]
        xs = as_input(spec.name, x, spec.dims if dims is None else dims, spec.dtype, fixed=fixed, names=names)
        if self.manifest.input.kind == "tokens":
            check_tokens(spec.name, xs, self.manifest.input.vocab_size, spec.dims if dims is None else dims)
        scale = self._sig.in_scale
        if scale is not None:
            xs = (xs - scale[0]) / scale[1]
        return xs

    def initial_state(self, batch: int) -> dict[str, np.ndarray]:
        """Read-only zero state for ``batch`` sequences (cached per batch size)."""
        zeros = self._zeros.get(batch)
        if zeros is None:
            zeros = {}
            for inp, _ in self._sig.states:
                z = np.zeros(inp.shape(batch), inp.dtype)
                z.flags.writeable = False
                zeros[inp.name] = z
            self._zeros[batch] = zeros
        return zeros

    def check_state(
        self, state: Mapping[str, Any], batch: int, *, partial: bool = False
    ) -> dict[str, np.ndarray]:
        """Validate a state dict (keys: state input names); missing entries are zeros when ``partial``."""
        names = [inp.name for inp, _ in self._sig.states]
        unknown = sorted(set(state) - set(names))
        missing = [n for n in names if n not in state]
        if unknown or (missing and not partial):
            raise InputError(f"state: expected keys {names}, got {sorted(state)}")
        checked = dict(self.initial_state(batch))
        for inp, _ in self._sig.states:
            if inp.name in state:
                fixed = {inp.batch_axis: batch} if inp.batch_axis is not None else None
                checked[inp.name] = as_input(
                    inp.name, state[inp.name], inp.dims, inp.dtype, fixed=fixed, names=inp.axis_names
                )
        return checked

    def result(self, values: Sequence[np.ndarray], state: dict[str, np.ndarray] | None = None) -> Result:
        """Wrap raw data outputs (graph order) as a :class:`Result`, de-normalising the main output."""
        main = values[self._main_index]
        scale = self._sig.out_scale
        if scale is not None:
            main = main * scale[1] + scale[0]
        outputs = dict(zip(self._names, values, strict=True))
        return Result(main, outputs, state, kind=self._kind, main=self._sig.main, label_names=self._labels)

    def require_streamable(self) -> None:
        """Raise :class:`UnsupportedError` unless the model can be stepped with carried state."""
        if self.manifest.bidirectional:
            raise UnsupportedError(
                f"{self.manifest.name}: bidirectional models read the whole sequence backwards too, so "
                "they cannot be streamed; use session.run on whole sequences"
            )
        if not self._sig.states:
            raise UnsupportedError(
                f"{self.manifest.name}: expected a model with state inputs/outputs to stream, found none "
                "(for a bare .onnx, name them with state_map={'in': 'out'})"
            )


def _create(path: Path, so: Any, chain: list[str], config: RuntimeConfig, variant: str) -> Any:
    """An InferenceSession on ``chain``; :class:`BundleError` if onnxruntime cannot load the file.

    The file is checked first, so external data outside the model's folder is never read."""
    check_model_file(path)
    try:
        return ort.InferenceSession(
            str(path), sess_options=so, providers=prov.provider_options(chain, config)
        )
    except Exception as err:  # onnxruntime raises its own pybind exception types
        hint = (
            " (the fp16 variant needs a GPU provider)" if variant == "fp16" and chain[0] == prov.CPU else ""
        )
        detail = " ".join(str(err).split())  # one line: some onnxruntime messages span several
        raise BundleError(f"{path}: onnxruntime could not load the model{hint}: {detail}") from None


def _open_bundle(
    bundle: Bundle, variant: str, so: Any, chain: list[str], config: RuntimeConfig
) -> tuple[Any, str, Path]:
    """Create the session for the chosen variant. When a GPU chain fails to start or lands on CPU, an
    ``auto`` variant is picked again for CPU (fp16 has no CPU kernels; int8 is faster there)."""
    chosen = prov.pick_variant(variant, bundle.variants(), chain[0])
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
    if sess is None or on_cpu != chosen:
        path = bundle.model_path(on_cpu)
        sess = _create(path, so, [prov.CPU], config, on_cpu)
    return sess, on_cpu, path


def _init_session(bundle: Bundle, so: Any, chain: list[str], config: RuntimeConfig) -> Any:
    """one_to_many bundles: the file with role ``init`` (condition -> initial state)."""
    init = [rel for rel, e in bundle.manifest.files.items() if e.role == "init"]
    if not init:
        return None
    return _create(bundle.file(init[0]), so, list(chain), config, "init")
