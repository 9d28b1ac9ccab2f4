#!/usr/bin/env python3
"""RGB Sokoban as the I2A paper saw it, beside the symbolic planes: the pipeline on both.

    python benchmarks/rgb_sokoban.py --make    # both pipelines (~1.5 h on 2 shared CPU cores), then the table
    python benchmarks/rgb_sokoban.py           # the table from the finished runs

The two runs are ``reverie run`` on its default world (``sokoban-6x6-1``) and settings, at 100,000
I2A frames (a quarter of the default: RGB imagination costs ~20x more per frame on a CPU, see
``benchmarks/pixel_cost.py``), once on one-hot planes and once with ``--observation rgb``; the
RGB model gets 20 fitting minutes instead of 2, its steps being ~10x dearer. Each pipeline's
model is then scored on the same held-out transitions: random play from the id's **test**
levels, which no stage fitted or trained on (the RGB frames are the planes' cells drawn as
sprites, so the two datasets are the same transitions). Writes ``benchmarks/results/rgb_sokoban.json``,
``docs/images/rgb_imagination.gif`` and the ``rgb-sokoban`` section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import torch

from common import cpu_name, write_section
from reverie.data.dataset import TransitionDataset, collect_dataset
from reverie.envs.registry import get_spec
from reverie.models import load
from reverie.models.scoring import one_step

ROOT = Path(__file__).resolve().parents[1]
ENV = "sokoban-6x6-1"
FRAMES = 100_000
RUNS = {"symbolic": (ROOT / "runs" / "pipeline-symbolic-100k", ["--agent-frames", str(FRAMES)]),
        "rgb": (ROOT / "runs" / "pipeline-rgb", ["--observation", "rgb", "--fit-minutes", "20",
                                                  "--agent-frames", str(FRAMES)])}


def command(kind: str) -> list[str]:
    folder, flags = RUNS[kind]
    return ["reverie", "run", *flags, "--out", str(folder.relative_to(ROOT))]


def held_out(frames: int) -> dict[str, TransitionDataset]:
    """The same random-play transitions of the test levels, as planes and as RGB frames."""
    planes = collect_dataset("test", frames, num_envs=256, seed=7, env=ENV)
    rgb_spec = get_spec(ENV, observation="rgb")
    rgb = TransitionDataset(planes.codes, planes.next_codes, planes.action, planes.reward, planes.reward_class,
                            planes.level, spec=rgb_spec)
    return {"symbolic": planes, "rgb": rgb}


def row(kind: str, data: TransitionDataset) -> dict:
    folder = RUNS[kind][0]
    summary = json.loads((folder / "summary.json").read_text())
    model = load(folder / "model" / "model.pt", spec=data.spec)
    scored = one_step(model, data, batch_size=1024)
    return {"observation": kind, "command": " ".join(command(kind)), "model": type(model).__name__,
            "model_parameters": sum(p.numel() for p in model.parameters()),
            "fit_steps": summary["model"]["fit_steps"], "fit_seconds": summary["stages"]["fit"]["seconds"],
            "validation_exact": summary["model"]["exact_frame_accuracy"],
            "test_frames": scored["frames"], "test_exact": scored["exact_frame_accuracy"],
            "test_push_frames": scored.get("push_frames"), "test_push_exact": scored.get("push_exact_frame_accuracy"),
            "test_reward": scored["reward_accuracy"],
            "agent_parameters": summary["agent"]["parameters"],
            "frames_per_second": summary["agent"]["frames_per_second"],
            "train_seconds": summary["stages"]["train"]["seconds"], "evaluation": summary["evaluation"]}


def markdown(result: dict) -> str:
    lines = [f"Measured {result['date']} on {result['machine']} with `{result['command']}`. The pipelines: "
             + "; ".join(f"`{r['command']}`" for r in result["rows"]) + f". Model scores: {result['test_frames']:,} "
             "transitions of random play on the held-out test levels.", "",
             "| observation | model (parameters) | fitted | exact next frames, test levels | of which pushes | "
             "rewards | I2A parameters | I2A frames/s | solved, sampled (95% CI) | solved, greedy |",
             "|---|---|---|---:|---:|---:|---:|---:|---|---|"]
    for r in result["rows"]:
        s, g = r["evaluation"]["sample"], r["evaluation"]["greedy"]
        push = f"{r['test_push_exact']:.2%} of {r['test_push_frames']:,}" if r["test_push_frames"] else "-"
        lines.append(f"| {r['observation']} | {r['model']} ({r['model_parameters']:,}) | {r['fit_steps']:,} steps, "
                     f"{r['fit_seconds'] / 60:.0f} min | {r['test_exact']:.2%} | {push} | {r['test_reward']:.2%} | "
                     f"{r['agent_parameters']:,} | {r['frames_per_second']:,.0f} | {s['success_rate']:.1%} "
                     f"({s['ci95'][0]:.1%} to {s['ci95'][1]:.1%}) | {g['success_rate']:.1%} |")
    rnd = result["rows"][0]["evaluation"]["random"]
    lines += ["", f"A uniform random policy solves {rnd['success_rate']:.1%} ({rnd['ci95'][0]:.1%} to "
              f"{rnd['ci95'][1]:.1%}) of the same {rnd['episodes']} test levels. *I2A frames/s* is the training "
              "run's own rate on a machine shared with other runs (paired costs: `benchmarks/pixel_cost.py`).",
              "", "What the RGB agent imagined before each real step (one row per first action):", "",
              "![rgb imagination](images/rgb_imagination.gif)"]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--make", action="store_true", help="run (or resume) both pipelines first")
    parser.add_argument("--test-frames", type=int, default=20_000, help="held-out transitions to score the models on")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.make:
        for kind in RUNS:
            subprocess.run(command(kind), cwd=ROOT, check=True)
    data = held_out(args.test_frames)
    rows = [row(kind, data[kind]) for kind in RUNS]
    result = {"date": datetime.date.today().isoformat(), "machine": f"{os.cpu_count()} CPU cores ({cpu_name()})",
              "command": "python benchmarks/rgb_sokoban.py " + " ".join(sys.argv[1:]), "test_frames": args.test_frames,
              "rows": rows}
    print(markdown(result))
    (ROOT / "benchmarks" / "results" / "rgb_sokoban.json").write_text(json.dumps(result, indent=1) + "\n")
    shutil.copyfile(RUNS["rgb"][0] / "imagination.gif", ROOT / "docs" / "images" / "rgb_imagination.gif")
    write_section("rgb-sokoban", markdown(result), "RGB Sokoban beside the symbolic planes (`benchmarks/rgb_sokoban.py`)")


if __name__ == "__main__":
    main()
