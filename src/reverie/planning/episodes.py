"""Play episodes with a search planner and measure it: ``reverie search`` and the efficiency table.

Any world whose spec has discrete actions and a compact codec can be searched. Episode ``j``
is held-out episode ``j`` of a split (or other source) of the spec's world, started with
``env.reset_to`` (Sokoban: level ``j mod len(levels)`` from its start, as held-out evaluation
of agents plays), ``batch`` episodes at a time, each searched with its own random stream
(keyed by the run's seed and ``j``), so results do not depend on the batch size. The real
game is the world's batched env; the planner only ever sees the compact states it is given.
An episode ends when its game terminates or is truncated at the env's ``max_steps``.

What a result reports and why:

- success rate with its 95% Wilson interval (the unit of the paper's comparison), where the
  world has success (``spec.success``), and always the mean return;
- imagined steps per episode, the cost side of the comparison: mean and distribution over
  episodes (every episode counts, successful or not, as the I2A figure tau x actions x length does);
- wall-clock per episode: the batch's time divided by its episodes (they run together);
- optimal-length ratio, where the spec offers ``extra["optimal_moves"]`` (Sokoban: its
  push-optimal solver): episode length / the reference solution's moves, over successful
  episodes the reference finishes within its time limit (Sokoban's solutions are push-optimal
  with shortest walks between pushes, so a ratio a little under 1 is possible).
"""

from __future__ import annotations

import math
import time
from typing import Any, Callable

import numpy as np
import torch

from ..core.errors import ReverieError
from ..core.stats import Z95, success_rate, wilson_interval
from ..core.counter_rng import level_keys

__all__ = ["play_levels", "make_planner", "PLANNERS", "distribution", "describe", "check_searchable"]

PLANNERS = ("mcts", "mc")


def check_searchable(spec) -> None:
    """Search needs discrete actions and a compact codec (one-line error otherwise)."""
    if getattr(spec, "actions", None) is None or spec.num_actions < 1:
        raise ReverieError(f"env {spec.id} has no discrete actions to search over")
    if spec.observation.compact_shape is None:
        raise ReverieError(f"env {spec.id} has no compact observation codec to search with")


def make_planner(kind: str, model, budget: int, spec, agent: str | None = None, depth: int | None = None,
                 seed: int = 0, **options):
    """An MCTS (``agent``: a run dir lending prior and value) or MC search (``agent``: a run
    dir lending its rollout policy) over ``model`` in the world of ``spec``, with ``budget``
    imagined steps per decision."""
    from .guides import load_agent_guide, load_rollout_guide

    check_searchable(spec)
    if kind == "mcts":
        from .mcts import MCTS, MCTSConfig

        guide = load_agent_guide(agent, spec) if agent else None
        return MCTS(model, spec, MCTSConfig(budget=budget, rollout_depth=depth, seed=seed, **options), guide)
    if kind == "mc":
        from .mc_search import MCSearch, MCSearchConfig

        policy = load_rollout_guide(agent, spec) if agent else None
        extra = {} if depth is None else {"depth": depth}
        return MCSearch(model, spec, MCSearchConfig(budget=budget, seed=seed, **extra, **options), policy)
    raise ReverieError(f"unknown planner {kind!r}; choose one of {', '.join(PLANNERS)}")


def distribution(values: np.ndarray) -> dict[str, float]:
    """Mean and quantiles of ``values``."""
    q = np.quantile(values, [0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0]) if len(values) else [float("nan")] * 7
    names = ("min", "p10", "p25", "median", "p75", "p90", "max")
    return {"mean": float(np.mean(values)) if len(values) else float("nan"),
            **{n: float(v) for n, v in zip(names, q)}}


@torch.no_grad()
def _play_batch(planner, env, spec, first: int, count: int, seed: int,
                tick: Callable[[int, int], None] | None = None) -> dict[str, torch.Tensor]:
    """Episodes ``first .. first+count-1``, one per env, each played to its end (then masked);
    ``tick(real_steps, episodes_ended)`` after every real step."""
    device = env.device if hasattr(env, "device") else torch.device("cpu")
    obs = env.reset_to(torch.arange(first, first + count, device=device))
    start = spec.observation.encode(obs)
    planner.start(start, level_keys(seed, torch.arange(first, first + count, device=device)))
    done = torch.zeros(count, dtype=torch.bool, device=device)
    success = torch.zeros_like(done)
    length = torch.zeros(count, dtype=torch.long, device=device)
    ret = torch.zeros(count, dtype=torch.float32, device=device)
    imagined = torch.zeros(count, dtype=torch.long, device=device)
    while True:
        running = ~done
        actions = planner.act(running)
        imagined += planner.last_imagined
        obs, reward, terminated, truncated, info = env.step(actions)
        length += running.long()
        ret += torch.where(running, reward.float(), 0.0)
        if spec.success is not None:
            success |= running & info["success"].bool() & (terminated | truncated)
        done |= terminated | truncated  # ended games were auto-reset: stop tracking them
        if tick is not None:
            tick(int(length.max()), int(done.sum()))
        if bool(done.all()):
            break
        planner.advance(actions, spec.observation.encode(obs), ~done)
    return {"start": start.reshape(count, -1), "success": success, "length": length, "return": ret,
            "imagined": imagined}


def play_levels(planner, spec, source: str = "test", episodes: int = 100, max_steps: int | None = None,
                batch: int = 256, seed: int = 0, solver_time_limit: float = 0.0, device: torch.device | str = "cpu",
                log: Callable[[str], None] | None = None, progress: bool | None = None) -> dict[str, Any]:
    """Play ``episodes`` episodes of ``source`` (a split of ``spec``'s world, or a source the world
    understands, e.g. a level folder) with ``planner``; see the module docstring. ``log`` gets a
    line per batch; ``progress`` (default: when there is a ``log``) shows a bar on stderr that
    moves with every real step, since a batch of hard levels can search for minutes."""
    from tqdm import tqdm

    if episodes < 1:
        raise ReverieError(f"--episodes must be >= 1, got {episodes}")
    if batch < 1:
        raise ReverieError(f"--batch must be >= 1, got {batch}")
    if max_steps is not None and max_steps < 1:
        raise ReverieError(f"--max-steps must be >= 1, got {max_steps}")
    check_searchable(spec)
    options = {} if max_steps is None or max_steps == spec.max_steps else {"max_steps": max_steps}
    played: dict[str, list[torch.Tensor]] = {}
    wall_all = []
    start_all = time.perf_counter()
    for first in range(0, episodes, batch):
        count = min(batch, episodes - first)
        env = spec.make_env(source, count, seed, device, **options)
        if not callable(getattr(env, "reset_to", None)):
            raise ReverieError(f"env {spec.id} cannot start named held-out episodes (no reset_to), "
                               "so search cannot play them")
        max_steps = int(env.max_steps)
        began = time.perf_counter()
        bar = tqdm(total=count, desc=f"episodes {first + 1}-{first + count} of {episodes}", unit="episode",
                   leave=False, disable=not (log is not None if progress is None else progress), mininterval=0.5)

        def tick(steps: int, ended: int, bar=bar, limit=max_steps) -> None:
            if bar.disable:
                return
            bar.set_postfix_str(f"real step {steps}/{limit}", refresh=False)
            bar.update(ended - bar.n)
            if bar._time() - bar.last_print_t >= bar.mininterval:  # steps that end no episode show too
                bar.refresh()

        try:
            for key, value in _play_batch(planner, env, spec, first, count, seed, tick).items():
                played.setdefault(key, []).append(value.cpu())
        finally:
            bar.close()
        seconds = time.perf_counter() - began
        wall_all.append(np.full(count, seconds / count))
        if log:
            n = sum(len(s) for s in played["length"])
            text = f"{n}/{episodes} episodes: "
            if spec.success is not None:
                k = int(torch.cat(played["success"]).sum())
                text += f"{spec.success} {k} ({k / n:.1%}), "
            log(text + f"mean return {float(torch.cat(played['return']).mean()):.2f}, "
                       f"{seconds:.1f} s for this batch")
    wall = time.perf_counter() - start_all
    success_t, length_t = torch.cat(played["success"]), torch.cat(played["length"])
    return_t = torch.cat(played["return"])
    imagined_t = torch.cat(played["imagined"]).numpy()
    n = len(length_t)
    mean_return = float(return_t.mean())
    half = Z95 * float(return_t.std()) / math.sqrt(n) if n > 1 else 0.0
    result: dict[str, Any] = {"episodes": n, "distinct_levels": int(torch.cat(played["start"]).unique(dim=0).shape[0])}
    if spec.success is not None:
        k = int(success_t.sum())
        result |= {"successes": k, "success_rate": k / n, "ci95": list(wilson_interval(k, n))}
    result |= {
        "mean_return": mean_return, "return_ci95": [mean_return - half, mean_return + half],
        "max_steps": max_steps, "seed": seed, "batch": batch,
        "imagined_per_level": distribution(imagined_t.astype(np.float64)),
        "imagined_per_step": float(imagined_t.sum() / max(int(length_t.sum()), 1)),
        "mean_length": float(length_t.float().mean()),
        "mean_success_length": float(length_t[success_t].float().mean()) if bool(success_t.any()) else float("nan"),
        "wall_seconds": wall, "wall_seconds_per_level": float(np.concatenate(wall_all).mean()),
        "imagined_steps_per_second": float(imagined_t.sum() / max(wall, 1e-9)),
    }
    reference = spec.extra.get("optimal_moves")
    if solver_time_limit > 0 and reference is not None and bool(success_t.any()):
        won = np.flatnonzero(success_t.numpy())
        moves = reference(spec, source, won.tolist(), solver_time_limit)
        ratios = [int(length_t[j]) / m for j, m in zip(won, moves) if m]
        result["optimal_length_ratio"] = {
            **distribution(np.array(ratios)), "levels": len(ratios), "solver_timeouts": sum(m is None for m in moves),
            "solver_time_limit": solver_time_limit, "reference": spec.extra.get("optimal_reference", "optimal")}
    return result


def describe(result: dict[str, Any]) -> str:
    """A few lines about a search result (old records' ``solve_rate`` read as ``success_rate``)."""
    im = result["imagined_per_level"]
    head = f"{result.get('planner', 'search')} on {result.get('levels', 'levels')}: "
    rate = success_rate(result)
    if rate is not None:
        low, high = result["ci95"]
        head += f"{result.get('success', 'success')} {rate:.1%} [{low:.1%}, {high:.1%}] of "
    else:
        head += "mean return {:.2f} over ".format(result["mean_return"])
    lines = [head + f"{result['episodes']} episodes (budget {result.get('budget', '?')} imagined steps per decision)",
             f"imagined steps per episode: mean {im['mean']:,.0f}, median {im['median']:,.0f}, "
             f"p10-p90 {im['p10']:,.0f}-{im['p90']:,.0f}, max {im['max']:,.0f} "
             f"({result['imagined_per_step']:,.0f} per real step)",
             f"wall-clock per episode {result['wall_seconds_per_level']:.3f} s (batched), "
             f"{result['imagined_steps_per_second']:,.0f} imagined steps/s, mean episode length "
             f"{result['mean_length']:.1f}" + (f", mean return {result['mean_return']:.2f}" if "mean_return" in result else "")]
    ratio = result.get("optimal_length_ratio")
    if ratio:
        lines.append(f"length / {ratio.get('reference', 'optimal')} solution's moves over {ratio['levels']} "
                     f"successful episodes: mean {ratio['mean']:.2f}, median {ratio['median']:.2f} "
                     f"({ratio['solver_timeouts']} solver timeouts)")
    return "\n".join(lines)
