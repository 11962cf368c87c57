"""Open a bundle folder (manifest + checked files) or describe a bare ``.onnx`` from its graph."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import posixpath
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from .errors import BundleError, InputError
from .fileio import sha256_file
from .graphscan import GraphScan
from .limits import strict_json
from .manifest import InputSpec, Manifest, OutputSpec, StateSpec
from .modelfile import ModelBytes, mismatch, model_refs, read_model, read_regular
from .statepairs import infer_state_pairs
from .vocab import FP32, MANIFEST_NAME, METADATA_KEY, ROLE_INIT, ROLE_MODEL

MODEL_ROLES = (ROLE_MODEL, ROLE_INIT)

_ORT_DTYPES = {
    "tensor(float)": "float32",
    "tensor(float16)": "float16",
    "tensor(double)": "float64",
    "tensor(int64)": "int64",
    "tensor(int32)": "int32",
    "tensor(int8)": "int8",
    "tensor(uint8)": "uint8",
    "tensor(bool)": "bool",
}


@dataclass(frozen=True)
class Bundle:
    """A bundle folder whose manifest has been parsed; files are checked when they are used."""

    root: Path
    manifest: Manifest

    @classmethod
    def load(cls, path: str | Path) -> Bundle:
        """Read ``path/manifest.json``; raise :class:`BundleError` naming what is wrong."""
        root = Path(path)
        if not root.is_dir():
            raise BundleError(f"{root}: expected a bundle folder with {MANIFEST_NAME}, got no such folder")
        manifest_path = root / MANIFEST_NAME
        if not manifest_path.is_file():
            raise BundleError(f"{root}: expected {MANIFEST_NAME} in the bundle folder, found none")
        _check_inside(root, MANIFEST_NAME, manifest_path)  # read and trusted like every listed file
        try:
            data = strict_json(read_regular(manifest_path, "manifest").decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as err:
            detail = " ".join(str(err).split())[:200]
            raise BundleError(f"{manifest_path}: expected JSON, could not parse it ({detail})") from None
        try:
            manifest = Manifest.from_dict(data)
        except BundleError as err:
            raise BundleError(f"{manifest_path}: {err}") from None
        for rel in manifest.files:
            _check_relative(rel, manifest_path)
        return cls(root, manifest)

    def variants(self) -> list[str]:
        """Model variants the manifest lists, fp32 first."""
        return sorted(self.manifest.model_files(), key=lambda v: (v != FP32, v))

    def _entry(self, rel: str) -> tuple[Path, str]:
        """Path and expected sha256 of a listed file that exists and stays inside the bundle."""
        entry = self.manifest.files.get(rel)
        if entry is None:
            raise BundleError(f"{self.root}: file {rel!r} is not listed in {MANIFEST_NAME}")
        path = self.root / rel
        if not path.is_file():
            raise BundleError(f"{self.root}: {MANIFEST_NAME} lists {rel!r}, but the file is missing")
        _check_inside(self.root, rel, path)
        return path, entry.sha256

    def file(self, rel: str) -> Path:
        """Path of a listed file after checking that it exists and matches its sha256."""
        path, want = self._entry(rel)
        actual = sha256_file(path)
        if actual != want:
            raise mismatch(path, want, actual)
        return path

    def read(self, rel: str) -> bytes:
        """The bytes of a listed file, read once and checked against its sha256."""
        path, want = self._entry(rel)
        data = read_regular(path, "bundle file")
        actual = hashlib.sha256(data).hexdigest()
        if actual != want:
            raise mismatch(path, want, actual)
        return data

    def model(self, rel: str) -> ModelBytes:
        """A listed model file read once, checked against its sha256, with its external data: each
        external file must be listed too, and is checked and read the same way."""
        path, want = self._entry(rel)
        return read_model(path, sha256=want, resolve=lambda p, name, loc: self._external(rel, name, loc))

    def _external(self, model_rel: str, name: str, location: str) -> tuple[Path, str]:
        rel = posixpath.normpath(posixpath.join(posixpath.dirname(model_rel), location))
        if rel not in self.manifest.files:
            raise BundleError(
                f"{self.root / model_rel}: tensor {name!r} keeps its data in {location!r}, which "
                f"{MANIFEST_NAME} does not list; every file a model reads must be listed with its sha256"
            )
        return self._entry(rel)

    def model_file(self, variant: str = FP32) -> str:
        """The bundle-relative file name of ``variant``'s model."""
        files = self.manifest.model_files()
        if variant not in files:
            have = ", ".join(self.variants()) or "none"
            raise BundleError(f"{self.root}: expected a {variant!r} model variant, the bundle has: {have}")
        return files[variant]

    def model_path(self, variant: str = FP32) -> Path:
        """Checked path of the model file for ``variant``."""
        return self.file(self.model_file(variant))

    def verify(self) -> dict[str, str]:
        """Check every listed file: ``{path: "ok" | "missing" | "sha256 mismatch" | ...}``; a model
        whose external data the manifest does not list is reported too."""
        status = {}
        for rel, entry in self.manifest.files.items():
            path = self.root / rel
            if not path.is_file():
                status[rel] = "missing"
            elif not Path(os.path.realpath(path)).is_relative_to(os.path.realpath(self.root)):
                status[rel] = "link outside the bundle"
            elif sha256_file(path) != entry.sha256:
                status[rel] = "sha256 mismatch"
            else:
                status[rel] = self._external_status(rel) if entry.role in MODEL_ROLES else "ok"
        return status

    def _external_status(self, rel: str) -> str:
        try:
            refs = model_refs(self.root / rel)
        except BundleError:
            return "ok"  # not a model edgernn can parse: inspect reports that on its own
        base = posixpath.dirname(rel)
        listed = self.manifest.files
        unlisted = sorted(
            {loc for loc in refs.values() if posixpath.normpath(posixpath.join(base, loc)) not in listed}
        )
        return f"external data not listed: {', '.join(unlisted)}" if unlisted else "ok"


def _check_inside(root: Path, rel: str, path: Path) -> None:
    """Refuse a bundle file that resolves (through a link) to a file outside the bundle folder."""
    target = Path(os.path.realpath(path))
    if not target.is_relative_to(os.path.realpath(root)):
        raise BundleError(
            f"{root}: {rel!r} resolves (through a link) to {target}, outside the bundle; "
            "expected a file inside the bundle folder"
        )


def check_outside(flag: str, out: Path, target: Path) -> None:
    """Refuse an output path inside the bundle folder ``target`` (writing there would change the
    bundle: ``--out B/manifest.json`` would destroy it). A bare ``.onnx`` target's folder is fine."""
    if not target.is_dir():
        return
    if Path(os.path.realpath(out)).is_relative_to(os.path.realpath(target)):
        raise InputError(
            f"{flag} {out}: is inside the bundle {target}; expected a path outside it (writing there would "
            "change the bundle)"
        )


def _check_relative(rel: str, manifest_path: Path) -> None:
    parts = PurePosixPath(rel)
    if parts.is_absolute() or ".." in parts.parts or "\\" in rel or not rel:
        raise BundleError(f"{manifest_path}: file entry {rel!r} must be a plain path inside the bundle")


def ort_dtype(type_str: str) -> str:
    """numpy dtype name for an onnxruntime type string such as ``tensor(float)``."""
    return _ORT_DTYPES.get(type_str, type_str)


# A third-party graph's lengths input (ONNX's recurrent ops call it sequence_lens), by name.
LENGTHS_NAMES = ("sequence_lens", "sequence_lengths", "seq_lens", "seq_lengths", "lengths", "length")


def _dims(shape: list[Any]) -> tuple[int | str, ...]:
    return tuple(d if isinstance(d, int) else str(d or "?") for d in shape)


def detect_state_pairs(
    inputs: list[Any], outputs: list[Any], graph: GraphScan | None = None
) -> dict[str, str]:
    """Pair state inputs with the outputs that feed them back (``{input: output}``); the rules, and
    which one found each pair, are in :func:`~edgernn.runtime.statepairs.infer_state_pairs`.

    ``inputs``/``outputs`` are onnxruntime NodeArgs (``name``, ``shape``, ``type``); ``graph`` the
    scanned main graph, when it could be read (it enables the trace rule)."""
    return {p.input: p.output for p in infer_state_pairs(inputs, outputs, graph)}


def _checked(name: str, state_map: dict[str, str], inputs: list[Any], outputs: list[Any]) -> dict[str, str]:
    in_names, out_names = {a.name for a in inputs}, {a.name for a in outputs}
    for i, o in state_map.items():
        if i not in in_names or o not in out_names:
            raise BundleError(f"{name}: state_map pair {i!r} -> {o!r} does not name a graph input and output")
    return dict(state_map)


def manifest_from_graph(
    name: str,
    metadata: dict[str, str],
    inputs: list[Any],
    outputs: list[Any],
    state_map: dict[str, str] | None = None,
    graph: GraphScan | None = None,
) -> Manifest:
    """Describe a bare model: from its edgernn metadata when present, else from its graph (``graph``:
    its scanned nodes; a reverse or bidirectional recurrence makes it not streamable)."""
    if METADATA_KEY in metadata:
        try:
            data = strict_json(metadata[METADATA_KEY])
        except ValueError as err:
            raise BundleError(f"{name}: metadata {METADATA_KEY!r} is not valid JSON ({err})") from None
        if isinstance(data, dict):
            data["files"] = {}  # a bare file lists no bundle files; from_dict refuses a non-object
        try:
            manifest = Manifest.from_dict(data)
        except BundleError as err:
            raise BundleError(f"{name}: metadata {METADATA_KEY!r}: {err}") from None
        if state_map is None:
            return manifest
        in_args = {a.name: a for a in inputs}
        state = tuple(
            StateSpec(i, o, _dims(in_args[i].shape), ort_dtype(in_args[i].type))
            for i, o in _checked(name, state_map, inputs, outputs).items()
        )
        return dataclasses.replace(manifest, state=state)
    pairs = (
        _checked(name, state_map, inputs, outputs)
        if state_map is not None
        else detect_state_pairs(inputs, outputs, graph)
    )
    return _from_graph(name, inputs, outputs, pairs, graph)


def _from_graph(
    name: str, inputs: list[Any], outputs: list[Any], pairs: dict[str, str], graph: GraphScan | None
) -> Manifest:
    """A manifest for a graph that carries none: first data input and output, state pairs, and an
    integer ``[batch]`` input named like ``sequence_lens`` as the lengths input."""
    in_args = {a.name: a for a in inputs}
    data_in = [a for a in inputs if a.name not in pairs]
    data_out = [a for a in outputs if a.name not in pairs.values()]
    if not data_in or not data_out:
        raise BundleError(f"{name}: expected at least one non-state input and output, found none")
    x, y = data_in[0], data_out[0]
    x_shape = _dims(x.shape)
    lengths = next(
        (
            a.name
            for a in data_in[1:]
            if a.name.lower() in LENGTHS_NAMES
            and ort_dtype(a.type) in ("int32", "int64")
            and len(a.shape) == 1
        ),
        None,
    )
    return Manifest(
        name=name,
        input=InputSpec(
            name=x.name,
            features=x_shape[-1] if len(x_shape) == 3 and isinstance(x_shape[-1], int) else None,
            dtype=ort_dtype(x.type),
            kind="tokens" if ort_dtype(x.type) in ("int64", "int32") else "features",
            lengths=lengths,
        ),
        output=OutputSpec(name=y.name, kind="raw"),
        state=tuple(
            StateSpec(i, o, _dims(in_args[i].shape), ort_dtype(in_args[i].type)) for i, o in pairs.items()
        ),
        bidirectional=graph is not None and bool(graph.directions - {"forward"}),
    )
