#!/usr/bin/env python3
"""How fast reverie's Sokoban is: env steps/s, generator levels/s, solver times.

    python benchmarks/sokoban_throughput.py                     # the full run (~8 min)
    python benchmarks/sokoban_throughput.py --quick             # a smoke run (~1 min)
    python benchmarks/sokoban_throughput.py --gym-sokoban-python /tmp/gs-venv/bin/python \
        --jumanji-python /tmp/jx/bin/python

Env throughput: random actions on 10x10 Boxoban levels (or generated 10x10/4 levels when
no Boxoban folder is found), auto-reset on, for several batch sizes, both observation kinds,
with the default ``copy_obs=True`` (each step returns a fresh tensor) and ``copy_obs=False``
(the env's own buffer); symbolic observations both as float32 (the default) and stored as
uint8 (``obs_dtype=torch.uint8``: the same 0/1 values, a quarter of the bytes; networks
convert to float at their input). Large freed blocks are kept for reuse
(``reverie.core.memory``, as the ``reverie`` command runs; ``--default-allocator`` leaves glibc's
setting, under which every 16k-game copied observation is a fresh mmap and a page fault per
4 KB). Configurations are timed in interleaved rounds and each
keeps its median, so a burst of load on the shared machine hits them alike.

References, each in its own virtual env and run from this script (a missing flag skips it,
with a note in the table): gym-sokoban (it needs the old ``gym``) through
``benchmarks/gym_sokoban_reference.py``; Jumanji's JAX Sokoban (``jit`` of a ``scan`` over the
vmapped auto-reset step) through ``benchmarks/jumanji_sokoban_reference.py``.

Writes ``benchmarks/results/sokoban_throughput.json``, the table between the
``sokoban-throughput`` markers of ``docs/benchmarks.md`` and the cost-growth curve
``docs/images/sokoban_cost_growth.png`` (env steps/s and time per game-step against games).
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

from common import boxoban_levels, cpu_name, save_figure, write_section
from reverie.core.memory import reuse_freed_memory
from reverie.envs.sokoban import SokobanVecEnv, generate_levels, load_boxoban, solve
from reverie.envs.sokoban.solver import SolverTimeout

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "boxoban"
CURVE_PNG = ROOT / "docs" / "images" / "sokoban_cost_growth.png"
#: (observation, obs_dtype, copy_obs) of every env row; the first is the headline.
CONFIGS = (("symbolic", "uint8", True), ("symbolic", "float32", True), ("symbolic", "uint8", False),
           ("symbolic", "float32", False), ("rgb", "uint8", True), ("rgb", "uint8", False))


def env_rates(bank, batch: int, configs, seconds: float, rounds: int) -> list[float]:
    """Env steps per second (frames per second for RGB), auto-reset included, of each config:
    the median of ``rounds`` timings of ``seconds`` each, the configs taking turns."""
    envs, samples = [], [[] for _ in configs]
    actions = torch.randint(0, 5, (64, batch), generator=torch.Generator().manual_seed(0))
    for observation, dtype, copy_obs in configs:
        env = SokobanVecEnv(bank, batch, observation=observation, seed=0, copy_obs=copy_obs,
                            obs_dtype=getattr(torch, dtype))
        env.reset()
        for i in range(5):
            env.step(actions[i])
        envs.append(env)
    for _ in range(rounds):
        for env, rates in zip(envs, samples):
            steps, start = 0, time.perf_counter()
            while time.perf_counter() - start < seconds:
                env.step(actions[steps % 64])
                steps += 1
            rates.append(steps * batch / (time.perf_counter() - start))
    return [statistics.median(rates) for rates in samples]


def jumanji(python: str, batches: list[int], seconds: float, single_thread: bool) -> dict | None:
    script = ROOT / "benchmarks" / "jumanji_sokoban_reference.py"
    out = subprocess.run([python, str(script), "--batches", *map(str, batches), "--seconds", str(seconds)]
                         + (["--single-thread"] if single_thread else []),
                         capture_output=True, text=True, timeout=1800)
    if out.returncode != 0:
        print(f"Jumanji reference failed:\n{out.stderr[-2000:]}", file=sys.stderr)
        return None
    return json.loads(out.stdout)


def config_name(row: dict) -> str:
    copy = "copied" if row["copy_obs"] else "own buffer"
    if row["observation"] == "rgb":
        return f"rgb uint8, {copy}"
    return f"symbolic {row['obs_dtype']}, {copy}"


def plot_curve(result: dict, path: Path) -> None:
    """Env steps/s and nanoseconds per game-step against the number of games (log-log)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_rate, ax_cost) = plt.subplots(1, 2, figsize=(11, 4.2))
    series = {}
    for row in result["curve"]:
        series.setdefault(config_name(row), []).append((row["batch"], row["steps_per_s"]))
    if result.get("jumanji"):
        series["Jumanji (JAX) Sokoban"] = [(r["batch"], r["steps_per_s"]) for r in result["jumanji"]["results"]]
    for name, points in series.items():
        games, rates = zip(*sorted(points))
        style = "--" if "Jumanji" in name else "-"
        ax_rate.plot(games, [r / 1e6 for r in rates], style, marker="o", label=name)
        ax_cost.plot(games, [1e9 / r for r in rates], style, marker="o", label=name)
    ticks = sorted({r["batch"] for r in result["curve"]})
    for ax in (ax_rate, ax_cost):
        ax.set_xscale("log", base=2)
        ax.set_xticks(ticks, [f"{t // 1024}k" if t >= 1024 else str(t) for t in ticks])
        ax.minorticks_off()
        ax.set_xlabel("games stepped together (batch)")
        ax.grid(True, which="both", alpha=0.3)
    ax_rate.set_ylabel("env steps/s (millions)")
    ax_rate.set_title("Throughput")
    ax_cost.set_yscale("log")
    ax_cost.set_ylabel("ns per game-step")
    ax_cost.set_title("Cost per game-step")
    ax_rate.legend(fontsize=8)
    fig.suptitle(f"Sokoban 10x10, random actions, auto-reset ({result['machine']}, {result['date']})", fontsize=9)
    fig.tight_layout()
    save_figure(fig, path)


def curve_sentence(rows: list[dict]) -> str:
    """The headline config's curve in words: where it peaks and how 16k compares."""
    points = sorted((r["batch"], r["steps_per_s"]) for r in rows)
    best_batch, best = max(points, key=lambda p: p[1])
    last_batch, last = points[-1]
    first_batch, first = points[0]
    return (f"{config_name(rows[0])}: {first / 1e6:.2f}M steps/s at {first_batch:,} games, a peak of "
            f"{best / 1e6:.2f}M at {best_batch:,}, and {last / 1e6:.2f}M ({100 * last / best:.0f}% of the peak) "
            f"at {last_batch:,}; {1e9 / first:.0f} ns per game-step at {first_batch:,} games, "
            f"{1e9 / last:.0f} ns at {last_batch:,}.")


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
        f"| {r['observation']} | {r['obs_dtype']} | {r['batch']:,} | {r['copy_obs']} | {r['steps_per_s']:,.0f} |"
        for r in result["env"]
    )
    gen = result["generator"]
    solver = result["solver"]
    lines = [
        f"Measured {result['date']} on {result['machine']} (torch {result['torch']}, "
        f"{result['threads']} thread(s); load average {result['load_average_start'][0]:.1f} at the start, "
        f"{result['load_average_end'][0]:.1f} at the end: other jobs shared the machine), with `{result['command']}`.",
        "",
        f"Env steps/s, random actions, auto-reset on, levels: {result['env_levels']}; each figure is the "
        f"median of {result['rounds']} interleaved timings. Memory allocator: {result.get('allocator', 'glibc default')}.",
        "",
        *versus(result),
        "",
        "| observation | obs_dtype | batch | copy_obs | steps/s |",
        "|---|---|---:|---|---:|",
        env_rows,
        "",
        f"Cost growth (`{CURVE_PNG.relative_to(ROOT / 'docs')}`): " + curve_sentence(
            [r for r in result["curve"] if config_name(r) == config_name(result["curve"][0])]),
        "",
        f"![Sokoban env cost growth]({CURVE_PNG.relative_to(ROOT / 'docs')})",
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


def versus(result: dict) -> list[str]:
    """The symbolic rows against Jumanji and gym-sokoban, batch by batch."""
    symbolic = [r for r in result["env"] if r["observation"] == "symbolic"]
    names = list(dict.fromkeys(config_name(r) for r in symbolic))
    jax = {r["batch"]: r["steps_per_s"] for r in (result.get("jumanji") or {}).get("results", [])}
    gym = result.get("gym_sokoban")
    gym_rate = gym["env_steps"]["results"]["tiny_rgb_array"]["steps_per_s"] if gym else None
    header = "| batch | " + " | ".join(names) + " | Jumanji (JAX) |"
    lines = [header, "|---:|" + "---:|" * (len(names) + 1)]
    for batch in sorted({r["batch"] for r in symbolic}):
        cells = []
        for name in names:
            rate = next(r["steps_per_s"] for r in symbolic if r["batch"] == batch and config_name(r) == name)
            cell = f"{rate / 1e6:.2f}M"
            if batch in jax:
                cell += f" ({rate / jax[batch]:.1f}x)"
            cells.append(cell)
        lines.append(f"| {batch:,} | " + " | ".join(cells) + f" | {jax[batch] / 1e6:.2f}M |" if batch in jax
                     else f"| {batch:,} | " + " | ".join(cells) + " | - |")
    notes = ["", "Symbolic env steps/s; in brackets, the multiple of Jumanji's JAX Sokoban at the same batch, "
             "measured in the same run."]
    if result.get("jumanji"):
        j = result["jumanji"]
        threads = ", one XLA thread" if j.get("single_thread") else ""
        notes.append(f"Jumanji {j['versions']['jumanji']} (jax {j['versions']['jax']}, {j['backend']}{threads}): "
                     f"{j['env']}; its observation is a uint8 grid [10, 10, 2] per game.")
    else:
        notes.append("Jumanji: not measured in this run (no `--jumanji-python`).")
    if gym_rate:
        best = max(r["steps_per_s"] for r in symbolic if config_name(r) == names[0])
        notes.append(f"gym-sokoban's fastest env mode (its 10x10 `tiny_rgb_array`, one env) ran "
                     f"{gym_rate:,.0f} steps/s in this run: {names[0]} at its best batch is "
                     f"**{best / gym_rate:,.0f}x** that.")
    else:
        notes.append("gym-sokoban: not measured in this run (no `--gym-sokoban-python`).")
    return lines + notes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short timings, fewer sizes")
    parser.add_argument("--levels", default=None, help="Boxoban folder (default: $REVERIE_BOXOBAN, ~/.local/share/reverie/boxoban-levels "
                        "or ../shared/boxoban-levels)")
    parser.add_argument("--gym-sokoban-python", help="python of a venv with gym-sokoban installed")
    parser.add_argument("--gym-sokoban-levels", type=int, default=5)
    parser.add_argument("--jumanji-python", help="python of a venv with jumanji installed")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's own choice)")
    parser.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "sokoban_throughput.json"))
    parser.add_argument("--no-docs", action="store_true", help="do not update docs/benchmarks.md")
    parser.add_argument("--default-allocator", action="store_true",
                        help="leave glibc's mmap threshold as it is (by default large freed blocks are kept for "
                             "reuse, as the reverie command does: reverie.core.memory)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    allocator = "glibc default" if args.default_allocator else (
        "large freed blocks kept for reuse (reverie.core.memory, as the reverie command runs)"
        if reuse_freed_memory() else "default (no glibc mallopt)")

    boxoban = Path(args.levels) if args.levels else (boxoban_levels() or FIXTURES)
    train = boxoban / "unfiltered" / "train"
    if train.exists():
        bank, bank_name = load_boxoban(train), f"Boxoban unfiltered/train ({train})"
    else:
        bank, bank_name = generate_levels(1000, 10, 10, 4, seed=0), "1,000 generated 10x10/4 levels"
    load_start = [round(x, 2) for x in os.getloadavg()]
    seconds, rounds = (0.3, 1) if args.quick else (0.5, 3)
    batches = [1024, 4096, 16384] if args.quick else [256, 1024, 4096, 16384]
    curve_batches = batches if args.quick else [256, 512, 1024, 2048, 4096, 8192, 16384]
    env_rows, curve = [], []
    for batch in curve_batches:
        # every config at the table's batch sizes; the curve's other sizes only for symbolic ones
        configs = [c for c in CONFIGS if batch in batches or c[0] == "symbolic"]
        for (observation, dtype, copy_obs), rate in zip(configs, env_rates(bank, batch, configs, seconds, rounds)):
            row = {"observation": observation, "obs_dtype": dtype, "batch": batch, "copy_obs": copy_obs,
                   "steps_per_s": round(rate)}
            (env_rows if batch in batches else curve).append(row)
            print(f"env {config_name(row):28s} batch {batch:6d} {rate:12,.0f} steps/s", flush=True)
    curve = sorted(curve + [r for r in env_rows if r["observation"] == "symbolic"],
                   key=lambda r: (CONFIGS.index((r["observation"], r["obs_dtype"], r["copy_obs"])), r["batch"]))
    jumanji_result = jumanji(args.jumanji_python, curve_batches, 1.0 if args.quick else 2.0,
                             torch.get_num_threads() == 1) if args.jumanji_python else None
    if jumanji_result:
        for r in jumanji_result["results"]:
            print(f"Jumanji batch {r['batch']:6d} {r['steps_per_s']:12,.0f} steps/s", flush=True)

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
    if args.jumanji_python:
        command += " --jumanji-python <jumanji-venv>/bin/python"
    if args.threads:
        command += f" --threads {args.threads}"
    if args.default_allocator:
        command += " --default-allocator"
    result = {
        "date": datetime.date.today().isoformat(),
        "machine": f"{os.cpu_count()} CPU cores, {cpu_name()}, no GPU",
        "torch": torch.__version__, "threads": torch.get_num_threads(),
        "command": command, "allocator": allocator, "env_levels": bank_name, "rounds": rounds, "seconds_per_timing": seconds,
        "load_average_start": load_start, "load_average_end": [round(x, 2) for x in os.getloadavg()],
        "env": env_rows, "curve": curve, "jumanji": jumanji_result, "generator": {k: round(v, 3) for k, v in gen.items()}, "solver": solver,
    }
    if args.gym_sokoban_python:
        result["gym_sokoban"] = gym_sokoban(args.gym_sokoban_python, args.gym_sokoban_levels)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    table = markdown(result)
    print(table)
    if not args.no_docs:
        plot_curve(result, CURVE_PNG)
        write_section("sokoban-throughput", table, "Sokoban: environment, generator, solver")


if __name__ == "__main__":
    main()
