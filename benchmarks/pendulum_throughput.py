#!/usr/bin/env python3
"""How fast reverie's pendulum is (vector and pixel observations), beside Gymnasium's Pendulum-v1 in the same run.

    python benchmarks/pendulum_throughput.py              # batches 1, 64, 1,024 (~1 min)
    python benchmarks/pendulum_throughput.py --quick      # a smoke run (~10 s)
    python benchmarks/pendulum_throughput.py --docs       # also write the table into docs/benchmarks.md

Random torques in [-2, 2], 200-step episodes with auto-reset, a fresh observation tensor every
step, one CPU thread. ``pendulum-pixels`` renders 64x64 RGB frames (and 32x32 in one row).
Gymnasium is timed as one ``Pendulum-v1`` (``gym.make``, its TimeLimit, a reset where an
episode ends), as a ``SyncVectorEnv`` of 64 (Pendulum-v1 has no batched implementation) and,
where pygame is installed, as one env that renders every step (``rgb_array``, 500x500).
The machine is shared and noisy, so each figure is the best of ``--repeats`` timings, by the
wall clock and by the CPU time the process got (``cpu_steps_per_s``: what an idle core gives).

Writes ``benchmarks/results/pendulum_throughput.json`` and prints a markdown table.
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
    return {"impl": impl, "batch": batch, "steps_per_s": round(frames / best),
            "median_steps_per_s": round(frames / median), "cpu_steps_per_s": round(frames / cpu)}


def reverie_row(env_id: str, batch: int, steps: int, repeats: int, size: int | None = None) -> dict:
    env = make_env(env_id, "train", batch, seed=0, **({"size": size} if size else {}))
    env.reset()
    torques = torch.rand(64, batch, 1, generator=torch.Generator().manual_seed(0)) * 4 - 2
    for i in range(max(10, steps // 4)):
        env.step(torques[i % 64])

    def run():
        for i in range(steps):
            env.step(torques[i % 64])

    name = f"reverie {env_id}" + (f" {size}x{size}" if size else (" 64x64" if env_id.endswith("pixels") else ""))
    return row(name, batch, batch * steps, best_of(run, repeats))


def gym_row(batch: int, steps: int, repeats: int) -> dict:
    torques = np.random.default_rng(0).uniform(-2, 2, (steps, batch, 1)).astype(np.float32)
    if batch == 1:
        env = gym.make("Pendulum-v1", disable_env_checker=True)
        env.reset(seed=0)

        def run():
            for action in torques:
                _, _, terminated, truncated, _ = env.step(action[0])
                if terminated or truncated:
                    env.reset()
        name = "gymnasium Pendulum-v1"
    else:
        env = gym.make_vec("Pendulum-v1", num_envs=batch, vectorization_mode="sync")
        env.reset(seed=0)

        def run():
            for action in torques:
                env.step(action)
        name = "gymnasium Pendulum-v1 (SyncVectorEnv)"
    return row(f"{name} {gym.__version__}", batch, batch * steps, best_of(run, repeats))


def gym_pixels_row(steps: int, repeats: int) -> dict | None:
    """One Pendulum-v1 that also renders each step (``rgb_array``, 500x500, pygame): what pixels cost there."""
    try:
        import pygame  # noqa: F401
    except ImportError:
        return None
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    env = gym.make("Pendulum-v1", render_mode="rgb_array", disable_env_checker=True)
    env.reset(seed=0)
    torques = np.random.default_rng(0).uniform(-2, 2, (steps, 1)).astype(np.float32)

    def run():
        for action in torques:
            _, _, terminated, truncated, _ = env.step(action)
            env.render()
            if terminated or truncated:
                env.reset()

    return row(f"gymnasium Pendulum-v1 {gym.__version__} + render 500x500", 1, steps, best_of(run, repeats))


def markdown(result: dict) -> str:
    gym_one = next(r for r in result["rows"] if r["impl"].startswith("gymnasium") and r["batch"] == 1)
    rows = [f"| {r['impl']} | {r['batch']:,} | {r['steps_per_s']:,} | {r['median_steps_per_s']:,} | "
            f"{r['cpu_steps_per_s']:,} | {r['cpu_steps_per_s'] / gym_one['cpu_steps_per_s']:.3g}x |"
            for r in result["rows"]]
    return "\n".join([
        f"Measured {result['date']} on {result['machine']} (torch {result['torch']}, one thread; load average "
        f"{result['load_average']} while it ran), with `{result['command']}`: random torques, 200-step episodes, "
        f"auto-reset, a fresh observation every step; best of {result['repeats']} timings of {result['steps']} "
        f"batch steps (Gymnasium's single env: {result['gym_steps']:,} steps).",
        "",
        "| implementation | batch | steps/s (best) | steps/s (median) | steps/s (CPU time) | vs one Gymnasium env "
        "(CPU time) |",
        "|---|---:|---:|---:|---:|---:|",
        *rows,
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, nargs="+", default=None, help="default 1 64 1024")
    parser.add_argument("--steps", type=int, default=None, help="batch steps per timing (default 200; --quick 40)")
    parser.add_argument("--repeats", type=int, default=None, help="timings per figure (default 5; --quick 2)")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "pendulum_throughput.json"))
    parser.add_argument("--docs", action="store_true", help="also write the table into docs/benchmarks.md")
    args = parser.parse_args()
    torch.set_num_threads(1)
    batches = args.batches or ([64] if args.quick else [1, 64, 1024])
    steps = args.steps or (40 if args.quick else 200)
    repeats = args.repeats or (2 if args.quick else 5)
    gym_steps = 2_000 if args.quick else 20_000
    rows = [reverie_row("pendulum", b, steps, repeats) for b in batches]
    rows += [reverie_row("pendulum-pixels", b, steps, repeats) for b in batches]
    rows.append(reverie_row("pendulum-pixels", max(batches), steps, repeats, size=32))
    rows.append(gym_row(1, gym_steps, repeats))
    if not args.quick:
        rows.append(gym_row(64, steps, repeats))
        pixels = gym_pixels_row(1_000, repeats)
        if pixels is not None:
            rows.append(pixels)
    for r in rows:
        print(f"{r['impl']:48s} batch {r['batch']:6d}  {r['steps_per_s']:>11,} steps/s best  "
              f"{r['cpu_steps_per_s']:>11,} CPU-time", flush=True)
    result = {"date": datetime.date.today().isoformat(), "machine": f"{os.cpu_count()} CPU cores, {cpu_name()}",
              "torch": torch.__version__, "gymnasium": gym.__version__,
              "command": "python benchmarks/pendulum_throughput.py " + " ".join(sys.argv[1:]),
              "load_average": round(os.getloadavg()[0], 1), "steps": steps, "gym_steps": gym_steps,
              "repeats": repeats, "rows": rows}
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    table = markdown(result)
    print(table)
    if args.docs:
        write_section("pendulum-throughput", table, "Pendulum: environment steps/s (`benchmarks/pendulum_throughput.py`)")


if __name__ == "__main__":
    main()
