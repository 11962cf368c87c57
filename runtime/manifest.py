"""The bundle manifest: the one contract between export and runtime.

A bundle is a folder with ``model.onnx`` (plus optional variants such as ``model.int8.onnx``)
and ``manifest.json``. :class:`Manifest` is a frozen dataclass; :meth:`Manifest.from_dict`
checks every field and names the one that is wrong.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from typing import Any, TypeVar, Union

from .errors import BundleError, EdgernnError
from .records import SeriesRecord, Validation, VariantRecord
from .vocab import CELLS, INPUT_KINDS, OUTPUT_KINDS, ROLE_MODEL, TENSOR_DTYPES, TOPOLOGIES, VARIANTS

SCHEMA_VERSION = 1
MAX_SIZE = 1 << 31  # no size or dim of a recurrent model comes near this
FLOAT32_MAX = 3.4028234663852886e38  # normalisation runs in float32

T = TypeVar("T")
Dim = int | str  # a fixed size, or a symbolic name such as "batch"


@dataclass(frozen=True)
class InputSpec:
    """The main sequence input ``[batch, time, features]`` (or ``[batch, time]`` for tokens)."""

    name: str = "x"
    features: int | None = None  # None for token inputs
    dtype: str = "float32"
    kind: str = "features"
    vocab_size: int | None = None  # tokens only
    mean: tuple[float, ...] | None = None  # normalisation applied by the runtime: (x - mean) / std
    std: tuple[float, ...] | None = None
    lengths: str | None = None  # name of the optional int64 lengths input ([batch])
    start_token: int | None = None  # one_to_many token decoders: the first input token
    columns: tuple[str, ...] | None = None  # the feature columns by name, in input order (CSV series)
    min_length: int = 1  # fewest time steps per call the model runs on (a head that reads the last k)


@dataclass(frozen=True)
class OutputSpec:
    """The main output; classes carry labels, regression carries units and de-normalisation."""

    name: str = "y"
    kind: str = "raw"
    size: int | None = None  # classes, vocabulary or regression targets
    labels: tuple[str, ...] | None = None
    units: str | None = None
    mean: tuple[float, ...] | None = None  # de-normalisation: y * std + mean
    std: tuple[float, ...] | None = None
    names: tuple[str, ...] | None = None  # one per regression value, e.g. "load[t+1]"


@dataclass(frozen=True)
class StateSpec:
    """One recurrent state carried from a graph output back into a graph input."""

    input: str  # e.g. "h0"
    output: str  # e.g. "hn"
    shape: tuple[Dim, ...]  # e.g. (2, "batch", 64): layers*directions, batch, hidden
    dtype: str = "float32"


@dataclass(frozen=True)
class TensorSpec:
    """A further named graph input or output beside ``x``, ``lengths``, the state and ``y``.

    The general export contract: a module that takes several tensors (positional, keyword, or
    inside a dict/tuple/dataclass), or returns more than ``y``, keeps each one as a named graph
    input or output. Dims are ints (fixed), ``"batch"`` (x's batch), ``"time"`` (x's time axis:
    the tensor runs step for step with x, and a stream slices it with x), or a name of its own
    (``"memory_time"``: a length independent of x's).
    """

    name: str  # the graph's name for it, e.g. "encoder_outputs" or "x.encoder_cat"
    shape: tuple[Dim, ...]
    dtype: str = "float32"  # one of TENSOR_DTYPES
    module: str | None = None  # where the module takes or gives it, e.g. "forward(memory=...)", "x['cat']"
    low: float | None = None  # integer inputs: the smallest valid value (embedding ids), inclusive
    high: float | None = None  # integer inputs: the largest valid value, inclusive

    @property
    def batched(self) -> bool:
        return "batch" in self.shape

    @property
    def timed(self) -> bool:
        """Runs step for step with x (has x's time axis)."""
        return "time" in self.shape


@dataclass(frozen=True)
class FileEntry:
    """A file of the bundle with its checksum; ``variant`` tells which model it is."""

    sha256: str
    size_bytes: int
    variant: str | None = None  # "fp32", "int8", ... for model files
    role: str = "model"  # model, init (one_to_many: cond -> state), ort, ops_config, data, source


@dataclass(frozen=True)
class Manifest:
    """Everything the runtime needs to run a bundle without torch or onnx."""

    name: str
    input: InputSpec
    output: OutputSpec
    state: tuple[StateSpec, ...] = ()
    condition: InputSpec | None = None  # one_to_many: the vector that "init" maps to the initial state
    topology: str | None = None  # None for third-party models
    cell: str | None = None
    layers: int | None = None
    hidden_size: int | None = None
    bidirectional: bool = False
    opset: int | None = None
    producer: dict[str, str] = field(default_factory=dict)  # package -> version
    recipe: dict[str, str] = field(default_factory=dict)  # classifiers: what train/recipe.py chose
    files: dict[str, FileEntry] = field(default_factory=dict)  # relative path -> entry
    validation: Validation | None = None  # filled by export's verification gate
    quantization: dict[str, VariantRecord] | None = None  # filled by quantize, per variant
    series: SeriesRecord | None = None  # forecasts from a CSV: time index and what the graph differences
    inputs: tuple[TensorSpec, ...] = ()  # further named inputs (the general contract), in graph order
    outputs: tuple[TensorSpec, ...] = ()  # further named outputs after y (the general contract)
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        if not self.name.isprintable():  # the name starts messages, which must stay one line
            raise BundleError(f"manifest field 'name': expected printable text, got {self.name!r}")
        _check_choice("topology", self.topology, TOPOLOGIES)
        _check_choice("cell", self.cell, CELLS)
        _check_choice("input.kind", self.input.kind, INPUT_KINDS)
        _check_choice("output.kind", self.output.kind, OUTPUT_KINDS)
        if self.input.min_length < 1:
            raise BundleError(
                f"manifest field 'input.min_length': expected >= 1, got {self.input.min_length}"
            )
        if self.schema_version != SCHEMA_VERSION:
            raise BundleError(
                f"manifest field 'schema_version': expected {SCHEMA_VERSION}, got {self.schema_version}"
            )
        columns = self.input.columns
        if columns is not None and self.input.features is not None and len(columns) != self.input.features:
            raise BundleError(
                f"manifest field 'input.columns': expected {self.input.features} names, got {len(columns)}"
            )
        for path, entry in self.files.items():
            if entry.variant is not None:
                _check_choice(f"files[{path!r}].variant", entry.variant, VARIANTS)
            _check_size(f"files[{path!r}].size_bytes", entry.size_bytes, low=0, high=1 << 62)
        _check_sizes(self)
        _check_tensors(self)

    @property
    def streamable(self) -> bool:
        """A model can be streamed step by step when it carries state and runs forward only."""
        return bool(self.state) and not self.bidirectional

    def model_files(self) -> dict[str, str]:
        """Map each available variant to its ONNX file name."""
        return {e.variant: p for p, e in self.files.items() if e.role == ROLE_MODEL and e.variant}

    @classmethod
    def from_dict(cls, data: Any) -> Manifest:
        """Build a manifest from parsed JSON, raising :class:`BundleError` naming any bad field."""
        return parse_dataclass(cls, data)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (tuples become lists)."""
        return dataclasses.asdict(self)


def _check_size(name: str, value: int | None, *, low: int = 1, high: int = MAX_SIZE) -> None:
    if value is not None and not low <= value <= high:
        raise BundleError(f"manifest field '{name}': expected an int in [{low}, {high}], got {value}")


def _check_scale(name: str, values: tuple[float, ...] | None, positive: bool) -> None:
    for v in values or ():
        if not (math.isfinite(v) and abs(v) <= FLOAT32_MAX and (v > 0 or not positive)):
            want = "finite values > 0" if positive else "finite values"
            raise BundleError(f"manifest field '{name}': expected {want} within float32 range, got {v!r}")


def _check_spec(where: str, spec: InputSpec | OutputSpec) -> None:
    for name in ("features", "vocab_size", "size"):
        _check_size(f"{where}.{name}", getattr(spec, name, None))
    _check_scale(f"{where}.mean", spec.mean, positive=False)
    _check_scale(f"{where}.std", spec.std, positive=True)


def _check_sizes(m: Manifest) -> None:
    """Sizes are positive and bounded, normalisation is usable, labels fit the classes, and state
    dims are positive: checked when a manifest is read, long before anything is allocated."""
    for name in ("layers", "hidden_size", "opset"):
        _check_size(name, getattr(m, name))
    _check_spec("input", m.input)
    _check_spec("output", m.output)
    if m.condition is not None:
        _check_spec("condition", m.condition)
    labels, size = m.output.labels, m.output.size
    if labels is not None and size is not None and len(labels) != size:
        raise BundleError(
            f"manifest field 'output.labels': expected {size} labels (output.size), got {len(labels)}"
        )
    for i, state in enumerate(m.state):
        for d in state.shape:
            if isinstance(d, int):
                _check_size(f"state[{i}].shape", d)
            elif not d.isprintable() or not d:
                raise BundleError(f"manifest field 'state[{i}].shape': expected ints or dim names, got {d!r}")


def _check_tensors(m: Manifest) -> None:
    """Further inputs/outputs: known dtypes, printable dims, and no name used twice in the graph."""
    taken = {m.input.name, m.output.name, *(s.input for s in m.state), *(s.output for s in m.state)}
    if m.input.lengths:
        taken.add(m.input.lengths)
    for field_name, specs in (("inputs", m.inputs), ("outputs", m.outputs)):
        for i, spec in enumerate(specs):
            where = f"{field_name}[{i}]"
            if not spec.name or not spec.name.isprintable() or spec.name in taken:
                raise BundleError(
                    f"manifest field '{where}.name': expected a printable name not used by another "
                    f"graph input or output, got {spec.name!r}"
                )
            taken.add(spec.name)
            _check_choice(f"{where}.dtype", spec.dtype, TENSOR_DTYPES)
            for d in spec.shape:
                if isinstance(d, int):
                    _check_size(f"{where}.shape", d)
                elif not d or not d.isprintable():
                    raise BundleError(
                        f"manifest field '{where}.shape': expected ints or dim names, got {d!r}"
                    )
            if (spec.low is not None or spec.high is not None) and spec.dtype == "float32":
                raise BundleError(f"manifest field '{where}.low': a value range is for integer inputs only")


def _check_choice(name: str, value: str | None, choices: tuple[str, ...]) -> None:
    if value is not None and value not in choices:
        raise BundleError(f"manifest field '{name}': expected one of {', '.join(choices)}, got {value!r}")


def _describe(value: Any) -> str:
    text = repr(value)
    return (
        f"{text[:60]}... ({type(value).__name__})" if len(text) > 60 else f"{text} ({type(value).__name__})"
    )


def parse_dataclass(cls: type[T], data: Any, what: str = "manifest") -> T:
    """Build dataclass ``cls`` from parsed JSON, checking every field against its type hint.

    Unknown, missing or mistyped fields raise :class:`BundleError` naming the field
    (``"{what} field 'input.features': expected int, got 'four' (str)"``); so does an
    :class:`EdgernnError` or ``TypeError`` raised by the dataclass itself.
    """
    parsed: T = _parse(cls, data, "", what)
    return parsed


def _parse(tp: Any, value: Any, where: str, what: str) -> Any:
    """Check ``value`` (parsed JSON) against the type hint ``tp`` and convert it."""
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        options = typing.get_args(tp)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in (o for o in options if o is not type(None)):
            try:
                return _parse(option, value, where, what)
            except BundleError as err:
                errors.append(err)
        if len(errors) == 1:
            raise errors[0]
        names = " or ".join(getattr(o, "__name__", str(o)) for o in options)
        raise BundleError(f"{what} field '{where}': expected {names}, got {_describe(value)}")
    if dataclasses.is_dataclass(tp):
        return _parse_dataclass(tp, value, where, what)
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise BundleError(f"{what} field '{where}': expected a list, got {_describe(value)}")
        (item,) = typing.get_args(tp)[:1]
        return tuple(_parse(item, v, f"{where}[{i}]", what) for i, v in enumerate(value))
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise BundleError(f"{what} field '{where}': expected an object, got {_describe(value)}")
        args = typing.get_args(tp)
        if not args or args[1] is Any:
            return dict(value)
        return {str(k): _parse(args[1], v, f"{where}[{k!r}]", what) for k, v in value.items()}
    if tp is Any:
        return value
    if tp is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if tp is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if tp in (str, bool) and isinstance(value, tp):
        return value
    raise BundleError(f"{what} field '{where}': expected {tp.__name__}, got {_describe(value)}")


def _parse_dataclass(cls: Any, value: Any, where: str, what: str) -> Any:
    if not isinstance(value, dict):
        raise BundleError(
            f"{what} field '{where or cls.__name__}': expected an object, got {_describe(value)}"
        )
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(value) - set(known))
    if unknown:
        raise BundleError(
            f"{what} field '{_join(where, unknown[0])}': unknown field (expected one of {', '.join(known)})"
        )
    kwargs = {}
    for name, f in known.items():
        if name not in value:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise BundleError(f"{what} field '{_join(where, name)}': required field is missing")
            continue
        kwargs[name] = _parse(hints[name], value[name], _join(where, name), what)
    try:
        return cls(**kwargs)
    except BundleError:
        raise
    except (EdgernnError, TypeError) as err:  # the dataclass's own checks (__post_init__)
        raise BundleError(f"{what}: {err}") from None


def _join(where: str, name: str) -> str:
    if not name.isidentifier():  # a key from the file: shown quoted, so a message stays one line
        return f"{where}[{name!r}]"
    return f"{where}.{name}" if where else name
