#!/usr/bin/env python3
"""Atari Breakout's pixel model (Lapan's recipe): how it is made and how far its frames drift.

    python benchmarks/atari_model.py --make      # A2C policy, its transitions, fit (about 2 hours on 2 CPU cores)
    python benchmarks/atari_model.py             # score runs/atari-model/fit/model.pt
    python benchmarks/atari_model.py --model M --quick   # a smoke run of the scoring on any pixel model

Making it as the book does: a ``standard`` (Nature CNN) A2C agent is trained on
``atari-breakout`` (``--policy-frames``), its transitions (sampled actions) are collected and
a :class:`~reverie.models.PixelModel` is fitted on them (frame difference + events).

Scoring, on the test split's games under the policy's actions: for k = 1..``--horizon``
imagined steps from real frames, the mean absolute error of the imagined newest frame (grey
levels 0-255), the share of its pixels within 8 grey levels of the real one, the share of
exactly right frames, and (k = 1) the accuracy of each event; and a GIF of real (left) and
imagined (right) frames over the horizon. Writes ``benchmarks/results/atari_model.json``,
``docs/images/atari_model_rollout.gif`` and the ``atari-model`` section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
from pathlib import Path

import numpy as np
import torch

import model_making
from common import cpu_name, write_section
from reverie.envs.registry import get_spec
from reverie.evaluation.pictures import save_gif
from reverie.models import load

ROOT = Path(__file__).resolve().parents[1]
ENV = "atari-breakout"
# What one background run on 2 CPU cores affords (about 2 hours in all); a GPU takes the book's scale.
MAKE = {"policy_env": ENV, "policy_frames": 1_200_000, "train_frames": 100_000, "valid_frames": 10_000,
        "fit_minutes": 75, "fit_steps": 9_000, "size": "small", "rare_share": 0.1}


@torch.no_grad()
def drift(model, spec, policy, games: int, horizon: int, warmup: int, seed: int) -> dict:
    """Errors of imagined frames against real ones, k = 1..horizon steps from real frames."""
    env = spec.make_env("test", games, seed=seed)
    obs = env.reset_to(torch.arange(games))
    act = (lambda o: policy(o)) if policy is not None else \
        (lambda o: torch.randint(spec.num_actions, (games,), generator=torch.Generator().manual_seed(seed)))
    for _ in range(warmup):
        obs = env.step(act(obs))[0]
    imagined, alive = obs.clone(), torch.ones(games, dtype=torch.bool)
    start = obs[:, -1].float().clone()  # the copy model's every imagined frame
    rows = []
    event_ok = torch.zeros(len(spec.rewards.events))
    frames = []
    for k in range(1, horizon + 1):
        action = act(obs)
        if k == 1:
            predicted = model.predict_events(obs, action)
        imagined = model.step(imagined, action)[0]
        obs, _, _, _, info = env.step(action)
        real = obs.clone()
        real[info["final_index"]] = info["final_obs"]
        if k == 1:
            event_ok = (predicted == info["events"]).float().mean(0)
        alive &= ~torch.isin(torch.arange(games), info["final_index"])
        error = (imagined[:, -1].float() - real[:, -1].float()).abs()[alive]
        copy = (start - real[:, -1].float()).abs()[alive]
        rows.append({"k": k, "games": int(alive.sum()), "mean_abs_error": float(error.mean()) if len(error) else None,
                     "copy_mean_abs_error": float(copy.mean()) if len(copy) else None,
                     "copy_pixels_within_8": float((copy <= 8).float().mean()) if len(copy) else None,
                     "pixels_within_8": float((error <= 8).float().mean()) if len(error) else None,
                     "exact_frames": float((error == 0).flatten(1).all(1).float().mean()) if len(error) else None})
        frames.append(np.concatenate([np.asarray(spec.render(real[:1]))[0], np.asarray(spec.render(imagined[:1]))[0]], 1))
    return {"curve": rows, "event_accuracy": dict(zip(spec.rewards.events, event_ok.tolist())), "frames": frames}


@torch.no_grad()
def event_scores(model, data_dir: Path, events: tuple[str, ...]) -> dict:
    """Each event's accuracy, recall and precision on the data's held-out split (transitions of
    the same policy the model was fitted on; the k = 1 rows above score only one step per game)."""
    from reverie.data.dataset import TransitionDataset

    valid = TransitionDataset.load(data_dir, "valid")
    predicted, true = [], []
    for batch in valid.batches(512):
        predicted.append(model.predict_events(batch["obs"], batch["action"]))
        true.append(batch["events"].long())
    predicted, true = torch.cat(predicted), torch.cat(true)
    scores = {"transitions": len(true)}
    for i, name in enumerate(events):
        hit = (predicted[:, i] > 0) & (true[:, i] > 0)
        scores[name] = {"accuracy": float((predicted[:, i] == true[:, i]).float().mean()),
                        "occurrences": int((true[:, i] > 0).sum()), "predicted": int((predicted[:, i] > 0).sum()),
                        "recall": float(hit.sum() / (true[:, i] > 0).sum().clamp(min=1)),
                        "precision": float(hit.sum() / (predicted[:, i] > 0).sum().clamp(min=1))}
    return scores


def markdown(result: dict) -> str:
    lines = [f"`{result['command']}` on {result['date']}; {result['machine']}. Model: `{result['model']}` "
             f"({result['parameters']:,} parameters); {result['games']} test games under "
             f"{result['policy']}, {result['warmup']} real steps in.", "",
             "| imagined step k | games | mean abs error (0-255) | pixels within 8 | exact frames | "
             "copy model: mean abs error | copy model: pixels within 8 |",
             "|---:|---:|---:|---:|---:|---:|---:|"]
    for r in result["curve"]:
        if r["mean_abs_error"] is not None:
            lines.append(f"| {r['k']} | {r['games']} | {r['mean_abs_error']:.2f} | {r['pixels_within_8']:.2%} | "
                         f"{r['exact_frames']:.1%} | {r['copy_mean_abs_error']:.2f} | {r['copy_pixels_within_8']:.2%} |")
    lines += ["", "One-step event accuracy: " + ", ".join(f"{k} {v:.1%}" for k, v in result["event_accuracy"].items())
              + "."]
    held = result.get("held_out_events")
    if held:
        lines += ["", f"Events on the data's held-out split ({held['transitions']:,} transitions of the same policy):", "",
                  "| event | occurrences | predicted | accuracy | recall | precision |", "|---|---:|---:|---:|---:|---:|"]
        for name, e in held.items():
            if name != "transitions":
                lines.append(f"| {name} | {e['occurrences']} | {e['predicted']} | {e['accuracy']:.2%} | "
                             f"{e['recall']:.1%} | {e['precision']:.1%} |")
    lines += ["", "Real (left) and imagined (right) frames:", "", "![rollout](images/atari_model_rollout.gif)"]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--make", action="store_true", help="train the policy, collect, fit")
    parser.add_argument("--model", type=Path, default=None, help="pixel model to score (default: the made one)")
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "atari-model", help="policy, data, fit")
    parser.add_argument("--policy-frames", type=int, default=MAKE["policy_frames"])
    parser.add_argument("--games", type=int, default=64)
    parser.add_argument("--horizon", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="a smoke run of the scoring (no docs)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    recipe = MAKE | {"policy_frames": args.policy_frames}
    if args.make:
        model_making.make_model(args.work, "atari-breakout", recipe, "python benchmarks/atari_model.py --make",
                                ship=False)
    spec = get_spec(ENV)
    path = args.model or args.work / "fit" / "model.pt"
    model = load(path, spec=spec)
    policy_dir = args.work / "policy"
    policy, described = None, "uniformly random actions"
    if (policy_dir / "summary.json").is_file():
        from reverie.training.runs import run_policy

        policy, described = run_policy(policy_dir, spec, seed=1), f"the A2C policy of {policy_dir.name}"
    games = 4 if args.quick else args.games
    scored = drift(model, spec, policy, games, args.horizon, warmup=8 if args.quick else 60, seed=5)
    result = {"date": datetime.date.today().isoformat(), "machine": f"{os.cpu_count()} CPU cores ({cpu_name()})",
              "command": "python benchmarks/atari_model.py " + " ".join(sys.argv[1:]), "model": str(path),
              "parameters": sum(p.numel() for p in model.parameters()), "games": games, "policy": described,
              "warmup": 8 if args.quick else 60, "curve": scored["curve"], "event_accuracy": scored["event_accuracy"]}
    if (args.work / "data" / "manifest.json").is_file() and not args.quick:
        result["held_out_events"] = event_scores(model, args.work / "data", tuple(spec.rewards.events))
    print(markdown(result))
    if args.quick:
        return
    (ROOT / "benchmarks" / "results" / "atari_model.json").write_text(json.dumps(result, indent=1) + "\n")
    save_gif(scored["frames"], ROOT / "docs" / "images" / "atari_model_rollout.gif", scale=1)
    write_section("atari-model", markdown(result), "Atari Breakout's pixel model (`benchmarks/atari_model.py`)")


if __name__ == "__main__":
    main()
