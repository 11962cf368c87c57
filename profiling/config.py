"""``ProfileConfig``: what ``edgernn profile`` sweeps and how it times; one field per CLI flag.

Also the ``--input`` pins: ``NAME=SHAPE`` (``x=1x100x40``; ``*`` leaves an axis to the sweep) fixes the
data input's dims, ``NAME=VALUE`` (``sr=16000``, ``w=0.5,1``) feeds a constant input.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgernn.runtime.errors import InputError, ProviderError
from edgernn.runtime.flags import MAX_COUNT, MAX_SECONDS, MAX_SEED
from edgernn.runtime.limits import max_threads
from edgernn.runtime.vocab import BARE_VARIANT, PROVIDER_NAMES, VARIANTS

MODES = ("sequence", "stream")
DEFAULT_BATCH = 1  # one stream: the edge case
DEFAULT_SEQ = 100  # steps per sequence: long enough for the recurrent kernel to dominate
DEFAULT_ITERS = 100  # enough samples for a stable p99 of a ms-scale call
FREE_DIM_DEFAULT = (
    1  # a symbolic dim that is neither batch nor time; shown in the report, pin it with --input
)

Pin = tuple[int | None, ...] | list[float] | float  # a shape (tuple) or a constant value

_SHAPE = re.compile(r"^(\d+|\*)(x(\d+|\*))+$")
_NUMBER = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


@dataclass(frozen=True)
class ProfileConfig:
    """One profiling sweep. ``edgernn profile`` flags map one-to-one onto these fields."""

    variants: tuple[str, ...] | None = None  # None: every variant of the bundle its providers can run
    providers: tuple[str, ...] = ("cpu",)  # explicit, so a profile says where it ran; cuda only when asked
    threads: tuple[int, ...] = (1,)  # intra-op threads, pinned; 1 is one stream per core, the edge case
    batch_sizes: tuple[int, ...] | None = None  # None: 1, or the batch that --input pins
    seq_lens: tuple[int, ...] | None = None  # None: 100 steps, or the time that --input pins
    mode: str = "sequence"  # sequence: one call per sequence; stream: per-step latency, state carried
    streams: tuple[int, ...] | None = None  # stream mode: N streams batched (StreamBatcher) vs N independent
    warmup: int = 10  # untimed calls per cell after the first inference: allocations, caches
    iters: int | None = None  # timed calls per cell; None: 100, unless duration_s is set
    duration_s: float | None = None  # time each cell for this long instead of a fixed count
    inputs: tuple[str, ...] = ()  # NAME=SHAPE or NAME=VALUE pins (third-party models)
    state_map: tuple[str, ...] = ()  # IN=OUT state pairs of a bare .onnx, when names do not tell
    seed: int = 0  # random inputs are reproducible
    ops: bool = False  # per-op breakdown from onnxruntime's profiler, in a separate untimed pass
    ops_top: int = 10  # nodes listed per cell, by total time
    torch: bool = False  # time the bundle's PyTorch source beside each cell (needs torch)
    torch_compile: bool = False  # also torch.compile: tens of seconds per shape, so only when asked
    isolate: bool = False  # each cell in a fresh subprocess: honest cold start and peak RSS
    max_p50_ms: float | None = None  # budget gate: exit 1 naming the cells over it
    max_p99_ms: float | None = None
    json_path: Path | None = None
    csv_path: Path | None = None
    markdown_path: Path | None = None
    plot_dir: Path | None = None

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise InputError(f"mode: expected one of {', '.join(MODES)}, got {self.mode!r}")
        for p in self.providers:
            if p not in PROVIDER_NAMES:
                raise ProviderError(f"provider: expected one of {', '.join(PROVIDER_NAMES)}, got {p!r}")
        for v in self.variants or ():
            if v not in (*VARIANTS, BARE_VARIANT):
                raise InputError(f"variant: expected one of {', '.join(VARIANTS)}, got {v!r}")
        for name in ("providers", "threads", "variants", "batch_sizes", "seq_lens", "streams"):
            value = getattr(self, name)
            if value is not None and not value:
                raise InputError(f"{name}: expected at least one value, got none")
            if name in ("threads", "batch_sizes", "seq_lens", "streams"):
                for n in value or ():
                    _positive(name, n)
                    if name == "threads" and n > max_threads():
                        raise InputError(
                            f"threads: expected at most {max_threads()} (4 per core, at least 64), got {n}"
                        )
        _positive("warmup", self.warmup, low=0, high=MAX_COUNT)
        _positive("ops_top", self.ops_top)
        _positive("seed", self.seed, low=0, high=MAX_SEED)
        if self.iters is not None:
            _positive("iters", self.iters, high=MAX_COUNT)
        if self.iters is not None and self.duration_s is not None:
            raise InputError(
                f"iters and duration: expected one of them, got both ({self.iters}, {self.duration_s} s)"
            )
        for name in ("duration_s", "max_p50_ms", "max_p99_ms"):
            value = getattr(self, name)
            if value is not None and not (value > 0 and math.isfinite(value)):
                raise InputError(f"{name}: expected a positive finite number, got {value!r}")
        if self.duration_s is not None and self.duration_s > MAX_SECONDS:
            raise InputError(
                f"duration_s: expected at most {MAX_SECONDS:g} s (a day), got {self.duration_s!r}"
            )
        if self.streams is not None and (self.mode != "stream" or self.batch_sizes is not None):
            raise InputError(
                "streams: expected --mode stream and no --batch (each batched stream is one sequence), "
                f"got mode {self.mode!r}, batch {self.batch_sizes}"
            )
        if self.torch_compile and not self.torch:
            raise InputError("torch_compile: expected torch=True as well (compile is a PyTorch baseline)")
        parse_pins(self.inputs)
        self.state_pairs()

    @property
    def pins(self) -> dict[str, Pin]:
        """The parsed ``--input`` specs, by input name."""
        return parse_pins(self.inputs)

    @property
    def timed_iters(self) -> int | None:
        """Timed calls per cell, or None when ``duration_s`` decides."""
        return None if self.duration_s is not None else (self.iters or DEFAULT_ITERS)

    @property
    def budgets(self) -> dict[str, float]:
        """``{"p50_ms": x, "p99_ms": y}`` for the budgets that are set."""
        pairs = (("p50_ms", self.max_p50_ms), ("p99_ms", self.max_p99_ms))
        return {k: v for k, v in pairs if v is not None}

    def state_pairs(self) -> dict[str, str] | None:
        """``state_map`` as a dict, or None when not given."""
        if not self.state_map:
            return None
        return {k: v for k, v in (_split(s, "--state-map", "IN=OUT") for s in self.state_map)}

    def constants(self) -> dict[str, list[float] | float]:
        """The ``NAME=VALUE`` pins."""
        return {k: v for k, v in self.pins.items() if not isinstance(v, tuple)}

    def shape_pins(self) -> dict[str, tuple[int | None, ...]]:
        """The ``NAME=SHAPE`` pins (None where ``*`` leaves the axis to the sweep)."""
        return {k: v for k, v in self.pins.items() if isinstance(v, tuple)}


def _positive(name: str, value: object, low: int = 1, high: int | None = None) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise InputError(f"{name}: expected an int >= {low}, got {value!r}")
    if high is not None and value > high:
        raise InputError(f"{name}: expected an int <= {high}, got {value!r}")


def _split(spec: str, flag: str, form: str) -> tuple[str, str]:
    key, sep, value = spec.partition("=")
    if not sep or not key.strip() or not value.strip():
        raise InputError(f"{flag}: expected {form}, got {spec!r}")
    return key.strip(), value.strip()


def parse_pins(specs: tuple[str, ...]) -> dict[str, Pin]:
    """Parse ``--input`` specs: ``NAME=AxBxC`` (ints or ``*``) is a shape, ``NAME=V[,V...]`` a value."""
    pins: dict[str, Pin] = {}
    form = "NAME=SHAPE (e.g. x=1x100x40, * for a swept axis) or NAME=VALUE (e.g. sr=16000)"
    for spec in specs:
        name, text = _split(spec, "--input", form)
        if name in pins:
            raise InputError(f"--input: expected each name once, got {name!r} twice")
        if _SHAPE.match(text):
            pins[name] = tuple(None if d == "*" else int(d) for d in text.split("x"))
            if 0 in pins[name]:
                raise InputError(f"--input {spec}: expected dims >= 1, got {text!r}")
        elif all(_NUMBER.match(v.strip()) for v in text.split(",")):
            values = [float(v) if any(c in v for c in ".eE") else int(v) for v in text.split(",")]
            if not all(isinstance(v, int) or math.isfinite(v) for v in values):
                raise InputError(f"--input {spec}: expected finite numbers, got {text!r}")
            pins[name] = values[0] if len(values) == 1 else values
        else:
            raise InputError(f"--input: expected {form}, got {spec!r}")
    return pins


_PATH_FIELDS = ("json_path", "csv_path", "markdown_path", "plot_dir")


def config_to_dict(config: ProfileConfig) -> dict[str, Any]:
    """JSON-ready fields (tuples as lists, paths as strings)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        out[f.name] = (
            list(value) if isinstance(value, tuple) else str(value) if isinstance(value, Path) else value
        )
    return out


def config_from_dict(data: dict[str, Any]) -> ProfileConfig:
    """Inverse of :func:`config_to_dict`."""
    fields = {}
    for name, value in data.items():
        if isinstance(value, list):
            value = tuple(value)
        elif name in _PATH_FIELDS and value is not None:
            value = Path(value)
        fields[name] = value
    return ProfileConfig(**fields)
