#!/usr/bin/env python3
"""How fast reverie's Sokoban is: env steps/s, generator levels/s, solver times.

    python benchmarks/sokoban_throughput.py                     # the full run (~3 min)
    python benchmarks/sokoban_throughput.py --quick             # a smoke run (~30 s)
    python benchmarks/sokoban_throughput.py --gym-sokoban-python /tmp/gs-venv/bin/python

Env throughput: random actions on 10x10 Boxoban levels (or generated 10x10/4 levels when
no Boxoban folder is found), auto-reset on, for several batch sizes, both observation kinds,
with the default ``copy_obs=True`` (each step returns a fresh tensor) and ``copy_obs=False``
(the env's own buffer). The gym-sokoban reference runs in its own virtual env (it needs the
old ``gym``), through ``benchmarks/gym_sokoban_reference.py``.

Writes ``benchmarks/results/sokoban_throughput.json`` and the table between the
``sokoban-throughput`` markers of ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

from common import boxoban_levels, cpu_name, write_section
from reverie.envs.sokoban import SokobanVecEnv, generate_levels, load_boxoban, solve
from reverie.envs.sokoban.solver import SolverTimeout

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "boxoban"


def env_throughput(bank, batch: int, observation: str, copy_obs: bool, seconds: float) -> float:
    """Env steps per second (frames per second for RGB), auto-reset included."""
    env = SokobanVecEnv(bank, batch, observation=observation, seed=0, copy_obs=copy_obs)
    env.reset()
    actions = torch.randint(0, 5, (64, batch), generator=torch.Generator().manual_seed(0))
    for i in range(5):
        env.step(actions[i])
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        env.step(actions[steps % 64])
        steps += 1
    return steps * batch / (time.perf_counter() - start)


def generator_speed(n: int, height: int, width: int, boxes: int) -> float:
    """Milliseconds per generated level (amortised over a batch of n)."""
    generate_levels(8, height, width, boxes, seed=123)  # warm-up
    start = time.perf_counter()
    generate_levels(n, height, width, boxes, seed=0)
    return 1000 * (time.perf_counter() - start) / n


def solver_times(levels, time_limit: float) -> dict:
    times, timeouts = [], 0
    for level in levels:
        try:
            solution = solve(level, time_limit=time_limit)
        except SolverTimeout:
            timeouts += 1
            continue
        if solution is not None:
            times.append(solution.seconds)
    times.sort()
    return {
        "levels": len(levels), "solved": len(times), "timeouts": timeouts, "time_limit_s": time_limit,
        "median_ms": round(1000 * statistics.median(times), 2) if times else None,
        "p90_ms": round(1000 * times[int(0.9 * (len(times) - 1))], 2) if times else None,
        "max_ms": round(1000 * times[-1], 2) if times else None,
    }


def gym_sokoban(python: str, levels: int) -> dict | None:
    script = ROOT / "benchmarks" / "gym_sokoban_reference.py"
    out = subprocess.run([python, str(script), "--levels", str(levels), "--steps", "2000"],
                         capture_output=True, text=True, timeout=1800)
    if out.returncode != 0:
        print(f"gym-sokoban reference failed:\n{out.stderr[-2000:]}", file=sys.stderr)
        return None
    return json.loads(out.stdout)


def markdown(result: dict) -> str:
    env_rows = "\n".join(
        f"| {r['observation']} | {r['batch']:,} | {r['copy_obs']} | {r['steps_per_s']:,.0f} |"
        for r in result["env"]
    )
    gen = result["generator"]
    solver = result["solver"]
    lines = [
        f"Measured {result['date']} on {result['machine']} (torch {result['torch']}, "
        f"{result['threads']} threads), with `{result['command']}`.",
        "",
        f"Env steps/s, random actions, auto-reset on, levels: {result['env_levels']}.",
        "",
        "| observation | batch | copy_obs | steps/s |",
        "|---|---:|---|---:|",
        env_rows,
        "",
        "| generator (paper's procedure) | ms per level |",
        "|---|---:|",
        *(f"| {k} | {v:.2f} |" for k, v in gen.items()),
        "",
        "| solver (push-optimal A*) | solved | median ms | p90 ms | max ms |",
        "|---|---:|---:|---:|---:|",
        *(f"| {k} | {v['solved']}/{v['levels']} | {v['median_ms']} | {v['p90_ms']} | {v['max_ms']} |"
          for k, v in solver.items()),
    ]
    ref = result.get("gym_sokoban")
    if ref:
        g = ref["generation"]["10x10_4boxes"]
        ours = gen["10x10, 4 boxes"] / 1000
        lines += [
            "",
            f"gym-sokoban {ref['versions']['gym-sokoban']} in the same run: "
            f"{g['mean_s_per_level']:.2f} s per 10x10/4 level (wall; CPU {g['cpu_mean_s_per_level']:.2f} s, "
            f"{g['levels']} levels), so reverie's generator is "
            f"**{g['mean_s_per_level'] / ours:,.0f}x** faster (CPU: {g['cpu_mean_s_per_level'] / ours:,.0f}x). "
            f"Its env: {ref['env_steps']['results']['rgb_array']['steps_per_s']:,.0f} steps/s with RGB, "
            f"{ref['env_steps']['results']['tiny_rgb_array']['steps_per_s']:,.0f} with its 10x10 output.",
        ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short timings, fewer sizes")
    parser.add_argument("--levels", default=None, help="Boxoban folder (default: $REVERIE_BOXOBAN, ~/.local/share/reverie/boxoban-levels "
                        "or ../shared/boxoban-levels)")
    parser.add_argument("--gym-sokoban-python", help="python of a venv with gym-sokoban installed")
    parser.add_argument("--gym-sokoban-levels", type=int, default=5)
    parser.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "sokoban_throughput.json"))
    parser.add_argument("--no-docs", action="store_true", help="do not update docs/benchmarks.md")
    args = parser.parse_args()

    boxoban = Path(args.levels) if args.levels else (boxoban_levels() or FIXTURES)
    train = boxoban / "unfiltered" / "train"
    if train.exists():
        bank, bank_name = load_boxoban(train), f"Boxoban unfiltered/train ({train})"
    else:
        bank, bank_name = generate_levels(1000, 10, 10, 4, seed=0), "1,000 generated 10x10/4 levels"
    seconds = 0.3 if args.quick else 1.5
    batches = [1024, 4096] if args.quick else [256, 1024, 4096, 16384]
    env_rows = []
    for observation in ("symbolic", "rgb"):
        for batch in batches:
            for copy_obs in (True, False):
                rate = env_throughput(bank, batch, observation, copy_obs, seconds)
                env_rows.append({"observation": observation, "batch": batch, "copy_obs": copy_obs,
                                 "steps_per_s": round(rate)})
                print(f"env {observation:8s} batch {batch:6d} copy_obs={copy_obs!s:5s} {rate:12,.0f} steps/s", flush=True)

    n = 200 if args.quick else 2000
    gen = {"10x10, 4 boxes": generator_speed(n, 10, 10, 4), "7x7, 2 boxes": generator_speed(n, 7, 7, 2)}
    for k, v in gen.items():
        print(f"generator {k}: {v:.2f} ms/level", flush=True)

    test_levels = list(load_boxoban(boxoban / "unfiltered" / "test"))
    hard = list(load_boxoban(boxoban / "hard"))
    count = 100 if args.quick else 1000
    solver = {
        "generated 7x7, 2 boxes": solver_times(list(generate_levels(count // 5, 7, 7, 2, seed=1)), 10.0),
        "generated 10x10, 4 boxes": solver_times(list(generate_levels(count // 5, 10, 10, 4, seed=1)), 10.0),
        "Boxoban unfiltered/test": solver_times(test_levels[:count], 10.0),
        "Boxoban hard (first 500)": solver_times(hard[: count // 2], 10.0),
    }
    for k, v in solver.items():
        print(f"solver {k}: {v}", flush=True)

    command = "python benchmarks/sokoban_throughput.py" + (" --quick" if args.quick else "")
    if args.gym_sokoban_python:
        command += " --gym-sokoban-python <venv>/bin/python"
    result = {
        "date": datetime.date.today().isoformat(),
        "machine": f"{os.cpu_count()} CPU cores, {cpu_name()}, no GPU",
        "torch": torch.__version__, "threads": torch.get_num_threads(),
        "command": command, "env_levels": bank_name,
        "env": env_rows, "generator": {k: round(v, 3) for k, v in gen.items()}, "solver": solver,
    }
    if args.gym_sokoban_python:
        result["gym_sokoban"] = gym_sokoban(args.gym_sokoban_python, args.gym_sokoban_levels)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    table = markdown(result)
    print(table)
    if not args.no_docs:
        write_section("sokoban-throughput", table, "Sokoban: environment, generator, solver")


if __name__ == "__main__":
    main()
