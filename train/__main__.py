"""``python -m edgernn.train ...`` runs ``edgernn train ...``."""

import sys

from edgernn.cli import cli

if __name__ == "__main__":
    sys.exit(cli.main(args=["train", *sys.argv[1:]], prog_name="python -m edgernn.train"))
