"""How quantize writes into a bundle: one writer at a time (a lock on the folder), work on a private
copy of the checked fp32 bytes, and a commit that leaves every listed file matching its sha256."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from edgernn.runtime.bundle import Bundle
from edgernn.runtime.errors import BundleError
from edgernn.runtime.fileio import atomic_write_text, folder_lock, sha256_file
from edgernn.runtime.manifest import FileEntry, Manifest
from edgernn.runtime.records import VariantRecord
from edgernn.runtime.vocab import FP32, MANIFEST_NAME, QUANTIZE_TMP_PREFIX, ROLE_MODEL, VARIANT_FILES


@contextmanager
def bundle_lock(root: Path) -> Iterator[None]:
    """:func:`~edgernn.runtime.fileio.folder_lock` on the bundle: concurrent writers wait their turn."""
    with ExitStack() as stack:
        try:
            stack.enter_context(folder_lock(root))
        except OSError as err:
            raise BundleError(
                f"{root}: expected a bundle folder, could not open it ({err.strerror})"
            ) from None
        yield


def remove_stale_temps(root: Path) -> None:
    """Private folders left by a quantize that was killed (the lock proves none is running)."""
    for path in root.glob(QUANTIZE_TMP_PREFIX + "*"):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)


def private_copy(bundle: Bundle, folder: Path) -> Path:
    """The fp32 model (and its external data) as checked bytes, in a private folder."""
    model = bundle.model(bundle.model_file(FP32))
    folder.mkdir()
    path = folder / VARIANT_FILES[FP32]
    path.write_bytes(model.data)
    for location, blob in model.external:
        (folder / location).parent.mkdir(parents=True, exist_ok=True)
        (folder / location).write_bytes(blob)
    return path


def commit(root: Path, bundle: Bundle, results: list[VariantRecord], made: dict[str, Path]) -> Manifest:
    """Move the accepted variants into the bundle so that a crash at any point leaves every file the
    manifest lists matching its sha256: variants being replaced leave the manifest first. If a step
    fails (a full disk), files placed here that the manifest on disk does not list are removed.
    Returns the manifest as written."""
    manifest = bundle.manifest
    accepted = [r for r in results if r.accepted]
    replaced = {r.file for r in accepted if r.file in manifest.files}
    files = {rel: e for rel, e in manifest.files.items() if rel not in replaced}
    quant = {v: q for v, q in (manifest.quantization or {}).items() if VARIANT_FILES.get(v) not in replaced}
    try:
        if replaced:
            _write_manifest(root, dataclasses.replace(manifest, files=files, quantization=quant))
        for r in accepted:
            os.replace(made[r.variant], root / r.file)
            path = root / r.file
            files[r.file] = FileEntry(sha256_file(path), path.stat().st_size, r.variant, ROLE_MODEL)
            quant[r.variant] = dataclasses.replace(r, sha256=files[r.file].sha256)
        final = dataclasses.replace(manifest, files=files, quantization=quant)
        _write_manifest(root, final)
    except BaseException:
        _remove_unlisted(root, [r.file for r in accepted])
        raise
    return final


def _remove_unlisted(root: Path, placed: list[str]) -> None:
    try:
        listed = Bundle.load(root).manifest.files
    except BundleError:
        listed = {}
    for rel in placed:
        if rel not in listed:
            (root / rel).unlink(missing_ok=True)


def _write_manifest(root: Path, manifest: Manifest) -> None:
    atomic_write_text(root / MANIFEST_NAME, json.dumps(manifest.to_dict(), indent=2))
