#!/usr/bin/env python3
"""A2C on Atari Breakout from pixels: the learning curve one background CPU run affords.

    python benchmarks/atari_model.py --make     # trains the run this reads (runs/atari-model/policy)
    python benchmarks/atari_a2c.py              # its curve, its held-out score and a random policy's

The run is the ``standard`` (Nature CNN) agent trained by ``reverie train --env atari-breakout``
(16 envs, 5-step A2C, constant learning rate, one torch thread) for as many frames as about an
hour of one core allows here; ``benchmarks/atari_model.py --make`` trains it as the policy whose
play the pixel model is fitted on. This script reads its ``metrics.jsonl`` (the mean raw game
score of the games that ended in each logging window), bins the curve, evaluates a uniform random
policy on the same held-out games for scale, and writes ``benchmarks/results/atari_a2c.json``,
``docs/images/atari_a2c_curve.png`` and the ``atari-a2c`` section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
from pathlib import Path

import torch

from common import cpu_name, save_figure, write_section
from reverie.envs.registry import get_spec
from reverie.evaluation.evaluate import evaluate_policy

ROOT = Path(__file__).resolve().parents[1]
RUN = ROOT / "runs" / "atari-model" / "policy"


class Uniform(torch.nn.Module):
    """Uniform over the actions (the scale a score reads against)."""

    def __init__(self, actions: int) -> None:
        super().__init__()
        self.actions = actions

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.zeros(len(obs), self.actions), torch.zeros(len(obs))


def curve(run: Path, points: int) -> list[dict]:
    """The run's training scores binned into ``points`` equal spans of frames (game-weighted means)."""
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    rows = [r for r in rows if r.get("episodes") and r.get("episode_return") is not None]
    last = max(r["frames"] for r in rows)
    bins: list[dict] = []
    for i in range(points):
        low, high = last * i / points, last * (i + 1) / points
        inside = [r for r in rows if low < r["frames"] <= high]
        games = sum(r["episodes"] for r in inside)
        if games:
            bins.append({"frames": int(high), "games": games,
                         "score": sum(r["episode_return"] * r["episodes"] for r in inside) / games})
    return bins


def picture(bins: list[dict], random_score: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot([b["frames"] / 1e6 for b in bins], [b["score"] for b in bins], marker="o", label="A2C (Nature CNN)")
    ax.axhline(random_score, color="grey", linestyle="--", label="uniform random policy")
    ax.set_xlabel("agent steps (millions; 4 emulator frames each)")
    ax.set_ylabel("game score (training games)")
    ax.set_title("Breakout from pixels on one CPU core")
    ax.legend()
    fig.tight_layout()
    save_figure(fig, path)


def markdown(result: dict) -> str:
    run, greedy, rnd = result["evaluation"], result["greedy"], result["random"]
    lines = [f"`{result['command']}` on {result['date']}; {result['machine']}. The run: `{result['train_command']}` "
             f"({result['frames']:,} agent steps = {4 * result['frames']:,} emulator frames, "
             f"{result['minutes']:.0f} minutes at {result['frames_per_second']:.0f} steps/s on a shared machine).", "",
             "| agent steps | training games in the span | mean game score |", "|---:|---:|---:|"]
    lines += [f"| {b['frames']:,} | {b['games']:,.0f} | {b['score']:.1f} |" for b in result["curve"]]
    lines += ["", f"Held-out games ({run['episodes']} each, whole games of 5 lives, raw score, 95% interval):", "",
              "| policy | mean score (95% CI) | mean length (agent steps) |", "|---|---|---:|"]
    for name, r in (("A2C, sampled actions", run), ("A2C, greedy actions", greedy), ("uniform random policy", rnd)):
        low, high = r["return_ci95"]
        lines.append(f"| {name} | {r['mean_return']:.1f} ({low:.1f} to {high:.1f}) | {r['mean_length']:.0f} |")
    lines += ["", "![curve](images/atari_a2c_curve.png)"]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=RUN, help="the A2C run folder")
    parser.add_argument("--points", type=int, default=12, help="points on the curve")
    parser.add_argument("--episodes", type=int, default=100, help="held-out games of the random policy")
    args = parser.parse_args()
    torch.set_num_threads(1)
    summary = json.loads((args.run / "summary.json").read_text())
    config = json.loads((args.run / "config.json").read_text())
    evaluations = json.loads((args.run / "evaluation.json").read_text())
    evaluation = next(v for k, v in evaluations.items() if "|sample|" in k)
    greedy = next(v for k, v in evaluations.items() if "|greedy|" in k)
    spec = get_spec(config["train"]["env"])
    random = evaluate_policy(Uniform(spec.num_actions), spec, "test", args.episodes, seed=0)
    bins = curve(args.run, args.points)
    result = {"date": datetime.date.today().isoformat(), "machine": f"{os.cpu_count()} CPU cores ({cpu_name()})",
              "command": "python benchmarks/atari_a2c.py " + " ".join(sys.argv[1:]),
              "train_command": "reverie train --env atari-breakout --agent standard --frames "
                               f"{config['train']['frames']} --num-envs 16 --lr-schedule constant --threads 1",
              "frames": summary["frames"], "minutes": summary["wall_seconds"] / 60,
              "frames_per_second": summary["frames"] / max(summary["wall_seconds"], 1e-9),
              "curve": bins, "evaluation": evaluation, "greedy": greedy,
              "random": {k: random[k] for k in ("episodes", "mean_return", "return_ci95", "mean_length")}}
    print(markdown(result))
    (ROOT / "benchmarks" / "results" / "atari_a2c.json").write_text(json.dumps(result, indent=1) + "\n")
    picture(bins, random["mean_return"], ROOT / "docs" / "images" / "atari_a2c_curve.png")
    write_section("atari-a2c", markdown(result), "A2C on Atari Breakout from pixels (`benchmarks/atari_a2c.py`)")


if __name__ == "__main__":
    main()
