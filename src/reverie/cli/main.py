"""The ``reverie`` command: thin shells over library calls.

Errors a user can cause print one line and exit with status 2; Ctrl-C exits with 130.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Sequence

from ..core.errors import ReverieError
from ..core.version import __version__
from ..core.config import add_arguments, from_arguments, parse_size


def _load(path: str, pad: bool = False):
    from ..envs.sokoban.levels import load_levels

    return load_levels(path, pad=pad)


def _select(levels: list, index: int | None, limit: int | None) -> list:
    if index is not None:
        if not -len(levels) <= index < len(levels):
            raise ReverieError(f"--index {index} is out of range: there are {len(levels)} levels")
        return [levels[index]]
    return levels[:limit] if limit is not None else levels


def cmd_run(args: argparse.Namespace) -> int:
    from ..workflows.pipeline import PipelineConfig, describe, run

    summary = run(from_arguments(PipelineConfig, args), progress=not args.quiet)
    print(describe(summary))
    return 130 if summary["interrupted"] else 0


def cmd_demo(args: argparse.Namespace) -> int:
    from ..workflows.levels_demo import QuickstartConfig, describe, run

    config = from_arguments(QuickstartConfig, args)
    summary = run(config, progress=not args.quiet)
    print(describe(summary, config.out))
    return 0 if summary["solved"] == summary["levels"] else 1


def cmd_generate(args: argparse.Namespace) -> int:
    from ..envs.sokoban.generator import generate_levels
    from ..envs.sokoban.levels import format_level_file

    height, width = args.size
    bank = generate_levels(args.n, height, width, args.boxes, args.seed)
    text = format_level_file(bank)
    if args.bank:
        bank.save(args.bank)
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(text)
        print(f"wrote {len(bank)} levels of {height}x{width} with {args.boxes} boxes to {args.output}")
    elif not args.bank:
        sys.stdout.write(text)
    return 0


def cmd_solve(args: argparse.Namespace) -> int:
    from ..envs.sokoban.solver import SolverTimeout, solve

    levels = _select(_load(args.path, args.pad), args.index, args.limit)
    rows = []
    for level in levels:
        try:
            solution = solve(level, time_limit=args.time_limit)
            status = "solved" if solution else "unsolvable"
        except SolverTimeout:
            solution, status = None, "timeout"
        row = {"level": level.name, "status": status}
        if solution:
            row |= {"pushes": solution.pushes, "moves": solution.moves,
                    "seconds": round(solution.seconds, 4), "expanded": solution.expanded}
            if args.actions:
                row["actions"] = "".join("_udlr"[a] for a in solution.actions)
        rows.append(row)
        if not args.json:
            detail = (f"{row['pushes']} pushes, {row['moves']} moves, {row['seconds']:.3f} s"
                      if solution else status)
            print(f"{level.name}: {detail}" + (f"  {row['actions']}" if "actions" in row else ""))
    times = sorted(r["seconds"] for r in rows if r["status"] == "solved")
    summary = {
        "levels": len(rows),
        "solved": len(times),
        "unsolvable": sum(r["status"] == "unsolvable" for r in rows),
        "timeout": sum(r["status"] == "timeout" for r in rows),
        "median_seconds": statistics.median(times) if times else None,
        "p90_seconds": times[int(0.9 * (len(times) - 1))] if times else None,
    }
    if args.json:
        print(json.dumps({"summary": summary, "levels": rows}, indent=1))
    else:
        print(f"solved {summary['solved']}/{summary['levels']} (unsolvable {summary['unsolvable']}, "
              f"timeout {summary['timeout']})"
              + (f", median {summary['median_seconds']:.3f} s, p90 {summary['p90_seconds']:.3f} s" if times else ""))
    return 0 if summary["solved"] == summary["levels"] else 1


def cmd_show(args: argparse.Namespace) -> int:
    from ..evaluation.pictures import save_montage

    levels = _select(_load(args.path, args.pad), args.index, args.limit)
    for level in levels:
        print(f"; {level.name}  ({level.shape[0]}x{level.shape[1]}, {level.num_boxes} boxes)")
        print(level.to_xsb())
        print()
    if args.png:
        if len({level.shape for level in levels}) > 1:
            raise ReverieError("--png needs levels of one size; pick one with --index")
        save_montage([level.codes for level in levels], args.png, scale=args.scale)
        print(f"wrote {args.png}")
    return 0


def cmd_play(args: argparse.Namespace) -> int:
    from ..envs.sokoban.play import play_terminal

    if args.path:
        levels = _load(args.path, args.pad)
    else:
        from ..envs.sokoban.generator import generate_levels

        height, width = args.size
        levels = list(generate_levels(args.n, height, width, args.boxes, args.seed))
    if not sys.stdin.isatty() or not sys.stdout.isatty():
        raise ReverieError("reverie play needs an interactive terminal")
    start = args.index or 0
    _select(levels, start, None)
    solved = play_terminal(levels, start=start % len(levels))
    print(f"solved {solved} level(s)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from ..workflows.pipeline import add_pipeline_arguments
    from ..workflows.levels_demo import QuickstartConfig

    parser = argparse.ArgumentParser(prog="reverie", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--version", action="version", version=f"reverie {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser(
        "run", help="the main job: collect data, fit a model, train I2A, evaluate, report (~10 min)",
        description="Collect random-policy transitions, fit an environment model, train I2A with it, evaluate on "
                    "held-out levels and write a report with a GIF of what the agent imagined. Options left unset "
                    "take the --preset's values. Running the same command again skips finished stages.")
    add_pipeline_arguments(run)
    run.add_argument("--quiet", action="store_true", help="no progress bars")
    run.set_defaults(func=cmd_run)

    levels = commands.add_parser("levels", help="generate, solve and show Sokoban levels")
    level_commands = levels.add_subparsers(dest="levels_command", required=True, metavar="ACTION")

    demo = level_commands.add_parser("demo", help="generate levels, solve them, write a GIF of a solution and a summary")
    add_arguments(demo, QuickstartConfig)
    demo.add_argument("--quiet", action="store_true", help="no progress bar")
    demo.set_defaults(func=cmd_demo)

    gen = level_commands.add_parser("generate", help="generate levels with the paper's procedure")
    gen.add_argument("-n", type=int, default=10, help="how many levels (default: 10)")
    gen.add_argument("--size", type=parse_size, default=(10, 10), help="HxW, border included (default: 10x10)")
    gen.add_argument("--boxes", type=int, default=4, help="boxes per level (default: 4)")
    gen.add_argument("--seed", type=int, default=0, help="generator seed (default: 0)")
    gen.add_argument("-o", "--output", help="write a Boxoban-style text file here (default: stdout)")
    gen.add_argument("--bank", help="also write a compact .npz level bank here")
    gen.set_defaults(func=cmd_generate)

    def add_selection(p: argparse.ArgumentParser) -> None:
        p.add_argument("path", help="a level file (XSB / Boxoban) or a folder of *.txt files")
        p.add_argument("--index", type=int, help="only the level at this position")
        p.add_argument("--limit", type=int, help="only the first N levels")
        p.add_argument("--pad", action="store_true", help="accept ragged rows (pad them with floor)")

    sol = level_commands.add_parser("solve", help="solve levels optimally in pushes")
    add_selection(sol)
    sol.add_argument("--time-limit", type=float, default=10.0, help="seconds per level (default: 10)")
    sol.add_argument("--actions", action="store_true", help="print each solution as udlr moves")
    sol.add_argument("--json", action="store_true", help="print JSON")
    sol.set_defaults(func=cmd_solve)

    show = level_commands.add_parser("show", help="print levels, optionally as a PNG")
    add_selection(show)
    show.add_argument("--png", help="write the levels side by side into this PNG")
    show.add_argument("--scale", type=int, default=4, help="pixels per sprite pixel in the PNG (default: 4)")
    show.set_defaults(func=cmd_show)

    play = commands.add_parser("play", help="play Sokoban in the terminal (arrows, u undo, r restart, q quit)")
    play.add_argument("path", nargs="?", help="levels to play (default: freshly generated ones)")
    play.add_argument("--index", type=int, help="start at this level")
    play.add_argument("--pad", action="store_true", help="accept ragged rows (pad them with floor)")
    play.add_argument("-n", type=int, default=20, help="levels to generate when no path is given (default: 20)")
    play.add_argument("--size", type=parse_size, default=(10, 10), help="HxW of generated levels (default: 10x10)")
    play.add_argument("--boxes", type=int, default=4, help="boxes in generated levels (default: 4)")
    play.add_argument("--seed", type=int, default=0, help="seed of generated levels (default: 0)")
    play.set_defaults(func=cmd_play)

    from .model import add_model_commands
    from .plan import add_plan_commands
    from .search import add_search_commands
    from .train import add_train_commands

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
