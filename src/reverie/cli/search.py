"""``reverie search``: play levels with MCTS or Monte-Carlo search over any environment model.

A thin shell over :func:`reverie.planning.episodes.play_levels`; the budget is imagined
steps per level per real step, the unit of the I2A paper's imagination-efficiency table.
"""

from __future__ import annotations

import argparse
import json
import sys

from ..core.errors import ReverieError


def cmd_search(args: argparse.Namespace) -> int:
    import torch

    from ..envs.sokoban.presets import resolve_levels
    from ..models import resolve
    from ..planning.episodes import describe, make_planner, play_levels

    if args.budget < 1:
        raise ReverieError(f"--budget must be a positive number of imagined steps, got {args.budget}")
    if args.depth is not None and args.depth < (0 if args.planner == "mcts" else 1):
        raise ReverieError(f"--depth must be >= {0 if args.planner == 'mcts' else 1}, got {args.depth}")
    if args.max_steps is not None and args.max_steps < 1:
        raise ReverieError(f"--max-steps must be >= 1, got {args.max_steps}")
    torch.set_num_threads(args.threads)
    bank, name = resolve_levels(args.levels, args.levels_dir)
    max_steps = args.max_steps
    if max_steps is None:
        from ..envs.sokoban.presets import PRESETS

        preset = PRESETS.get(args.levels.partition(":")[0])
        max_steps = preset.max_steps if preset else 120
    try:
        model = resolve(args.model)
    except FileNotFoundError as err:
        raise ReverieError(f"--model {args.model}: {err}") from None
    planner = make_planner(args.planner, model, args.budget, args.agent, bank.shape, args.depth, args.seed)
    episodes = args.episodes if args.episodes is not None else min(len(bank), 100)
    log = None if (args.json or args.quiet) else (lambda text: print(text, file=sys.stderr, flush=True))
    result = play_levels(planner, bank, episodes, max_steps, args.batch, args.seed,
                         args.solver_time_limit, log=log)
    result = {"planner": args.planner, "model": args.model, "agent": args.agent, "levels": name,
              "budget": args.budget, "depth": args.depth, "threads": args.threads, **result}
    print(json.dumps(result, indent=1) if args.json else describe(result))
    return 0


def add_search_commands(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``search`` to the ``reverie`` command's subparsers."""
    search = subparsers.add_parser(
        "search", help="solve levels with MCTS or Monte-Carlo search over a perfect or learned model")
    search.add_argument("--planner", choices=("mcts", "mc"), default="mcts",
                        help="mcts (UCT, or PUCT with --agent) or mc (I2A paper's Monte-Carlo search)")
    search.add_argument("--model", default="perfect",
                        help="perfect, copy, a pretrained name (sokoban-10x10) or a model file / fitting run folder")
    search.add_argument("--agent", help="a training run folder: PUCT prior and value (mcts) or the rollout "
                                        "policy (mc: an I2A run's distilled one)")
    search.add_argument("--levels", required=True, help="env id (its test split), ID:SPLIT, or a level file/folder")
    search.add_argument("--levels-dir", help="Boxoban folder for boxoban-* ids")
    search.add_argument("--budget", type=int, required=True, help="imagined steps per level per real step")
    search.add_argument("--depth", type=int, help="rollout length (mcts: random leaf rollouts, default 10, "
                                                  "0 with --agent; mc: default 10)")
    search.add_argument("--episodes", type=int, help="episodes (level j mod N for episode j; default min(N, 100))")
    search.add_argument("--max-steps", type=int, help="episode step cap (default: the env id's, else 120)")
    search.add_argument("--batch", type=int, default=256, help="levels searched as one batch (default: 256)")
    search.add_argument("--seed", type=int, default=0, help="seed of the search's random choices (default: 0)")
    search.add_argument("--solver-time-limit", type=float, default=2.0,
                        help="seconds per level for the optimal-length ratio; 0 = skip (default: 2)")
    search.add_argument("--threads", type=int, default=1, help="torch CPU threads (default: 1)")
    search.add_argument("--json", action="store_true", help="print the result as JSON")
    search.add_argument("--quiet", action="store_true", help="no progress lines")
    search.set_defaults(func=cmd_search)
    return search
