"""Write a verified export as a bundle folder, in one atomic step: model, init graph, ORT format,
data, source checkpoint, and the manifest with every file's sha256 and the verification record."""

from __future__ import annotations

import dataclasses
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import onnx
import torch

from edgernn.runtime.bundle import Bundle
from edgernn.runtime.errors import BundleError
from edgernn.runtime.fileio import atomic_write_text, sha256_file, staged_dir, unwritable_folder
from edgernn.runtime.manifest import FileEntry
from edgernn.runtime.records import Check, Validation
from edgernn.runtime.vocab import (
    FP32,
    INIT_FILE,
    MANIFEST_NAME,
    QUANTIZE_REPORT,
    QUANTIZE_TMP_PREFIX,
    ROLE_DATA,
    ROLE_INIT,
    ROLE_MODEL,
    ROLE_SOURCE,
    VARIANT_FILES,
)

from .config import ExportConfig
from .errors import ExportError
from .graph import summarize
from .trace import Traced


@dataclass(frozen=True)
class BundlePlan:
    """Everything a verified export writes."""

    out_dir: Path
    model_path: Path  # the verified graph, in a temp folder
    model: onnx.ModelProto
    module: torch.nn.Module  # one_to_many: its init_state is exported beside the model
    config: ExportConfig
    meta: Any  # ExportMeta
    traced: Traced
    checks: tuple[Check, ...]
    attempts: dict[str, str]
    exporter: str


def write_bundle(plan: BundlePlan) -> Any:
    """Write ``plan`` to ``plan.out_dir`` (replacing it in one rename); returns the ExportReport."""
    from .api import ExportReport

    native = {op: n for op, n in summarize(plan.model).op_counts.items() if op in ("LSTM", "GRU", "RNN")}
    checks = list(plan.checks)
    check_out_dir(plan.out_dir)
    with staged_dir(plan.out_dir) as tmp:
        roles = _write_files(plan, tmp, checks)
        files = {
            rel: FileEntry(sha256_file(tmp / rel), (tmp / rel).stat().st_size, variant, role)
            for rel, (variant, role) in roles.items()
        }
        validation = Validation(
            exporter=plan.exporter,
            attempts=dict(plan.attempts),
            atol=plan.config.atol,
            rtol=plan.config.rtol,
            max_abs_diff=max((c.max_abs_diff for c in plan.checks if not c.warning), default=0.0),
            native_nodes=native,
            streamable=plan.traced.manifest.streamable,
            checks=tuple(checks),
            torch_metric=plan.meta.torch_metric,
        )
        final = dataclasses.replace(plan.traced.manifest, files=files, validation=validation)
        atomic_write_text(tmp / MANIFEST_NAME, json.dumps(final.to_dict(), indent=2))
        final = _through_runtime(tmp, plan, final)
    return ExportReport(
        Path(plan.out_dir), plan.exporter, final.validation.checks, plan.attempts, native, final
    )


def _through_runtime(tmp: Path, plan: BundlePlan, manifest: Any) -> Any:
    """The staged bundle through edgernn.runtime (see :mod:`.runtime_gate`); its check is recorded."""
    from .runtime_gate import runtime_check

    check = runtime_check(tmp, plan.traced, plan.config)
    if not check.passed and not check.warning:
        raise ExportError(
            f"{type(plan.module).__name__}: {check.name}: {check.detail} (max abs diff "
            f"{check.max_abs_diff:.3g}); nothing was written"
        )
    validation = dataclasses.replace(
        manifest.validation,
        checks=(*manifest.validation.checks, check),
        max_abs_diff=max(manifest.validation.max_abs_diff, 0.0 if check.warning else check.max_abs_diff),
    )
    final = dataclasses.replace(manifest, validation=validation)
    atomic_write_text(tmp / MANIFEST_NAME, json.dumps(final.to_dict(), indent=2))
    return final


def check_out_dir(out: Path) -> None:
    """Refuse an ``--out`` that export could only fill by removing what it did not write: a file, a
    link, or a non-empty folder that is not an edgernn bundle, or a bundle holding other files. A
    new or empty folder, or a bundle of nothing but its own files, is fine (replaced atomically)."""
    out = Path(out)
    why = unwritable_folder(out)
    if why is not None:
        raise ExportError(f"--out {out}: is {why}; expected a new folder or an edgernn bundle")
    if not out.exists() or not any(out.iterdir()):
        return
    try:
        listed = set(Bundle.load(out).manifest.files)
    except BundleError:
        raise ExportError(
            f"--out {out}: is not empty and is not an edgernn bundle (no readable {MANIFEST_NAME}); "
            "nothing was written, choose a new or empty folder"
        ) from None
    ours = listed | {MANIFEST_NAME, QUANTIZE_REPORT}
    parents = {str(Path(rel).parent) for rel in listed}
    foreign = []
    for path in sorted(out.rglob("*")):
        rel = path.relative_to(out).as_posix()
        if rel.split("/")[0].startswith(QUANTIZE_TMP_PREFIX):
            continue  # quantize's leftovers after a kill
        if path.is_dir() and not path.is_symlink():
            if rel not in parents:
                foreign.append(rel + "/")
        elif rel not in ours:
            foreign.append(rel)
    if foreign:
        raise ExportError(
            f"--out {out}: is an edgernn bundle that also holds files it does not list "
            f"({', '.join(foreign[:5])}); nothing was written, move them or choose another folder"
        )


def _write_files(plan: BundlePlan, tmp: Path, checks: list[Check]) -> dict[str, tuple[str | None, str]]:
    """Copy or write every file into ``tmp``; ``{relative path: (variant, role)}``. One_to_many
    init checks are appended to ``checks``."""
    model_file = VARIANT_FILES[FP32]
    shutil.copyfile(plan.model_path, tmp / model_file)
    roles: dict[str, tuple[str | None, str]] = {model_file: (FP32, ROLE_MODEL)}
    if plan.config.topology == "one_to_many":
        from .init_export import export_init  # one_to_many only: cond -> initial state

        traced = plan.traced
        checks += export_init(
            plan.module,
            tmp / INIT_FILE,
            plan.meta,
            traced.shapes,
            list(traced.state_in),
            plan.config,
            plan.model.metadata_props,
            plan.exporter,
        )
        roles[INIT_FILE] = (None, ROLE_INIT)
    for rel, source in plan.meta.data_files.items():
        shutil.copyfile(source, tmp / rel)
        roles[rel] = (None, ROLE_DATA)
    for rel, source in plan.meta.source_files.items():
        (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
        if isinstance(source, bytes):  # written from memory (a run's config), never read back
            (tmp / rel).write_bytes(source)
        else:
            shutil.copyfile(source, tmp / rel)
        roles[rel] = (None, ROLE_SOURCE)
    if plan.config.ort_format:
        from .ort_format import write_ort

        roles.update(write_ort(tmp / model_file))
    return roles
