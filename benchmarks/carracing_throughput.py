#!/usr/bin/env python3
"""How fast the ``carracing`` adapter steps (64x64 frames), beside Gymnasium's own CarRacing-v3 in the same run.

    python benchmarks/carracing_throughput.py            # batches 1, 4, 8 (~3 min on a busy 2-core machine)
    python benchmarks/carracing_throughput.py --quick    # a smoke run (~20 s)
    python benchmarks/carracing_throughput.py --docs     # also write the table into docs/carracing.md

Random actions within the bounds (steer in [-1, 1], gas and brake in [0, 1]), 1000-step
episodes with auto-reset, one torch thread (the area resize of a batch of frames; more threads
only fight over a shared machine's cores). Gymnasium is timed as one ``CarRacing-v3``
(``gym.make``, its wrappers, 96x96 frames, no resize) and as a ``SyncVectorEnv`` of the largest
batch. A new track costs far more than a step, so the reset (``reset_to``, one game) is timed
on its own. Box2D and Gymnasium's pygame drawing of each frame run in Python, one game after
another: steps/s grows little with the batch. Each figure is the best of ``--repeats`` timings,
by the wall clock and by the CPU time the process got (``cpu_steps_per_s``: what an idle core
gives).

Writes ``benchmarks/results/carracing_throughput.json`` and prints a markdown table.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import sys
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

from common import cpu_name, write_section
from reverie.envs.registry import make_env

ROOT = Path(__file__).resolve().parents[1]
LOW = np.array([-1.0, 0.0, 0.0], np.float32)
HIGH = np.array([1.0, 1.0, 1.0], np.float32)


def best_of(run, repeats: int) -> tuple[float, float, float]:
    """Best and median wall-clock seconds and best CPU seconds of ``repeats`` calls of ``run``."""
    wall, cpu = [], []
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        run()
        wall.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
    return min(wall), statistics.median(wall), min(cpu)


def row(impl: str, batch: int, frames: int, timing: tuple[float, float, float]) -> dict:
    best, median, cpu = timing
    return {"impl": impl, "batch": batch, "steps_per_s": round(frames / best, 1),
            "median_steps_per_s": round(frames / median, 1), "cpu_steps_per_s": round(frames / cpu, 1)}


def random_actions(steps: int, batch: int) -> np.ndarray:
    return np.random.default_rng(0).uniform(LOW, HIGH, (steps, batch, 3)).astype(np.float32)


def reverie_row(batch: int, steps: int, repeats: int) -> dict:
    env = make_env("carracing", "train", batch, seed=0)
    env.reset()
    actions = torch.from_numpy(random_actions(steps, batch))
    for a in actions[:10]:
        env.step(a)

    def run():
        for a in actions:
            env.step(a)

    return row("reverie carracing 64x64", batch, batch * steps, best_of(run, repeats))


def reset_row(repeats: int) -> dict:
    env = make_env("carracing", "train", 1, seed=0)
    episodes = iter(range(10_000))

    def run():
        for _ in range(5):
            env.reset_to(torch.tensor([next(episodes)]))

    best, median, cpu = best_of(run, repeats)
    return {"impl": "reverie carracing reset_to (a new track)", "batch": 1, "resets_per_s": round(5 / best, 1),
            "median_resets_per_s": round(5 / median, 1), "cpu_resets_per_s": round(5 / cpu, 1)}


def gym_row(batch: int, steps: int, repeats: int) -> dict:
    actions = random_actions(steps, batch)
    if batch == 1:
        env = gym.make("CarRacing-v3", disable_env_checker=True)
        env.reset(seed=0)

        def run():
            for a in actions:
                _, _, terminated, truncated, _ = env.step(a[0])
                if terminated or truncated:
                    env.reset()
        name = "gymnasium CarRacing-v3 96x96"
    else:
        env = gym.make_vec("CarRacing-v3", num_envs=batch, vectorization_mode="sync")
        env.reset(seed=0)

        def run():
            for a in actions:
                env.step(a)
        name = "gymnasium CarRacing-v3 96x96 (SyncVectorEnv)"
    return row(f"{name} {gym.__version__}", batch, batch * steps, best_of(run, repeats))


def markdown(result: dict) -> str:
    rows = [r for r in result["rows"] if "steps_per_s" in r]
    reset = next(r for r in result["rows"] if "resets_per_s" in r)
    lines = [f"| {r['impl']} | {r['batch']} | {r['steps_per_s']:,.0f} | {r['median_steps_per_s']:,.0f} | "
             f"{r['cpu_steps_per_s']:,.0f} |" for r in rows]
    return "\n".join([
        f"Measured {result['date']} on {result['machine']} (torch {result['torch']}, one thread; Gymnasium "
        f"{result['gymnasium']}, Box2D {result['box2d']}; load average {result['load_average']} while it ran: "
        f"a shared machine), with `{result['command']}`: random actions, 1000-step episodes, auto-reset; best of "
        f"{result['repeats']} timings of {result['steps']} batch steps. Steps/s count env steps (batch x batch "
        f"steps). A new track (`reset_to`, one game) takes {1000 / reset['resets_per_s']:,.0f} ms "
        f"({1000 / reset['cpu_resets_per_s']:,.0f} ms of CPU time).",
        "",
        "| implementation | batch | steps/s (best) | steps/s (median) | steps/s (CPU time) |",
        "|---|---:|---:|---:|---:|",
        *lines,
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, nargs="+", default=None, help="default 1 4 8")
    parser.add_argument("--steps", type=int, default=None, help="batch steps per timing (default 200; --quick 20)")
    parser.add_argument("--repeats", type=int, default=None, help="timings per figure (default 3; --quick 1)")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "carracing_throughput.json"))
    parser.add_argument("--docs", action="store_true", help="also write the table into docs/carracing.md")
    args = parser.parse_args()
    torch.set_num_threads(1)
    batches = args.batches or ([1, 4] if args.quick else [1, 4, 8])
    steps = args.steps or (20 if args.quick else 200)
    repeats = args.repeats or (1 if args.quick else 3)
    rows = [reverie_row(b, steps, repeats) for b in batches]
    rows.append(gym_row(1, steps * 5, repeats))
    if not args.quick:
        rows.append(gym_row(max(batches), steps, repeats))
    rows.append(reset_row(repeats))
    for r in rows:
        print(r, flush=True)
    import Box2D

    result = {"date": datetime.date.today().isoformat(), "machine": f"{os.cpu_count()} CPU cores, {cpu_name()}",
              "torch": torch.__version__, "gymnasium": gym.__version__, "box2d": Box2D.__version__,
              "command": " ".join(["python benchmarks/carracing_throughput.py", *sys.argv[1:]]),
              "load_average": round(os.getloadavg()[0], 1), "steps": steps, "repeats": repeats, "rows": rows}
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    table = markdown(result)
    print(table)
    if args.docs:
        write_section("carracing-throughput", table, "Steps/s of the adapter (`benchmarks/carracing_throughput.py`)",
                      path=ROOT / "docs" / "carracing.md")


if __name__ == "__main__":
    main()
