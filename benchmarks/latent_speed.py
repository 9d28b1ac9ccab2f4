#!/usr/bin/env python3
"""How fast reverie's Dreamer loop runs on this CPU, beside the ~1.4 env steps/s that a public
PyTorch DreamerV3 reaches on a desktop CPU (REFERENCE.md section 6).

    python benchmarks/latent_speed.py            # ~3 minutes
    python benchmarks/latent_speed.py --quick    # a smoke run

For each model size: gradient steps/s of one Dreamer update (the RSSM's sequence loss and
step, then the actor and critic on imagined trajectories from every posterior state) on
batches of 16 sequences x 64 steps, the imagined-trajectory throughput, and the env steps/s the
loop can sustain at a replay ratio (replayed steps trained per env step) of 32 (reverie's CPU
runs) and 512 (DreamerV3's default, at which the 1.4 steps/s was measured). PlaNet's planning
cost is timed too: one CEM decision (population x iterations x horizon imagined steps).

Writes ``benchmarks/results/latent_speed.json`` and the ``latent-speed`` section of
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import time
from pathlib import Path

import torch

from common import cpu_name, write_section
from reverie.envs.registry import get_spec
from reverie.models.latent import RSSMConfig
from reverie.agents.dreamer import DreamerConfig
from reverie.planning.cem import CEMConfig
from reverie.workflows.latent_runs import Actions, LatentRun

ROOT = Path(__file__).resolve().parents[1]
SIZES = {
    # reverie's CPU preset (the MinAtar and Pendulum runs)
    "cpu": dict(deter=128, hidden=128, groups=8, classes=8, depth=16, embed=128),
    # DreamerV3's size S (deter 512, 32 x 16 latents, 512-wide MLPs, 32-channel CNN)
    "dreamerv3-S": dict(deter=512, hidden=512, groups=32, classes=16, depth=32, embed=512),
}


def sequences(spec, actions: Actions, batch: int, length: int) -> dict[str, torch.Tensor]:
    env = spec.make_env("train", batch, seed=0)
    obs, _ = env.reset(seed=0)
    rows = []
    for _ in range(length):
        action = actions.random(batch)
        obs, reward, terminated, _, _ = env.step(actions.to_env(action))
        rows.append((obs, action, reward.float(), (~terminated).float()))
    first = torch.zeros(batch, length, dtype=torch.bool)
    first[:, 0] = True
    return {"obs": torch.stack([r[0] for r in rows], 1).float(), "action": torch.stack([r[1] for r in rows], 1),
            "reward": torch.stack([r[2] for r in rows], 1), "cont": torch.stack([r[3] for r in rows], 1),
            "is_first": first}


def time_updates(run: LatentRun, batch: dict, seconds: float) -> float:
    run.train_step(batch, 1000.0)                        # warm-up
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        run.train_step(batch, 1000.0)
        count += 1
    return count / (time.perf_counter() - start)


def time_planning(spec, size: dict, decisions: int) -> float:
    actions = Actions(spec, torch.device("cpu"))
    run = LatentRun("planet", spec, actions, RSSMConfig(**size), DreamerConfig(),
                    CEMConfig(horizon=12, action_repeat=1, population=300, elites=30, iterations=6), 3e-4, 0)
    state = run.model.initial(1, "cpu")
    run.act(state)
    start = time.perf_counter()
    for _ in range(decisions):
        run.act(state)
    return decisions / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="minatar-breakout")
    parser.add_argument("--planning-env", default="pendulum-pixels")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    seconds = 3.0 if args.quick else 40.0
    spec = get_spec(args.env)
    actions = Actions(spec, torch.device("cpu"))
    batch, length = (4, 16) if args.quick else (16, 64)
    data = sequences(spec, actions, batch, length)
    rows = []
    for name, size in SIZES.items():
        run = LatentRun("dreamer", spec, actions, RSSMConfig(**size), DreamerConfig(hidden=size["hidden"]),
                        CEMConfig(), 3e-4, 0)
        params = sum(p.numel() for p in run.model.parameters())
        behaviour = sum(p.numel() for p in (*run.behavior.actor.parameters(), *run.behavior.critic.parameters()))
        rate = time_updates(run, data, seconds)
        replayed = batch * length
        rows.append({"size": name, "world_model_parameters": params, "actor_critic_parameters": behaviour,
                     "gradient_steps_per_s": rate, "imagined_steps_per_s": rate * replayed * 15,
                     "env_steps_per_s_ratio_32": rate * replayed / 32, "env_steps_per_s_ratio_512": rate * replayed / 512})
        print(rows[-1])
    planning = None
    try:
        planning = {"env": args.planning_env, "decisions_per_s": time_planning(get_spec(args.planning_env), SIZES["cpu"],
                                                                            2 if args.quick else 20)}
    except Exception as err:  # the env may not be installed in this checkout
        print(f"planning not timed: {err}")
    result = {"date": datetime.date.today().isoformat(), "machine": f"{os.cpu_count()} CPU cores ({cpu_name()})",
              "torch": torch.__version__, "threads": 1, "command": "python benchmarks/latent_speed.py " +
              " ".join(sys.argv[1:]), "env": args.env, "batch": batch, "length": length, "horizon": 15,
              "rows": rows, "planning": planning}
    text = markdown(result)
    print(text)
    if not args.quick:
        (ROOT / "benchmarks" / "results" / "latent_speed.json").write_text(json.dumps(result, indent=1) + "\n")
        write_section("latent-speed", text, "Latent world models: the Dreamer loop's speed (`benchmarks/latent_speed.py`)")


def markdown(result: dict) -> str:
    lines = [f"`{result['command']}` on {result['date']}; {result['machine']}, torch {result['torch']}, one thread. "
             f"One Dreamer update = the RSSM's loss and step on {result['batch']} sequences x {result['length']} "
             f"steps of `{result['env']}`, then the actor and critic on {result['horizon']}-step imagined "
             f"trajectories from every posterior state.", "",
             "| model size | world model parameters | actor + critic parameters | gradient steps/s | "
             "imagined steps/s | env steps/s at replay ratio 32 | at ratio 512 (DreamerV3's) |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for r in result["rows"]:
        lines.append(f"| {r['size']} | {r['world_model_parameters']:,} | {r['actor_critic_parameters']:,} | "
                     f"{r['gradient_steps_per_s']:.2f} | {r['imagined_steps_per_s']:,.0f} | "
                     f"{r['env_steps_per_s_ratio_32']:,.1f} | {r['env_steps_per_s_ratio_512']:,.1f} |")
    lines += ["", "A public PyTorch DreamerV3 reaches ~1.4 env steps/s on a desktop CPU at its default replay "
              "ratio (REFERENCE.md section 6; 100k steps in ~20 h)."]
    if result.get("planning"):
        p = result["planning"]
        lines.append(f"PlaNet's CEM (population 300, 6 iterations, horizon 12, cpu size) makes "
                     f"{p['decisions_per_s']:.1f} decisions/s on `{p['env']}`.")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
