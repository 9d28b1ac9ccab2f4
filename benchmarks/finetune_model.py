#!/usr/bin/env python3
"""Does fine-tuning I2A's environment model on the agent's own transitions repair a weak model?

    python benchmarks/finetune_model.py            # ~15 min on 2 cores
    python benchmarks/finetune_model.py --quick    # a smoke run (~3 min)

1. A deliberately weak model: a GridModel fitted for ``--fit-steps`` optimizer steps on random
   play of Boxoban training levels (as the imagination-efficiency benchmark's "medium" model).
2. ``i2a`` imagining with it, trained twice on the CPU-scale protocol's settings for
   ``--frames`` frames, same seed: the model frozen, and fine-tuned (``finetune_model=W``).
   The two runs go at once, one torch thread each.
3. Scores: held-out solve rate (sampled actions) of each agent, and each run's final model's
   one-step exactness (next frame and reward) on two kinds of states: random walks from the
   test levels' starts, and the fine-tuned agent's own play on the test levels (the states
   imagination starts from).

Writes ``benchmarks/results/finetune_model.json`` and the ``finetune-model`` section of
``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import tempfile
from pathlib import Path

import torch

from common import cpu_name, success_rate, write_section
from imagination_efficiency import exact_rate, fit_poor_model, model_quality
from sokoban_protocol import PROTOCOL, command
from reverie.envs.registry import make_env
from reverie.envs.sokoban.presets import level_bank
from reverie.evaluation.evaluate import find_evaluation, read_evaluations
from reverie.envs.sokoban import LevelBank
from reverie.models import load
from reverie.training.actor_critic import A2C, A2CConfig
from reverie.training.runs import load_run

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "finetune_model.json"
HEADING = "Fine-tuning I2A's environment model (`benchmarks/finetune_model.py`)"


def play_transitions(policy, env_id: str, envs: int, steps: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """``envs x steps`` real transitions of ``policy``'s sampled play on the test levels, as the
    trainer collects them for a policy that fine-tunes its model (an ended episode's next
    frame is its last one, not the reset that followed), flattened to one row each."""
    trainer = A2C(policy, make_env(env_id, "test", envs, seed=seed),
                  A2CConfig(n_steps=steps, lr_schedule="constant"), seed=seed)
    rollout = trainer.collect()
    return {key: rollout[key].flatten(0, 1) for key in ("obs", "actions", "next_obs", "rewards")}


def exact_on(model, play: dict[str, torch.Tensor]) -> float:
    """:func:`exact_rate` on transitions from :func:`play_transitions`."""
    return exact_rate(model, play["obs"].float(), play["actions"], play["next_obs"].argmax(1), play["rewards"])


def train_pair(work: Path, model_path: Path, frames: int, weight: float, episodes: int) -> dict[str, Path]:
    runs = {"frozen": work / "frozen", "fine-tuned": work / "finetuned"}
    options = {"frozen": f"model={model_path}", "fine-tuned": f"model={model_path},finetune_model={weight}"}
    procs = []
    for name, path in runs.items():
        settings = PROTOCOL | {"frames": frames, "agent_options": options[name], "eval_episodes": episodes}
        procs.append(subprocess.Popen(command(path, "i2a", 0, settings), stdout=subprocess.DEVNULL))
    if any(p.wait() for p in procs):
        raise SystemExit("a training run failed")
    return runs


def markdown(result: dict) -> str:
    lines = [
        f"`{result['command']}` on {result['date']}; {result['machine']}, one torch thread per run, both runs "
        "at once.",
        "",
        f"The weak model: a GridModel (the shipped model's size) fitted for {result['fit_steps']} optimizer steps "
        f"on random play of Boxoban training levels. Both runs: `i2a` with that model, seed 0, "
        f"{result['frames']:,} frames on `{result['env']}` with the CPU-scale protocol's settings; fine-tuned "
        f"with `finetune_model={result['weight']}` (its fitting loss on each rollout's real transitions, in "
        f"the same RMSprop step and gradient clip as the agent). Held-out: {result['episodes']} test levels, "
        "sampled actions. Model exactness: share of one-step predictions with the exact next frame and "
        f"reward, on {result['random_walk_states']:,} random-walk states from test-level starts and on "
        f"{result['play_transitions']:,} transitions of the fine-tuned agent's own play on test levels.",
        "",
        "| model during training | held-out solved (95% CI) | exact, random walks | exact, agent's play |",
        "|---|---|---:|---:|",
        f"| (before training) | | {result['before']['random_walk']:.1%} | {result['before']['play']:.1%} |",
    ]
    for name, row in result["runs"].items():
        low, high = row["ci95"]
        lines.append(f"| {name} | {success_rate(row):.1%} ({low:.1%} to {high:.1%}) | "
                     f"{row['exact_random_walk']:.1%} | {row['exact_play']:.1%} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: short fit and training")
    parser.add_argument("--fit-steps", type=int, default=1200, help="optimizer steps of the weak model")
    parser.add_argument("--frames", type=int, default=300_000, help="agent frames per run")
    parser.add_argument("--weight", type=float, default=1.0, help="finetune_model of the fine-tuned run")
    parser.add_argument("--episodes", type=int, default=500, help="held-out test levels per run")
    parser.add_argument("--json", type=Path, default=RESULTS)
    parser.add_argument("--no-docs", action="store_true", help="do not update docs/benchmarks.md")
    args = parser.parse_args()
    if args.quick:
        args.fit_steps, args.frames, args.episodes = 60, 6_400, 50
    torch.set_num_threads(1)
    env_id = PROTOCOL["env"]
    test = level_bank(env_id, "test")
    walks = LevelBank(test.codes[:1000])
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model_path = fit_poor_model(work / "model", 2.0, args.fit_steps)
        runs = train_pair(work, model_path, args.frames, args.weight, args.episodes)
        weak = load(model_path)
        tuned = load_run(runs["fine-tuned"])
        play = play_transitions(tuned.policy, env_id, 64, 8 if args.quick else 40)
        result = {
            "date": datetime.date.today().isoformat(), "machine": f"{os.cpu_count()} CPU cores ({cpu_name()}), no GPU",
            "command": "python benchmarks/finetune_model.py" + (" --quick" if args.quick else ""),
            "env": env_id, "fit_steps": args.fit_steps, "frames": args.frames, "weight": args.weight,
            "episodes": args.episodes, "random_walk_states": 2000, "play_transitions": len(play["actions"]),
            "before": {"random_walk": model_quality(weak, walks), "play": exact_on(weak, play)},
            "runs": {},
        }
        for name, path in runs.items():
            run = tuned if name == "fine-tuned" else load_run(path)
            evaluation = find_evaluation(read_evaluations(path), f"{env_id}:test", "sample")
            model = run.policy.env_model
            result["runs"][name] = {"success_rate": evaluation["success_rate"], "ci95": evaluation["ci95"],
                                    "exact_random_walk": model_quality(model, walks),
                                    "exact_play": exact_on(model, play)}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1) + "\n")
    table = markdown(result)
    print(table)
    if not args.no_docs:
        write_section("finetune-model", table, HEADING)


if __name__ == "__main__":
    main()
