"""``reverie levels``: generate, solve and show Sokoban levels, and the levels demo."""

from __future__ import annotations

import argparse
import json
import statistics
import sys

from ..core.config import add_arguments, from_arguments, parse_size
from ..core.errors import ReverieError
from ..core.limits import check_seed


def _load(path: str, pad: bool = False):
    from ..envs.sokoban.levels import load_levels

    return load_levels(path, pad=pad)


def _select(levels: list, index: int | None, limit: int | None) -> list:
    if index is not None:
        if not -len(levels) <= index < len(levels):
            raise ReverieError(f"--index {index} is out of range: there are {len(levels)} levels")
        return [levels[index]]
    return levels[:limit] if limit is not None else levels


def cmd_demo(args: argparse.Namespace) -> int:
    from ..workflows.levels_demo import QuickstartConfig, describe, run

    config = from_arguments(QuickstartConfig, args)
    summary = run(config, progress=not args.quiet)
    print(describe(summary, config.out))
    return 0 if summary["solved"] == summary["levels"] else 1


def cmd_generate(args: argparse.Namespace) -> int:
    from ..envs.sokoban.generator import generate_levels
    from ..envs.sokoban.levels import format_level_file

    check_seed(args.seed)
    height, width = args.size
    bank = generate_levels(args.n, height, width, args.boxes, args.seed)
    text = format_level_file(bank)
    if args.bank:
        bank.save(args.bank)
    if args.output:
        from ..core.atomic import atomic_write

        with atomic_write(args.output, "w") as f:  # all or nothing, even on a full disk
            f.write(text)
        print(f"wrote {len(bank)} levels of {height}x{width} with {args.boxes} boxes to {args.output}")
    elif not args.bank:
        sys.stdout.write(text)
    return 0


def cmd_solve(args: argparse.Namespace) -> int:
    from ..envs.sokoban.solver import SolverTimeout, solve

    if not args.time_limit >= 0:  # also refuses nan
        raise ReverieError(f"--time-limit must be >= 0 seconds per level (0 = no limit), got {args.time_limit}")
    time_limit = args.time_limit or None
    levels = _select(_load(args.path, args.pad), args.index, args.limit)
    rows = []
    for level in levels:
        try:
            solution = solve(level, time_limit=time_limit)
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
    from ..envs.sokoban.render import rgb_image
    from ..evaluation.pictures import save_montage

    levels = _select(_load(args.path, args.pad), args.index, args.limit)
    for level in levels:
        print(f"; {level.name}  ({level.shape[0]}x{level.shape[1]}, {level.num_boxes} boxes)")
        print(level.to_xsb())
        print()
    if args.png:
        if len({level.shape for level in levels}) > 1:
            raise ReverieError("--png needs levels of one size; pick one with --index")
        save_montage([rgb_image(level.codes) for level in levels], args.png, scale=args.scale)
        print(f"wrote {args.png}")
    return 0


def add_levels_commands(commands: argparse._SubParsersAction) -> None:
    """Add ``levels`` (demo, generate, solve, show) to the ``reverie`` command."""
    from ..workflows.levels_demo import QuickstartConfig

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
    sol.add_argument("--time-limit", type=float, default=10.0, help="seconds per level; 0 = no limit (default: 10)")
    sol.add_argument("--actions", action="store_true", help="print each solution as udlr moves")
    sol.add_argument("--json", action="store_true", help="print JSON")
    sol.set_defaults(func=cmd_solve)

    show = level_commands.add_parser("show", help="print levels, optionally as a PNG")
    add_selection(show)
    show.add_argument("--png", help="write the levels side by side into this PNG")
    show.add_argument("--scale", type=int, default=4, help="pixels per sprite pixel in the PNG (default: 4)")
    show.set_defaults(func=cmd_show)
