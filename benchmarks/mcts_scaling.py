#!/usr/bin/env python3
"""How batched MCTS's speed grows with the batch and the budget: imagined steps/s, perfect model.

    PYTHONPATH=src python benchmarks/mcts_scaling.py            # the full run (~5 min)
    PYTHONPATH=src python benchmarks/mcts_scaling.py --quick    # a smoke run (seconds)

reverie's MCTS (UCT, random rollouts of 10, :mod:`reverie.planning.mcts`) searches many
levels as one batch: a simulation is a few whole-batch tensor operations per tree depth, so
a level's share of their fixed cost should fall as the batch grows, until the trees no longer
fit the caches. Two sweeps, both with the game's rules as the model (the perfect model) on
10x10 levels, the world and levels of ``imagination_efficiency.py``'s throughput figure
(Boxoban unfiltered/test, 120-step episodes; generated ``sokoban-10x10-4`` test levels when no
Boxoban folder is found):

- **batch**: levels searched at once (16 to 4,096; past the 1,000 test levels they repeat)
  at a fixed budget;
- **budget**: imagined steps per level per decision (16 to 1,024) at a fixed batch.

Each configuration plays the first decisions of its levels (``play_levels`` with a short
episode cap, the search keeping its tree between decisions as it does in play) and counts
only the time inside ``MCTS.act``: not building the env or the trees, nor the real game's
steps. One torch thread. A timing repeats those decisions until it has 1.5 s of CPU time;
the figure is the best of a few timings, since the other jobs on this shared machine only
ever slow one down. CPU time (the thread's own) is the headline, wall-clock beside it.

Writes ``benchmarks/results/mcts_scaling.json``, ``docs/images/mcts_scaling.png`` and the
``mcts-scaling`` section of ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

from common import boxoban_levels, cpu_name, rerun_command, save_figure, write_section
from imagination_efficiency import load_avg, spec_10x10
from reverie.envs.registry import get_spec
from reverie.planning.episodes import play_levels
from reverie.planning.mcts import MCTS, MCTSConfig

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "mcts_scaling.json"
PLOT = ROOT / "docs" / "images" / "mcts_scaling.png"
HEADING = "MCTS: imagined steps/s against batch and budget (`benchmarks/mcts_scaling.py`)"
FULL = {"batches": [16, 64, 256, 1024, 4096], "budgets": [16, 64, 256, 1024], "fixed_budget": 64, "fixed_batch": 256,
        "decisions": 4, "repeats": 5, "min_cpu_seconds": 1.5}
QUICK = {"batches": [4, 16], "budgets": [8, 32], "fixed_budget": 16, "fixed_batch": 8,
         "decisions": 2, "repeats": 1, "min_cpu_seconds": 0.05}


def world() -> tuple[object, str]:
    """The 10x10 world searched and its levels' name: Boxoban unfiltered/test as
    ``imagination_efficiency`` plays it, else the generated 10x10 preset (120-step episodes)."""
    if boxoban_levels() is not None:
        return spec_10x10(), "Boxoban unfiltered/test"
    return get_spec("sokoban-10x10-4", max_steps=120), "generated sokoban-10x10-4 test levels"


class ActClock:
    """Thread CPU and wall seconds inside ``search.act``, the steps it imagined and the level
    decisions it made: the search alone, without the env, the trees' allocation or the real game.

    It also counts the simulation rounds (one simulation of every running level) and the tree
    levels their descents walked: a round walks as deep as its deepest level's path, and every
    level walked is a few whole-batch operations, which is what a deeper tree costs."""

    def __init__(self, search: MCTS) -> None:
        self.cpu = self.wall = 0.0
        self.imagined = self.decisions = self.rounds = self.depth = 0
        inner, backup = search.act, search._backup

        def counted_backup(path, *args):
            self.rounds, self.depth = self.rounds + 1, self.depth + len(path)
            return backup(path, *args)

        search._backup = counted_backup

        def act(active=None):
            self.tree_bytes = search.memory_bytes()
            cpu, wall = time.thread_time(), time.perf_counter()
            actions = inner(active)
            self.cpu += time.thread_time() - cpu
            self.wall += time.perf_counter() - wall
            self.imagined += int(search.last_imagined.sum())
            self.decisions += search.B if active is None else int(active.sum())
            return actions

        search.act = act  # an instance attribute: shadows the method for this search only


def play(spec, batch: int, budget: int, decisions: int) -> ActClock:
    """A fresh search over the first ``batch`` test levels for their first ``decisions`` decisions."""
    search = MCTS(spec.make_perfect_model(), spec, MCTSConfig(budget=budget))
    clock = ActClock(search)
    play_levels(search, spec, "test", batch, max_steps=decisions, batch=batch, progress=False)
    return clock


def timing(spec, batch: int, budget: int, decisions: int, min_cpu_seconds: float) -> dict:
    """One timing: plays of ``decisions`` decisions until the search has had ``min_cpu_seconds``
    of CPU time, so that small configurations are not timed on a few milliseconds."""
    cpu = wall = 0.0
    imagined = made = plays = rounds = depth = 0
    while cpu < min_cpu_seconds:
        clock = play(spec, batch, budget, decisions)
        cpu, wall = cpu + clock.cpu, wall + clock.wall
        imagined, made, plays = imagined + clock.imagined, made + clock.decisions, plays + 1
        rounds, depth = rounds + clock.rounds, depth + clock.depth
    return {"plays": plays, "imagined": imagined, "decisions": made, "cpu_seconds": cpu, "wall_seconds": wall,
            "tree_mb": clock.tree_bytes / 1e6, "rounds_per_decision": rounds / (plays * decisions), "descent": depth / max(rounds, 1)}


def measure(spec, batch: int, budget: int, settings: dict) -> dict:
    """Best of ``repeats`` timings of one configuration (CPU and wall-clock rates each at their best)."""
    runs = [timing(spec, batch, budget, settings["decisions"], settings["min_cpu_seconds"])
            for _ in range(settings["repeats"])]
    best_cpu = max(r["imagined"] / r["cpu_seconds"] for r in runs)
    best_wall = max(r["imagined"] / r["wall_seconds"] for r in runs)
    row = {"batch": batch, "budget": budget, "imagined_per_decision": round(runs[0]["imagined"] / runs[0]["decisions"], 1),
           "steps_per_s": round(best_cpu), "wall_steps_per_s": round(best_wall),
           "decisions_per_s": round(max(r["decisions"] / r["cpu_seconds"] for r in runs), 1),
           "us_per_step": round(1e6 / best_cpu, 3), "plays": runs[0]["plays"],
           "rounds_per_decision": round(runs[0]["rounds_per_decision"], 1), "descent": round(runs[0]["descent"], 2),
           "tree_mb": round(runs[0]["tree_mb"], 1),
           "load": load_avg()}
    print(f"batch {batch:5d} budget {budget:5d}: {row['steps_per_s']:10,} imagined steps/s CPU time "
          f"({row['wall_steps_per_s']:,} wall), {row['decisions_per_s']:,} decisions/s, "
          f"{row['imagined_per_decision']} imagined/decision, {row['rounds_per_decision']} rounds/decision, "
          f"descent {row['descent']} levels/round (load {row['load']})", flush=True)
    return row


def factors(rows: list[dict], key: str) -> str:
    """How ``key`` changed from each point to the next, as ratios ("2.8x, 2.3x")."""
    return ", ".join(f"{b[key] / a[key]:.2f}x" for a, b in zip(rows, rows[1:]))


def shape_of_batch(rows: list[dict]) -> str:
    """The batch sweep in words: how the cost per imagined step falls, and whether the fall slows
    or turns up again at the largest batches."""
    first, best, last = rows[0], min(rows, key=lambda r: r["us_per_step"]), rows[-1]
    text = (f"Against the batch (budget {first['budget']}), the CPU time per imagined step falls from "
            f"{first['us_per_step']:.1f} us at {first['batch']:,} levels to {best['us_per_step']:.2f} us at "
            f"{best['batch']:,} ({first['us_per_step'] / best['us_per_step']:.0f}x less; from one batch to the "
            f"next: {factors(rows, 'us_per_step')}): a simulation round is the same few dozen whole-batch tensor "
            "operations per tree level whatever the batch, and more levels share their fixed cost (microseconds "
            "each on this CPU).")
    if best is not last:
        return text + (f" It rises again to {last['us_per_step']:.2f} us at {last['batch']:,} levels, whose trees "
                       f"({last['tree_mb']:,.0f} MB) are far past the caches: memory traffic dominates.")
    first_gain = first["us_per_step"] / rows[1]["us_per_step"]
    last_gain = rows[-2]["us_per_step"] / last["us_per_step"]
    if last_gain < first_gain:
        text += (f" The fall slows at the largest batches, where the per-level work takes over: gathers from "
                 f"and scatters into {last['tree_mb']:,.0f} MB of trees at {last['batch']:,} levels, far past "
                 "the caches")
    else:
        text += f" It is still falling at {last['batch']:,} levels, whose trees take {last['tree_mb']:,.0f} MB"
    if last["rounds_per_decision"] < 1.2 * first["rounds_per_decision"]:
        return text + "."
    return text + (f"; and a decision waits for its slowest level, which takes more rounds in a bigger batch "
                   f"({first['rounds_per_decision']:.0f} rounds per decision at {first['batch']:,} levels, "
                   f"{last['rounds_per_decision']:.0f} at {last['batch']:,}), its last rounds stepping few levels.")


def shape_of_budget(rows: list[dict]) -> str:
    """The budget sweep in words: throughput from the smallest budget to the largest, beside the
    depth the simulation rounds walked."""
    first, last = rows[0], rows[-1]
    return (f"Against the budget ({first['batch']:,} levels), throughput goes from {first['steps_per_s']:,} "
            f"imagined steps/s at {first['budget']:,} steps per decision to {last['steps_per_s']:,} at "
            f"{last['budget']:,} (from one budget to the next: {factors(rows, 'steps_per_s')}), while decisions/s "
            f"fall with the budget itself, from {first['decisions_per_s']:,.0f} to {last['decisions_per_s']:,.0f}. "
            "Every simulation round walks each tree from its root, a few whole-batch operations per level, "
            f"before its new node's step and its rollout: the rounds walked {first['descent']:.1f} levels at "
            f"budget {first['budget']:,} and {last['descent']:.1f} at {last['budget']:,}, in trees of up to "
            "2 x budget + 1 nodes, so the search's bookkeeping per imagined step grows as the trees deepen"
            + ("; the fall slows, each larger budget costing less throughput than the one before."
               if slowing(rows) else "."))


def slowing(rows: list[dict]) -> bool:
    """Whether each step of the budget sweep costs less throughput than the one before it."""
    ratios = [b["steps_per_s"] / a["steps_per_s"] for a, b in zip(rows, rows[1:])]
    return len(ratios) > 1 and all(x < y for x, y in zip(ratios, ratios[1:]))


def noise(result: dict) -> str:
    """The configuration both sweeps timed, twice in one run: how far apart its two figures are."""
    twice = [(a, b) for a in result["batch"] for b in result["budget"]
             if (a["batch"], a["budget"]) == (b["batch"], b["budget"])]
    if not twice:
        return ""
    a, b = twice[0]
    return (f"Both sweeps time {a['batch']:,} levels at budget {a['budget']}: {a['steps_per_s']:,} and "
            f"{b['steps_per_s']:,} steps/s in this run, a gauge of the machine's noise.")


def markdown(result: dict) -> str:
    """The ``mcts-scaling`` section: how it was measured, both sweeps, the figure and their shapes."""
    s = result["settings"]
    lines = [
        f"Measured {result['date']} on {result['machine']} (load average {result['load_start']} at the start, "
        f"{result['load_end']} at the end: **the machine was shared with other jobs**, each row notes the load "
        f"when it was timed), with `{result['command']}` ({result['wall_seconds'] / 60:.1f} min).",
        "",
        f"MCTS (UCT, random rollouts of 10) with the perfect model on {result['levels']} (120-step episodes), "
        f"the first {s['decisions']} decisions of each level with the tree kept between them, one torch thread; "
        "only the time inside `MCTS.act` counts. *steps/s* is imagined steps per second of the search's CPU "
        f"time, the best of {s['repeats']} timings of at least {s['min_cpu_seconds']:g} s; *wall* the same "
        "against the wall-clock; *decisions/s* counts one decision of one level (levels x decisions). "
        "*rounds / decision* is the simulation rounds a decision took (a round simulates every level still "
        "searching; a simulation costs its new node's step and up to 10 rollout steps, and a step into a wall "
        "only one); *descent* the tree levels a round walked on average (as deep as its deepest level's path); "
        "*trees* the memory of the batch's trees (`MCTS.memory_bytes`). Batches past the levels' count repeat "
        "levels.",
        "",
        "| sweep | levels (batch) | budget / decision | imagined / decision | rounds / decision | descent | "
        "trees, MB | steps/s | wall steps/s | us per step | decisions/s | load |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for sweep in ("batch", "budget"):
        for r in result[sweep]:
            lines.append(f"| {sweep} | {r['batch']:,} | {r['budget']:,} | {r['imagined_per_decision']:,.1f} | "
                         f"{r['rounds_per_decision']:.1f} | {r['descent']:.1f} | {r['tree_mb']:,.1f} | "
                         f"{r['steps_per_s']:,} | {r['wall_steps_per_s']:,} | {r['us_per_step']:.2f} | "
                         f"{r['decisions_per_s']:,.0f} | {r['load']} |")
    lines += ["", noise(result), "", f"![MCTS imagined steps/s against batch and budget](images/{PLOT.name})", "",
              shape_of_batch(result["batch"]), "", shape_of_budget(result["budget"])]
    return "\n".join(lines)


def plot(result: dict, path: Path) -> None:
    """Two panels, log-log: imagined steps/s against the batch, and against the budget."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, sweep, fixed in ((axes[0], "batch", "budget"), (axes[1], "budget", "batch")):
        rows = result[sweep]
        xs = [r[sweep] for r in rows]
        ax.plot(xs, [r["steps_per_s"] / 1e3 for r in rows], "o-", label="imagined steps/s (CPU time)")
        ax.plot(xs, [r["wall_steps_per_s"] / 1e3 for r in rows], "x--", color="gray", label="imagined steps/s (wall)")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks(xs, [f"{x:,}" for x in xs])
        ax.minorticks_off()
        ax.yaxis.set_major_locator(LogLocator(subs=(1, 2, 5)))  # labelled ticks within a decade too
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.set_ylabel("thousand imagined steps/s")
        ax.grid(True, which="both", alpha=0.3)
        ax.set_title(f"against the {sweep} ({fixed} {rows[0][fixed]:,})", fontsize=10)
        ax.legend(fontsize=8)
    axes[0].set_xlabel("levels searched at once (batch)")
    axes[1].set_xlabel("budget: imagined steps per level per decision")
    fig.suptitle(f"MCTS with the perfect model, {result['levels']}, one thread ({result['date']})", fontsize=9)
    fig.tight_layout()
    save_figure(fig, path)


def write_docs(result: dict) -> None:
    plot(result, PLOT)
    write_section("mcts-scaling", markdown(result), HEADING)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny batches and budgets, short timings (smoke run)")
    parser.add_argument("--json", default=str(RESULTS))
    parser.add_argument("--no-docs", action="store_true", help="do not update docs/benchmarks.md or the figure")
    parser.add_argument("--from-json", metavar="PATH", help="measure nothing: redraw the figure and section from a record")
    args = parser.parse_args()
    if args.from_json:
        write_docs(json.loads(Path(args.from_json).read_text()))
        return
    torch.set_num_threads(1)
    settings = QUICK if args.quick else FULL
    spec, levels = world()
    began, load_start = time.perf_counter(), load_avg()
    play(spec, settings["fixed_batch"], settings["fixed_budget"], settings["decisions"])  # warm-up
    batch_rows = [measure(spec, b, settings["fixed_budget"], settings) for b in settings["batches"]]
    budget_rows = [measure(spec, settings["fixed_batch"], b, settings) for b in settings["budgets"]]
    result = {
        "date": datetime.date.today().isoformat(), "quick": args.quick,
        "machine": f"{os.cpu_count()} CPU cores ({cpu_name()}), no GPU, 1 torch thread, torch {torch.__version__}, "
                   f"Python {platform.python_version()}",
        "command": rerun_command("mcts_scaling.py", sys.argv[1:]), "levels": levels, "settings": settings,
        "load_start": load_start, "load_end": load_avg(), "wall_seconds": round(time.perf_counter() - began, 1),
        "batch": batch_rows, "budget": budget_rows,
    }
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    print(markdown(result))
    if not args.no_docs:
        write_docs(result)


if __name__ == "__main__":
    main()
