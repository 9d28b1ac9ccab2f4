"""``reverie search``: play levels with MCTS or Monte-Carlo search over any environment model.

A thin shell over :func:`reverie.planning.episodes.play_levels`; the budget is imagined
steps per level per real step, the unit of the I2A paper's imagination-efficiency table.
"""

from __future__ import annotations

import argparse
import json
import sys

from ..core.errors import ReverieError
from ..core.limits import check_seed, check_threads
from ..envs.spec import distinct_episodes


#: The world of a level file or folder named without an env id (Boxoban files are 10x10).
DEFAULT_FILE_ENV = "sokoban-10x10-4"


def search_source(levels: str, env: str | None) -> tuple[str, str, str]:
    """``--levels`` as (env id, source for ``spec.make_env``, name): ``ID`` (its test split),
    ``ID:SPLIT``, or a file/folder the world reads (its env from ``--env``)."""
    from pathlib import Path

    from ..envs.registry import env_ids

    name, _, split = levels.partition(":")
    if name in env_ids():
        if env is not None and env != name:
            raise ReverieError(f"--levels {levels} names env {name}, but --env is {env}")
        return name, split or "test", f"{name}:{split or 'test'}"
    if not Path(levels).exists():
        raise ReverieError(f"--levels {levels!r} is neither an env id ({', '.join(env_ids())}, optionally "
                           f"with :SPLIT) nor a level file or folder")
    return env or DEFAULT_FILE_ENV, levels, levels


def cmd_search(args: argparse.Namespace) -> int:
    import torch

    from ..envs.registry import get_spec
    from ..models import resolve
    from ..planning.episodes import describe, make_planner, play_levels

    if args.budget < 1:
        raise ReverieError(f"--budget must be a positive number of imagined steps, got {args.budget}")
    if args.depth is not None and args.depth < (0 if args.planner == "mcts" else 1):
        raise ReverieError(f"--depth must be >= {0 if args.planner == 'mcts' else 1}, got {args.depth}")
    if args.max_steps is not None and args.max_steps < 1:
        raise ReverieError(f"--max-steps must be >= 1, got {args.max_steps}")
    if args.episodes is not None and args.episodes < 1:
        raise ReverieError(f"--episodes must be >= 1, got {args.episodes}")
    if args.batch < 1:
        raise ReverieError(f"--batch must be >= 1, got {args.batch}")
    if not args.solver_time_limit >= 0:  # also refuses nan
        raise ReverieError(f"--solver-time-limit must be >= 0 seconds (0 = skip), got {args.solver_time_limit}")
    check_seed(args.seed)
    if check_threads(args.threads):  # 0 = torch's default
        torch.set_num_threads(args.threads)
    env_id, source, name = search_source(args.levels, args.env)
    spec = get_spec(env_id, levels_dir=args.levels_dir)
    spec.num_actions  # search branches over action indices: a continuous-action id is refused in one line
    try:
        model = resolve(args.model, "cpu", spec=spec)
    except FileNotFoundError as err:
        raise ReverieError(f"--model {args.model}: {err}") from None
    planner = make_planner(args.planner, model, args.budget, spec, args.agent, args.depth, args.seed)
    episodes = args.episodes if args.episodes is not None else min(_distinct(spec, source), 100)
    log = None if (args.json or args.quiet) else (lambda text: print(text, file=sys.stderr, flush=True))
    result = play_levels(planner, spec, source, episodes, args.max_steps, args.batch, args.seed,
                         args.solver_time_limit, log=log)
    result = {"planner": args.planner, "model": args.model, "agent": args.agent, "env": env_id, "levels": name,
              "budget": args.budget, "depth": args.depth, "threads": args.threads, **result}
    print(json.dumps(result, indent=1) if args.json else describe(result))
    return 0


def _distinct(spec, source: str) -> int:
    """How many distinct held-out episodes ``source`` has (its env's ``describe``; else 100)."""
    distinct = distinct_episodes(spec.make_env(source, 1, 0))
    return int(distinct) if distinct is not None else 100


def add_search_commands(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``search`` to the ``reverie`` command's subparsers."""
    search = subparsers.add_parser(
        "search", help="play held-out episodes with MCTS or Monte-Carlo search over a perfect or learned model")
    search.add_argument("--planner", choices=("mcts", "mc"), default="mcts",
                        help="mcts (UCT, or PUCT with --agent) or mc (I2A paper's Monte-Carlo search)")
    search.add_argument("--model", default="perfect",
                        help="perfect, copy, a pretrained name (sokoban-10x10) or a model file / fitting run folder")
    search.add_argument("--agent", help="a training run folder: PUCT prior and value (mcts) or the rollout "
                                        "policy (mc: an I2A run's distilled one)")
    search.add_argument("--levels", required=True, help="env id (its test split), ID:SPLIT, or a level file/folder")
    search.add_argument("--env", help=f"env id of a level file/folder given to --levels (default: {DEFAULT_FILE_ENV})")
    search.add_argument("--levels-dir", help="Boxoban folder for boxoban-* ids")
    search.add_argument("--budget", type=int, required=True, help="imagined steps per level per real step")
    search.add_argument("--depth", type=int, help="rollout length (mcts: random leaf rollouts, default 10, "
                                                  "0 with --agent; mc: default 10)")
    search.add_argument("--episodes", type=int, help="episodes (held-out episode j; Sokoban: level j mod N; default min(N, 100))")
    search.add_argument("--max-steps", type=int, help="episode step cap (default: the env id's, else 120)")
    search.add_argument("--batch", type=int, default=256, help="levels searched as one batch (default: 256)")
    search.add_argument("--seed", type=int, default=0, help="seed of the search's random choices (default: 0)")
    search.add_argument("--solver-time-limit", type=float, default=2.0,
                        help="seconds per level for the optimal-length ratio, where the world has a reference solver "
                             "(Sokoban: push-optimal); 0 = skip (default: 2)")
    search.add_argument("--threads", type=int, default=1, help="torch CPU threads; 0 = torch's default (default: 1)")
    search.add_argument("--json", action="store_true", help="print the result as JSON")
    search.add_argument("--quiet", action="store_true", help="no progress lines")
    search.set_defaults(func=cmd_search)
    return search
