#!/usr/bin/env python3
"""What the one-command pipeline costs: ``reverie run`` on its default, and the paper preset.

    PYTHONPATH=src python benchmarks/pipeline.py                # ~10 min default run + ~5 min paper preset
    PYTHONPATH=src python benchmarks/pipeline.py --seconds 20   # shorter paper-preset timing

1. The default pipeline, run in full in ``--out`` (a finished folder is reused: the
   pipeline skips its stages and its summary keeps their times): wall time per stage and
   the held-out solve rates.
2. The paper preset (10x10 rooms, 4 boxes, GridModel 16/32/64, LSTM 256, rollout length 5)
   end to end on a tiny budget, to show it runs as configured, then its I2A training
   frames/s timed with the real trainer beside the standard agent on the same levels.

Writes ``benchmarks/results/pipeline.json`` and the ``pipeline`` section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
from pathlib import Path

import torch

from common import cpu_name, success_rate, time_training, write_section
from reverie.agents import build_agent, count_parameters
from reverie.envs.registry import make_env
from reverie.workflows.pipeline import PRESETS, PipelineConfig, run
from reverie.training.actor_critic import A2C, A2CConfig

ROOT = Path(__file__).resolve().parents[1]
HEADING = "The one-command pipeline (`benchmarks/pipeline.py`)"
#: the paper preset end to end on a budget that only proves it runs
PAPER_SMOKE = dict(data_frames=50_000, fit_steps=200, agent_frames=3_200, eval_episodes=20)


def paper_throughput(model: Path, seconds: float) -> list[dict]:
    """I2A at the paper preset's sizes and the standard agent, same env, same trainer settings."""
    paper = PRESETS["paper"]
    rows = []
    for agent, options in (("standard", {}),
                           ("i2a", {"model": str(model), "rollout_length": paper["rollout_length"],
                                    "encoder_hidden": paper["encoder_hidden"]})):
        torch.set_num_threads(1)
        env = make_env(paper["env"], "train", paper["num_envs"], seed=0)
        torch.manual_seed(0)
        policy = build_agent(agent, env.spec, **options)
        trainer = A2C(policy, env, A2CConfig(lr_schedule="constant", bootstrap_truncated=False),
                      total_frames=10**9, seed=0)
        timing = time_training(trainer, seconds if agent == "i2a" else seconds / 3, warmup=2)
        rows.append({"agent": agent, "parameters": count_parameters(policy), **timing,
                     "frames_per_s": round(timing["frames_per_s"], 1)})
    return rows


def standard_baseline(config: PipelineConfig, run_dir: Path) -> dict:
    """The standard model-free agent on the default's env, frames and A2C settings (a finished
    run in ``run_dir`` is reused): what imagination adds on the same budget."""
    from reverie.evaluation.evaluate import final_evaluation
    from reverie.training.runs import TrainConfig, train

    if (run_dir / "summary.json").is_file():
        summary = json.loads((run_dir / "summary.json").read_text())
    else:
        summary = train(TrainConfig(env=config.env, agent="standard", frames=config.agent_frames, seed=config.seed,
                                    run_dir=run_dir, num_envs=config.num_envs, eval_episodes=config.eval_episodes,
                                    tensorboard=False),
                        A2CConfig(lr_schedule="constant", bootstrap_truncated=False), progress=False,
                        evaluate=final_evaluation)
    return {"wall_seconds": summary["wall_seconds"], **summary["evaluation"]}


def markdown(result: dict) -> str:
    d, p = result["default"], result["paper"]
    e = d["summary"]["evaluation"]
    config = d["config"]

    def pct(mode: str) -> str:
        r = e[mode]
        return f"{success_rate(r):.1%} ({r['ci95'][0]:.1%} to {r['ci95'][1]:.1%})"

    stage_rows = "\n".join(f"| {name} | {s['seconds']:.0f} |" for name, s in d["summary"]["stages"].items())
    paper_rows = "\n".join(f"| {name} | {s['seconds']:.0f} |" for name, s in p["summary"]["stages"].items())
    fps = {row["agent"]: row for row in p["throughput"]}
    i2a, std = fps["i2a"], fps["standard"]
    days = 1e9 / i2a["frames_per_s"] / 86_400
    m = d["summary"]["model"]
    return "\n".join([
        f"Measured {result['date']} on {result['machine']}, **no GPU available** (torch {result['torch']}; load "
        f"average {result['load_average']} at the start: other jobs' training runs shared the 2 cores), with "
        f"`{result['command']}`.",
        "",
        f"**`reverie run` on its default** (`{config['env']}`: {config['data_frames']:,} random-policy transitions, "
        f"a `{config['model_size']}` GridModel fitted for at most {config['fit_steps']:,} steps or "
        f"{config['fit_minutes']:g} minutes, I2A with rollout length {config['rollout_length']} trained for "
        f"{config['agent_frames']:,} frames on {config['num_envs']} envs, one torch thread). Wall time per stage, "
        f"{d['summary']['total_seconds'] / 60:.1f} minutes in all:",
        "",
        "| stage | seconds |",
        "|---|---:|",
        stage_rows,
        "",
        f"The fitted model: {m['exact_frame_accuracy']:.2%} exact next frames and {m['reward_accuracy']:.2%} "
        f"reward classes on {m['validation_frames']:,} validation transitions. I2A trained at "
        f"{d['summary']['agent']['frames_per_second']:,.0f} frames/s. Held-out `{config['env']}` test levels "
        f"({e['sample']['episodes']} episodes, one per level): **{pct('sample')}** solved with sampled actions, "
        f"{pct('greedy')} greedy; a uniform random policy solves {pct('random')} of the same levels, and the "
        f"standard model-free agent, trained the same way for the same {config['agent_frames']:,} frames "
        f"({d['standard']['wall_seconds']:.0f} s), {success_rate(d['standard']['sample']):.1%} "
        f"({d['standard']['sample']['ci95'][0]:.1%} to {d['standard']['sample']['ci95'][1]:.1%}) sampled, "
        f"{success_rate(d['standard']['greedy']):.1%} greedy (one seed each). The stage times exclude generating "
        "the env id's level banks on first use (about 6 s; they are cached).",
        "",
        "![what the agent imagined](images/pipeline_imagination.gif)",
        "",
        f"**The paper preset** (`reverie run --preset paper`: `{PRESETS['paper']['env']}`, GridModel "
        f"`{PRESETS['paper']['model_size']}` = 16/32/64 channels, rollout encoder LSTM "
        f"{PRESETS['paper']['encoder_hidden']} units, rollout length {PRESETS['paper']['rollout_length']}, "
        f"{PRESETS['paper']['agent_frames']:,} I2A frames) ran end to end on this CPU on a smoke budget "
        f"({', '.join(f'{k} {v:,}' for k, v in PAPER_SMOKE.items())}); seconds per stage (collect includes "
        "generating and caching the 100,000-level training bank, which it did here, and writing it to a level "
        "file):",
        "",
        "| stage | seconds |",
        "|---|---:|",
        paper_rows,
        "",
        f"Its I2A training speed on this CPU, timed for {p['seconds']:.0f} s with the real trainer "
        f"({PRESETS['paper']['num_envs']} envs, one thread): **{i2a['frames_per_s']:,.0f} frames/s** "
        f"({i2a['parameters']:,} trainable parameters; acting {i2a['acting_share']:.0%} of the time), against "
        f"{std['frames_per_s']:,.0f} frames/s for the standard agent on the same levels "
        f"({std['frames_per_s'] / i2a['frames_per_s']:.0f}x). At that speed the preset's 1e9 frames would take "
        f"{days:,.0f} days, which is why it is a GPU job. **No GPU was available to measure it**, so its GPU "
        "frames/s is unknown: `reverie run --preset paper --device cuda` hands the device to every stage "
        "(fitting, training, evaluation and the imagination GIF; the transitions are collected on the CPU), "
        "and those code paths are the ones that ran here on the CPU, but they have not been run on a GPU. "
        "On one, more envs per batch (`--num-envs 256`) is the first knob for throughput. Fitting the paper "
        f"model took {p['fit_seconds_per_step']:.2f} s a step here, so its {PRESETS['paper']['fit_steps']:,} steps "
        f"would take {p['fit_seconds_per_step'] * PRESETS['paper']['fit_steps'] / 60:.0f} minutes on this CPU.",
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "pipeline-benchmark",
                        help="folder of the default pipeline run (reused if finished)")
    parser.add_argument("--paper-out", type=Path, default=ROOT / "runs" / "pipeline-benchmark-paper")
    parser.add_argument("--seconds", type=float, default=60.0, help="seconds to time the paper preset's I2A")
    parser.add_argument("--no-docs", action="store_true", help="do not write docs/benchmarks.md")
    args = parser.parse_args()

    load = round(os.getloadavg()[0], 2)
    default_config = PipelineConfig(out=args.out)
    default = run(default_config, progress=False)
    standard = standard_baseline(default_config, args.out.with_name(args.out.name + "-standard"))
    paper_config = PipelineConfig(preset="paper", out=args.paper_out, **PAPER_SMOKE)
    paper = run(paper_config, progress=False)
    fit = json.loads((args.paper_out / "model" / "summary.json").read_text())
    throughput = paper_throughput(args.paper_out / "model" / "model.pt", args.seconds)
    result = {
        "date": datetime.date.today().isoformat(), "machine": f"2 CPU cores ({cpu_name()})",
        "torch": torch.__version__, "load_average": load, "gpu": torch.cuda.is_available(),
        "command": "PYTHONPATH=src python benchmarks/pipeline.py",
        "default": {"config": json.loads((args.out / "config.json").read_text()), "summary": default,
                    "standard": standard},
        "paper": {"config": json.loads((args.paper_out / "config.json").read_text()), "summary": paper,
                  "seconds": args.seconds, "throughput": throughput, "fit_seconds_per_step": fit["wall_seconds"] / fit["steps"]},
    }
    results = ROOT / "benchmarks" / "results" / "pipeline.json"
    results.parent.mkdir(exist_ok=True)
    results.write_text(json.dumps(result, indent=1) + "\n")
    text = markdown(result)
    print(text)
    if not args.no_docs:
        write_section("pipeline", text, HEADING)
        shutil.copyfile(args.out / "imagination.gif", ROOT / "docs" / "images" / "pipeline_imagination.gif")


if __name__ == "__main__":
    main()
