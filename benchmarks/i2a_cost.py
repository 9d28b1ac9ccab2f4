#!/usr/bin/env python3
"""What imagination costs: I2A's training wall-clock per frame against the standard agent.

    PYTHONPATH=src python benchmarks/i2a_cost.py              # the full run (~6 min)
    PYTHONPATH=src python benchmarks/i2a_cost.py --quick      # a smoke run (~1 min)
    PYTHONPATH=src python benchmarks/i2a_cost.py --curve      # cost against rollout length 1-15 (~9 min)

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

``--curve`` times only the default ``i2a`` at rollout lengths 1-15, each paired with the standard
agent as above, in a few passes over the lengths (medians per length), and fits a line to the CPU-time cost: the imagined frames per real frame are
actions x length, so the model, rollout policy and encoder should make the cost grow linearly
in the length on top of a fixed model-free part. It writes its own record
(``benchmarks/results/i2a_cost_curve.json``), the figure ``docs/images/i2a_cost_curve.png`` and
the ``i2a-cost-curve`` section, leaving the ``i2a-cost`` ones alone.
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

import common
from common import command_allocator, cpu_name, rerun_command, save_figure, time_training, write_section
from reverie.agents import build_agent, count_parameters
from reverie.envs.registry import make_env
from reverie.training.actor_critic import A2C, A2CConfig

ROOT = Path(__file__).resolve().parents[1]
HEADING = "I2A cost per frame"
ENV_ID = "sokoban-7x7-2"
NUM_ENVS = 64
VARIANTS = ("i2a", "i2a-perfect", "i2a-copy", "i2a-noreward")
CURVE_LENGTHS = (1, 2, 3, 4, 5, 7, 10, 15)
CURVE_HEADING = "I2A cost against rollout length"
INTERLEAVED_HEADING = "I2A cost per frame, interleaved timing"
CURVE_PNG = ROOT / "docs" / "images" / "i2a_cost_curve.png"
#: the lines drawn across the curve: the paper's bound on I2A's cost and the issue's target
COST_LINES = ((10.0, "10x: the paper's bound"), (8.0, "8x: the issue's line"))


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


def paired(agent: str, options: dict, seconds: float) -> tuple[dict, dict]:
    """``agent``'s timing and the standard agent's, timed just before it, with the pair's cost
    ratios: wall-clock (``cost``) and CPU time (``cpu_cost``). Timed back to back, the two see
    about the same load from the machine's other jobs."""
    standard = measure("standard", {}, seconds / 2)
    row = measure(agent, options, seconds)
    row["standard_frames_per_s"] = standard["frames_per_s"]
    row["cost"] = round(standard["frames_per_s"] / row["frames_per_s"], 2)
    row["standard_cpu_frames_per_s"] = standard["cpu_frames_per_s"]
    row["cpu_cost"] = round(standard["cpu_frames_per_s"] / row["cpu_frames_per_s"], 2)
    print(f"{label(row):32s} {row['frames_per_s']:8,.0f} frames/s, standard {standard['frames_per_s']:8,.0f}: "
          f"cost {row['cost']:.1f}x (CPU time: {row['cpu_cost']:.1f}x), cache hits {hit_rate(row)}", flush=True)
    return row, standard


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
    command_allocator()  # as time_training does
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
    clock.wrap(policy.encoder, "encode", "encoder")  # acting encodes through encode (kept for the update)
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
        "update: rollout encoder forward (its LSTM; the conv and projection replayed)": g("encoder/grad"),
        "update: rest of the forward (model-free path, head, distillation)":
            g("agent/grad") - g("encoder/grad") + g("rollout_policy/grad"),
        "update: backward, gradient clipping, RMSprop step":
            g("update/grad") + g("update/nograd") - g("agent/grad") - g("rollout_policy/grad"),
    }
    parts["other (trainer between collect and update)"] = total - sum(parts.values())
    return {"updates": updates, "cpu_ms_per_update": round(total / updates * 1e3, 1),
            "parts": {name: {"ms_per_update": round(v / updates * 1e3, 1), "share": round(v / total, 3)}
                      for name, v in parts.items()}}


def allocator_note(result: dict) -> str:
    """The allocator the timings ran with (records from before it was recorded: nothing)."""
    return f"; allocator: {result['allocator']}" if result.get("allocator") else ""


def label(row: dict) -> str:
    options = ",".join(f"{k}={v}" for k, v in row["options"].items())
    return row["agent"] + (f" ({options})" if options else "")


def markdown(result: dict) -> str:
    lines = [
        f"Measured {result['date']} on {result['machine']} (torch {result['torch']}; load average "
        f"{result['load_average']} at the start: **the machine was shared with other jobs**, so treat "
        f"the ratios as +/-20-30%), with `{result['command']}`, {result['seconds_per_config']:.0f} s per "
        f"configuration{allocator_note(result)}.",
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
              f"(the shipped `{result.get('model', 'sokoban-10x10')}`, run on 7x7 frames). *cache_rows=0* turns "
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


def fit_line(xs: list[float], ys: list[float]) -> dict:
    """Least-squares line ``y = intercept + slope * x`` and its R^2: how well the cost's growth
    with the rollout length reads as linear."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx if sxx else 0.0
    intercept = my - slope * mx
    total = sum((y - my) ** 2 for y in ys)
    residual = sum((y - intercept - slope * x) ** 2 for x, y in zip(xs, ys))
    return {"slope": round(slope, 3), "intercept": round(intercept, 3),
            "r2": round(1 - residual / total, 4) if total else 1.0}


def measure_curve(lengths: list[int], seconds: float, rounds: int) -> list[dict]:
    """The default ``i2a`` at each rollout length, each timing paired with the standard agent's,
    in ``rounds`` passes over all the lengths; a length's figures are the medians of its pairs.

    Why passes: the other jobs' load changes over minutes and does not slow the two agents alike
    (a busy machine slowed the standard agent more, shrinking the ratio), so a sweep timing each
    length once would bend the curve wherever the load changed; passes spread every length over
    the whole run."""
    pairs: dict[int, list[dict]] = {length: [] for length in lengths}
    for _ in range(rounds):
        for length in lengths:
            pairs[length].append(paired("i2a", {"rollout_length": length}, seconds)[0])
    return [median_row(pairs[length]) for length in lengths]


def interleaved(agent: str, options: dict, seconds: float, block: float = 1.0) -> dict:
    """``agent`` and the standard agent trained in alternating blocks of about ``block`` seconds
    each, for ``seconds`` in all, both trainers built and warmed up first.

    Why: on a shared host this machine's speed drifts by +/-20% over tens of seconds, so two
    timings taken one after the other (:func:`paired`) can see different machines; alternating
    second by second, both agents see the same drift. *cpu_cost* is the ratio of the two agents'
    CPU time per frame summed over all blocks; *cost_range* the spread of the blocks' own ratios."""
    command_allocator()
    trainers = {"standard": make_trainer("standard", {}), agent: make_trainer(agent, options)}
    per_block = {}
    for name, trainer in trainers.items():
        for _ in range(5):
            trainer.train_step()
        start = time.thread_time()
        trainer.train_step()
        per_block[name] = max(1, round(block / max(time.thread_time() - start, 1e-6)))
    cpu = dict.fromkeys(trainers, 0.0)
    frames = dict.fromkeys(trainers, 0)
    ratios = []
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        per_frame = {}
        for name, trainer in trainers.items():
            t0 = time.thread_time()
            for _ in range(per_block[name]):
                trainer.train_step()
            spent = time.thread_time() - t0
            cpu[name] += spent
            frames[name] += per_block[name] * trainer.frames_per_update
            per_frame[name] = spent / (per_block[name] * trainer.frames_per_update)
        ratios.append(per_frame[agent] / per_frame["standard"])
    cost = (cpu[agent] / frames[agent]) / (cpu["standard"] / frames["standard"])
    row = {"agent": agent, "options": options, "blocks": len(ratios), "block_seconds": block,
           "cpu_frames_per_s": round(frames[agent] / cpu[agent], 1),
           "standard_cpu_frames_per_s": round(frames["standard"] / cpu["standard"], 1),
           "cpu_cost": round(cost, 2), "cost_range": [round(min(ratios), 2), round(max(ratios), 2)],
           "median_block_cost": round(statistics.median(ratios), 2)}
    print(f"{label(row):32s} interleaved over {len(ratios)} blocks: cost {cost:.2f}x (CPU time; blocks "
          f"{min(ratios):.1f}-{max(ratios):.1f}x, median {statistics.median(ratios):.2f}x)", flush=True)
    return row


def interleaved_markdown(result: dict) -> str:
    """The ``i2a-cost-interleaved`` section: how it was measured and the costs."""
    lines = [
        f"Measured {result['date']} on {result['machine']} (torch {result['torch']}; load average "
        f"{result['load_average']} at the start), with `{result['command']}`{allocator_note(result)}: each agent "
        f"and the standard agent trained in alternating blocks of about {result['block_seconds']:g} s, "
        f"{result['seconds_per_config']:g} s of blocks per variant (`{ENV_ID}`, {NUM_ENVS} envs, one torch thread). "
        "*cost* is the ratio of the two agents' CPU time per frame summed over every block; *blocks* is the "
        "spread of the blocks' own ratios. Alternating second by second, both agents see the same machine: "
        "this host's speed drifts by +/-20% over tens of seconds, which the back-to-back pairs above cannot "
        "cancel (the same I2A computation, `i2a` and `i2a-noreward`, can land 30% apart there).",
        "",
        "| agent | rollout length | cost, CPU time | blocks (min-max) | median block | blocks | I2A frames/s (CPU) "
        "| standard frames/s (CPU) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in result["results"]:
        lo, hi = row["cost_range"]
        lines.append(f"| {label(row)} | {row['options'].get('rollout_length', 5)} | **{row['cpu_cost']:.2f}x** | "
                     f"{lo:.1f}-{hi:.1f}x | {row['median_block_cost']:.2f}x | {row['blocks']} | "
                     f"{row['cpu_frames_per_s']:,.0f} | {row['standard_cpu_frames_per_s']:,.0f} |")
    return "\n".join(lines)


def run_interleaved(args, seconds: float) -> None:
    """``--interleaved``: each variant at rollout length 5 timed against the standard agent block by block."""
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    make_env(ENV_ID, num_envs=1)  # generate (or load) the level bank before timing anything
    rows = [interleaved(agent, {}, seconds) for agent in args.agents.split(",")]
    result = {
        "mode": "interleaved", "date": datetime.date.today().isoformat(),
        "machine": f"{os.cpu_count()} CPU cores ({cpu_name()}), no GPU",
        "torch": torch.__version__, "load_average": round(load, 2),
        "command": rerun_command("i2a_cost.py", sys.argv[1:]), "env": ENV_ID, "num_envs": NUM_ENVS, "threads": 1,
        "model": make_env(ENV_ID, num_envs=1).spec.default_model, "seconds_per_config": seconds,
        "block_seconds": rows[0]["block_seconds"] if rows else 1.0, "allocator": command_allocator(), "results": rows,
    }
    publish(result, args, "i2a_cost_interleaved.json")


def median_row(pairs: list[dict]) -> dict:
    """One length's row: the median pair's figures (by CPU-time cost), the medians of both
    costs, their range, and every pair's costs and the speeds they came from."""
    ordered = sorted(pairs, key=lambda r: r["cpu_cost"])
    row = dict(ordered[(len(ordered) - 1) // 2])
    costs = sorted(r["cost"] for r in pairs)
    row["cpu_cost"] = round(statistics.median(r["cpu_cost"] for r in pairs), 2)
    row["cost"] = round(statistics.median(costs), 2)
    row["cpu_cost_range"] = [ordered[0]["cpu_cost"], ordered[-1]["cpu_cost"]]
    row["pairs"] = [{k: r[k] for k in ("cpu_cost", "cost", "frames_per_s", "standard_frames_per_s",
                                         "cpu_frames_per_s", "standard_cpu_frames_per_s")} for r in pairs]
    return row


def crossing(fit: dict, cost: float) -> float | None:
    """The rollout length at which the fitted line reaches ``cost`` (None if it never rises)."""
    return (cost - fit["intercept"]) / fit["slope"] if fit["slope"] > 0 else None


def curve_sentence(result: dict) -> str:
    """The curve's shape in words: the fitted line, how straight it is, where it crosses the lines."""
    fit, rows = result["fit"], result["results"]
    first, last = rows[0], rows[-1]
    crossings = []
    for cost, name in sorted(COST_LINES):
        at = crossing(fit, cost)
        if at is not None:
            crossings.append(f"{cost:.0f}x near length {at:.1f}" if at > 0 else f"{cost:.0f}x already at length 0")
    straight = "close to linearly" if fit["r2"] >= 0.98 else "roughly linearly"
    return (f"The CPU-time cost grows {straight} with the rollout length, from {first['cpu_cost']:.1f}x at "
            f"length {first['rollout_length']} to {last['cpu_cost']:.1f}x at {last['rollout_length']}: the "
            f"least-squares line is {fit['intercept']:.2f}x + {fit['slope']:.2f}x per step of rollout length "
            f"(R^2 = {fit['r2']:.3f}). The slope is what one more imagined step in each of the "
            f"{result['num_actions']} rollouts costs (the environment model and the rollout policy run on "
            f"{result['num_actions']} more imagined frames per real frame, the rollout encoder reads them "
            "while acting and again with gradients in the update)" + fixed_part(result)
            + (f". The line crosses {' and '.join(crossings)}." if crossings else "."))


def fixed_part(result: dict) -> str:
    """What the curve says about the cost that does not grow with the length: the intercept, unless
    it falls below the standard agent's own 1x, where the shortest rollouts say it better."""
    fit, first = result["fit"], result["results"][0]
    if fit["intercept"] >= 1:
        return (f"; the intercept, {fit['intercept']:.2f}x, is the part that does not grow with the length: the "
                "standard agent's own work (1x) and the rest of I2A's wider network (the model-free path, the "
                "aggregator and head, and the backward through them)")
    on_line = fit["intercept"] + fit["slope"] * first["rollout_length"]
    return (f"; the intercept, {fit['intercept']:.2f}x, is below the standard agent's own 1x, so it is not the "
            f"part that does not grow with the length: the shortest rollouts sit above the line (length "
            f"{first['rollout_length']}: {first['cpu_cost']:.1f}x against the line's {on_line:.1f}x), and the first "
            f"point less one slope, {first['cpu_cost'] - fit['slope'] * first['rollout_length']:.1f}x, is the better "
            "reading of that part (the standard agent's own work and the rest of I2A's wider network: the "
            "model-free path, the aggregator and head, and the backward through them)")


def curve_markdown(result: dict) -> str:
    """The ``i2a-cost-curve`` section: how it was measured, the points, the figure and its shape."""
    lines = [
        f"Measured {result['date']} on {result['machine']} (torch {result['torch']}; load average "
        f"{result['load_average']} at the start and {result['load_average_end']} at the end: **the machine was "
        f"shared with other jobs**), with `{result['command']}`: {result.get('rounds', 1)} passes over the "
        f"lengths, each length's I2A timed for {result['seconds_per_config']:g} s per pass, the standard agent for "
        f"{result['seconds_per_config'] / 2:g} s just before it; a row gives the medians of its pairs"
        f"{allocator_note(result)}.",
        "",
        f"The default `i2a` (the shipped `{result.get('model', 'sokoban-10x10')}` model, {result['num_actions']} "
        "rollouts per frame, one "
        f"per action) trained with A2C on `{result['env']}`, {result['num_envs']} envs, one torch thread, at each "
        "rollout length. *cost, CPU time* (plotted) is its CPU seconds per frame over the standard agent's in "
        "the same pair, which holds when the scheduler gives the two timings different shares of a core; "
        "*cost* is the same ratio of wall-clock; *frames/s* and *standard* are the median pair's. "
        "*imagined / frame* is the imagined frames per real frame "
        "(actions x length).",
        "",
        "| rollout length | imagined / frame | frames/s | standard | cost, CPU time | its range over the pairs "
        "| cost | acting |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in result["results"]:
        low, high = row.get("cpu_cost_range", [row["cpu_cost"]] * 2)
        lines.append(f"| {row['rollout_length']} | {result['num_actions'] * row['rollout_length']} | "
                     f"{row['frames_per_s']:,.0f} | {row['standard_frames_per_s']:,.0f} | {row['cpu_cost']:.1f}x | "
                     f"{low:.1f}-{high:.1f}x | {row['cost']:.1f}x | {row['acting_share']:.0%} |")
    lines += ["", f"![I2A cost against rollout length](images/{CURVE_PNG.name})", "", curve_sentence(result)]
    return "\n".join(lines)


def plot_cost_curve(result: dict, path: Path) -> None:
    """Cost against rollout length: CPU-time points, their fitted line, wall-clock points, and
    the paper's and the issue's lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows, fit = result["results"], result["fit"]
    lengths = [r["rollout_length"] for r in rows]
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    ax.plot(lengths, [r["cpu_cost"] for r in rows], "o-", label="cost, CPU time")
    ax.plot(lengths, [r["cost"] for r in rows], "x", color="gray", label="cost, wall-clock")
    ends = [0, max(lengths)]
    ax.plot(ends, [fit["intercept"] + fit["slope"] * x for x in ends], ":", color="C0",
            label=f"fit: {fit['intercept']:.2f}x + {fit['slope']:.2f}x per step")
    for (cost, name), color in zip(COST_LINES, ("C3", "C1")):
        ax.axhline(cost, color=color, linestyle="--", linewidth=1, label=name)
    ax.set_xticks(lengths)
    ax.set_xlim(0, max(lengths) + 0.5)
    ax.set_ylim(0, None)
    ax.set_xlabel("rollout length (imagined steps per rollout)")
    ax.set_ylabel("training cost per frame vs the standard agent")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(f"I2A on {result['env']}, {result['num_envs']} envs, one thread ({result['date']})", fontsize=9)
    fig.tight_layout()
    save_figure(fig, path)


def write_curve_docs(result: dict) -> None:
    """The curve's figure and its ``i2a-cost-curve`` section of docs/benchmarks.md."""
    plot_cost_curve(result, CURVE_PNG)
    write_section("i2a-cost-curve", curve_markdown(result), CURVE_HEADING)


def run_curve(args, seconds: float) -> None:
    """``--curve``: the default I2A's paired cost at each rollout length, its record, figure and section."""
    lengths = [int(v) for v in args.lengths.split(",")] if args.lengths else list(CURVE_LENGTHS)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    make_env(ENV_ID, num_envs=1)  # generate (or load) the level bank before timing anything
    rows = measure_curve(lengths, seconds, args.rounds)
    result = {
        "mode": "curve", "date": datetime.date.today().isoformat(),
        "machine": f"{os.cpu_count()} CPU cores ({cpu_name()}), no GPU",
        "torch": torch.__version__, "load_average": round(load, 2),
        "load_average_end": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "command": rerun_command("i2a_cost.py", sys.argv[1:]), "env": ENV_ID, "num_envs": NUM_ENVS,
        "num_actions": make_env(ENV_ID, num_envs=1).spec.num_actions, "threads": 1,
        "model": make_env(ENV_ID, num_envs=1).spec.default_model,  # what the default i2a imagined with
        "seconds_per_config": seconds, "rounds": args.rounds, "allocator": command_allocator(), "results": rows,
        "fit": fit_line([r["rollout_length"] for r in rows], [r["cpu_cost"] for r in rows]),
        "fit_wall": fit_line([r["rollout_length"] for r in rows], [r["cost"] for r in rows]),
    }
    publish(result, args, "i2a_cost_curve.json")


def table_of(result: dict) -> str:
    """A record's table, by its mode: the full run's, the curve's or the interleaved timing's."""
    return {"curve": curve_markdown, "interleaved": interleaved_markdown}.get(result.get("mode"), markdown)(result)


def write_docs(result: dict) -> None:
    """A record's section of docs/benchmarks.md, by its mode (the curve also redraws its figure)."""
    mode = result.get("mode")
    if mode == "curve":
        write_curve_docs(result)
    else:
        name, heading = ("i2a-cost-interleaved", INTERLEAVED_HEADING) if mode == "interleaved" else ("i2a-cost", HEADING)
        write_section(name, table_of(result), heading)


def publish(result: dict, args, name: str) -> None:
    """Write the record (``--json`` or ``benchmarks/results/NAME``), print its table and, unless
    ``--no-docs``, update its docs section."""
    path = Path(args.json or ROOT / "benchmarks" / "results" / name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1) + "\n")
    print(table_of(result))
    if not args.no_docs:
        write_docs(result)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short timings, rollout length 5 only")
    parser.add_argument("--seconds", type=float, default=None, help="seconds timed per configuration")
    parser.add_argument("--agents", default=",".join(VARIANTS), help="comma-separated I2A variants to time")
    parser.add_argument("--lengths", default=None,
                        help="comma-separated rollout lengths (default 5,1,3; with --curve 1,2,3,4,5,7,10,15)")
    parser.add_argument("--curve", action="store_true",
                        help="only the default i2a's cost against rollout length (its own record, figure and section)")
    parser.add_argument("--rounds", type=int, default=3, help="with --curve: passes over the lengths (medians)")
    parser.add_argument("--interleaved", action="store_true",
                        help="only the AGENTS at rollout length 5, each trained in alternating ~1 s blocks with the "
                             "standard agent (its own record and section)")
    parser.add_argument("--json", default=None, help="where the record goes (default benchmarks/results/"
                        "i2a_cost.json, with --curve i2a_cost_curve.json)")
    parser.add_argument("--no-docs", action="store_true", help="do not update docs/benchmarks.md or its figure")
    parser.add_argument("--default-allocator", action="store_true",
                        help="time with glibc's default allocator settings, not the reverie command's (see "
                             "reverie.core.memory)")
    parser.add_argument("--from-json", metavar="PATH",
                        help="measure nothing: rewrite the docs tables (a --curve record: its section and figure)")
    args = parser.parse_args()
    if args.from_json:
        write_docs(json.loads(Path(args.from_json).read_text()))
        return
    common.COMMAND_ALLOCATOR = not args.default_allocator
    if args.curve:
        run_curve(args, args.seconds or (4.0 if args.quick else 8.0))
        return
    if args.interleaved:
        run_interleaved(args, args.seconds or (8.0 if args.quick else 60.0))
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
        row, standard = paired(agent, options, seconds)
        rows.append(row)
        standard_runs.append(standard)
    split = breakdown(seconds)
    print("i2a CPU time per update:", json.dumps(split, indent=1), flush=True)
    standard_mean = sum(r["frames_per_s"] for r in standard_runs) / len(standard_runs)
    command = rerun_command("i2a_cost.py", sys.argv[1:])
    result = {
        "date": datetime.date.today().isoformat(),
        "machine": f"{os.cpu_count()} CPU cores ({cpu_name()}), no GPU",
        "torch": torch.__version__, "load_average": round(load, 2), "command": command, "env": ENV_ID,
        "num_envs": NUM_ENVS, "threads": 1, "seconds_per_config": seconds, "allocator": command_allocator(),
        "standard_frames_per_s": round(standard_mean, 1),
        "standard_parameters": standard_runs[0]["parameters"],
        "model": make_env(ENV_ID, num_envs=1).spec.default_model,  # what the default i2a imagined with
        "results": rows, "breakdown": split,
    }
    publish(result, args, "i2a_cost.json")


if __name__ == "__main__":
    main()
