"""The pipeline's closing console summary, rendered from its :class:`PipelineSummary`."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .advice import advice_lines, advise
from .report import VARIANT_HEADERS, quality_cells, variant_rows
from .summary import PipelineSummary


def print_summary(console: Console, summary: PipelineSummary) -> None:
    """Quality against the naive baseline, each variant's cost and speed, and what to ship."""
    _, metric, value, baseline, ratio = quality_cells(summary)
    console.rule("[bold]summary")
    console.print(f"quality: test {metric} {value} vs baseline {baseline} (ratio {ratio})", highlight=False)
    for line in (summary.verdict, summary.training.caveat()):
        if line:
            console.print(f"[bold red]warning:[/] {escape(line)}", highlight=False)
    table = Table(*VARIANT_HEADERS, title="Variants (CPU, 1 thread, batch 1)")
    for row in variant_rows(summary):
        table.add_row(*row)
    console.print(table)
    for variant, note in summary.refused.items():
        console.print(f"{variant} refused: {escape(note)}", highlight=False)
    advice = advise(summary.verdict, summary.variants, summary.timing)
    for k, line in enumerate(advice_lines(advice, summary.variants)):
        console.print(line, style="bold" if k == 0 else None, markup=False, highlight=False, soft_wrap=True)
    console.print(f"bundle: {summary.bundle}\nreport: {summary.report}", highlight=False, markup=False)
