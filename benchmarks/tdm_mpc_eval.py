"""Greedy evaluation of a finished TDM run with MPC over its Q instead of its actor.

Why: TDM's Q(s, a, g, T) scores any action toward the goal, so one trained run gives two
controllers: the actor pi(s, g, T_max) (what the run's own evaluations use) and MPC that
takes, each step, the best of a grid of candidate actions and the actor's by Q at T_max.
This loads the run's checkpoint, switches ``--tdm-mpc-grid`` on and plays the same fixed
evaluation episodes (``EVAL_SEED + i``) as the run, so the two are directly comparable.

    python benchmarks/tdm_mpc_eval.py runs/offpolicy-parking-tdm --grid 9 --episodes 20
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import torch

from reverie.core.checkpoint import load_checkpoint
from reverie.training.offpolicy import OffPolicyTrainer
from reverie.training.offpolicy_runs import RUN_KIND, _configs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--grid", type=int, default=9, help="grid points per action axis (0 = the actor)")
    parser.add_argument("--horizon", type=int, default=None, help="T at which Q scores actions (default T_max)")
    parser.add_argument("--episodes", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(1)
    state = load_checkpoint(args.run_dir / "checkpoint.pt", kind=RUN_KIND)
    config, learner, model = _configs(state, args.run_dir)
    learner = dataclasses.replace(learner, tdm_mpc_grid=args.grid)
    trainer = OffPolicyTrainer(config, learner, model)
    trainer.learner.load_learner_state(state["trainer"]["learner"])
    if args.horizon is not None:
        trainer.learner.horizon_max = args.horizon  # acting horizon only; the feature scale is T / T_max
        trainer.learner.tau = lambda h, t_max=learner.tdm_horizon: h.float() / max(t_max, 1)
    start = time.perf_counter()
    out = trainer.evaluate(args.episodes)
    wall = time.perf_counter() - start
    trainer.task.close()
    print(json.dumps({"run_dir": str(args.run_dir), "steps": state["trainer"]["counters"]["steps"],
                      "grid": args.grid, "horizon": args.horizon or learner.tdm_horizon,
                      "success_rate": out.get("success_rate"), "mean_return": round(out["mean_return"], 2),
                      "mean_length": out["mean_length"], "wall_seconds": round(wall, 1)}))


if __name__ == "__main__":
    main()
