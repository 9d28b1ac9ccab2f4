#!/usr/bin/env python3
"""Mixed precision and channels-last on the pixel paths: do they make A2C training faster?

    python benchmarks/precision.py            # ~5 min
    python benchmarks/precision.py --quick    # a smoke run (3 s per timing, no docs)

The real A2C trainer (one torch thread, 5-step updates) is timed on three pixel
configurations, each in four variants: fp32 (the default), bf16 autocast, channels-last (fp32)
and bf16 with channels-last (``A2CConfig(precision=..., channels_last=...)``). The
configurations: the standard agent on the paper's 80x80 RGB Sokoban (10x10, 64 envs), I2A on
48x48 RGB Sokoban (6x6, 64 envs) imagining with a fresh palette model (rollout length 3,
encoder LSTM 32; weights do not change what a step costs), and the standard agent on Atari
Breakout's 84x84 frames (16 envs; skipped without ale_py). The machine is shared, so the four
variants of a configuration are built and warmed up together and timed back to back, twice,
the second time in reverse order (half the seconds each), and compared in CPU frames/s.

Writes ``benchmarks/results/precision.json`` and the ``precision`` section of docs/benchmarks.md.
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
from reverie.models import PaletteModel, save_model
from reverie.training.actor_critic import A2C, A2CConfig

ROOT = Path(__file__).resolve().parents[1]
#: name, env id, env options, agent, envs
CONFIGS = (
    ("standard, Sokoban 10x10 RGB 80x80", "sokoban-10x10-4", {"observation": "rgb"}, "standard", 64),
    ("i2a, Sokoban 6x6 RGB 48x48", "sokoban-6x6-1", {"observation": "rgb"}, "i2a", 64),
    ("standard, Atari Breakout 2x84x84", "atari-breakout", {}, "standard", 16),
)
#: variant name -> (precision, channels_last)
VARIANTS = {"fp32": ("fp32", False), "bf16": ("bf16", False), "channels-last": ("fp32", True),
            "bf16 + channels-last": ("bf16", True)}
FLAGS = {"bf16": "--precision bf16", "channels-last": "--channels-last",
         "bf16 + channels-last": "--precision bf16 --channels-last"}
#: a variant is recommended for a configuration only from this speed-up on
CLEARLY_FASTER = 1.15


def agent_options(agent: str, spec, folder: Path) -> dict:
    """The standard agent needs none; I2A imagines with a fresh palette model saved to ``folder``."""
    if agent != "i2a":
        return {}
    torch.manual_seed(0)
    path = save_model(PaletteModel.for_spec(spec), folder / f"{spec.id}-palette.pt")
    return {"model": str(path), "rollout_length": 3, "encoder_hidden": 32}


def measure(config: tuple, seconds: float, folder: Path) -> dict:
    name, env_id, options, agent, num_envs = config
    torch.set_num_threads(1)
    spec = get_spec(env_id, **options)
    extra = agent_options(agent, spec, folder)
    trainers = {}
    for variant, (precision, channels_last) in VARIANTS.items():
        torch.manual_seed(0)
        policy = build_agent(agent, spec, **extra)
        trainers[variant] = A2C(policy, spec.make_env("train", num_envs, seed=0),
                                A2CConfig(precision=precision, channels_last=channels_last),
                                total_frames=10**9, seed=0)
        for _ in range(3):  # warm-up (one-time kernel choices, caches)
            trainers[variant].train_step()
    frames, cpu = dict.fromkeys(VARIANTS, 0.0), dict.fromkeys(VARIANTS, 0.0)
    for order in (list(VARIANTS), list(VARIANTS)[::-1]):  # ABCD then DCBA: a drifting load evens out
        for variant in order:
            timing = time_training(trainers[variant], seconds / 2, warmup=0)
            frames[variant] += timing["frames"]
            cpu[variant] += timing["frames"] / timing["cpu_frames_per_s"]
    speed = {variant: round(frames[variant] / cpu[variant], 1) for variant in VARIANTS}
    shown = extra | ({"model": "PaletteModel (fresh)"} if "model" in extra else {})  # not the temp path
    return {"config": name, "env": env_id, "options": options, "agent": agent, "agent_options": shown,
            "num_envs": num_envs, "cpu_frames_per_s": speed,
            "ratio": {v: round(speed[v] / speed["fp32"], 2) for v in VARIANTS}}


def conclusion(rows: list[dict]) -> str:
    """Where a variant clearly beats fp32, the one to use there: the simplest one within noise
    of the best (the defaults stay fp32 without channels-last either way)."""
    gains, none = [], []
    for r in rows:
        passing = [v for v in VARIANTS if v != "fp32" and r["ratio"][v] >= CLEARLY_FASTER]
        if not passing:
            none.append(r["config"])
            continue
        best = max(r["ratio"][v] for v in passing)
        pick = next(v for v in passing if r["ratio"][v] * CLEARLY_FASTER >= best)  # fewest flags first
        gains.append(f"{r['config']} trains {r['ratio'][pick]:.2f}x as fast with `{FLAGS[pick]}`")
    if not gains:
        return (f"No variant was clearly (>{CLEARLY_FASTER - 1:.0%}) faster than fp32 on any configuration, so "
                "the defaults stay fp32 without channels-last.")
    others = f" (nothing clearly faster for {', '.join(none)})" if none else ""
    return (f"Clearly (>{CLEARLY_FASTER - 1:.0%}) faster than fp32: {'; '.join(gains)}, the flags we recommend "
            f"there{others}. The defaults stay fp32 without channels-last: the gain is this CPU's, and bf16's "
            "effect on learning is not measured here.")


def markdown(result: dict) -> str:
    lines = [f"Measured {result['date']} on {result['machine']} with `{result['command']}`, torch {result['torch']}, "
             f"{result['seconds']:.0f} s per variant (two halves, in ABCD then DCBA order), one torch thread, "
             "5-step A2C updates. *frames/s (CPU)* divides by the CPU time the process got; the machine was "
             "shared with other training runs during the measurement, so the figures are noisy (a few percent "
             "either way is no difference). bf16 is autocast around the agent's forward passes (losses in "
             "float32); this CPU has AVX-512 BF16 but no AMX.", "",
             "| configuration | envs | " + " | ".join(f"{v} frames/s (CPU)" for v in VARIANTS) + " | "
             + " | ".join(f"{v} / fp32" for v in VARIANTS if v != "fp32") + " |",
             "|---|---:|" + "---:|" * (2 * len(VARIANTS) - 1)]
    for r in result["rows"]:
        speeds = " | ".join(f"{r['cpu_frames_per_s'][v]:,.0f}" for v in VARIANTS)
        ratios = " | ".join(f"{r['ratio'][v]:.2f}x" for v in VARIANTS if v != "fp32")
        lines.append(f"| {r['config']} | {r['num_envs']} | {speeds} | {ratios} |")
    for skipped in result.get("skipped", []):
        lines.append(f"\n({skipped})")
    return "\n".join(lines + ["", conclusion(result["rows"])])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="seconds timed per variant and configuration")
    parser.add_argument("--quick", action="store_true", help="3 s per timing, no docs")
    args = parser.parse_args()
    seconds = 3.0 if args.quick else args.seconds
    rows, skipped = [], []
    with tempfile.TemporaryDirectory() as folder:
        for config in CONFIGS:
            if config[1].startswith("atari"):
                try:
                    import ale_py  # noqa: F401
                except ImportError:
                    skipped.append(f"skipped {config[0]}: install the atari extra (pip install -e '.[atari]')")
                    print(skipped[-1])
                    continue
            rows.append(measure(config, seconds, Path(folder)))
            r = rows[-1]
            print(f"{r['config']}: " + ", ".join(f"{v} {r['cpu_frames_per_s'][v]:,.0f} ({r['ratio'][v]:.2f}x)"
                                                 for v in VARIANTS) + " CPU frames/s", flush=True)
    result = {"date": datetime.date.today().isoformat(), "machine": f"{os.cpu_count()} CPU cores ({cpu_name()})",
              "command": " ".join(["python benchmarks/precision.py", *sys.argv[1:]]), "seconds": seconds,
              "torch": torch.__version__, "rows": rows, "skipped": skipped}
    print(markdown(result))
    if args.quick:
        return
    (ROOT / "benchmarks" / "results" / "precision.json").write_text(json.dumps(result, indent=1) + "\n")
    write_section("precision", markdown(result),
                  "Mixed precision and channels-last on the pixel paths (`benchmarks/precision.py`)")


if __name__ == "__main__":
    main()
