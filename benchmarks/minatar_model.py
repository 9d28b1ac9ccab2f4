#!/usr/bin/env python3
"""MinAtar Breakout's shipped frame model: how it is made and how well it imagines.

    python benchmarks/minatar_model.py --make       # policy, data, fit, ship (~30 min on 2 cores)
    python benchmarks/minatar_model.py              # score the shipped model (~2 min)
    python benchmarks/minatar_model.py --quick      # a smoke run of the scoring

Making it, as the I2A paper does for its worlds: a partially trained ``standard`` agent
(500,000 frames) plays Breakout with MinAtar's sticky actions; its transitions (1,000,000
training, 100,000 validation, sampled actions) feed one frame model that predicts the next
frame's four planes and the events (brick broken, ball lost): the reward is the bricks, the
episode's end the lost ball. The best validated model is copied to
``src/reverie/assets/models/minatar-breakout.pt`` with a JSON record of its making beside it.

Scoring, on episodes never fitted on (the ``test`` split): one-step accuracy per cell, exact
frames and each event's count under the agent's play and under uniform random play; the
compounding curve over 1-15 imagined steps against the real env under the real actions
(cells, exact frames, ball and paddle positions, rewards), beside the copy model and the
rules (``i2a-perfect``'s model); and a picture of imagined against real rollouts. A sticky
step plays the last action instead of the one given (10% of steps), which no model that is
told the action can foresee: that, not the model, bounds the paddle's accuracy.

Writes ``benchmarks/results/minatar_model.json``, ``docs/images/minatar_model_*.png`` and the
table between the ``minatar-model`` markers of docs/benchmarks.md.
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
RESULTS = ROOT / "benchmarks" / "results" / "minatar_model.json"
IMAGES = ROOT / "docs" / "images"
ENV = "minatar-breakout"
ASSET = model_making.ASSETS / f"{ENV}.pt"
MAKE = {"policy_env": ENV, "policy_frames": 500_000, "train_frames": 1_000_000, "valid_frames": 100_000,
        "fit_minutes": 20, "fit_steps": 20_000, "size": "small", "rare_share": 0.02}
TASKS = ("breakout",)


def markdown(result: dict) -> str:
    events = result["events"]
    lines = [f"`{result['command']}` on {result['date']}; {result['machine']}. Model: `{result['model']}` "
             f"({result['parameters']:,} parameters); scored on the test split's episodes (never fitted on), "
             "sticky actions on (0.1).", "",
             "| play | frames | cells right | exact frames | " + " | ".join(f"{e} count" for e in events)
             + " | reward |", "|---|---:|---:|---:|" + "---:|" * (len(events) + 1)]
    for play, r in result["one_step"].items():
        lines.append(f"| {play} | {r['frames']:,} | {r['cell_accuracy']:.3%} | {r['exact_frame_accuracy']:.2%} | "
                     + " | ".join(f"{r['event_accuracy'][e]:.2%}" for e in events)
                     + f" | {r['task_reward_accuracy']['breakout']:.2%} |")
    recall = result["one_step"]["agent"]["event_recall"]
    lines += ["", "Of the steps where an event happened (agent play), the share the model predicted: "
              + ", ".join(f"{e} {v:.1%} of {k:,}" if v is not None else f"{e}: none" for e, (v, k) in recall.items())
              + ".", "", "Compounding over imagined steps (agent play, real actions):", "",
              "| model | k | cells right | exact frames | ball position | paddle position | reward right |",
              "|---|---:|---:|---:|---:|---:|---:|"]
    for name, curve in result["curves"].items():
        for i, k in enumerate(curve["horizon"]):
            if k in (1, 2, 3, 5, 10, 15):
                lines.append(f"| {name} | {k} | {curve['cell_accuracy'][i]:.3%} | "
                             f"{curve['exact_frame_accuracy'][i]:.1%} | {curve['ball_position_accuracy'][i]:.1%} | "
                             f"{curve['paddle_position_accuracy'][i]:.1%} | {curve['reward_accuracy'][i]:.1%} |")
    lines += ["", "![compounding](images/minatar_model_curve.png)", "",
              "Real (upper) and imagined (lower) rollouts under the same actions, from test episodes:", "",
              "![rollouts](images/minatar_model_rollouts.png)"]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--make", action="store_true", help="train the policy, collect, fit and ship the model")
    parser.add_argument("--model", default=None, help="model file to score (default: the shipped one)")
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "minatar-model", help="policy, data, fit")
    parser.add_argument("--frames", type=int, default=50_000, help="one-step transitions scored per play")
    parser.add_argument("--quick", action="store_true", help="a smoke run of the scoring (no docs)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.make:
        model_making.make_model(args.work, ENV, MAKE, "python benchmarks/minatar_model.py --make")
    spec = get_spec(ENV)
    path = Path(args.model) if args.model else ASSET
    model = load(path, spec=spec)
    from reverie.training.runs import run_policy

    policy = run_policy(model_making.train_policy(args.work, ENV, MAKE["policy_frames"]), spec, seed=1)
    frames = 2_000 if args.quick else args.frames
    started = time.time()
    result = {"date": datetime.date.today().isoformat(), "machine": f"{os.cpu_count()} CPU cores ({cpu_name()}), no GPU",
              "command": "python benchmarks/minatar_model.py " + " ".join(sys.argv[1:]),
              "model": str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path),
              "parameters": sum(p.numel() for p in model.parameters()), "events": list(spec.rewards.events),
              "one_step": {"agent": model_making.one_step(model, spec, policy, frames, 11, TASKS),
                           "random": model_making.one_step(model, spec, None, frames, 12, TASKS)}}
    rollouts = 64 if args.quick else 512
    models = {"learned": model, "copy": CopyModel(), "rules": spec.make_perfect_model()}
    result["curves"] = {name: compounding_curve(spec, m, horizon=15, rollouts=rollouts, split="test", policy=policy,
                                                seed=13) for name, m in models.items()}
    result["seconds"] = round(time.time() - started, 1)
    print(markdown(result))
    if args.quick:
        return
    RESULTS.write_text(json.dumps(result, indent=1, default=float) + "\n")
    plot_curves(result["curves"], IMAGES / "minatar_model_curve.png", "MinAtar Breakout: imagined vs real frames")
    model_making.rollout_picture(model, spec, policy, IMAGES / "minatar_model_rollouts.png", warmup=4)
    write_section("minatar-model", markdown(result), "MinAtar Breakout's model (`benchmarks/minatar_model.py`)")


if __name__ == "__main__":
    main()
