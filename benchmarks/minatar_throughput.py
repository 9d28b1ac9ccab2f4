#!/usr/bin/env python3
"""How fast reverie's MinAtar Breakout is, beside the ``minatar`` package in the same run.

    python benchmarks/minatar_throughput.py                 # batches 1, 256, 1,024, 4,096 (~1 min)
    python benchmarks/minatar_throughput.py --quick         # a smoke run (~10 s)
    python benchmarks/minatar_throughput.py --docs          # also write the table into docs/benchmarks.md

Random actions, MinAtar's sticky actions (0.1), auto-reset on, a fresh observation tensor
every step, one CPU thread. The package is timed the way its Gymnasium wrapper plays a game:
``act`` then ``state()`` (the observation), a reset where the game ended; ``pip install
minatar==1.0.15`` (the test extra) for that column. The machine is shared and noisy, so each
figure is the best of ``--repeats`` timings, by the wall clock and by the CPU time the process
got (``cpu_steps_per_s``: what an idle core gives); the ratio to the package is taken between
figures of the same run.

Writes ``benchmarks/results/minatar_throughput.json`` and prints a markdown table.
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

import numpy as np
import torch

from common import cpu_name, write_section
from reverie.envs.registry import make_env

ROOT = Path(__file__).resolve().parents[1]
TARGET = 1_000_000  # steps/s at batch 1,024, one thread


def best_of(run, repeats: int) -> tuple[float, float, float]:
    """Best and median wall-clock seconds and best CPU seconds of ``repeats`` calls of ``run``."""
    wall, cpu = [], []
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        run()
        wall.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
    return min(wall), statistics.median(wall), min(cpu)


def reverie_row(batch: int, steps: int, repeats: int, sticky: float) -> dict:
    env = make_env("minatar-breakout", "train", batch, seed=0, sticky=sticky)
    env.reset()
    actions = torch.randint(0, 3, (64, batch), generator=torch.Generator().manual_seed(0))
    for i in range(max(20, steps // 4)):
        env.step(actions[i % 64])

    def run():
        for i in range(steps):
            env.step(actions[i % 64])

    best, median, cpu = best_of(run, repeats)
    frames = batch * steps
    return {"impl": "reverie", "batch": batch, "steps_per_s": round(frames / best),
            "median_steps_per_s": round(frames / median), "cpu_steps_per_s": round(frames / cpu)}


def package_row(steps: int, repeats: int, sticky: float) -> dict | None:
    try:
        import minatar
    except ImportError:
        return None
    game = minatar.Environment("breakout", sticky_action_prob=sticky)
    game.seed(0)
    game.reset()
    actions = np.random.default_rng(0).choice((0, 1, 3), size=steps)

    def run():
        for a in actions:
            _, done = game.act(int(a))
            game.state()
            if done:
                game.reset()

    best, median, cpu = best_of(run, repeats)
    return {"impl": f"minatar {getattr(minatar, '__version__', '1.0.15')} (one game)", "batch": 1,
            "steps_per_s": round(steps / best), "median_steps_per_s": round(steps / median),
            "cpu_steps_per_s": round(steps / cpu)}


def markdown(result: dict) -> str:
    package = next((r for r in result["rows"] if r["impl"] != "reverie"), None)
    rows = []
    for r in result["rows"]:
        ratio = f"{r['cpu_steps_per_s'] / package['cpu_steps_per_s']:.3g}x" if package else "-"
        rows.append(f"| {r['impl']} | {r['batch']:,} | {r['steps_per_s']:,} | {r['median_steps_per_s']:,} | "
                    f"{r['cpu_steps_per_s']:,} | {ratio} |")
    target = result["target"]
    return "\n".join([
        f"Measured {result['date']} on {result['machine']} (torch {result['torch']}, one thread), with "
        f"`{result['command']}`: random actions, sticky actions {result['sticky']}, auto-reset, a fresh observation "
        f"every step; best of {result['repeats']} timings of {result['steps']} steps (the package: "
        f"{result['package_steps']:,} steps).",
        "",
        "| implementation | batch | steps/s (best) | steps/s (median) | steps/s (CPU time) | vs package (CPU time) |",
        "|---|---:|---:|---:|---:|---:|",
        *rows,
        "",
        f"Target at batch 1,024: >= {TARGET:,} steps/s ({'met' if target['met'] else 'not met'}: wall-clock best "
        f"{target['steps_per_s']:,}, CPU time {target['cpu_steps_per_s']:,}).",
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, nargs="+", default=None, help="default 1 256 1024 4096")
    parser.add_argument("--steps", type=int, default=None, help="steps per timing (default 200; --quick 50)")
    parser.add_argument("--repeats", type=int, default=None, help="timings per figure (default 7; --quick 3)")
    parser.add_argument("--sticky", type=float, default=0.1)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "minatar_throughput.json"))
    parser.add_argument("--docs", action="store_true", help="also write the table into docs/benchmarks.md")
    args = parser.parse_args()
    torch.set_num_threads(1)
    batches = args.batches or ([1024] if args.quick else [1, 256, 1024, 4096])
    steps = args.steps or (50 if args.quick else 200)
    repeats = args.repeats or (3 if args.quick else 7)
    package_steps = 2_000 if args.quick else 20_000
    rows = [reverie_row(b, steps, repeats, args.sticky) for b in batches]
    package = package_row(package_steps, repeats, args.sticky)
    if package is not None:
        rows.append(package)
    for r in rows:
        print(f"{r['impl']:28s} batch {r['batch']:6d}  {r['steps_per_s']:>11,} steps/s best  "
              f"{r['cpu_steps_per_s']:>11,} CPU-time", flush=True)
    at = next((r for r in rows if r["impl"] == "reverie" and r["batch"] == 1024), None)
    target = {"steps_per_s": at["steps_per_s"] if at else 0, "cpu_steps_per_s": at["cpu_steps_per_s"] if at else 0}
    target["met"] = max(target.values()) >= TARGET
    result = {"date": datetime.date.today().isoformat(), "machine": f"{os.cpu_count()} CPU cores, {cpu_name()}",
              "torch": torch.__version__, "command": "python benchmarks/minatar_throughput.py " + " ".join(sys.argv[1:]),
              "sticky": args.sticky, "steps": steps, "package_steps": package_steps, "repeats": repeats,
              "rows": rows, "target": target}
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    table = markdown(result)
    print(table)
    if args.docs:
        write_section("minatar-throughput", table, "MinAtar Breakout: environment steps/s")


if __name__ == "__main__":
    main()
