#!/usr/bin/env python3
"""What pixels cost imagination: I2A against the standard agent on frames, paired per world.

    python benchmarks/pixel_cost.py            # ~4 min
    python benchmarks/pixel_cost.py --quick    # a smoke run (~1 min, no docs)

For each world the real A2C trainer (one torch thread, 5-step rollouts) is timed with the
``standard`` agent and then with ``i2a`` imagining with a learned model of that world's
observations (weights do not change what a step costs, so fresh models stand in for fitted
ones): Sokoban 6x6 (the ``reverie run`` default's settings) on one-hot planes with the grid
model and on RGB frames with the palette model, the paper's 10x10 Sokoban both ways at rollout
length 5, and Atari Breakout from pixels with the frame-difference model at the book's
rollout length 3. The machine is shared, so each I2A timing is paired with the standard
agent's just before it, and costs are ratios of CPU time per frame within a pair.

Writes ``benchmarks/results/pixel_cost.json`` and the ``pixel-cost`` section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import tempfile
from pathlib import Path

import torch

from common import cpu_name, time_training, write_section
from reverie.agents import build_agent
from reverie.envs.registry import get_spec
from reverie.models import GridModel, PaletteModel, PixelModel, save_model
from reverie.training.actor_critic import A2C, A2CConfig

ROOT = Path(__file__).resolve().parents[1]
#: name, env id, env options, envs, rollout length, encoder LSTM units, the model's class
WORLDS = (
    ("Sokoban 6x6, one-hot planes", "sokoban-6x6-1", {}, 64, 3, 32, GridModel),
    ("Sokoban 6x6, RGB 48x48", "sokoban-6x6-1", {"observation": "rgb"}, 64, 3, 32, PaletteModel),
    ("Sokoban 10x10, one-hot planes", "sokoban-10x10-4", {}, 64, 5, 256, GridModel),
    ("Sokoban 10x10, RGB 80x80 (the paper's)", "sokoban-10x10-4", {"observation": "rgb"}, 64, 5, 256, PaletteModel),
    ("Atari Breakout, 2 x 84x84 grey", "atari-breakout", {}, 16, 3, 256, PixelModel),
)


def trainer(env_id: str, options: dict, num_envs: int, agent: str, agent_options: dict) -> A2C:
    torch.set_num_threads(1)
    spec = get_spec(env_id, **options)
    env = spec.make_env("train", num_envs, seed=0)
    torch.manual_seed(0)
    return A2C(build_agent(agent, spec, **agent_options), env, A2CConfig(), total_frames=10**9, seed=0)


def measure(world: tuple, seconds: float, folder: Path) -> dict:
    name, env_id, options, num_envs, length, hidden, model_cls = world
    spec = get_spec(env_id, **options)
    torch.manual_seed(0)
    path = save_model(model_cls.for_spec(spec), folder / f"{env_id}-{len(options)}.pt")
    standard = time_training(trainer(env_id, options, num_envs, "standard", {}), seconds, warmup=3)
    i2a = time_training(trainer(env_id, options, num_envs, "i2a", {"model": str(path), "rollout_length": length,
                                                                   "encoder_hidden": hidden}), seconds, warmup=3)
    return {"world": name, "env": env_id, "options": options, "num_envs": num_envs, "rollout_length": length,
            "encoder_hidden": hidden, "model": model_cls.__name__, "standard": standard, "i2a": i2a,
            "cost_cpu": round(standard["cpu_frames_per_s"] / i2a["cpu_frames_per_s"], 2),
            "cost_wall": round(standard["frames_per_s"] / i2a["frames_per_s"], 2)}


def markdown(result: dict) -> str:
    lines = [f"Measured {result['date']} on {result['machine']} with `{result['command']}`, {result['seconds']:.0f} s "
             "per timing, one torch thread, 5-step A2C updates. *frames/s (CPU)* divides by the CPU time the "
             "process got (the machine is shared: wall-clock frames/s are in the JSON); *cost* is the standard "
             "agent's CPU frames/s over I2A's, timed back to back.", "",
             "| world | envs | model | rollout length | standard frames/s (CPU) | I2A frames/s (CPU) | cost |",
             "|---|---:|---|---:|---:|---:|---:|"]
    for r in result["rows"]:
        lines.append(f"| {r['world']} | {r['num_envs']} | {r['model']} | {r['rollout_length']} | "
                     f"{r['standard']['cpu_frames_per_s']:,.0f} | {r['i2a']['cpu_frames_per_s']:,.1f} | "
                     f"{r['cost_cpu']:.1f}x |")
    by = {r["world"]: r for r in result["rows"]}
    pairs = [("Sokoban 6x6, RGB 48x48", "Sokoban 6x6, one-hot planes"),
             ("Sokoban 10x10, RGB 80x80 (the paper's)", "Sokoban 10x10, one-hot planes")]
    notes = [f"RGB I2A costs {by[b]['i2a']['cpu_frames_per_s'] / by[a]['i2a']['cpu_frames_per_s']:.1f}x symbolic "
             f"I2A per frame on {a.split(',')[0]}" for a, b in pairs if a in by and b in by]
    if notes:
        lines += ["", "; ".join(notes) + "."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="seconds timed per agent and world")
    parser.add_argument("--quick", action="store_true", help="3 s per timing, Sokoban 6x6 only, no docs")
    args = parser.parse_args()
    seconds = 3.0 if args.quick else args.seconds
    worlds = WORLDS[:2] if args.quick else WORLDS
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for world in worlds:
            if world[1].startswith("atari"):
                try:
                    import ale_py  # noqa: F401
                except ImportError:
                    print(f"skipping {world[0]}: install the atari extra (pip install -e '.[atari]')")
                    continue
            rows.append(measure(world, seconds, Path(folder)))
            r = rows[-1]
            print(f"{r['world']}: standard {r['standard']['cpu_frames_per_s']:,.0f}, i2a "
                  f"{r['i2a']['cpu_frames_per_s']:,.1f} CPU frames/s: {r['cost_cpu']:.1f}x", flush=True)
    result = {"date": datetime.date.today().isoformat(), "machine": f"{os.cpu_count()} CPU cores ({cpu_name()})",
              "command": "python benchmarks/pixel_cost.py " + " ".join(sys.argv[1:]), "seconds": seconds,
              "torch": torch.__version__, "rows": rows}
    print(markdown(result))
    if args.quick:
        return
    (ROOT / "benchmarks" / "results" / "pixel_cost.json").write_text(json.dumps(result, indent=1) + "\n")
    write_section("pixel-cost", markdown(result), "What pixels cost imagination (`benchmarks/pixel_cost.py`)")


if __name__ == "__main__":
    main()
