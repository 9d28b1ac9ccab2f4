#!/usr/bin/env python3
"""MiniPacman's one model for five tasks: how it is made and how well it imagines.

    python benchmarks/minipacman_model.py --make       # policy, data, fit, ship (~35 min on 2 cores)
    python benchmarks/minipacman_model.py              # score the shipped model (~3 min)
    python benchmarks/minipacman_model.py --quick      # a smoke run of the scoring

Making it, as the I2A paper does (a random agent rarely eats a ghost): a partially trained
model-free agent (``standard`` on ``minipacman-regular``, 600,000 frames) plays; its
transitions (2,000,000 training, 100,000 validation, sampled actions) feed one frame model
that predicts the next frame and the event counts (step, food, pill, ghost, killed); each
task's reward is then events . that task's weights, so the one file serves all five ids.
Rare events are not over-drawn (``--rare-share 0``, unlike Sokoban's fits): outcomes here
are uncertain (a ghost's coin toss), and a sampler that shows a ghost eaten (0.025% of play)
80 times as often teaches the head a prior that predicts it where it does not come
(validation ghost-count accuracy at step 1,000: 91.0% with a 2% share, 99.96% without). The
best validated model is copied to ``src/reverie/assets/models/minipacman.pt`` with a
JSON record of its making beside it.

Scoring, on episodes never fitted on (the ``test`` split): one-step accuracy per cell,
exact frames, each event's count, and each task's reward, under the partially trained
agent's play and under uniform random play; then the compounding curve over 1-15 imagined
steps against the real env under the real actions (cells, exact frames, player and ghost
positions), beside the copy model and the rules as far as a frame shows them
(``i2a-perfect``'s model); and a picture of imagined against real rollouts. Ghosts move at
random, so no model can be exact about them: the position scores say how far off it is.

Writes ``benchmarks/results/minipacman_model.json``, ``docs/images/minipacman_model_*.png``
and the table between the ``minipacman-model`` markers of docs/benchmarks.md.
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

import model_making
from common import cpu_name, write_section
from reverie.envs.registry import get_spec
from reverie.evaluation.model_diagnostics import compounding_curve, plot_curves
from reverie.models import CopyModel, load

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "minipacman_model.json"
IMAGES = ROOT / "docs" / "images"
ASSET = model_making.ASSETS / "minipacman.pt"
TASKS = ("regular", "avoid", "hunt", "ambush", "rush")
MAKE = {"policy_env": "minipacman-regular", "policy_frames": 600_000, "train_frames": 2_000_000,
        "valid_frames": 100_000, "fit_minutes": 25, "fit_steps": 30_000, "size": "small", "rare_share": 0}


def train_policy(work: Path) -> Path:
    return model_making.train_policy(work, MAKE["policy_env"], MAKE["policy_frames"])


def make(work: Path) -> None:
    model_making.make_model(work, "minipacman", MAKE, "python benchmarks/minipacman_model.py --make")


def one_step(model, spec, policy, frames: int, seed: int) -> dict:
    return model_making.one_step(model, spec, policy, frames, seed, TASKS)


def markdown(result: dict) -> str:
    lines = [f"`{result['command']}` on {result['date']}; {result['machine']}. Model: `{result['model']}` "
             f"({result['parameters']:,} parameters), one file for all five tasks; scored on the test split's "
             "episodes (never fitted on).", "",
             "| play | frames | cells right | exact frames | " + " | ".join(f"{e} count" for e in result["events"])
             + " | " + " | ".join(f"{t} reward" for t in TASKS) + " |",
             "|---|---:|---:|---:|" + "---:|" * (len(result["events"]) + len(TASKS))]
    for play, r in result["one_step"].items():
        lines.append(f"| {play} | {r['frames']:,} | {r['cell_accuracy']:.3%} | {r['exact_frame_accuracy']:.2%} | "
                     + " | ".join(f"{r['event_accuracy'][e]:.2%}" for e in result["events"]) + " | "
                     + " | ".join(f"{r['task_reward_accuracy'][t]:.2%}" for t in TASKS) + " |")
    recall = result["one_step"]["agent"]["event_recall"]
    lines += ["", "Of the steps where an event happened (agent play), the share whose count the model predicted: "
              + ", ".join(f"{e} {v:.1%} of {k:,}" if v is not None else f"{e}: none" for e, (v, k) in recall.items())
              + ".", "",
              "Compounding over imagined steps (agent play, real actions; a rollout counts while its real game "
              "stays in the same level):", "",
              "| model | k | cells right | exact frames | player position | ghost cells found | reward right |",
              "|---|---:|---:|---:|---:|---:|---:|"]
    for name, curve in result["curves"].items():
        for i, k in enumerate(curve["horizon"]):
            if k in (1, 2, 3, 5, 10, 15):
                lines.append(f"| {name} | {k} | {curve['cell_accuracy'][i]:.3%} | {curve['exact_frame_accuracy'][i]:.1%} | "
                             f"{curve['player_position_accuracy'][i]:.1%} | {curve['ghost_cell_accuracy'][i]:.1%} | "
                             f"{curve['reward_accuracy'][i]:.1%} |")
    lines += ["", "![compounding](images/minipacman_model_curve.png)", "",
              "Real (upper) and imagined (lower) rollouts under the same actions, from test episodes:", "",
              "![rollouts](images/minipacman_model_rollouts.png)"]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--make", action="store_true", help="train the policy, collect, fit and ship the model")
    parser.add_argument("--model", default=None, help="model file to score (default: the shipped minipacman)")
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "minipacman-model", help="policy, data, fit")
    parser.add_argument("--frames", type=int, default=50_000, help="one-step transitions scored per play")
    parser.add_argument("--quick", action="store_true", help="a smoke run of the scoring (no docs)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.make:
        make(args.work)
    spec = get_spec("minipacman-hunt")
    path = Path(args.model) if args.model else ASSET
    model = load(path, spec=spec)
    from reverie.training.runs import run_policy

    policy = run_policy(train_policy(args.work), spec, seed=1)
    frames = 2_000 if args.quick else args.frames
    started = time.time()
    result = {"date": datetime.date.today().isoformat(), "machine": f"{os.cpu_count()} CPU cores ({cpu_name()}), no GPU",
              "command": "python benchmarks/minipacman_model.py " + " ".join(sys.argv[1:]),
              "model": str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path),
              "parameters": sum(p.numel() for p in model.parameters()), "events": list(spec.rewards.events),
              "one_step": {"agent": one_step(model, spec, policy, frames, seed=11),
                           "random": one_step(model, spec, None, frames, seed=12)}}
    rollouts = 64 if args.quick else 512
    models = {"learned": model, "copy": CopyModel(), "rules (frame)": spec.make_perfect_model()}
    result["curves"] = {name: compounding_curve(spec, m, horizon=15, rollouts=rollouts, split="test", policy=policy,
                                                seed=13) for name, m in models.items()}
    result["seconds"] = round(time.time() - started, 1)
    print(markdown(result))
    if args.quick:
        return
    RESULTS.write_text(json.dumps(result, indent=1, default=float) + "\n")
    plot_curves(result["curves"], IMAGES / "minipacman_model_curve.png", "MiniPacman: imagined vs real frames")
    model_making.rollout_picture(model, spec, policy, IMAGES / "minipacman_model_rollouts.png")
    write_section("minipacman-model", markdown(result), "MiniPacman's one model for five tasks (`benchmarks/minipacman_model.py`)")


if __name__ == "__main__":
    main()
