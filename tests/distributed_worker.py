"""One data-parallel rank for tests/test_distributed.py (run as a script, one process per rank).

In one process group (a pair of process start-ups costs more than everything they do here):

1. it trains each case of CASES_JSON a few updates with :class:`DistributedA2C` and saves the
   flattened weights after every update, the frame counter and its first levels, for the test to
   compare with the other rank and with one process holding both ranks' envs;
2. it resumes the run in RESUME_DIR (one whose rank 1 was killed) and makes the uninterrupted
   run RUN_JSON, both through what ``torchrun ... -m reverie train`` calls.

    RANK=0 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=29500 \
        python distributed_worker.py OUT CASES_JSON RUN_JSON RESUME_DIR
"""

from __future__ import annotations

import json
import os
import sys

import torch

ENV_ID = "sokoban-6x6-1"
TRAIN_LEVELS = 50


def build(case: dict, seed: int, num_envs: int):
    """The env of one rank (or of one shard of the single-process run) and the initial policy."""
    from reverie.agents import build_agent
    from reverie.envs.registry import make_env

    env = make_env(ENV_ID, "train", num_envs, seed=seed, train_levels=TRAIN_LEVELS, max_steps=case["max_steps"])
    torch.manual_seed(0)
    policy = build_agent(case["agent"], env.spec, **case["options"])
    return env, policy


def flat(policy: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in policy.parameters()]).clone()


def main(out: str, cases: list[dict], run: dict, resume_dir: str) -> None:
    from reverie.training import distributed as dd
    from reverie.training import distributed_runs
    from reverie.training.actor_critic import A2CConfig
    from reverie.training.runs import TrainConfig

    torch.set_num_threads(1)
    world = dd.init_world()
    seed = dd.rank_seed(0, world.rank)
    results = {}
    for case in cases:
        env, policy = build(case, seed, case["num_envs"])
        trainer = dd.DistributedA2C(policy, env, world, A2CConfig(**case["a2c"]), total_frames=10_000, seed=seed)
        levels = env.level_index.clone()
        weights, frames = [], []
        for _ in range(case["updates"]):
            trainer.train_step()
            weights.append(flat(policy))
            frames.append(trainer.frames)
        results[case["name"]] = {"weights": weights, "frames": frames, "levels": levels}
    torch.save(results, out)
    distributed_runs.resume(resume_dir, progress=False)
    distributed_runs.train(TrainConfig(**run), A2CConfig(), progress=False)
    dd.shutdown(world)


if __name__ == "__main__":
    main(sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3]), sys.argv[4])
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # skip the interpreter's slow teardown of torch (seconds on a busy machine)
