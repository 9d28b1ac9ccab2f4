"""Held-out evaluation of actor-critic policies on Sokoban levels.

Episode ``j`` plays level ``j mod len(levels)`` from its start, so a result names exactly
which levels it covers, and short (solved) episodes are not over-counted the way counting
"the first N episodes to finish" would. Episodes run in batches of envs; each env's first
episode is the one scored.

The solve rate comes with a 95% **Wilson score interval**, which stays inside [0, 1] and
keeps sensible widths at 0% and 100% (where the normal approximation collapses to a point).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..core.errors import ReverieError
from ..agents.actor_critic import greedy_actions, sample_actions
from ..core.atomic import write_json
from ..core.stats import Z95, wilson_interval
from ..envs.sokoban import rules
from ..envs.sokoban.bank import LevelBank
from ..envs.sokoban.env import SokobanVecEnv

__all__ = ["wilson_interval", "evaluate_policy", "evaluate_run", "read_evaluations",
           "record_evaluation", "Z95"]

@torch.inference_mode()
def evaluate_policy(policy: nn.Module, levels: LevelBank, episodes: int, max_steps: int,
                    greedy: bool = False, seed: int = 0, batch: int = 256,
                    device: torch.device | str = "cpu", observation: str = "symbolic",
                    record: bool = False) -> dict[str, Any]:
    """Play ``episodes`` episodes (level ``j mod len(levels)`` for episode ``j``).

    Returns the solve rate with its Wilson 95% interval, the mean return and length, and
    with ``record=True`` the grids of one episode (the first solved one of the first batch,
    else its first episode) under ``"frames"``, ready for :func:`~.pictures.save_gif`.
    """
    if episodes < 1:
        raise ReverieError(f"--episodes must be >= 1, got {episodes}")
    device = torch.device(device)
    was_training = policy.training
    policy.eval()
    generator = torch.Generator(device)
    generator.manual_seed(seed)
    returns, lengths, solved = [], [], []
    frames: list[np.ndarray] | None = None
    height, width = levels.shape
    tables = rules.make_tables(width, device)
    for start in range(0, episodes, batch):
        count = min(batch, episodes - start)
        index = np.arange(start, start + count) % len(levels)
        chunk = LevelBank(levels.codes[index])
        env = SokobanVecEnv(chunk, count, observation=observation, max_steps=max_steps,
                            device=device, seed=seed + start, copy_obs=False)
        env.reset()
        env.set_state({"codes": torch.from_numpy(chunk.codes), "level_index": torch.arange(count),
                       "steps": torch.zeros(count, dtype=torch.long),
                       "episode_return": torch.zeros(count)})
        obs = env.observe()
        done = torch.zeros(count, dtype=torch.bool, device=device)
        ep_return = torch.zeros(count, device=device)
        ep_length = torch.zeros(count, dtype=torch.long, device=device)
        ep_solved = torch.zeros(count, dtype=torch.bool, device=device)
        history: list[tuple[torch.Tensor, torch.Tensor]] = []
        for _ in range(max_steps):
            logits, _ = policy(obs)
            actions = greedy_actions(logits) if greedy else sample_actions(logits, generator)
            if record and start == 0:
                history.append((env.codes.clone(), actions.clone()))
            obs, _, terminated, truncated, info = env.step(actions)
            ended = info["final_index"]
            first = ended[~done[ended]]
            ep_return[first] = info["episode_return"][first]
            ep_length[first] = info["episode_length"][first]
            ep_solved[first] = terminated[first]
            done[first] = True
            if bool(done.all()):
                break
        returns.append(ep_return.cpu())
        lengths.append(ep_length.cpu())
        solved.append(ep_solved.cpu())
        if record and start == 0:
            frames = _episode_frames(history, ep_solved, ep_length, tables, height, width)
    policy.train(was_training)
    ret, length, ok = torch.cat(returns), torch.cat(lengths), torch.cat(solved)
    k, n = int(ok.sum()), len(ok)
    low, high = wilson_interval(k, n)
    result: dict[str, Any] = {
        "episodes": n, "distinct_levels": int(min(n, len(levels))), "solved": k,
        "solve_rate": k / n, "ci95": [low, high],
        "mean_return": float(ret.mean()), "mean_length": float(length.float().mean()),
        "mode": "greedy" if greedy else "sample", "max_steps": max_steps, "seed": seed,
    }
    if frames is not None:
        result["frames"] = frames
    return result


def _episode_frames(history, solved: torch.Tensor, lengths: torch.Tensor, tables,
                    height: int, width: int) -> list[np.ndarray]:
    """The grids of one recorded episode: every start-of-step position and the last one."""
    wins = solved.nonzero()
    row = int(wins[0]) if len(wins) else 0
    steps = int(lengths[row])
    grids = [codes[row].view(height, width).cpu().numpy().copy() for codes, _ in history[:steps]]
    last_codes, last_action = history[steps - 1]
    after, _ = rules.step(last_codes[row:row + 1].clone(), last_action[row:row + 1], tables)
    grids.append(after.view(height, width).cpu().numpy().copy())
    return grids


# -- run-level evaluation --------------------------------------------------------------------

def read_evaluations(run_dir: str | Path) -> dict[str, Any]:
    """A run's ``evaluation.json``: results keyed ``"<levels>|<mode>"`` ({} if none yet)."""
    path = Path(run_dir) / "evaluation.json"
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ReverieError(f"{path}: not valid JSON ({err})") from None


def record_evaluation(run_dir: str | Path, result: dict[str, Any]) -> None:
    """Add (or replace) one result in the run's ``evaluation.json``, atomically."""
    results = read_evaluations(run_dir)
    results[f"{result['levels']}|{result['mode']}"] = {k: v for k, v in result.items() if k != "frames"}
    write_json(Path(run_dir) / "evaluation.json", results)


def evaluate_run(run_dir: str | Path, levels: str | None = None, episodes: int = 1000,
                 greedy: bool = False, allow_train_levels: bool = False,
                 levels_dir: str | Path | None = None, seed: int = 0, gif: str | Path | None = None,
                 save: bool = True) -> dict[str, Any]:
    """Evaluate a run's latest weights on held-out levels (the run's env id's test split by
    default). Refuses levels the run trained on unless ``allow_train_levels``; adds the result
    to ``run_dir/evaluation.json`` when ``save``; writes a GIF of one episode to ``gif``."""
    from ..envs.sokoban.presets import level_keys, overlap, resolve_levels
    from ..training.runs import load_run

    run = load_run(run_dir)
    config = run.config
    levels_dir = levels_dir if levels_dir is not None else config.levels_dir
    spec = levels or f"{config.env}:test"
    bank, name = resolve_levels(spec, levels_dir, config.train_levels)
    shape = tuple(run.env_info["obs_shape"][1:])
    if bank.shape != shape and config.observation == "symbolic":
        raise ReverieError(f"{name}: levels are {bank.shape[0]}x{bank.shape[1]}, but the agent of "
                           f"{run_dir} was trained on {shape[0]}x{shape[1]} levels")
    if not allow_train_levels:
        train = run.training_levels()
        seen = overlap(bank, level_keys(train))
        if seen:
            raise ReverieError(f"{seen} of the {len(bank)} levels of {name} are training levels of "
                               f"{run_dir}; pass --allow-train-levels to evaluate on them anyway")
    result = evaluate_policy(run.policy, bank, episodes, config.max_steps or run.env_info["max_steps"],
                             greedy=greedy, seed=seed, device=run.device, observation=config.observation,
                             record=gif is not None)
    result = {"levels": name, **result, "train_frames": run.frames}
    frames = result.pop("frames", None)
    if gif is not None and frames:
        from .pictures import save_gif

        save_gif(frames, gif)
        result["gif"] = str(gif)
    if save:
        record_evaluation(run_dir, result)
    return result
