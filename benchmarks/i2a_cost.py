#!/usr/bin/env python3
"""What imagination costs: I2A's training wall-clock per frame against the standard agent.

    PYTHONPATH=src python benchmarks/i2a_cost.py              # the full run (~6 min)
    PYTHONPATH=src python benchmarks/i2a_cost.py --quick      # a smoke run (~1 min)

Each configuration times ``A2C.train_step()`` with the real trainer (64 envs, 5-step
rollouts, one torch thread): env steps, forward passes while acting, the returns, forward
and backward over the rollout and an RMSprop step, on the ``sokoban-7x7-2`` training levels
after a warm-up. The machine is shared and its speed drifts with the other jobs' load, so
each I2A configuration is paired with a run of the standard agent timed just before it, and
its cost is the ratio within the pair.

It then splits the default I2A's training CPU time into its parts (environment model, rollout
policy, encoder, model-free path, env steps, backward and optimizer step), timing each with
the thread's CPU clock so that the shares hold on a shared machine.

Writes ``benchmarks/results/i2a_cost.json`` and the tables between the ``i2a-cost`` markers
of ``docs/benchmarks.md``.
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

from common import cpu_name, rerun_command, time_training, write_section
from reverie.agents import build_agent, count_parameters
from reverie.envs.registry import make_env
from reverie.training.actor_critic import A2C, A2CConfig

ROOT = Path(__file__).resolve().parents[1]
HEADING = "I2A cost per frame"
ENV_ID = "sokoban-7x7-2"
NUM_ENVS = 64
VARIANTS = ("i2a", "i2a-perfect", "i2a-copy", "i2a-noreward")


def make_trainer(agent: str, options: dict) -> A2C:
    """The real A2C trainer for ``agent`` on the benchmark's env, one torch thread, seed 0."""
    torch.set_num_threads(1)
    env = make_env(ENV_ID, "train", NUM_ENVS, seed=0)
    torch.manual_seed(0)
    policy = build_agent(agent, env.spec, **options)
    return A2C(policy, env, A2CConfig(), total_frames=10**9, seed=0)


def measure(agent: str, options: dict, seconds: float, warmup: int = 5) -> dict:
    trainer = make_trainer(agent, options)
    policy = trainer.policy
    timing = time_training(trainer, seconds, warmup)
    length = policy.core.rollout_length if hasattr(policy, "core") else None
    row = {"agent": agent, "options": options, "rollout_length": length,
           "parameters": count_parameters(policy), **timing,
           "frames_per_s": round(timing["frames_per_s"], 1)}
    return row | cache_counts(policy)


def cache_counts(policy) -> dict:
    """The imagination cache's hits and misses over the timed updates, as the trainer logs them
    (``imagination/cache_hit``, ``imagination/cache_miss``: the agent's ``training_stats()`` since
    its last call, which the warm-up's ``train_step`` made), and the hit rate. Empty for agents
    without the cache (or with it off: ``cache_rows=0``)."""
    stats = getattr(policy, "training_stats", None)
    counts = stats() if callable(stats) else {}
    if "imagination/cache_hit" not in counts:
        return {}
    hits, misses = int(counts["imagination/cache_hit"]), int(counts["imagination/cache_miss"])
    return {"cache_hit": hits, "cache_miss": misses,
            "cache_hit_rate": round(hits / (hits + misses), 4) if hits + misses else None}


def hit_rate(row: dict) -> str:
    """The row's cache hit rate for the table; rows recorded before the rate was logged carry
    the cache's running ``cache_hits``/``cache_misses`` (warm-up included) instead."""
    if row.get("options", {}).get("cache_rows") == 0:
        return "off"
    hits, misses = row.get("cache_hit", row.get("cache_hits")), row.get("cache_miss", row.get("cache_misses"))
    if hits is None or misses is None:
        return "-"
    return f"{hits / (hits + misses):.0%} ({hits}/{hits + misses})" if hits + misses else "-"


class CpuClock:
    """CPU time (this thread's) spent inside wrapped callables, split by whether autograd was on.

    Thread CPU time, not wall-clock: it does not count the time other jobs held the core, so
    the shares hold on a shared machine."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def wrap(self, owner, name: str, label: str) -> None:
        inner = getattr(owner, name)

        def timed(*args, **kwargs):
            start = time.thread_time()
            try:
                return inner(*args, **kwargs)
            finally:
                key = f"{label}/{'grad' if torch.is_grad_enabled() else 'nograd'}"
                self.seconds[key] = self.seconds.get(key, 0.0) + time.thread_time() - start

        setattr(owner, name, timed)  # an instance attribute: shadows the method for this object only

    def get(self, key: str) -> float:
        return self.seconds.get(key, 0.0)


def breakdown(seconds: float, warmup: int = 5) -> dict:
    """Where the default I2A's training CPU time goes, per update (ms) and as shares."""
    trainer = make_trainer("i2a", {})
    policy = trainer.policy
    for _ in range(warmup):
        trainer.train_step()
    clock = CpuClock()
    clock.wrap(policy.core.env_model, "step", "model")
    if hasattr(policy.core.env_model, "step_every_action"):  # the forced first step (see models.base)
        clock.wrap(policy.core.env_model, "step_every_action", "model")
    clock.wrap(policy.core.rollout_policy, "forward", "rollout_policy")
    clock.wrap(policy.core, "choose", "choose")
    clock.wrap(policy.encoder, "forward", "encoder")
    clock.wrap(policy, "forward", "agent")
    clock.wrap(trainer, "collect", "collect")
    clock.wrap(trainer, "update", "update")
    updates, start = 0, time.thread_time()
    while time.thread_time() - start < seconds:
        trainer.train_step()
        updates += 1
    total = time.thread_time() - start
    g = clock.get
    acting_net = g("agent/nograd")
    imagination = g("model/nograd") + g("rollout_policy/nograd") + g("choose/nograd")
    parts = {
        "environment model (imagined steps)": g("model/nograd"),
        "rollout policy and its action sampling": g("rollout_policy/nograd") + g("choose/nograd"),
        "rollout encoder while acting (no gradients)": g("encoder/nograd"),
        "model-free path and head while acting": acting_net - imagination - g("encoder/nograd"),
        "environment steps and rollout bookkeeping": g("collect/grad") + g("collect/nograd") - acting_net,
        "update: rollout encoder forward": g("encoder/grad"),
        "update: rest of the forward (model-free path, head, distillation)":
            g("agent/grad") - g("encoder/grad") + g("rollout_policy/grad"),
        "update: backward, gradient clipping, RMSprop step":
            g("update/grad") + g("update/nograd") - g("agent/grad") - g("rollout_policy/grad"),
    }
    parts["other (trainer between collect and update)"] = total - sum(parts.values())
    return {"updates": updates, "cpu_ms_per_update": round(total / updates * 1e3, 1),
            "parts": {name: {"ms_per_update": round(v / updates * 1e3, 1), "share": round(v / total, 3)}
                      for name, v in parts.items()}}


def label(row: dict) -> str:
    options = ",".join(f"{k}={v}" for k, v in row["options"].items())
    return row["agent"] + (f" ({options})" if options else "")


def markdown(result: dict) -> str:
    lines = [
        f"Measured {result['date']} on {result['machine']} (torch {result['torch']}; load average "
        f"{result['load_average']} at the start: **the machine was shared with other jobs**, so treat "
        f"the ratios as +/-20-30%), with `{result['command']}`, {result['seconds_per_config']:.0f} s per "
        "configuration.",
        "",
        f"A2C training frames/s on `{ENV_ID}` with {NUM_ENVS} envs and one torch thread (env + forward + "
        "backward + RMSprop step). *cost* is the wall-clock per frame relative to the standard agent "
        "timed just before it (*standard*: its frames/s in that pair; over all pairs it made "
        f"{result['standard_frames_per_s']:,.0f} frames/s on average). *cost, CPU time* is the same ratio of "
        "CPU seconds per frame: it does not depend on how much of a core the scheduler gave each timing "
        "(one torch thread: on an idle machine the two agree; where they differ, other jobs took the core). *acting* is "
        "the share of time spent in the rollout (env steps and forward passes). *cache hits* is the share of "
        "the timed updates whose gradient pass found the rollouts imagined while acting in the imagination "
        "cache (logged as `imagination/cache_hit` and `imagination/cache_miss`; a miss imagines again: "
        "imagination paid twice); *off* where the cache is turned off. The issue's bar: I2A at most 10x, aim 5x.",
        "",
        "| agent | rollout length | trainable parameters | frames/s | standard | cost vs standard | cost, CPU time "
        "| acting | cache hits |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in result["results"]:
        extra = {k: v for k, v in row["options"].items() if k != "rollout_length"}
        name = row["agent"] + "".join(f" ({k}={v})" for k, v in extra.items())
        lines.append(f"| {name} | {row['rollout_length']} | {row['parameters']:,} | "
                     f"{row['frames_per_s']:,.0f} | {row['standard_frames_per_s']:,.0f} | {row['cost']:.1f}x | "
                     f"{row['cpu_cost']:.1f}x | {row['acting_share']:.0%} | {hit_rate(row)} |")
    lines += ["", "I2A imagines one rollout per action (5 here) of the given length for every frame: "
              "the environment model and the rollout policy run on 5 x length imagined frames per real "
              "frame, once (rollouts imagined while acting are reused by the update), and the rollout "
              "encoder reads them while acting and again, with gradients, in the update. The copy model "
              "costs nothing, so *i2a-copy* prices the network around the model (rollout policy, encoder, "
              "model-free path, head); the gap between *i2a* and *i2a-copy* is the learned model's share "
              "(the shipped `sokoban-10x10`, 16/16 channels, run on 7x7 frames). *cache_rows=0* turns "
              "the reuse off: the update then imagines every rollout again."]
    if any("cache_hits" in row and "cache_hit" not in row for row in result["results"]):
        lines[-1] += (" These figures were recorded before the cache's hits were logged per update: their hit "
                      "counts are the cache's running totals, warm-up updates included.")
    split = result.get("breakdown")
    if split:
        standard_cpu = sum(r["standard_cpu_frames_per_s"] for r in result["results"]) / len(result["results"])
        lines += ["", f"Where the default `i2a`'s training time goes (this thread's CPU time over {split['updates']} "
                  f"updates of {NUM_ENVS} envs x 5 steps, {split['cpu_ms_per_update']:.0f} ms per update; a whole "
                  f"update of the standard agent took {NUM_ENVS * 5 / standard_cpu * 1e3:.0f} ms of CPU time in "
                  "the pairs above):", "",
                  "| part | ms per update | share |", "|---|---:|---:|"]
        lines += [f"| {name} | {part['ms_per_update']:.1f} | {part['share']:.0%} |"
                  for name, part in split["parts"].items()]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short timings, rollout length 5 only")
    parser.add_argument("--seconds", type=float, default=None, help="seconds timed per configuration")
    parser.add_argument("--agents", default=",".join(VARIANTS), help="comma-separated I2A variants to time")
    parser.add_argument("--lengths", default=None, help="comma-separated rollout lengths (default 5,1,3)")
    parser.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "i2a_cost.json"))
    parser.add_argument("--no-docs", action="store_true", help="do not update docs/benchmarks.md")
    parser.add_argument("--from-json", metavar="PATH",
                        help="measure nothing: rewrite the docs tables from a results file")
    args = parser.parse_args()
    if args.from_json:
        write_section("i2a-cost", markdown(json.loads(Path(args.from_json).read_text())), HEADING)
        return
    seconds = args.seconds or (4.0 if args.quick else 25.0)
    lengths = [int(v) for v in (args.lengths or ("5" if args.quick else "5,1,3")).split(",")]
    configs = [(agent, {"rollout_length": length} if length != 5 else {}) for length in lengths
               for agent in args.agents.split(",") if length == 5 or agent == "i2a"]
    if not args.quick:
        configs.append(("i2a", {"cache_rows": 0}))  # before the cache: imagination paid twice
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    make_env(ENV_ID, num_envs=1)  # generate (or load) the level bank before timing anything
    rows, standard_runs = [], []
    for agent, options in configs:
        standard = measure("standard", {}, seconds / 2)
        row = measure(agent, options, seconds)
        row["standard_frames_per_s"] = standard["frames_per_s"]
        row["cost"] = round(standard["frames_per_s"] / row["frames_per_s"], 2)
        row["standard_cpu_frames_per_s"] = standard["cpu_frames_per_s"]
        row["cpu_cost"] = round(standard["cpu_frames_per_s"] / row["cpu_frames_per_s"], 2)
        rows.append(row)
        standard_runs.append(standard)
        print(f"{label(row):32s} {row['frames_per_s']:8,.0f} frames/s, standard {standard['frames_per_s']:8,.0f}: "
              f"cost {row['cost']:.1f}x (CPU time: {row['cpu_cost']:.1f}x), cache hits {hit_rate(row)}", flush=True)
    split = breakdown(seconds)
    print("i2a CPU time per update:", json.dumps(split, indent=1), flush=True)
    standard_mean = sum(r["frames_per_s"] for r in standard_runs) / len(standard_runs)
    command = rerun_command("i2a_cost.py", sys.argv[1:])
    result = {
        "date": datetime.date.today().isoformat(),
        "machine": f"{os.cpu_count()} CPU cores ({cpu_name()}), no GPU",
        "torch": torch.__version__, "load_average": round(load, 2), "command": command, "env": ENV_ID,
        "num_envs": NUM_ENVS, "threads": 1, "seconds_per_config": seconds,
        "standard_frames_per_s": round(standard_mean, 1),
        "standard_parameters": standard_runs[0]["parameters"],
        "results": rows, "breakdown": split,
    }
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    table = markdown(result)
    print(table)
    if not args.no_docs:
        write_section("i2a-cost", table, HEADING)


if __name__ == "__main__":
    main()
