"""Play levels with a search planner and measure it: ``reverie search`` and the efficiency table.

Episode ``j`` plays level ``j mod len(levels)`` from its start (as held-out evaluation of
agents does), ``batch`` levels at a time, each level searched with its own random stream
(keyed by the run's seed and ``j``), so results do not depend on the batch size. The real
game is stepped with the rules; the planner only ever sees the states it is given.

What a result reports and why:

- solve rate with its 95% Wilson interval (the unit of the paper's comparison);
- imagined steps per level, the cost side of the comparison: mean and distribution over
  levels (every level counts, solved or not, as the I2A figure tau x actions x length does);
- wall-clock per level: the batch's time divided by its levels (levels run together);
- optimal-length ratio: episode length / the push-optimal solver's moves, over solved levels
  the solver finishes within its time limit (its walks are shortest between pushes, so a
  ratio a little under 1 is possible).
"""

from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np
import torch

from ..core.errors import ReverieError
from ..envs.sokoban import rules
from ..envs.sokoban.bank import LevelBank
from ..core.stats import wilson_interval
from .counter_rng import level_keys

__all__ = ["play_levels", "make_planner", "PLANNERS", "solver_moves", "distribution", "describe"]

PLANNERS = ("mcts", "mc")


def make_planner(kind: str, model, budget: int, agent: str | None = None, shape: tuple[int, int] = (10, 10),
                 depth: int | None = None, seed: int = 0, **options):
    """An MCTS (``agent``: a run dir lending prior and value) or MC search (``agent``: a run
    dir lending its rollout policy) over ``model`` with ``budget`` imagined steps per decision."""
    from .guides import load_agent_guide, load_rollout_guide

    if kind == "mcts":
        from .mcts import MCTS, MCTSConfig

        guide = load_agent_guide(agent, shape) if agent else None
        return MCTS(model, MCTSConfig(budget=budget, rollout_depth=depth, seed=seed, **options), guide)
    if kind == "mc":
        from .mc_search import MCSearch, MCSearchConfig

        policy = load_rollout_guide(agent, shape) if agent else None
        extra = {} if depth is None else {"depth": depth}
        return MCSearch(model, MCSearchConfig(budget=budget, seed=seed, **extra, **options), policy)
    raise ReverieError(f"unknown planner {kind!r}; choose one of {', '.join(PLANNERS)}")


def distribution(values: np.ndarray) -> dict[str, float]:
    """Mean and quantiles of ``values``."""
    q = np.quantile(values, [0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0]) if len(values) else [float("nan")] * 7
    names = ("min", "p10", "p25", "median", "p75", "p90", "max")
    return {"mean": float(np.mean(values)) if len(values) else float("nan"),
            **{n: float(v) for n, v in zip(names, q)}}


def solver_moves(bank: LevelBank, index: int, time_limit: float, cache: dict | None = None) -> int | None:
    """Moves of the push-optimal solution of level ``index`` (None if unsolved in time)."""
    from ..envs.sokoban.solver import SolverTimeout, solve

    key = bank.codes[index].tobytes()
    if cache is not None and key in cache:
        return cache[key]
    try:
        solution = solve(bank[index], time_limit=time_limit)
        moves = solution.moves if solution else None
    except SolverTimeout:
        moves = None
    if cache is not None:
        cache[key] = moves
    return moves


@torch.no_grad()
def play_levels(planner, levels: LevelBank, episodes: int, max_steps: int = 120, batch: int = 256,
                seed: int = 0, solver_time_limit: float = 0.0, solver_cache: dict | None = None,
                log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Play ``episodes`` episodes with ``planner`` (see the module docstring); returns the result."""
    if episodes < 1:
        raise ReverieError(f"--episodes must be >= 1, got {episodes}")
    if batch < 1:
        raise ReverieError(f"--batch must be >= 1, got {batch}")
    height, width = levels.shape
    tables = rules.make_tables(width)
    solved_all, length_all, imagined_all, wall_all = [], [], [], []
    start_all = time.perf_counter()
    for first in range(0, episodes, batch):
        count = min(batch, episodes - first)
        index = np.arange(first, first + count) % len(levels)
        start = torch.from_numpy(levels.codes[index].copy())
        began = time.perf_counter()
        planner.start(start, level_keys(seed, torch.arange(first, first + count)))
        codes = start.reshape(count, -1).clone()
        done = torch.zeros(count, dtype=torch.bool)
        solved = torch.zeros(count, dtype=torch.bool)
        length = torch.zeros(count, dtype=torch.long)
        imagined = torch.zeros(count, dtype=torch.long)
        for _ in range(max_steps):
            running = ~done
            actions = planner.act(running)
            imagined += planner.last_imagined
            player = rules.player_index(codes)
            before = codes.clone()
            result = rules.step_(codes, player, actions, tables)
            codes = torch.where(running[:, None], codes, before)  # finished levels stay as they ended
            length += running.long()
            solved |= running & result.solved
            done |= solved
            if bool(done.all()):
                break
            planner.advance(actions, codes.view(count, height, width), ~done)
        seconds = time.perf_counter() - began
        solved_all.append(solved)
        length_all.append(length)
        imagined_all.append(imagined)
        wall_all.append(np.full(count, seconds / count))
        if log:
            k = int(torch.cat(solved_all).sum())
            n = sum(len(s) for s in solved_all)
            log(f"{n}/{episodes} episodes: solved {k} ({k / n:.1%}), {seconds:.1f} s for this batch")
    wall = time.perf_counter() - start_all
    solved_t, length_t = torch.cat(solved_all), torch.cat(length_all)
    imagined_t = torch.cat(imagined_all).numpy()
    k, n = int(solved_t.sum()), len(solved_t)
    low, high = wilson_interval(k, n)
    result: dict[str, Any] = {
        "episodes": n, "distinct_levels": int(min(n, len(levels))), "solved": k, "solve_rate": k / n,
        "ci95": [low, high], "max_steps": max_steps, "seed": seed, "batch": batch,
        "imagined_per_level": distribution(imagined_t.astype(np.float64)),
        "imagined_per_step": float(imagined_t.sum() / max(int(length_t.sum()), 1)),
        "mean_length": float(length_t.float().mean()),
        "mean_solved_length": float(length_t[solved_t].float().mean()) if k else float("nan"),
        "wall_seconds": wall, "wall_seconds_per_level": float(np.concatenate(wall_all).mean()),
        "imagined_steps_per_second": float(imagined_t.sum() / max(wall, 1e-9)),
    }
    if solver_time_limit > 0 and k:
        ratios, timeouts = [], 0
        for j in np.flatnonzero(solved_t.numpy()):
            moves = solver_moves(levels, int(j % len(levels)), solver_time_limit, solver_cache)
            if moves is None:
                timeouts += 1
            else:
                ratios.append(int(length_t[j]) / moves)
        result["optimal_length_ratio"] = {**distribution(np.array(ratios)), "levels": len(ratios),
                                          "solver_timeouts": timeouts, "solver_time_limit": solver_time_limit}
    return result


def describe(result: dict[str, Any]) -> str:
    """A few lines about a search result."""
    low, high = result["ci95"]
    im = result["imagined_per_level"]
    lines = [f"{result.get('planner', 'search')} on {result.get('levels', 'levels')}: solved "
             f"{result['solve_rate']:.1%} [{low:.1%}, {high:.1%}] of {result['episodes']} episodes "
             f"(budget {result.get('budget', '?')} imagined steps per decision)",
             f"imagined steps per level: mean {im['mean']:,.0f}, median {im['median']:,.0f}, "
             f"p10-p90 {im['p10']:,.0f}-{im['p90']:,.0f}, max {im['max']:,.0f} "
             f"({result['imagined_per_step']:,.0f} per real step)",
             f"wall-clock per level {result['wall_seconds_per_level']:.3f} s (batched), "
             f"{result['imagined_steps_per_second']:,.0f} imagined steps/s, mean episode length {result['mean_length']:.1f}"]
    ratio = result.get("optimal_length_ratio")
    if ratio:
        lines.append(f"length / optimal (solver) over {ratio['levels']} solved levels: mean {ratio['mean']:.2f}, "
                     f"median {ratio['median']:.2f} ({ratio['solver_timeouts']} solver timeouts)")
    return "\n".join(lines)
