"""``reverie play``: Sokoban (or, with ``reverie play minipacman``, MiniPacman) in the terminal."""

from __future__ import annotations

import argparse
import sys

from ..core.config import parse_size
from ..core.errors import ReverieError
from ..core.limits import check_seed
from .levels import _load, _select

#: Worlds played by name (``reverie play minipacman``) rather than from a level path.
PLAY_WORLDS = ("minipacman",)


def cmd_play(args: argparse.Namespace) -> int:
    if args.path in PLAY_WORLDS:
        return _play_minipacman(args)
    if args.task is not None or args.keys is not None:
        raise ReverieError("--task and --keys are for `reverie play minipacman`")
    from ..envs.sokoban.play import play_terminal

    if args.path:
        levels = _load(args.path, args.pad)
    else:
        from ..envs.sokoban.generator import generate_levels

        height, width = args.size
        check_seed(args.seed)
        levels = list(generate_levels(args.n, height, width, args.boxes, args.seed))
    if not sys.stdin.isatty() or not sys.stdout.isatty():
        raise ReverieError("reverie play needs an interactive terminal")
    start = args.index or 0
    _select(levels, start, None)
    solved = play_terminal(levels, start=start % len(levels))
    print(f"solved {solved} level(s)")
    return 0


def _play_minipacman(args: argparse.Namespace) -> int:
    """MiniPacman: in the terminal, or, with ``--keys``, the given moves without one."""
    from ..envs.minipacman.play import PlaySession, play_terminal, play_text

    check_seed(args.seed)
    session = PlaySession(args.task or "regular", args.seed)
    if args.keys is not None:
        print(play_text(session, args.keys))
        return 0
    if not sys.stdin.isatty() or not sys.stdout.isatty():
        raise ReverieError("reverie play needs an interactive terminal (or --keys to play given moves)")
    print(f"best score {play_terminal(session):+.1f}")
    return 0


def add_play_command(commands: argparse._SubParsersAction) -> None:
    """Add ``play`` to the ``reverie`` command."""
    play = commands.add_parser(
        "play", help="play Sokoban (arrows, u undo, r restart, q quit) or `minipacman` in the terminal")
    play.add_argument("path", nargs="?", help="levels to play (default: freshly generated ones), or minipacman")
    play.add_argument("--index", type=int, help="start at this level")
    play.add_argument("--pad", action="store_true", help="accept ragged rows (pad them with floor)")
    play.add_argument("-n", type=int, default=20, help="levels to generate when no path is given (default: 20)")
    play.add_argument("--size", type=parse_size, default=(10, 10), help="HxW of generated levels (default: 10x10)")
    play.add_argument("--boxes", type=int, default=4, help="boxes in generated levels (default: 4)")
    play.add_argument("--seed", type=int, default=0, help="seed of generated levels or games (default: 0)")
    play.add_argument("--task", help="minipacman: regular, avoid, hunt, ambush or rush (default: regular)")
    play.add_argument("--keys", help="minipacman: play these moves without a terminal (w/a/s/d or h/j/k/l "
                                     "move, . stays) and print the board")
    play.set_defaults(func=cmd_play)
