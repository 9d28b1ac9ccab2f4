#!/usr/bin/env python3
"""Which grid model I2A should imagine with: exactness on the protocol's held-out levels, speed, cost.

    PYTHONPATH=src python benchmarks/grid_model_size.py                     # the shipped models (~6 min)
    PYTHONPATH=src python benchmarks/grid_model_size.py --models sokoban-10x10 /tmp/fit/model.pt
    PYTHONPATH=src python benchmarks/grid_model_size.py --quick             # a smoke run

Why: imagination is about half of I2A's training time on a CPU, and the model's convolutions
are most of that (``benchmarks/i2a_cost.py``). A smaller model is cheaper only if it stays
exact where I2A uses it, so for each model this measures, in one run:

- **exactness** on the Sokoban protocol's held-out levels (``sokoban-7x7-2``'s ``test``
  split, 1,000 levels never trained on): uniform random play from many warm-up depths, the
  model fed its own frames for 5 steps (I2A's rollout length); one-step exact frames and
  rewards, and rollouts still exact after 5 steps (``compounding_curve``);
- **speed** of one rollout's imagination at I2A's batch: 64 observations x 5 forced actions,
  then 4 more steps of 320 rows, one torch thread (ms per rollout, best of several rounds), in
  the model's own memory layout and in the other one (contiguous NCHW or channels-last: which
  is faster depends on the widths, through oneDNN's kernels; a model file records its layout);
- **I2A's cost**: training frames/s of ``i2a`` imagining with the model against the
  ``standard`` agent timed just before it, as ``i2a_cost.py`` pairs them (CPU-time ratio).

Writes ``benchmarks/results/grid_model_size.json`` and the ``grid-model-size`` section of
``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import copy
import datetime
import json
import os
import sys
import time
from pathlib import Path

import torch

from common import command_allocator, cpu_name, rerun_command, write_section
from i2a_cost import measure
from reverie.agents import count_parameters
from reverie.envs.registry import get_spec
from reverie.evaluation.model_diagnostics import compounding_curve
from reverie.models.base import step_every_action
from reverie.models.io import resolve

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "grid_model_size.json"
HEADING = "Grid model size for I2A"
ENV_ID = "sokoban-7x7-2"
HORIZON = 5


def exactness(model, levels: int, warmups: list[int], seeds: list[int]) -> dict:
    """One-step and 5-step exactness over every (warm-up, seed) start, pooled by counts."""
    spec = get_spec(ENV_ID)
    totals = {"one_step": 0.0, "reward": 0.0, "rollout_5": 0.0, "counted": 0, "counted_5": 0}
    for seed in seeds:
        for warmup in warmups:
            curve = compounding_curve(spec, model, horizon=HORIZON, rollouts=levels, warmup=warmup,
                                      seed=seed, split="test")
            n1, n5 = curve["counted"][0], curve["counted"][-1]
            totals["one_step"] += curve["exact_frame_accuracy"][0] * n1
            totals["reward"] += curve["reward_accuracy"][0] * n1
            totals["rollout_5"] += curve["rollout_exact"][-1] * n5
            totals["counted"] += n1
            totals["counted_5"] += n5
    n, n5 = max(totals["counted"], 1), max(totals["counted_5"], 1)
    return {"transitions": totals["counted"], "rollouts_5": totals["counted_5"],
            "one_step_exact": totals["one_step"] / n, "one_step_wrong": round(n - totals["one_step"]),
            "reward_exact": totals["reward"] / n, "rollout_5_exact": totals["rollout_5"] / n5}


@torch.no_grad()
def rollout_ms(model, rounds: int = 5, calls: int = 40) -> float:
    """Milliseconds of one I2A rollout's imagination (model only) at 64 observations x 5 actions."""
    spec = get_spec(ENV_ID)
    env = spec.make_env("test", 64, seed=0)
    obs, _ = env.reset(seed=0)
    generator = torch.Generator().manual_seed(0)
    actions = [torch.randint(0, spec.num_actions, (64 * spec.num_actions,), generator=generator)
               for _ in range(HORIZON - 1)]

    def once() -> None:
        state, _, _ = step_every_action(model, obs, spec.num_actions)
        for action in actions:
            state, _, _ = model.step(state, action)

    for _ in range(5):
        once()
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(calls):
            once()
        best = min(best, (time.perf_counter() - start) / calls * 1e3)
    return best


def other_layout(model):
    """A copy of a grid model that runs in the other memory layout (same weights)."""
    other = copy.deepcopy(model)
    other.config.channels_last = not model.config.channels_last
    return other.to(memory_format=torch.channels_last if other.config.channels_last else torch.contiguous_format)


def describe(name: str, model) -> dict:
    config = getattr(model, "config", None)
    channels = list(config.channels) if config is not None and getattr(config, "channels", None) else None
    params = count_parameters(model) if isinstance(model, torch.nn.Module) else 0
    return {"model": name, "channels": channels, "parameters": params}


def markdown(result: dict) -> str:
    lines = [
        f"Measured {result['date']} on {result['machine']} (torch {result['torch']}; load average "
        f"{result['load_average']} at the start), with `{result['command']}`.",
        "",
        f"Exactness on `{ENV_ID}`'s 1,000 held-out test levels (the Sokoban protocol's), uniform random "
        f"play from warm-up depths {result['warmups'][0]}..{result['warmups'][-1]} (step "
        f"{result['warmups'][1] - result['warmups'][0] if len(result['warmups']) > 1 else 0}) and seeds "
        f"{result['seeds']}: *one-step exact* counts frames equal to the env's in every cell, *wrong* how "
        "many were not; *5-step rollouts exact* is the share of imagined rollouts (the model fed its own "
        "frames, I2A's length) still equal to the real game after 5 steps. *Rollout ms*: one rollout's "
        "imagination at I2A's batch (64 observations x 5 forced actions, then 4 steps of 320 rows), one "
        "torch thread, best of several rounds, in the model's own memory layout (*layout*) and in the other "
        "one (*other layout*). *I2A cost*: training CPU time per frame of `i2a` with this model "
        "over the `standard` agent's, timed back to back (64 envs, one thread; as in the I2A cost section).",
        "",
        "| model | channels | parameters | one-step exact (wrong / transitions) | rewards exact | 5-step rollouts "
        "exact | layout | rollout ms | other layout | I2A frames/s | standard | I2A cost |",
        "|---|---|---:|---|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for row in result["rows"]:
        channels = ",".join(map(str, row["channels"])) if row["channels"] else "-"
        cost = row.get("cost")
        lines.append(
            f"| {row['model']} | {channels} | {row['parameters']:,} | {row['one_step_exact']:.4%} "
            f"({row['one_step_wrong']:,} / {row['transitions']:,}) | {row['reward_exact']:.4%} | "
            f"{row['rollout_5_exact']:.3%} | {layout_cells(row)} | "
            + (f"{cost['frames_per_s']:,.0f} | {cost['standard_frames_per_s']:,.0f} | {cost['cpu_cost']:.2f}x |"
               if cost else "- | - | - |"))
    return "\n".join(lines)


def layout_cells(row: dict) -> str:
    """The layout, its rollout ms and the other layout's (rows recorded before layouts were timed: '-')."""
    if "layout" not in row:
        return f"- | {row['rollout_ms']:.2f} | -"
    return f"{row['layout']} | {row['rollout_ms']:.2f} | {row['other_layout_ms']:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["sokoban-10x10", "sokoban-10x10-12ch"],
                        help="shipped model names or model files")
    parser.add_argument("--levels", type=int, default=1000, help="games per start (the test split has 1,000)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--cost-seconds", type=float, default=25.0, help="seconds of I2A per cost timing (0: skip)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: few levels, short timings")
    parser.add_argument("--json", default=str(RESULTS))
    parser.add_argument("--no-docs", action="store_true")
    parser.add_argument("--from-json", metavar="PATH", help="measure nothing: rewrite the docs section")
    args = parser.parse_args()
    if args.from_json:
        write_section("grid-model-size", markdown(json.loads(Path(args.from_json).read_text())), HEADING)
        return
    torch.set_num_threads(1)
    command_allocator()  # as the reverie command runs
    warmups = list(range(0, 45, 3))
    levels, seeds, seconds = args.levels, args.seeds, args.cost_seconds
    if args.quick:
        levels, seeds, warmups, seconds = 64, [0], [0, 10], min(seconds, 3.0)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    rows = []
    for name in args.models:
        model = resolve(name, spec=get_spec(ENV_ID))
        row = describe(name, model) | exactness(model, levels, warmups, seeds)
        rounds = 2 if args.quick else 5
        row["rollout_ms"] = round(rollout_ms(model, rounds), 3)
        if hasattr(getattr(model, "config", None), "channels_last"):
            row["layout"] = "channels-last" if model.config.channels_last else "NCHW"
            row["other_layout_ms"] = round(rollout_ms(other_layout(model), rounds), 3)
        if seconds > 0:
            standard = measure("standard", {}, seconds / 2)
            i2a = measure("i2a", {"model": name}, seconds)
            row["cost"] = {"frames_per_s": round(i2a["frames_per_s"], 1),
                           "standard_frames_per_s": round(standard["frames_per_s"], 1),
                           "cpu_cost": round(standard["cpu_frames_per_s"] / i2a["cpu_frames_per_s"], 3)}
        rows.append(row)
        print(json.dumps(row), flush=True)
    result = {"date": datetime.date.today().isoformat(), "machine": f"{os.cpu_count()} CPU cores ({cpu_name()}), no GPU",
              "torch": torch.__version__, "load_average": round(load, 2),
              "command": rerun_command("grid_model_size.py", sys.argv[1:]),
              "env": ENV_ID, "levels": levels, "warmups": warmups, "seeds": seeds, "rows": rows}
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    table = markdown(result)
    print(table)
    if not args.no_docs:
        write_section("grid-model-size", table, HEADING)


if __name__ == "__main__":
    main()
