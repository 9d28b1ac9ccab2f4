#!/usr/bin/env python3
"""How fast reverie's MiniPacman is: env steps/s on one CPU thread, random actions, auto-reset on.

    python benchmarks/minipacman_throughput.py                  # batches 256, 1,024, 4,096 (~1 min)
    python benchmarks/minipacman_throughput.py --quick          # a smoke run (~10 s)
    python benchmarks/minipacman_throughput.py --batches 1024 --steps 400 --repeats 9
    python benchmarks/minipacman_throughput.py --profile        # the top kernels of a step at batch 1,024

Both observations (``symbolic``: six planes; ``rgb``: the paper's frame), each step returning a
fresh observation tensor. The machine is shared and noisy, so each figure is the best of
``--repeats`` timings of ``--steps`` steps, by the wall clock and by the CPU time the process
got (``cpu_steps_per_s``: what an idle core would give); ``anchor_us`` times a fixed copy of one
batch of symbolic frames in the same run, and ``per_anchor`` (step time / anchor time) is the
figure to compare between runs on different or busy machines. ``vs_released`` divides by the
released PillEater code's ~2,900 steps/s on one core (REFERENCE.md section 3).

Writes ``benchmarks/results/minipacman_throughput.json`` and prints a markdown table
(``--docs`` also writes it between the ``minipacman-throughput`` markers of docs/benchmarks.md).
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

import torch

from common import cpu_name, write_section
from reverie.envs.registry import make_env

ROOT = Path(__file__).resolve().parents[1]
RELEASED_STEPS_PER_S = 2900
TARGETS = {"symbolic": 500_000, "rgb": 200_000}  # at batch 1,024, one thread


def anchor_us(batch: int, repeats: int) -> float:
    """Microseconds to copy one batch of symbolic frames: a yardstick of the machine's state."""
    x = torch.rand(batch, 6, 15, 19)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(20):
            x.clone()
        best = min(best, (time.perf_counter() - start) / 20)
    return best * 1e6


def env_throughput(task: str, batch: int, observation: str, steps: int, repeats: int, warmup: int) -> dict:
    """Best-of-``repeats`` env steps/s over ``steps`` steps (wall and CPU time), auto-reset included."""
    env = make_env(f"minipacman-{task}", "train", batch, seed=0, observation=observation)
    env.reset()
    actions = torch.randint(0, 5, (64, batch), generator=torch.Generator().manual_seed(0))
    for i in range(warmup):
        env.step(actions[i % 64])
    wall, cpu, ended = [], [], 0
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        for i in range(steps):
            ended += env.step(actions[i % 64])[4]["final_index"].numel()
        wall.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
    rate = lambda seconds: batch * steps / max(seconds, 1e-9)  # noqa: E731
    return {"observation": observation, "batch": batch, "steps": steps, "repeats": repeats,
            "steps_per_s": round(rate(min(wall))), "median_steps_per_s": round(rate(statistics.median(wall))),
            "cpu_steps_per_s": round(rate(min(cpu))), "us_per_step": round(1e6 * min(wall) / steps, 1),
            "episodes_ended_per_step": round(ended / (steps * repeats), 2)}


def profile(task: str, batch: int, observation: str) -> str:
    """The kernels one env step spends its time in (torch.profiler, 50 steps)."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    env = make_env(f"minipacman-{task}", "train", batch, seed=0, observation=observation)
    env.reset()
    actions = torch.randint(0, 5, (64, batch), generator=torch.Generator().manual_seed(0))
    for i in range(20):
        env.step(actions[i % 64])
    with torch_profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        for i in range(50):
            env.step(actions[i % 64])
    return prof.key_averages(group_by_input_shape=True).table(sort_by="self_cpu_time_total", row_limit=25)


def markdown(result: dict) -> str:
    rows = "\n".join(
        f"| {r['observation']} | {r['batch']:,} | {r['steps_per_s']:,} | {r['median_steps_per_s']:,} | "
        f"{r['cpu_steps_per_s']:,} | {r['us_per_step']:,} | {r['per_anchor']} | {r['vs_released']:,}x |"
        for r in result["env"])
    return "\n".join([
        f"Measured {result['date']} on {result['machine']} (torch {result['torch']}, {result['threads']} thread(s)), "
        f"with `{result['command']}`: MiniPacman ({result['task']}), random actions, auto-reset on, a fresh "
        f"observation each step; best of {result['repeats']} timings of {result['steps']} steps. "
        f"Anchor (copy of 1,024 symbolic frames): {result['anchor_us']} us.",
        "",
        "| observation | batch | steps/s (best) | steps/s (median) | steps/s (CPU time) | us/step | step/anchor | vs released |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
        rows,
        "",
        "Targets at batch 1,024 (met where the wall-clock best or the CPU-time figure, what an idle core "
        "gives, reaches them; on a shared machine the CPU-time figure is the fairer one): " + ", ".join(
            f"{k} >= {v:,} ({'met' if result['targets'][k]['met'] else 'not met'}: wall-clock best "
            f"{result['targets'][k]['steps_per_s']:,}, CPU time {result['targets'][k]['cpu_steps_per_s']:,})"
            for k, v in TARGETS.items() if k in result["targets"]) + ".",
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, nargs="+", default=None, help="batch sizes (default 256 1024 4096)")
    parser.add_argument("--observations", nargs="+", default=["symbolic", "rgb"], choices=["symbolic", "rgb"])
    parser.add_argument("--steps", type=int, default=None, help="steps per timing (default 200; --quick 50)")
    parser.add_argument("--repeats", type=int, default=None, help="timings per figure, the best counts (default 7)")
    parser.add_argument("--task", default="regular", choices=["regular", "avoid", "hunt", "ambush", "rush"])
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--quick", action="store_true", help="short timings")
    parser.add_argument("--profile", action="store_true", help="print the top kernels of a step at batch 1,024")
    parser.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "minipacman_throughput.json"))
    parser.add_argument("--docs", action="store_true", help="also write the table into docs/benchmarks.md")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    batches = args.batches or ([1024] if args.quick else [256, 1024, 4096])
    steps = args.steps or (50 if args.quick else 200)
    repeats = args.repeats or (3 if args.quick else 7)
    if args.profile:
        for observation in args.observations:
            print(f"## {observation}, batch 1,024\n{profile(args.task, 1024, observation)}", flush=True)
    anchor = anchor_us(1024, repeats)
    rows = []
    for observation in args.observations:
        for batch in batches:
            row = env_throughput(args.task, batch, observation, steps, repeats, warmup=max(20, steps // 4))
            row["per_anchor"] = round(row["us_per_step"] / anchor, 2)
            row["vs_released"] = round(row["steps_per_s"] / RELEASED_STEPS_PER_S)
            rows.append(row)
            print(f"{observation:8s} batch {batch:6d}  {row['steps_per_s']:>11,} steps/s best  "
                  f"{row['median_steps_per_s']:>11,} median  {row['cpu_steps_per_s']:>11,} CPU-time", flush=True)
    targets = {}
    for observation, target in TARGETS.items():
        hit = [r for r in rows if r["observation"] == observation and r["batch"] == 1024]
        if hit:
            targets[observation] = {"target": target, "steps_per_s": hit[0]["steps_per_s"],
                                    "cpu_steps_per_s": hit[0]["cpu_steps_per_s"],
                                    "met": max(hit[0]["steps_per_s"], hit[0]["cpu_steps_per_s"]) >= target}
    command = "python benchmarks/minipacman_throughput.py " + " ".join(sys.argv[1:])
    result = {"date": datetime.date.today().isoformat(), "machine": f"{os.cpu_count()} CPU cores, {cpu_name()}",
              "torch": torch.__version__, "threads": torch.get_num_threads(), "command": command, "task": args.task,
              "steps": steps, "repeats": repeats, "anchor_us": round(anchor, 1), "env": rows, "targets": targets}
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    table = markdown(result)
    print(table)
    if args.docs:
        write_section("minipacman-throughput", table, "MiniPacman: environment steps/s")


if __name__ == "__main__":
    main()
