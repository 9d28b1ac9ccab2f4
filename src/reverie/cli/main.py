"""The ``reverie`` command: one module per subcommand, each a thin shell over library calls.

Errors a user can cause print one line and exit with status 2; Ctrl-C exits with 130.
"""

from __future__ import annotations

import argparse
import errno
import sys
from typing import Sequence

from ..core.errors import ReverieError
from ..core.memory import reuse_freed_memory
from ..core.version import __version__

#: What ``reverie --help`` opens with.
DESCRIPTION = ("reverie: model-based reinforcement learning around Imagination-Augmented Agents. "
               "Start with `reverie run` (the whole I2A pipeline in ~10 minutes on a CPU).")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="reverie", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"reverie {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    from .latent import add_latent_command, add_world_models_command
    from .levels import add_levels_commands
    from .model import add_model_commands
    from .offpolicy import add_offpolicy_command
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
    add_offpolicy_command(commands)
    add_latent_command(commands)
    add_world_models_command(commands)
    add_plan_commands(commands)
    add_search_commands(commands)
    return parser


#: OS errors that mean the disk or folder refused a write (read-only, full, over quota, too big).
_WRITE_ERRNOS = {errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


def _os_error_in(err: BaseException) -> OSError | None:
    """The OSError behind ``err`` (itself, or one it was raised from or while handling)."""
    seen: set[int] = set()
    while err is not None and id(err) not in seen:
        if isinstance(err, OSError):
            return err
        seen.add(id(err))
        err = err.__cause__ or err.__context__  # type: ignore[assignment]
    return None


def describe_os_error(err: OSError) -> str:
    """One line for an OS error: "cannot write PATH: No space left on device", "PATH: Permission
    denied", or the error's own text where it carries no errno (reverie's own messages)."""
    if err.errno is None or not err.strerror:
        return str(err) or type(err).__name__
    path = err.filename2 if err.filename2 is not None else err.filename
    if err.errno in _WRITE_ERRNOS:
        return f"cannot write {path}: {err.strerror}" if path is not None else f"cannot write: {err.strerror}"
    return f"{path}: {err.strerror}" if path is not None else err.strerror


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    reuse_freed_memory()  # the command owns its process: keep large freed blocks (see core.memory)
    try:
        return args.func(args)
    except (ReverieError, ValueError) as err:
        message = str(err)
    except OSError as err:  # read-only folder, full disk, missing or unreadable file
        message = describe_os_error(err)
    except MemoryError:
        message = "out of memory: choose smaller sizes (batch, envs, model channels)"
    except KeyboardInterrupt:
        print("reverie: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # e.g. torch's RuntimeError around a failed write: report the OS error
        cause = _os_error_in(err)
        if cause is None:
            raise
        message = describe_os_error(cause)
    first = message.strip().splitlines()
    print(f"reverie: error: {first[0] if first else message}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
