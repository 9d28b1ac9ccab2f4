"""``torchrun ... -m reverie train``: a training run split over data-parallel ranks.

The run folder is the one :mod:`.runs` writes (config, metrics, checkpoint, evaluation,
summary), written by rank 0 only; the other ranks just train. ``--num-envs`` is per rank,
so N ranks give a global batch of N x num_envs envs (see :mod:`.distributed`). Logged
metrics are over all ranks: episode statistics summed, losses averaged, frames/s global.

The checkpoint holds rank 0's full trainer state under ``"trainer"`` (so ``load_run``,
``reverie evaluate``/``report`` and a single-process ``--resume`` read it as any run) and
each rank's own stream under ``"ranks"`` (env state, observations, action and imagination
samplers, RNG states, log window).

**Resume.** With the same number of ranks the run continues exactly as if never stopped
(on the CPU). With a different number, weights, optimizer, counters and the learning-rate
schedule carry over; rank 0 continues its own stream, and ranks the checkpoint has no
stream for start fresh ones (seeded from the run's seed, their rank and the update count);
the global batch becomes the new N x num_envs. A single-process ``reverie train --resume``
of a distributed run continues as rank 0 alone.

Held-out evaluation at the end (the ``evaluate`` hook, as in :mod:`.runs`) runs on rank 0
while the other ranks exit. Rank 0 holds the run folder's lock for the whole job.

**Failures.** When a rank fails, the message says what is true of the folder: the last
checkpoint is intact (resume it), or no checkpoint was written yet (start again).
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from ..core.errors import ReverieError
from ..core.config import to_dict
from . import distributed as dd
from .actor_critic import A2CConfig, EpisodeStats
from ..core.atomic import remove_stale_temps
from ..core.checkpoint import rng_state, save_checkpoint, set_rng_state
from ..core.lock import locked_run_folder
from ..core.metrics import MetricsLogger
from .runs import (CHECKPOINT, RUN_KIND, EvaluateHook, TrainConfig, _build, _load_state, check_fresh,
                   finish_run, has_success, restoring, saved_configs, training_loop, write_run_config)
from .runs import describe as describe_run

__all__ = ["train", "resume", "describe"]

STREAM = ("obs", "action_rng", "stats", "env")  # the parts of A2C.state_dict that are a rank's own


def train(config: TrainConfig, a2c: A2CConfig | None = None, progress: bool = True,
          evaluate: EvaluateHook | None = None) -> dict[str, Any] | None:
    """Start a run on every rank; rank 0 returns the summary, the others None."""
    world = dd.init_world()
    try:
        with ExitStack() as lock:
            problem = None
            if world.is_main:
                try:
                    lock.enter_context(locked_run_folder(config.run_dir))
                    check_fresh(config.run_dir, "torchrun ... -m reverie train --resume")
                except ReverieError as err:
                    problem = str(err)
            problem = dd.broadcast_from_main(problem, world, "checking the run folder")
            if problem:
                raise ReverieError(problem)
            return _guarded(world, config, a2c or A2CConfig(), None, progress, evaluate)
    finally:
        dd.shutdown(world)


def resume(run_dir: str | Path, progress: bool = True, evaluate: EvaluateHook | None = None) -> dict[str, Any] | None:
    """Continue a run on every rank; rank 0 reads the checkpoint and shares it."""
    run_dir = Path(run_dir)
    world = dd.init_world()
    try:
        with ExitStack() as lock:
            state, problem = None, None
            if world.is_main:
                try:
                    if not run_dir.is_dir():
                        raise ReverieError(f"{run_dir}: no such run folder")
                    lock.enter_context(locked_run_folder(run_dir))
                    state = _load_state(run_dir)
                    saved_configs(state, run_dir)
                except ReverieError as err:
                    problem = str(err)
            state, problem = dd.broadcast_from_main((state, problem), world, "sharing the checkpoint")
            if problem:
                raise ReverieError(problem)
            config, a2c = saved_configs(state, run_dir)
            return _guarded(world, config, a2c, state, progress, evaluate)
    finally:
        dd.shutdown(world)


def _guarded(world: dd.World, config: TrainConfig, a2c: A2CConfig, state: dict[str, Any] | None,
             progress: bool, evaluate: EvaluateHook | None) -> dict[str, Any] | None:
    """:func:`_run`, saying on a rank failure whether a checkpoint is there to resume from."""
    written = {"checkpoint": state is not None}  # set by _run once this job has saved one
    try:
        return _run(world, config, a2c, state, progress, evaluate, written)
    except dd.RankFailure as err:
        raise dd.RankFailure(f"{err}; the job stops. {failure_advice(config.run_dir, written['checkpoint'])}") from None


def failure_advice(run_dir: Path, checkpoint: bool) -> str:
    """What a user can do after a failed job, true to whether a checkpoint exists."""
    if checkpoint:
        return (f"The last checkpoint in {run_dir} is intact: continue with "
                f"`torchrun ... -m reverie train --resume {run_dir}`")
    return (f"No checkpoint was written to {run_dir} yet, so there is nothing to resume: "
            f"start the run again with the same command")


def describe(summary: dict[str, Any]) -> str:
    """:func:`.runs.describe`, with the torchrun command that resumes."""
    size = summary.get("distributed", {}).get("world_size", 1)
    return describe_run(summary).replace("reverie train --resume",
                                         f"torchrun --nproc-per-node {size} -m reverie train --resume")


def _cpu(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().clone()
    if isinstance(value, dict):
        return {k: _cpu(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_cpu(v) for v in value)
    return value


def _fresh_stream(trainer, policy, seed: int, rank: int) -> None:
    """Start this rank on new levels and samplers, keeping the loaded weights and counters."""
    fresh = dd.rank_seed(seed, rank, salt=1 + trainer.updates)
    trainer.generator.manual_seed(fresh)
    trainer.stats = EpisodeStats(trainer.device)
    obs, _ = trainer.env.reset(seed=fresh)
    trainer.obs.copy_(obs)
    dd.reseed_imagination(policy, fresh)
    torch.manual_seed(fresh)


def _restore(world: dd.World, trainer, policy, state: dict[str, Any], seed: int) -> dict[str, Any]:
    """Load a checkpoint into this rank (see the module docstring); returns the log window."""
    ranks = state.get("ranks")
    if ranks is not None and len(ranks) == world.size:
        mine = ranks[world.rank]
        trainer.load_state_dict(state["trainer"] | mine["stream"])
        policy.load_state_dict(mine["policy_extra"], strict=False)
        set_rng_state(mine["rng"])
        return mine["log_window"]
    trainer.load_state_dict(state["trainer"], reseed=seed + 1)
    if world.is_main:
        set_rng_state(state["rng"])
        return state.get("log_window", {"sums": {}, "updates": 0})
    _fresh_stream(trainer, policy, seed, world.rank)
    return {"sums": {}, "updates": 0}


def _run(world: dd.World, config: TrainConfig, a2c: A2CConfig, state: dict[str, Any] | None,
         progress: bool, evaluate: EvaluateHook | None, written: dict[str, bool] | None = None) -> dict[str, Any] | None:
    world = dd.place(world, config.device)
    run_dir, main = config.run_dir, world.is_main
    local = replace(config, device=str(world.device))
    if not main:  # rank 0 first: it may build and cache what the world's envs read (e.g. a level bank)
        dd.broadcast_from_main(None, world, "waiting for rank 0 to build the env")
    env, policy, env_info, agent_info = _build(local)
    if main:
        dd.broadcast_from_main(None, world, "waiting for rank 0 to build the env")
    seed = dd.rank_seed(config.seed, world.rank)
    if world.rank:
        torch.manual_seed(seed)
        dd.reseed_imagination(policy, seed)
    trainer = dd.DistributedA2C(policy, env, world, a2c, total_frames=config.frames, seed=seed)
    window = {"sums": {}, "updates": 0}
    elapsed = 0.0
    if state is not None:
        with restoring(run_dir, config.agent):
            window = _restore(world, trainer, policy, state, config.seed)
        elapsed = float(state["elapsed"])
    layout = {"world_size": world.size, "backend": world.backend, "num_envs_per_rank": config.num_envs,
              "global_num_envs": config.num_envs * world.size}
    metrics = None
    if main:
        remove_stale_temps(run_dir)  # a killed job's half-written checkpoint (rank 0 holds the lock)
        write_run_config(run_dir, config, a2c, trainer, env_info, agent_info, distributed=layout)
        metrics = MetricsLogger(run_dir, tensorboard=config.tensorboard,
                                resume_step=trainer.frames if state is not None else None)

    def save(elapsed: float, log_window: dict[str, Any]) -> None:
        own = trainer.state_dict()
        mine = _cpu({"stream": {k: own[k] for k in STREAM}, "rng": rng_state(),
                     "policy_extra": {k: v for k, v in policy.state_dict().items() if k.endswith("_extra_state")},
                     "log_window": log_window})
        ranks = dd.gather_to_main(mine, world)
        if main:
            save_checkpoint(run_dir / CHECKPOINT, {
                "trainer": own, "rng": mine["rng"], "elapsed": elapsed,
                "config": {"train": to_dict(config), "a2c": to_dict(a2c)},
                "env_info": env_info, "agent_info": agent_info, "log_window": mine["log_window"],
                "distributed": layout, "ranks": ranks,
            }, kind=RUN_KIND)
        if written is not None:
            written["checkpoint"] = True

    end = training_loop(trainer, config, save, metrics, elapsed=elapsed, window=window, progress=progress and main,
                        desc=f"{config.agent} {config.env} x{world.size}",
                        record=lambda t, sums, updates: _aggregate(world, t, sums, updates), any_stop=trainer.any_rank)
    if metrics is None:
        return None
    metrics.close()
    return finish_run(config, trainer, policy, env_info, agent_info, end, evaluate, distributed=layout)


def _aggregate(world: dd.World, trainer, sums: dict[str, torch.Tensor], updates: int) -> dict[str, Any]:
    """One log record over all ranks: episodes summed, per-rank mean losses averaged."""
    window = trainer.stats.window
    keys = sorted(sums)
    device = window["episodes"].device
    local = torch.stack([*(window[k] for k in EpisodeStats.KEYS),
                         *(sums[k].to(device, torch.float64) / updates for k in keys)])
    total = dd.all_sum(local, world, "aggregating metrics").cpu()
    trainer.stats.pop()  # start the next window
    n = float(total[0])
    nan = float("nan")
    record = {"frames": trainer.frames, "updates": trainer.updates, "episodes": n,
              "episode_return": float(total[1]) / n if n else nan}
    if has_success(trainer.env):
        record["success_rate"] = float(total[3]) / n if n else nan
    record["episode_length"] = float(total[2]) / n if n else nan
    record |= {k: float(v) / world.size for k, v in zip(keys, total[4:])}
    return record
