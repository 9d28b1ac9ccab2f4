#!/usr/bin/env python3
"""How fast Atari Breakout from pixels runs here: the adapter's steps/s and A2C's training frames/s.

    python benchmarks/atari_throughput.py            # ~1 min
    python benchmarks/atari_throughput.py --docs     # also write the table into docs/benchmarks.md

``env``: agent steps/s of ``atari-breakout`` (ale-py's C++ vector env, frame skip 4: each step is
4 emulator frames) under random actions, per batch size and ale-py thread count, best of
``--repeats`` timings by the wall clock and by the CPU time of all the process's threads.
``a2c``: the standard agent (Nature CNN) training on 16 envs, frames/s over ``--seconds``,
as ``reverie train`` would run it (one torch thread). ale-py is the test extra's
(``pip install -e ".[atari]"``). Writes ``benchmarks/results/atari_throughput.json``.
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

from common import cpu_name, time_training, write_section
from reverie.agents import build_agent
from reverie.envs.registry import get_spec, make_env
from reverie.training.actor_critic import A2C, A2CConfig

ROOT = Path(__file__).resolve().parents[1]


def env_row(batch: int, threads: int, steps: int, repeats: int) -> dict:
    env = make_env("atari-breakout", "train", batch, seed=0, threads=threads)
    env.reset()
    actions = torch.randint(0, 4, (64, batch), generator=torch.Generator().manual_seed(0))
    for i in range(20):
        env.step(actions[i % 64])
    wall, cpu = [], []
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        for i in range(steps):
            env.step(actions[i % 64])
        wall.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
    env.close()
    return {"batch": batch, "ale_threads": threads, "steps_per_s": round(batch * steps / min(wall)),
            "cpu_steps_per_s": round(batch * steps / min(cpu))}


def a2c_row(seconds: float) -> dict:
    spec = get_spec("atari-breakout")
    env = spec.make_env("train", 16, seed=0)
    torch.manual_seed(0)
    trainer = A2C(build_agent("standard", spec), env, A2CConfig(lr_schedule="constant"), seed=0)
    timing = time_training(trainer, seconds, warmup=3)
    return {"agent": "standard (Nature CNN)", "num_envs": 16, **timing}


def markdown(result: dict) -> str:
    rows = "\n".join(f"| {r['batch']} | {r['ale_threads'] or 'ale-py default'} | {r['steps_per_s']:,} | "
                     f"{4 * r['steps_per_s']:,} | {r['cpu_steps_per_s']:,} |" for r in result["env"])
    a2c = result["a2c"]
    return "\n".join([
        f"Measured {result['date']} on {result['machine']} (torch {result['torch']}), with `{result['command']}`: "
        "atari-breakout (84x84 grey, 2 stacked frames, frame skip 4), random actions; best of "
        f"{result['repeats']} timings of {result['steps']} steps.", "",
        "| envs | ale-py threads | agent steps/s | emulator frames/s | agent steps/s (CPU time) |",
        "|---:|---:|---:|---:|---:|", rows, "",
        f"A2C, {a2c['agent']}, {a2c['num_envs']} envs, one torch thread: {a2c['frames_per_s']:,.0f} agent steps/s "
        f"(wall clock; {a2c.get('cpu_frames_per_s', float('nan')):,.0f} by CPU time), {a2c['acting_share']:.0%} of "
        "the time acting. 10M agent steps, the usual Breakout budget, would take "
        f"{1e7 / a2c['frames_per_s'] / 3600:,.0f} hours here: the GPU's job.",
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=30.0, help="A2C timing")
    parser.add_argument("--docs", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = [env_row(b, t, args.steps, args.repeats) for b in args.batches for t in args.threads]
    for r in rows:
        print(r, flush=True)
    result = {"date": datetime.date.today().isoformat(), "machine": f"{os.cpu_count()} CPU cores, {cpu_name()}",
              "torch": torch.__version__, "command": "python benchmarks/atari_throughput.py " + " ".join(sys.argv[1:]),
              "steps": args.steps, "repeats": args.repeats, "env": rows, "a2c": a2c_row(args.seconds)}
    path = ROOT / "benchmarks" / "results" / "atari_throughput.json"
    path.write_text(json.dumps(result, indent=1) + "\n")
    table = markdown(result)
    print(table)
    if args.docs:
        write_section("atari-throughput", table, "Atari Breakout from pixels: steps/s")


if __name__ == "__main__":
    main()
