"""The ``reverie`` command: one module per subcommand, each a thin shell over library calls.

Errors a user can cause print one line and exit with status 2; Ctrl-C exits with 130.
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from ..core.errors import ReverieError
from ..core.version import __version__

#: What ``reverie --help`` opens with.
DESCRIPTION = ("reverie: model-based reinforcement learning around Imagination-Augmented Agents. "
               "Start with `reverie run` (the whole I2A pipeline in ~10 minutes on a CPU).")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="reverie", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"reverie {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    from .levels import add_levels_commands
    from .model import add_model_commands
    from .play import add_play_command
    from .run import add_run_command
    from .plan import add_plan_commands
    from .search import add_search_commands
    from .train import add_train_commands

    add_run_command(commands)
    add_levels_commands(commands)
    add_play_command(commands)
    add_model_commands(commands)
    add_train_commands(commands)
    add_plan_commands(commands)
    add_search_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ReverieError, ValueError, FileNotFoundError, IsADirectoryError, PermissionError) as err:
        print(f"reverie: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("reverie: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
