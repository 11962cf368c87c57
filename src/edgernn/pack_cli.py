"""``edgernn pack``: the thin command over :func:`edgernn.pack.pack`."""

from __future__ import annotations

from pathlib import Path

import click

from edgernn.runtime.vocab import AUTO, VARIANTS


def _variants(ctx: click.Context, param: click.Parameter, value: str) -> tuple[str, ...]:
    names = tuple(v.strip() for v in value.split(",") if v.strip())
    unknown = [v for v in names if v not in (*VARIANTS, AUTO)]
    if not names or unknown or (AUTO in names and len(names) > 1):
        raise click.BadParameter(
            f"expected auto or variants from {', '.join(VARIANTS)} (comma-separated), got {value!r}"
        )
    return names


@click.command("pack")
@click.argument("bundle", type=click.Path(path_type=Path))
@click.option(
    "--platform",
    "platform_name",
    required=True,
    help="Device platform: linux-aarch64, linux-x86_64, macos-arm64, windows-amd64, windows-arm64.",
)
@click.option(
    "--python", "python_version", default="3.11", show_default=True, help="The device's Python (major.minor)."
)
@click.option(
    "--variant",
    default=AUTO,
    show_default=True,
    callback=_variants,
    help="Variant(s) to ship, comma-separated; auto: the pipeline report's recommendation, else the runtime's pick on the CPU.",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    required=True,
    help="Pack folder to write (new, empty, or an earlier pack folder).",
)
@click.option(
    "--no-wheels",
    is_flag=True,
    help="Ship only edgernn's own wheel; the device installs the rest from the package index.",
)
def pack_command(
    bundle: Path,
    platform_name: str,
    python_version: str,
    variant: tuple[str, ...],
    out: Path,
    no_wheels: bool,
) -> None:
    """Write a folder a device installs offline: BUNDLE's shipped variant(s), the wheels for the
    device's platform and Python, install.sh and a README.

    \b
    Examples:
      edgernn pack runs/demo/bundle --platform linux-aarch64 --python 3.11 --out pack-pi
      edgernn pack runs/demo/bundle --variant int8 --no-wheels --out pack-online
    """
    from .pack import PackConfig, pack
    from .pack_files import size_table
    from .pack_wheels import Target

    config = PackConfig(bundle, out, Target(platform_name, python_version), variant, wheels=not no_wheels)
    result = pack(config)
    click.echo(
        f"packed {', '.join(result.variants)} ({result.variant_reason}) for {platform_name}, Python {python_version}"
    )
    click.echo(size_table(result))
    click.echo(f"wrote {out} (install on the device: {out}/install.sh)")
