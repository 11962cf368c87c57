"""The root ``edgernn`` command. Subcommands load lazily, so ``edgernn run --help`` stays light."""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

import click

from ._version import __version__

# name -> "module:attribute"; each module keeps torch/onnx imports inside its command body.
COMMANDS = {
    "inspect": "edgernn.export.inspection:inspect_command",
    "run": "edgernn.runtime.cli:run_command",
    "profile": "edgernn.profiling.cli:profile_command",
    "export": "edgernn.export.cli:export_command",
    "quantize": "edgernn.export.cli:quantize_command",
    "train": "edgernn.train.cli:train_command",
    "pipeline": "edgernn.pipeline_cli:pipeline_command",
    "demo": "edgernn.pipeline_cli:demo_command",
    "pack": "edgernn.pack_cli:pack_command",
}


INTERRUPTED = 130  # the shell's code for a process ended by SIGINT


def one_line(text: str) -> str:
    """``text`` as one line: newlines and other control characters (from a path, a label, a
    library's message) are escaped, so every error stays a single line on stderr."""
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


class CommandError(click.ClickException):
    """An expected failure: one line on stderr, exit code 1 (130 for Ctrl-C), no traceback."""

    exit_code = 1

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {one_line(self.message)}", err=True)


class LazyGroup(click.Group):
    """A group that imports a subcommand's module only when that subcommand is used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, attr = COMMANDS[cmd_name].split(":")
        return getattr(importlib.import_module(module), attr)

    def invoke(self, ctx: click.Context) -> Any:
        from edgernn.runtime.errors import EdgernnError

        def debug() -> bool:  # ctx.obj is set by the group's callback, inside super().invoke
            return bool(ctx.obj and ctx.obj.get("debug"))

        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise  # click's own: usage errors (exit 2), commands' chosen exit codes
        except BrokenPipeError:  # `edgernn run ... | head`: the reader stopped reading; not an error
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise click.exceptions.Exit(0) from None
        except (EdgernnError, OSError) as err:
            if debug():
                raise
            raise CommandError(str(err)) from None
        except KeyboardInterrupt:
            if debug():
                raise
            raise CommandError("interrupted (Ctrl-C); nothing more was written", INTERRUPTED) from None
        except Exception as err:  # the last-resort net: never a traceback without --debug
            if debug():
                raise
            detail = " ".join(str(err).split())[:300]
            raise CommandError(
                f"unexpected {type(err).__name__}: {detail} (a bug in edgernn; run with --debug for the traceback)"
            ) from None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="edgernn")
@click.option("--debug", is_flag=True, help="Show full tracebacks instead of one-line errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """edgernn: train, export, quantize, run and profile recurrent models for edge devices."""
    ctx.obj = {"debug": debug}


def main() -> None:
    """Console-script entry point."""
    sys.exit(cli.main(prog_name="edgernn"))
