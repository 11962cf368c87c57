"""The loaded graph behind a :class:`~edgernn.runtime.session.Session`, shared by its streams.

An :class:`Engine` holds the onnxruntime session and what every call path needs from it: input
validation and normalisation, zero state, state checks, and wrapping outputs as a
:class:`~edgernn.runtime.result.Result`. It is the small private interface between ``Session``,
``Stream`` and ``generate``; users never see it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ._ort import ort
from .bundle import ort_dtype
from .cuda_graphs import CudaGraphs
from .errors import InputError, ModelRunError, UnsupportedError
from .manifest import Manifest
from .result import Result
from .signature import BATCH_NAMES, TIME_NAMES, Signature
from .validate import as_input, check_tokens


class Engine:
    """One onnxruntime session with its resolved signature; stateless, so threads share it."""

    def __init__(
        self,
        ort_session: Any,
        manifest: Manifest,
        signature: Signature,
        device: tuple[str, int],
        graphs: CudaGraphs | None = None,
        *,
        origin: Any = "model",
    ):
        self.ort = ort_session
        self.origin = origin  # the model file, for messages
        self._options = ort.RunOptions()  # one for every call, so interrupt() reaches them all
        self._options.log_severity_level = 4  # a failure becomes one typed error, not a log line
        self.manifest = manifest
        self.sig = signature
        self.device = device  # where streaming state lives between steps
        self.graphs = graphs  # CUDA-graph replay for GPU streams, when the config asks for it
        self.tokens = manifest.input.kind == "tokens"
        self.output_names = list(signature.outputs)
        self.state_output_names = [out for _, out in signature.states]
        self._main_index = self.output_names.index(signature.main)
        self._zeros: dict[int, dict[str, np.ndarray]] = {}

    def run(self, names: Sequence[str], feeds: Mapping[str, Any]) -> list[np.ndarray]:
        """Run the graph: ``names`` of the outputs wanted, ``feeds`` every input."""
        try:
            outputs: list[np.ndarray] = self.ort.run(names, feeds, self._options)
            return outputs
        except Exception as err:  # onnxruntime's own exception types
            raise self._failed(err, feeds) from None

    def io_binding(self, session: Any = None) -> Any:
        """A fresh onnxruntime IO binding for this session (or ``session``, the CUDA-graph one)."""
        return (session or self.ort).io_binding()

    def run_binding(self, binding: Any, *, synchronize: bool = False) -> None:
        """Run with everything bound in ``binding``; ``synchronize`` (device buffers) makes every
        bound input visible to the device before the run and every output complete after it. Run
        options go along only once interrupted: passing them costs onnxruntime ~20 us per call here,
        more than a whole step of a small model, so a step already running finishes and the next
        one stops."""
        try:
            if synchronize:
                binding.synchronize_inputs()
            if self._options.terminate:
                self.ort.run_with_iobinding(binding, self._options)
            else:
                self.ort.run_with_iobinding(binding)
            if synchronize:
                binding.synchronize_outputs()
        except Exception as err:  # onnxruntime's own exception types
            raise self._failed(err, None) from None

    def interrupt(self) -> None:
        """Make every call in progress (whole sequences; a stream's step in progress finishes), and
        every later one, stop (``RunOptions.terminate``)."""
        self._options.terminate = True

    def _failed(self, err: Exception, feeds: Mapping[str, Any] | None) -> ModelRunError:
        if self._options.terminate:
            return ModelRunError(f"{self.origin}: interrupted; the call was stopped before it finished")
        asked = ""
        if feeds is not None:
            shapes = ", ".join(f"{k} {list(np.shape(v))}" for k, v in feeds.items())
            asked = f" on {shapes}"
        detail = " ".join(str(err).split())[:300]
        return ModelRunError(f"{self.origin}: onnxruntime failed running the model{asked}: {detail}")

    def graph_runner(self) -> CudaGraphs | None:
        """The shared CUDA-graph replayer, or None when this engine does not capture graphs."""
        return self.graphs

    def step_outputs(self, batch: int) -> list[tuple[tuple[int, ...], np.dtype]] | None:
        """Each data output's shape and dtype for one step of ``batch`` sequences, or None when a dim
        of the graph is neither fixed, batch nor time (then onnxruntime allocates the outputs)."""
        shapes = []
        declared = {o.name: o.spec.shape for o in self.sig.named_outputs}  # the manifest's dims win
        for arg in self.ort.get_outputs():
            if arg.name not in self.output_names:
                continue
            dims = []
            for d in declared.get(arg.name, arg.shape):
                if isinstance(d, int):
                    dims.append(d)
                elif isinstance(d, str) and d.lower() in BATCH_NAMES:
                    dims.append(batch)
                elif isinstance(d, str) and d.lower() in TIME_NAMES:
                    dims.append(1)
                else:
                    return None
            shapes.append((tuple(dims), np.dtype(ort_dtype(arg.type))))
        return shapes

    def prepare_input(
        self, x: Any, *, dims: Sequence[int | str] | None = None, fixed: dict[int, int] | None = None
    ) -> np.ndarray:
        """Validate ``x`` against the input signature (or ``dims``), then normalise it."""
        spec = self.sig.x
        names = spec.axis_names
        if dims is not None and spec.time_axis is not None and len(dims) < len(spec.dims):
            names = names[: spec.time_axis] + names[spec.time_axis + 1 :]
        want = spec.dims if dims is None else dims
        xs = as_input(spec.name, x, want, spec.dtype, fixed=fixed, names=names)
        if self.tokens:
            check_tokens(spec.name, xs, self.manifest.input.vocab_size, want)
        return self.sig.to_model(xs)

    def initial_state(self, batch: int) -> dict[str, np.ndarray]:
        """Read-only zero state for ``batch`` sequences (cached per batch size)."""
        zeros = self._zeros.get(batch)
        if zeros is None:
            zeros = self.sig.zero_state(batch)
            for z in zeros.values():
                z.flags.writeable = False
            self._zeros[batch] = zeros
        return zeros

    def check_state(
        self, state: Mapping[str, Any], batch: int, *, partial: bool = False
    ) -> dict[str, np.ndarray]:
        """Validate a state dict (keys: state input names); missing entries are zeros when ``partial``."""
        if not isinstance(state, Mapping):
            raise InputError(
                f"state: expected a dict of arrays by state input name, got {type(state).__name__}"
            )
        names = [inp.name for inp, _ in self.sig.states]
        unknown = sorted(map(str, set(state) - set(names)))
        missing = [n for n in names if n not in state]
        if unknown or (missing and not partial):
            raise InputError(f"state: expected keys {names}, got {sorted(map(str, state))}")
        checked = dict(self.initial_state(batch))
        for inp, _ in self.sig.states:
            if inp.name in state:
                fixed = {inp.batch_axis: batch} if inp.batch_axis is not None else None
                checked[inp.name] = as_input(
                    inp.name, state[inp.name], inp.dims, inp.dtype, fixed=fixed, names=inp.axis_names
                )
        return checked

    def result(self, values: Sequence[np.ndarray], state: dict[str, np.ndarray] | None = None) -> Result:
        """Wrap raw data outputs (graph order) as a :class:`Result`, de-normalising the main output."""
        main = values[self._main_index]
        scale = self.sig.out_scale
        if scale is not None:
            main = main * scale[1] + scale[0]
        outputs = dict(zip(self.output_names, values, strict=True))
        out = self.manifest.output
        return Result(main, outputs, state, kind=out.kind, main=self.sig.main, label_names=out.labels)

    def require_streamable(self) -> None:
        """Raise :class:`UnsupportedError` unless the model can be stepped with carried state."""
        # A bare frame model (no time axis) may run a bidirectional recurrence inside each frame
        # (gtcrn, over frequency bins); that does not stop it streaming frame by frame.
        over_time = self.manifest.topology is not None or self.sig.x.time_axis is not None
        if self.manifest.bidirectional and over_time:
            raise UnsupportedError(
                f"{self.manifest.name}: a bidirectional (or reverse) recurrence reads the whole sequence "
                "backwards, so it cannot be streamed; use session.run on whole sequences"
            )
        if not self.sig.states:
            raise UnsupportedError(
                f"{self.manifest.name}: expected a model with state inputs/outputs to stream, found none "
                "(for a bare .onnx, name them with state_map={'in': 'out'})"
            )
