"""``edgernn pipeline``: train -> export (verified) -> quantize -> evaluate -> profile -> report.

One chain of typed objects: training returns a :class:`~edgernn.train.run.TrainedRun` (the model in
memory and the test split), export a report whose bundle has its manifest loaded, quantize the bundle
with its new manifest, the profiler typed cells; they fold into one frozen :class:`PipelineSummary`
from which report.md, summary.json and the console summary are rendered. Files are written at the
edges, for people who run one stage at a time; nothing this run wrote is read back.
"""

from __future__ import annotations

import dataclasses
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

from edgernn.profiling.stats import cpu_model
from edgernn.runtime.bundle import Bundle
from edgernn.runtime.vocab import CUDA, EVAL_FILE, FP16, FP32, INT8
from edgernn.train.config import DataConfig, RunConfig

from .console import print_summary
from .report import ms, write_reports
from .summary import ModelDescription, PipelineSummary, Timing, VariantSummary

if TYPE_CHECKING:
    from edgernn.export.evaluate import EvalData
    from edgernn.export.quantization import QuantizeReport
    from edgernn.train.run import RunInfo, TrainedRun

STAGES = ("train", "export + verification", "quantize", "evaluate", "profile", "report")
EAGER = "torch-eager"


@dataclass(frozen=True)
class PipelineConfig:
    """What runs, and how; ``edgernn pipeline`` flags map onto these fields."""

    run: RunConfig  # the training run's data, model and optimisation
    out: Path = Path("runs/pipeline")  # holds run/, bundle/, report.md and the charts
    profile_iters: int = 100  # timed calls per profile cell (after warm-up)
    torch_baseline: bool = True  # time PyTorch eager beside onnxruntime on the same inputs
    max_metric_drop: float = 0.01  # quantize refuses variants more than 1 % (relative) worse
    overwrite: bool = False  # replace a previous pipeline output in `out` (never other folders)
    resume: bool = False  # continue a previous pipeline output: its training, then every later stage
    exporter: str = "auto"  # export: auto | torchscript | dynamo (as `edgernn export --exporter`)
    opset: int = 17
    atol: float | None = None  # export gate tolerances (None: 1e-5, or 1e-4 on a classifier's logits)
    rtol: float = 1e-4
    # the streaming checks' atol: state chained through many calls adds float32 rounding (1.3e-5 seen
    # on a calendar model that passed every other check); the streamed metric is measured on real data later
    stream_atol: float = 1e-4


def _stage(console: Console, k: int) -> None:
    console.rule(f"[bold]{k + 1}/{len(STAGES)} {STAGES[k]}")


def run_pipeline(config: PipelineConfig, console: Console) -> PipelineSummary:
    """Run every stage in order, each on what the previous one returned; writes report.md and
    summary.json and prints the summary. The output folder is held for the whole run: a second
    pipeline into it is refused."""
    from . import outdir

    reads = [config.run.data.path]
    with outdir.claim(Path(config.out), overwrite=config.overwrite, resume=config.resume, reads=reads):
        return _run_stages(config, console)


def _run_stages(config: PipelineConfig, console: Console) -> PipelineSummary:
    import onnxruntime as ort

    from edgernn.export.evaluate import EvalData

    out = Path(config.out)
    run_dir = out / "run"
    _stage(console, 0)
    trained = _train(config.run, run_dir, config.resume, console)
    data = EvalData.from_arrays(trained.eval_arrays, run_dir / EVAL_FILE)
    _stage(console, 1)
    exported = _export(trained, out / "bundle", data, config, console)
    _stage(console, 2)
    gpu = CUDA in ort.get_available_providers()
    quantized = _quantize(exported.as_bundle(), [INT8, *([FP16] if gpu else [])], data, config, console)
    _stage(console, 3)
    streams = _streams(exported.as_bundle(), console)
    variants = _variants(quantized, streams)
    for name, v in variants.items():
        console.print(f"{name}: test {v.metric.name} {v.metric.value:.4g}", highlight=False)
    _stage(console, 4)
    providers = ("cpu", *(("cuda",) if gpu else ()))
    baseline = trained.model if config.torch_baseline else None
    timing = _profile(
        quantized, list(variants), providers, int(data.x.shape[1]), config, baseline, console, streams
    )
    _stage(console, 5)
    summary = PipelineSummary(
        out=out,
        bundle=quantized.bundle,
        report=out / "report.md",
        machine=cpu_model(),
        model=describe_model(trained.info),
        training=trained.summary,
        verdict=trained.summary.verdict(),
        variants=variants,
        refused={r.variant: r.note for r in quantized.results if not r.accepted},
        timing=tuple(timing),
        checks=exported.checks,
        history=trained.history,
    )
    write_reports(summary, run_dir)
    print_summary(console, summary)
    return summary


def _train(config: RunConfig, run_dir: Path, resume: bool, console: Console) -> TrainedRun:
    """Train, continue an unfinished training (``resume``), or reuse a finished one."""
    from edgernn.train import run_training
    from edgernn.train.checkpoint import RESUME_FILE
    from edgernn.train.run import load_trained, read_run_info

    if resume and run_dir.is_dir():
        if read_run_info(run_dir).summary is not None:
            console.print(f"training finished earlier ({run_dir}); continuing with the later stages")
            return load_trained(run_dir)
        if (run_dir / RESUME_FILE).is_file():
            return run_training(config, run_dir, resume=True, console=console)
    shutil.rmtree(run_dir, ignore_errors=True)  # a training that never finished an epoch starts again
    trained = run_training(config, run_dir, console=console)
    alone = _targets_alone(config.data, trained.info)
    if alone is None:
        return trained
    other = run_dir.with_name(run_dir.name + ".targets-alone")
    shutil.rmtree(other, ignore_errors=True)
    console.print(f"inputs: training again on the target alone ({', '.join(alone.columns)}) to compare")
    second = run_training(dataclasses.replace(config, data=alone), other, console=console)
    first_rmse, second_rmse = trained.summary.best_val_metric, second.summary.best_val_metric
    keep = second_rmse < first_rmse
    console.print(
        f"inputs: validation rmse {first_rmse:.4g} with every column, {second_rmse:.4g} with the target "
        "alone: keeping " + ("the target alone" if keep else "every column"),
        highlight=False,
    )
    if not keep:
        shutil.rmtree(other)
        return trained
    shutil.rmtree(run_dir)
    other.rename(run_dir)
    moved = dataclasses.replace(second.info, run_dir=run_dir)
    return dataclasses.replace(second, info=moved)


def _targets_alone(data_config: DataConfig, info: RunInfo) -> DataConfig | None:
    """For a CSV forecast whose columns were not chosen: the same data with its targets as the only
    inputs (small multivariate series often forecast better without the other columns), else None."""
    if data_config.columns or data_config.calendar or info.data.series is None or info.data.metric != "rmse":
        return None
    targets = tuple(data_config.target or info.data.feature_names[-1:])
    if len(info.data.feature_names) <= len(targets):
        return None
    return dataclasses.replace(data_config, columns=targets, target=targets)


def _quantize(
    bundle: Bundle, variants: list[str], data: EvalData, config: PipelineConfig, console: Console
) -> QuantizeReport:
    from edgernn.export.quantization import QuantizeConfig, quantize

    quant_config = QuantizeConfig(max_metric_drop=config.max_metric_drop)
    quantized = quantize(bundle, variants, config=quant_config, eval_data=data)
    for r in quantized.results:
        kept = "kept" if r.accepted else "refused"
        notes = "; ".join(n for n in (r.note, r.stream_note) if n) or "all checks passed"
        console.print(f"{r.variant}: {kept}; {notes}", highlight=False)
    return quantized


def _export(
    trained: TrainedRun, bundle: Path, data: EvalData, config: PipelineConfig, console: Console
) -> Any:
    """Export with the gate options given; the checks passed, and any recorded warning, one line each."""
    from edgernn.export.from_run import export_trained

    exported = export_trained(
        trained,
        bundle,
        eval_data=data,
        exporter=config.exporter,
        opset=config.opset,
        atol=config.atol,
        rtol=config.rtol,
        stream_atol=max(config.stream_atol, config.atol or 0.0),
    )
    console.print(
        f"{len(exported.checks) - len(exported.warnings)} checks passed; max abs diff "
        f"{exported.max_abs_diff:.2e} ({exported.exporter})"
    )
    for c in exported.warnings:
        console.print(f"warning: {c.name}: max abs diff {c.max_abs_diff:.2e} {c.detail}", highlight=False)
    return exported


def _streams(bundle: Bundle, console: Console) -> bool:
    """Whether the manifest says the bundle streams; one note line when it does not."""
    if bundle.manifest.streamable:
        return True
    console.print(
        "note: the bundle is not streamable (bidirectional, or stateless): streaming stages skipped"
    )
    return False


def _variants(quantized: QuantizeReport, streams: bool = True) -> dict[str, VariantSummary]:
    """fp32 and every kept variant: test metric whole and streamed, size, quantize's notes."""
    fp32 = quantized.fp32
    out = {FP32: VariantSummary(fp32.metric, fp32.size_bytes, fp32.stream_metric, streams)}
    for r in quantized.results:
        if r.accepted:
            out[r.variant] = VariantSummary(
                r.metric, r.size_bytes, r.stream_metric, streams and r.stream_accepted, r.note, r.stream_note
            )
    return out


def _profile(
    quantized: QuantizeReport,
    variants: list[str],
    providers: tuple[str, ...],
    time_steps: int,
    config: PipelineConfig,
    module: Any,
    console: Console,
    streams: bool = True,
) -> list[Timing]:
    """Sequence and stream latency of each variant, beside PyTorch eager (``module``, when given) on
    the same inputs; one session per variant for both passes, fp32's the one quantize scored with."""
    from edgernn.profiling.config import ProfileConfig
    from edgernn.profiling.engine import profile
    from edgernn.profiling.plan import Loader

    baselines = []
    if module is not None:
        from edgernn.profiling.torch_baseline import TorchBaseline

        baselines = [TorchBaseline(EAGER, module)]
    bundle, reference = quantized.as_bundle(), quantized.fp32
    rows: list[Timing] = []
    loader = None
    for mode in ("sequence", "stream") if streams else ("sequence",):
        settings = ProfileConfig(
            variants=tuple(variants),
            providers=providers,
            threads=(1,),
            batch_sizes=(1,),
            seq_lens=(time_steps,),
            mode=mode,
            iters=config.profile_iters,
        )
        loader = loader or Loader(
            bundle, settings, {(FP32, "cpu", 1): (reference.session, reference.load_ms)}
        )
        report = profile(bundle, settings, baselines=baselines, loader=loader)
        for cell in report.cells:
            row = _timing(cell, mode)
            rows.append(row)
            console.print(
                f"{row.name}: p50 {ms(row.p50_ms)}, p99 {ms(row.p99_ms)}, PyTorch eager {ms(row.torch_p50_ms)}",
                highlight=False,
            )
    return rows


def _timing(cell: Any, mode: str) -> Timing:
    eager = cell.baseline(EAGER)
    return Timing(
        variant=cell.cell.variant,
        mode=mode,
        seq=cell.cell.seq,
        provider=cell.provider_ran,
        error=cell.error,
        p50_ms=cell.latency.p50_ms if cell.latency else None,
        p99_ms=cell.latency.p99_ms if cell.latency else None,
        torch_p50_ms=eager.latency.p50_ms if eager and eager.latency else None,
        speedup_vs_torch=eager.speedup if eager else None,
    )


def describe_model(info: RunInfo) -> ModelDescription:
    """The model and the data, as the report describes them."""
    m, d, c = info.model, info.data, info.data_config
    return ModelDescription(
        cell=m.cell,
        layers=m.num_layers,
        hidden=m.hidden_size,
        bidirectional=m.bidirectional,
        topology=m.topology,
        window=d.window,
        horizon=d.horizon,
        source=d.source,
        inputs=tuple(d.feature_names),
        outputs=tuple(d.output_names),
        split_sizes=tuple(d.split_sizes),
        split_fractions=(1 - c.val_fraction - c.test_fraction, c.val_fraction, c.test_fraction),
        series=d.series,
        notes=tuple(d.notes),
    )


def demo_config() -> RunConfig:
    """The sunspots demo: the bundled data's tuned presets (a 32-unit GRU, ~5 s of training)."""
    from edgernn.train.cli import build_configs

    return build_configs({"dataset": "sunspots"})
