#!/usr/bin/env python3
"""How often CEM/MPC with a learned dynamics model parks the car in highway-env's parking-v0.

    python benchmarks/parking.py                    # full run (~40-60 min on the shared 2-core box)
    python benchmarks/parking.py --episodes 20 --true-episodes 5 --no-levers   # a shorter run
    python benchmarks/parking.py --quick            # a smoke run (~3 min)
    python benchmarks/parking.py --docs-only        # the docs section again, from the saved JSON

Protocol: 5,000 random real transitions (uniform actions held 2 steps; crash steps left out),
seed 0. Each model kind (structured, mlp, ensemble of 5 structured members) is fitted on them
with a 20% validation split and early stopping, then drives ``--episodes`` evaluation episodes
(env seeds 10000 + i, the same for every kind) with CEM replanning every step and the env's
known reward computed from the predicted state and the desired goal (plus its -5 collision
reward when the predicted car touches a wall). The env runs with its defaults
(``add_walls=True``, ``duration=100`` s = 500 decisions), stated in every result. The
true-environment bound plans with the env's own vehicle code as the model (fewer episodes: it
steps every imagined row in Python). Levers, each a separate fit: data from the planner's own
episodes (collect/refit rounds within the same 5,000-transition budget), a longer horizon, a
larger population.

Planning time is the wall time of each ``planner.act`` call (one decision), one torch thread.
Writes ``benchmarks/results/parking.json`` (after every row, so a cut-short run keeps its
rows), pictures under ``docs/images/`` and the section between the ``parking`` markers of
``docs/benchmarks.md``.
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

from common import cpu_name, write_section
from reverie.core.atomic import write_json
from reverie.core.config import to_dict
from reverie.models.vector import VectorFitConfig
from reverie.planning.cem import CEMConfig
from reverie.workflows.control import (ParkingTask, collect_random, collect_with_planner, evaluate, make_model,
                                      make_planner, run_episode)
from reverie.workflows.control_diagnostics import (command_trajectories, compounding_error, plot_command_trajectories,
                                          plot_error_curves, real_segments, save_episode_gif)

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "parking.json"
IMAGES = ROOT / "docs" / "images"


NOTES = """\
Notes. The success rate is `info["is_success"]` at the episode's end (the env ends an episode on
success or on a crash); episodes that neither park nor crash run to the 500-decision limit, so
a failure costs ~40 s of wall time and dominates the run time. The ensemble plans in
*partition* mode unless a row says *mean*: the population is split into one block per member
and each imagined trajectory follows one member, which costs what one model costs; *mean*
runs every particle through all 5 members. The true-environment bound steps highway-env's own
`Vehicle` (deep-copied once; position, heading and speed are the whole car state) for every
imagined row in a Python loop, which is exact (the tests check it against `env.step`) but
slow; deep-copying the whole env per imagined row would cost far more (its observation alone
takes ~10 ms a step). Model-free reference: not run. Stable-Baselines3 is not a dependency,
and SAC + HER needs on the order of 10^5 env steps on parking-v0 (at the env's ~65-90
steps/s here that is well over half an hour of simulation before any gradient step, on a
shared 2-core machine); the reference point reported elsewhere is ~90% success *without*
walls for TQC/SAC + HER and near 0% for plain SAC/TD3 with walls."""


def machine() -> str:
    return f"{cpu_name()}, {os.cpu_count()} cores, 1 torch thread, torch {torch.__version__}, Python {platform.python_version()}"


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def run_row(name: str, task, env, model, cem: CEMConfig, episodes: int, fit=None, data_note: str = "") -> dict:
    planner = make_planner(task, model, cem, seed=0)
    begin = time.perf_counter()
    counter = {"ok": 0}

    def progress(i, episode):
        counter["ok"] += episode.success
        if (i + 1) % 10 == 0 or i + 1 == episodes:
            log(f"  {name}: {i + 1}/{episodes} episodes, {counter['ok']} parked")

    result = evaluate(task, planner, episodes, seed=10_000, env=env, progress=progress)
    result["eval_seconds"] = time.perf_counter() - begin
    result["planner"] = to_dict(cem)
    if fit is not None:
        result["fit"] = {"epochs": fit.epochs, "best_val_loss": fit.best_val_loss, "seconds": round(fit.seconds, 1)}
    result["data"] = data_note
    log(f"{name}: success {100 * result['success_rate']:.0f}%, crashes {100 * result['crash_rate']:.0f}%, "
        f"median plan {result['median_plan_ms']:.1f} ms")
    return result


def table(rows: dict) -> str:
    lines = ["| model | data (real transitions) | episodes | success % (95% CI) | crash % | mean length | "
             "median length (parked) | median plan ms | p90 plan ms | fit s |",
             "|---|---|---:|---|---:|---:|---:|---:|---:|---:|"]
    for name, r in rows.items():
        ci = f"{100 * r['success_rate']:.0f} ({100 * r['success_ci95'][0]:.0f}-{100 * r['success_ci95'][1]:.0f})"
        fit = f"{r['fit']['seconds']:.0f}" if r.get("fit") else "-"
        med = r["median_length_success"] if r["median_length_success"] is not None else "-"
        lines.append(f"| {name} | {r['data']} | {r['episodes']} | {ci} | {100 * r['crash_rate']:.0f} | "
                     f"{r['mean_length']:.1f} | {med} | {r['median_plan_ms']:.1f} | {r['p90_plan_ms']:.1f} | {fit} |")
    return "\n".join(lines)


def write_docs(result: dict) -> None:
    cem = result["planner"]
    curves = result.get("compounding_error")
    curve_lines = []
    if curves:
        steps = curves["steps"]
        picks = [s for s in (1, 5, 10, 15) if s <= len(steps)]
        curve_lines = ["", "Open-loop position error (m) against held-out random real trajectories "
                       f"({curves['segments']} segments):", "",
                       "| model | " + " | ".join(f"step {s}" for s in picks) + " |",
                       "|---|" + "---:|" * len(picks)]
        for name, row in curves["models"].items():
            curve_lines.append(f"| {name} | " + " | ".join(f"{row['position_error'][s - 1]:.2f}" for s in picks) + " |")
    body = "\n".join([
        f"`{result['command']}` on {result['date']}; {result['machine']}. "
        f"Env: `parking-v0`, highway-env {result['highway_env']}, `add_walls={result['env']['add_walls']}`, "
        f"`duration={result['env']['duration']}` (s; 5 decisions a second, so at most "
        f"{5 * result['env']['duration']} decisions an episode).",
        "",
        f"Planner (unless a row says otherwise): CEM, horizon {cem['horizon']} actions x action repeat "
        f"{cem['action_repeat']}, population {cem['population']}, elites {cem['elites']}, {cem['iterations']} "
        "iterations, warm start, known reward (the env's goal reward from the predicted state plus its collision "
        "reward at the walls), replanning every step. Evaluation episodes use env seeds 10000, 10001, ... for every row. "
        f"Random data: {result['data']['random_transitions']:,} transitions in {result['data']['collect_seconds']:.0f} s.",
        "",
        table(result["rows"]),
        *curve_lines,
        "",
        NOTES,
        "",
        "![predicted vs real paths](images/parking_trajectories.png)",
        "![compounding error](images/parking_compounding.png)",
        "![a parking episode](images/parking.gif)",
    ])
    write_section("parking", body, "Model-based parking: learned dynamics + CEM/MPC (`benchmarks/parking.py`)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument("--true-episodes", type=int, default=20)
    parser.add_argument("--transitions", type=int, default=5000)
    parser.add_argument("--kinds", default="structured,mlp,ensemble")
    parser.add_argument("--no-levers", action="store_true", help="skip the lever rows")
    parser.add_argument("--lever-episodes", type=int, default=30)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-docs", action="store_true")
    parser.add_argument("--docs-only", action="store_true", help="rewrite the docs section from the saved JSON")
    args = parser.parse_args()
    if args.docs_only:
        write_docs(json.loads(RESULTS.read_text()))
        return 0
    if args.quick:
        args.episodes, args.true_episodes, args.transitions, args.lever_episodes = 5, 2, 1500, 3
    torch.set_num_threads(1)
    import highway_env

    task = ParkingTask()
    env = task.make_env()
    cem = task.cem_config()
    result = {
        "command": "python benchmarks/parking.py " + " ".join(sys.argv[1:]),
        "date": datetime.date.today().isoformat(), "machine": machine(),
        "highway_env": highway_env.__version__ if hasattr(highway_env, "__version__") else "1.12.1",
        "env": task.describe(), "planner": to_dict(cem), "rows": {},
    }
    save = lambda: write_json(RESULTS, result)  # noqa: E731
    begin = time.perf_counter()
    data = collect_random(task, args.transitions, seed=0, env=env)
    result["data"] = {"random_transitions": len(data), "collect_seconds": time.perf_counter() - begin}
    log(f"collected {len(data)} transitions")
    fit_config = VectorFitConfig(seed=0)
    models = {}
    for kind in args.kinds.split(","):
        model, fit = make_model(task, kind, data, env=env, fit=fit_config, seed=0)
        models[kind] = model
        log(f"fitted {kind}: {fit.epochs} epochs, {fit.seconds:.0f} s")
        result["rows"][kind] = run_row(kind, task, env, model, cem, args.episodes, fit, f"{len(data):,} random")
        save()

    # Diagnostics: predicted vs real paths, compounding error, a GIF of one episode.
    IMAGES.mkdir(parents=True, exist_ok=True)
    truth = {"true env": task.true_model(env)}
    traj = command_trajectories(task, env, models)
    plot_command_trajectories(traj, IMAGES / "parking_trajectories.png")
    states, actions = real_segments(task, env, 50, 15)
    curves = compounding_error({**models, **truth}, states, actions, position_dims=(0, 1), position_scale=100.0)
    result["compounding_error"] = curves
    plot_error_curves(curves, IMAGES / "parking_compounding.png")
    first = next(iter(models))
    render_env = task.make_env(render=True)
    episode = run_episode(task, render_env, make_planner(task, models[first], cem, seed=0), 10_003, frames=True)
    render_env.close()
    save_episode_gif(episode.frames, IMAGES / "parking.gif", every=1)
    result["gif"] = {"model": first, "seed": 10_003, "success": episode.success, "length": episode.length}
    save()

    if args.true_episodes:
        model, _ = make_model(task, "true", None, env=env)
        result["rows"]["true env (upper bound)"] = run_row("true env", task, env, model, cem, args.true_episodes,
                                                           data_note="none (the env's own vehicle code)")
        save()

    if not args.no_levers:
        base = "structured" if "structured" in args.kinds.split(",") else args.kinds.split(",")[0]
        n = args.lever_episodes
        if "ensemble" in models:
            models["ensemble"].ensemble_mode = "mean"
            result["rows"]["ensemble, mean mode"] = run_row("ensemble, mean", task, env, models["ensemble"], cem, n,
                                                            data_note=f"{len(data):,} random")
            models["ensemble"].ensemble_mode = "partition"
            save()
        # Lever 1: a longer look-ahead; lever 2: a larger population (same model as the base row).
        longer = CEMConfig(**{**to_dict(cem), "horizon": cem.horizon * 2})
        result["rows"][f"{base}, horizon x2"] = run_row("horizon x2", task, env, models[base], longer, n,
                                                        data_note=f"{len(data):,} random")
        save()
        bigger = CEMConfig(**{**to_dict(cem), "population": cem.population * 2, "elites": cem.elites * 2})
        result["rows"][f"{base}, population x2"] = run_row("population x2", task, env, models[base], bigger, n,
                                                           data_note=f"{len(data):,} random")
        save()
        # Lever 3: data from the planner's own episodes, same 5,000-transition budget:
        # 3,000 random, then rounds of planner episodes + refit until the budget is spent.
        own = data.index(torch.arange(min(3000, len(data))))
        model, fit = make_model(task, base, own, env=env, fit=fit_config, seed=0)
        rounds = 0
        while len(own) < args.transitions and rounds < 8:
            planner = make_planner(task, model, cem, seed=rounds)
            extra = collect_with_planner(task, planner, 10, seed=50_000 + 100 * rounds, env=env, action_noise=0.1)
            if extra is None:
                break
            extra = extra.index(torch.arange(min(len(extra), args.transitions - len(own))))
            own = own.cat(extra)
            rounds += 1
            model, fit = make_model(task, base, own, env=env, fit=fit_config, seed=rounds)
            log(f"refit round {rounds}: {len(own)} transitions")
        result["rows"][f"{base}, planner data"] = run_row(
            "planner data", task, env, model, cem, n, fit,
            f"{min(3000, len(data)):,} random + {len(own) - min(3000, len(data)):,} planner ({rounds} rounds)")
        save()

    env.close()
    result["wall_seconds"] = time.perf_counter() - begin
    save()
    if not args.no_docs:
        write_docs(result)
    print(table(result["rows"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
