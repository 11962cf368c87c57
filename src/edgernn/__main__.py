"""``python -m edgernn ...`` runs ``edgernn ...``: the CLI on a device with no console scripts on PATH."""

import sys

from edgernn.cli import cli

if __name__ == "__main__":
    sys.exit(cli.main(prog_name="python -m edgernn"))
