"""Held-out evaluation of actor-critic policies, on any env id whose spec makes a batched env.

Episode ``j`` is held-out episode ``j`` of the split (``env.reset_to``: Sokoban plays level
``j mod len(levels)`` from its start; a seeded world the episode its seed names), so a result
names exactly which episodes it covers, and short (successful) episodes are not over-counted
the way counting "the first N episodes to finish" would. Episodes run in batches of envs;
each env's first episode is the one scored.

Where the world has success (``spec.success``), the success rate comes with a 95% **Wilson
score interval**, which stays inside [0, 1] and keeps sensible widths at 0% and 100% (where
the normal approximation collapses to a point); the mean return comes with a normal one.
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
from ..envs.spec import distinct_episodes

__all__ = ["wilson_interval", "evaluate_policy", "evaluate_run", "final_evaluation", "read_evaluations",
           "record_evaluation", "normalize_result", "evaluation_key", "find_evaluation", "Z95"]

#: Keys of results written before worlds other than Sokoban: old -> new.
_OLD_KEYS = {"solve_rate": "success_rate", "solved": "successes", "distinct_levels": "distinct_episodes"}


@torch.inference_mode()
def evaluate_policy(policy: nn.Module, spec, split: str, episodes: int, greedy: bool = False, seed: int = 0,
                    batch: int = 256, device: torch.device | str = "cpu", record: bool = False) -> dict[str, Any]:
    """Play ``episodes`` held-out episodes of ``split`` (episode ``j`` for the ``j``-th) with ``policy``.

    ``spec`` is the env id's spec, configured with the env options to play under; ``split``
    is one of its splits or a source its world understands (e.g. a level folder). Returns the
    mean return (normal 95% interval) and length, and where the world has success the success
    rate with its Wilson 95% interval; with ``record=True`` the RGB frames (``spec.render``) of
    one episode (the first successful one of the first batch, else its first episode) under
    ``"frames"``, ready for :func:`~.pictures.save_gif`.
    """
    if episodes < 1:
        raise ReverieError(f"--episodes must be >= 1, got {episodes}")
    spec.num_actions  # the policy samples action indices: a continuous-action id is refused in one line
    device = torch.device(device)
    was_training = policy.training
    policy.eval()
    try:
        generator = torch.Generator(device)
        generator.manual_seed(seed)
        scores: dict[str, list[torch.Tensor]] = {"return": [], "length": [], "success": []}
        frames: list[np.ndarray] | None = None
        distinct, max_steps = None, spec.max_steps
        for start in range(0, episodes, batch):
            count = min(batch, episodes - start)
            env = spec.make_env(split, count, seed=seed + start, device=device)
            max_steps = env.max_steps
            distinct = distinct_episodes(env)
            reset_to = getattr(env, "reset_to", None)
            if reset_to is not None:
                obs = reset_to(torch.arange(start, start + count, device=device))
            else:
                obs, _ = env.reset(seed=seed + start)
            recording = record and start == 0 and spec.render is not None
            played = play_first_episodes(policy, env, obs, greedy, generator, spec, recording)
            for key in scores:
                scores[key].append(played[key].cpu())
            if recording:
                frames = episode_frames(spec, played)
    finally:
        policy.train(was_training)  # also when an episode fails: the caller's policy keeps its mode
    ret, length = torch.cat(scores["return"]), torch.cat(scores["length"])
    n = len(ret)
    half = Z95 * float(ret.std()) / math.sqrt(n) if n > 1 else 0.0
    mean_return = float(ret.mean())
    result: dict[str, Any] = {
        "episodes": n, "distinct_episodes": int(min(n, distinct)) if distinct else n,
        "mean_return": mean_return, "return_ci95": [mean_return - half, mean_return + half],
        "mean_length": float(length.float().mean()),
        "mode": "greedy" if greedy else "sample", "max_steps": int(max_steps), "seed": seed,
    }
    if spec.success is not None:
        k = int(torch.cat(scores["success"]).sum())
        result |= {"successes": k, "success_rate": k / n, "ci95": list(wilson_interval(k, n))}
    if frames is not None:
        result["frames"] = frames
    return result


def play_first_episodes(policy: nn.Module, env, obs: torch.Tensor, greedy: bool, generator: torch.Generator,
                         spec, record: bool) -> dict[str, Any]:
    """Step every env until its first episode ended; that episode's return, length and success
    (and with ``record`` the compact observations of every step and each episode's last one)."""
    count, device = env.num_envs, obs.device
    done = torch.zeros(count, dtype=torch.bool, device=device)
    played: dict[str, Any] = {
        "return": torch.zeros(count, device=device),
        "length": torch.zeros(count, dtype=torch.long, device=device),
        "success": torch.zeros(count, dtype=torch.bool, device=device),
    }
    history: list[torch.Tensor] = []
    last: torch.Tensor | None = None
    actions = torch.zeros(count, dtype=torch.long, device=device)
    for _ in range(env.max_steps):
        # the policy reads only the rows still in their first episode: one long episode then
        # costs one row's forward, not the whole batch's (an imagining policy is expensive)
        live = (~done).nonzero().squeeze(1)
        logits, _ = policy(obs if live.numel() == count else obs[live])
        actions.zero_()
        actions[live] = greedy_actions(logits) if greedy else sample_actions(logits, generator)
        if record:
            history.append(spec.observation.encode(obs).cpu())
        obs, _, _, _, info = env.step(actions)
        ended = info["final_index"]
        fresh = ~done[ended]
        first = ended[fresh]
        played["return"][first] = info["episode_return"][first].to(played["return"])
        played["length"][first] = info["episode_length"][first].to(device)
        if spec.success is not None:
            played["success"][first] = info["success"][first].to(device)
        if record and first.numel():
            final = spec.observation.encode(info["final_obs"][fresh]).cpu()
            if last is None:
                last = torch.zeros((count, *final.shape[1:]), dtype=final.dtype)
            last[first.cpu()] = final
        done[first] = True
        if bool(done.all()):
            break
    if record:
        played |= {"history": history, "last": last}
    return played


def episode_frames(spec, played: dict[str, Any]) -> list[np.ndarray] | None:
    """RGB frames of one recorded episode: every start-of-step observation and the last one."""
    wins = played["success"].nonzero()
    row = int(wins[0]) if len(wins) else 0
    steps = int(played["length"][row])
    if played["last"] is None or steps < 1:
        return None
    compact = torch.stack([step[row] for step in played["history"][:steps]] + [played["last"][row]])
    pictures = spec.render(spec.observation.decode(compact))
    return [np.asarray(frame.cpu() if isinstance(frame, torch.Tensor) else frame) for frame in pictures]


# -- run-level evaluation --------------------------------------------------------------------

def normalize_result(result: dict[str, Any]) -> dict[str, Any]:
    """A result under today's keys (records written before accept ``solve_rate``, ``solved``)."""
    return result | {new: result[old] for old, new in _OLD_KEYS.items() if old in result and new not in result}


def evaluation_key(result: dict[str, Any]) -> str:
    """A result's key in ``evaluation.json``: ``"<levels>|<mode>|<episodes>"``, then ``"|seed <seed>"``
    for a seed other than 0, so evaluating with fewer episodes (or another seed) adds a row and
    never replaces the run's own."""
    key = f"{result['levels']}|{result['mode']}|{result['episodes']}"
    return key + (f"|seed {result['seed']}" if result.get("seed", 0) else "")


def read_evaluations(run_dir: str | Path) -> dict[str, Any]:
    """A run's ``evaluation.json``: results keyed by :func:`evaluation_key` ({} if none yet).

    Every row carries its ``levels``, ``mode``, ``episodes`` (and ``seed``): rows of one source
    and action choice but different episode counts are different results, and a reader that
    compares runs should compare like with like (or say it does not). Files written before
    (keyed ``"<levels>|<mode>"``) are read under today's keys."""
    path = Path(run_dir) / "evaluation.json"
    if not path.is_file():
        return {}
    try:
        results = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ReverieError(f"{path}: not valid JSON ({err})") from None
    except OSError as err:
        raise ReverieError(f"cannot read {path}: {err.strerror or err}") from None
    if not isinstance(results, dict):
        raise ReverieError(f"{path}: not an evaluation record (a {type(results).__name__})")
    rows = {}
    for key, result in results.items():
        if not isinstance(result, dict) or not {"levels", "mode", "episodes"} <= set(result):
            raise ReverieError(f"{path}: entry {key!r} is not an evaluation result")
        result = normalize_result(result)
        rows[evaluation_key(result)] = result
    return rows


def find_evaluation(results: dict[str, Any], levels: str, mode: str, episodes: int | None = None,
                    seed: int = 0) -> dict[str, Any] | None:
    """The row of ``results`` (:func:`read_evaluations`) for ``levels`` and ``mode``: the one of
    ``episodes`` episodes, or without it the one with the most episodes (None: no such row)."""
    rows = [r for r in results.values() if r["levels"] == levels and r["mode"] == mode and r.get("seed", 0) == seed
            and (episodes is None or r["episodes"] == episodes)]
    return max(rows, key=lambda r: r["episodes"], default=None)


def record_evaluation(run_dir: str | Path, result: dict[str, Any]) -> None:
    """Add one result to the run's ``evaluation.json``, atomically (it replaces only a result
    of the same levels, mode, episodes and seed: see :func:`evaluation_key`)."""
    results = read_evaluations(run_dir)
    results[evaluation_key(result)] = {k: v for k, v in result.items() if k != "frames"}
    write_json(Path(run_dir) / "evaluation.json", results)


#: What a run's summary keeps of each final evaluation.
SUMMARY_KEYS = ("success_rate", "ci95", "mean_return", "return_ci95", "mean_length", "episodes")


def final_evaluation(policy: nn.Module, config, env_info: dict[str, Any], frames: int) -> dict[str, Any]:
    """The end-of-run hook of :func:`reverie.training.runs.train`: the env id's test split with
    sampled and greedy actions, each added to the run's ``evaluation.json``."""
    from ..envs.registry import get_spec

    spec = get_spec(config.env, **config.env_kwargs())
    results = {}
    for greedy in (False, True):
        result = evaluate_policy(policy, spec, "test", config.eval_episodes, greedy=greedy, device=config.device)
        result = {"levels": f"{config.env}:test", **result, "train_frames": frames}
        record_evaluation(config.run_dir, result)
        results[result["mode"]] = {k: result[k] for k in SUMMARY_KEYS if k in result}
    return results


def _source(levels: str | None, run_spec) -> tuple[str, str, str]:
    """``--levels`` -> (env id, split or world source, name): ``ID:SPLIT``, ``ID`` (its test
    split), a split of the run's id, or a source the run's world understands (a level folder)."""
    from ..envs.registry import env_ids

    if levels is None:
        return run_spec.id, "test", f"{run_spec.id}:test"
    env_id, _, split = levels.partition(":")
    if env_id in env_ids():
        split = split or "test"
        return env_id, split, f"{env_id}:{split}"
    if levels in run_spec.splits:
        return run_spec.id, levels, f"{run_spec.id}:{levels}"
    return run_spec.id, levels, levels


def _training_episodes(run_spec, env_id: str, split: str, name: str, episodes: int) -> int:
    """How many held-out episodes of the source are training episodes of the run (0: none known)."""
    if env_id == run_spec.id and split == "train":
        return episodes  # the run's own training split
    if run_spec.overlap is None:
        return 0
    # a split of another id reaches the run's world as the source "ID:SPLIT"
    return int(run_spec.overlap(run_spec, split if env_id == run_spec.id else name, **run_spec.options))


def evaluate_run(run_dir: str | Path, levels: str | None = None, episodes: int = 1000,
                 greedy: bool = False, allow_train_levels: bool = False,
                 levels_dir: str | Path | None = None, seed: int = 0, gif: str | Path | None = None,
                 save: bool = True) -> dict[str, Any]:
    """Evaluate a run's latest weights on held-out episodes (the run's env id's test split by
    default). Refuses episodes the run trained on unless ``allow_train_levels``; adds the result
    to ``run_dir/evaluation.json`` when ``save``; writes a GIF of one episode to ``gif``."""
    from ..envs.registry import get_spec
    from ..training.runs import load_run

    run = load_run(run_dir)
    config, run_spec = run.config, run.spec
    options = config.env_kwargs() | ({"levels_dir": levels_dir} if levels_dir is not None else {})
    run_spec = get_spec(config.env, **options)
    env_id, split, name = _source(levels, run_spec)
    spec = run_spec
    if env_id != run_spec.id:
        spec = get_spec(env_id, **(options | {"max_steps": run_spec.max_steps}))
        if spec.observation.shape != run_spec.observation.shape or spec.num_actions != run_spec.num_actions:
            raise ReverieError(f"{name}: observations {list(spec.observation.shape)} with {spec.num_actions} actions, "
                               f"but the agent of {run_dir} was trained on {list(run_spec.observation.shape)} "
                               f"with {run_spec.num_actions}")
    if not allow_train_levels:
        seen = _training_episodes(run_spec, env_id, split, name, episodes)
        if seen:
            raise ReverieError(f"{seen} of the held-out episodes of {name} are training episodes of "
                               f"{run_dir}; pass --allow-train-levels to evaluate on them anyway")
    result = evaluate_policy(run.policy, spec, split, episodes, greedy=greedy, seed=seed, device=run.device,
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
