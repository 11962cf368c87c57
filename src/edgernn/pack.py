"""``edgernn pack``: a folder a device installs offline: the bundle with only the variant(s) to ship,
the wheels for the device's platform and Python, ``install.sh`` and a README.

Only the runtime (and the standard library) loads here: no torch, onnx or matplotlib.
"""

from __future__ import annotations

import dataclasses
import json
import os
import posixpath
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgernn.runtime.bundle import Bundle, check_outside
from edgernn.runtime.errors import BundleError, InputError
from edgernn.runtime.fileio import atomic_write_text, sha256_file, staged_dir
from edgernn.runtime.manifest import Manifest, parse_dataclass
from edgernn.runtime.modelfile import model_refs
from edgernn.runtime.providers import pick_variant
from edgernn.runtime.vocab import (
    AUTO,
    CPU,
    FP16,
    MANIFEST_NAME,
    ROLE_INIT,
    ROLE_MODEL,
    ROLE_OPS_CONFIG,
    ROLE_ORT,
)

from . import pack_files, pack_wheels
from ._version import __version__
from .pack_wheels import Target

MARKER = ".edgernn-pack"  # written into every pack folder; only such a folder is ever replaced
OWN = {MARKER, "bundle", "wheels", "install.sh", "README.md"}
SUMMARY = "summary.json"  # a pipeline's summary beside its bundle: the report's recommendation


@dataclass(frozen=True)
class PackConfig:
    """What ``edgernn pack`` writes, and for which device."""

    bundle: Path
    out: Path
    target: Target
    variants: tuple[str, ...] = (AUTO,)  # auto: the report's recommendation, else the runtime's pick
    wheels: bool = True  # False: only edgernn's own wheel; the device downloads the rest


@dataclass(frozen=True)
class PackResult:
    """What was written: the shipped variants and the sizes of each part, in bytes."""

    out: Path
    variants: tuple[str, ...]
    variant_reason: str
    bundle_bytes: int
    wheels: dict[str, tuple[int, int]]  # wheel file -> (bytes, installed bytes)
    glibc: str | None

    @property
    def wheel_bytes(self) -> int:
        """All wheels, as downloaded."""
        return sum(size for size, _ in self.wheels.values())

    @property
    def installed_bytes(self) -> int:
        """All wheels once installed (uncompressed; .pyc files add a little)."""
        return sum(size for _, size in self.wheels.values())


def choose_variants(bundle: Bundle, asked: tuple[str, ...]) -> tuple[tuple[str, ...], str]:
    """The variants to ship and why: those asked for; ``auto``: the pipeline report's recommendation
    (its ``summary.json`` beside the bundle), else what the runtime picks on the CPU among the variants
    quantize accepted."""
    have = bundle.variants()
    if asked != (AUTO,):
        if FP16 in asked:
            raise InputError(
                f"--variant {','.join(asked)}: fp16 has no CPU kernels and a pack installs onnxruntime's CPU "
                "build; expected fp32, int8 or int8-static"
            )
        missing = [v for v in asked if v not in have]
        if missing:
            raise InputError(
                f"--variant {','.join(asked)}: the bundle has {', '.join(have)}; not {', '.join(missing)}"
            )
        return tuple(dict.fromkeys(asked)), "asked for"
    recommended = _recommended(bundle.root.parent / SUMMARY, have)
    if recommended:
        return recommended, f"the report's recommendation ({bundle.root.parent / SUMMARY})"
    records = bundle.manifest.quantization or {}
    accepted = [v for v in have if v != FP16 and (v not in records or records[v].accepted)]
    chosen = pick_variant(AUTO, accepted or have, CPU)
    return (chosen,), "the runtime's pick on the CPU (no pipeline report beside the bundle)"


def _recommended(summary_path: Path, have: list[str]) -> tuple[str, ...]:
    """The variants a pipeline's report recommends (per call pattern, by the report's own rule), if
    its summary is there and reads as the pipeline writes it."""
    try:
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ()
    from .advice import MODES, pick  # the report's rule; light: runtime records and dataclasses
    from .summary import Timing, VariantSummary

    try:
        variants = {v: parse_dataclass(VariantSummary, s) for v, s in summary["variants"].items()}
        timing = [
            parse_dataclass(Timing, {k: v for k, v in t.items() if k != "name"}) for t in summary["timing"]
        ]
    except (BundleError, KeyError, TypeError, AttributeError):
        return ()
    picks = [pick(variants, timing, mode) for mode in MODES]
    names = tuple(dict.fromkeys(p.variant for p in picks if p is not None))
    return names if names and all(n in have for n in names) else ()


def shipped_files(bundle: Bundle, variants: tuple[str, ...]) -> dict[str, Any]:
    """The manifest entries a device needs for ``variants``: their models and external data, the init
    model, and the ORT-format files of a shipped variant; no eval data, no PyTorch source."""
    files, status = bundle.manifest.files, bundle.verify()
    keep = {}
    for rel, entry in files.items():
        if entry.role == ROLE_INIT or (entry.role in (ROLE_MODEL, ROLE_ORT) and entry.variant in variants):
            _check_status(bundle, rel, status[rel])
            keep[rel] = entry
    if any(e.role == ROLE_ORT for e in keep.values()):
        keep.update({rel: e for rel, e in files.items() if e.role == ROLE_OPS_CONFIG})
    for rel, entry in list(keep.items()):
        if entry.role in (ROLE_MODEL, ROLE_INIT):
            for location in model_refs(bundle.root / rel).values():
                ref = posixpath.normpath(posixpath.join(posixpath.dirname(rel), location))
                if ref in files:
                    _check_status(bundle, ref, status[ref])
                    keep[ref] = files[ref]
    return keep


def _check_status(bundle: Bundle, rel: str, status: str) -> None:
    if status != "ok":
        raise BundleError(f"{bundle.root}: {rel}: {status}; expected every shipped file to match its sha256")


def write_bundle(bundle: Bundle, variants: tuple[str, ...], dest: Path) -> int:
    """Copy the shipped files to ``dest``, recheck each sha256 on the copy, and write a manifest that
    lists only them (and only their quantization records); the bytes written."""
    keep = shipped_files(bundle, variants)  # checks each file's sha256 first
    dest.mkdir()
    for rel, entry in keep.items():
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(bundle.root / rel, dest / rel)
        if sha256_file(dest / rel) != entry.sha256:
            raise BundleError(f"{dest / rel}: the copy does not match its sha256; nothing was written")
    records = {v: r for v, r in (bundle.manifest.quantization or {}).items() if v in variants}
    manifest = dataclasses.replace(bundle.manifest, files=keep, quantization=records or None)
    Manifest.from_dict(json.loads(json.dumps(manifest.to_dict())))  # what Session.load will parse
    atomic_write_text(dest / MANIFEST_NAME, json.dumps(manifest.to_dict(), indent=2) + "\n")
    return sum(p.stat().st_size for p in dest.rglob("*") if p.is_file())


def check_out(out: Path, bundle: Path) -> None:
    """Refuse an ``--out`` that pack could only fill by removing what it did not write, or that holds
    (or lies inside) the bundle. A new or empty folder, or an earlier pack folder, is fine."""
    check_outside("--out", out, bundle)
    if Path(os.path.realpath(bundle)).is_relative_to(os.path.realpath(out)):
        raise InputError(f"--out {out}: holds the bundle {bundle}; expected a folder outside it")
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise InputError(f"--out {out}: is a file or a link; expected a new folder or an earlier pack folder")
    if not out.exists() or not any(out.iterdir()):
        if not out.parent.is_dir():
            raise InputError(f"--out {out}: expected a folder in an existing folder, found no {out.parent}")
        return
    foreign = sorted(p.name for p in out.iterdir() if p.name not in OWN)
    if not (out / MARKER).is_file() or foreign:
        what = f"holds {foreign[0]}, which pack did not write" if foreign else "is not an edgernn pack folder"
        raise InputError(f"--out {out}: {what}; nothing was written, choose a new or empty folder")


def pack(config: PackConfig) -> PackResult:
    """Write the pack folder in a temp folder beside ``config.out``, then rename it into place."""
    check_out(config.out, config.bundle)
    bundle = Bundle.load(config.bundle)
    variants, reason = choose_variants(bundle, config.variants)
    with staged_dir(config.out) as tmp:
        bundle_bytes = write_bundle(bundle, variants, tmp / "bundle")
        wheels = _wheels(config, tmp / "wheels")
        sizes = {w.name: (w.stat().st_size, pack_wheels.installed_bytes(w)) for w in wheels}
        result = PackResult(
            config.out, variants, reason, bundle_bytes, sizes, pack_wheels.glibc_floor(wheels)
        )
        pack_files.write_all(tmp, config, result, bundle.manifest.name)
        marker = {"format": "edgernn-pack", "version": 1, "edgernn": __version__, "variants": list(variants)}
        marker |= {
            "platform": config.target.platform,
            "python": config.target.python,
            "wheels": sorted(sizes),
        }
        atomic_write_text(tmp / MARKER, json.dumps(marker, indent=2) + "\n")
    return result


def _wheels(config: PackConfig, dest: Path) -> list[Path]:
    """edgernn's wheel, and (unless ``--no-wheels``) its runtime dependencies for the target."""
    dest.mkdir()
    with tempfile.TemporaryDirectory(prefix="edgernn-pack-") as tmp:
        own = pack_wheels.build_own_wheel(Path(tmp))
        shutil.copyfile(own, dest / own.name)
        if config.wheels:
            return pack_wheels.download(config.target, dest / own.name, dest)
    return [dest / own.name]
