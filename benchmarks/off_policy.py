"""Off-policy learners on this CPU: real steps/s, updates/s, model rollouts/s, a Pendulum learning check.

Why: the issue asks what each configuration costs here (SAC, NAF, SAC+MBPO, NAF with
imagination rollouts, SAC+MBVE, SAC+HER on parking) and whether SAC learns Pendulum in
10-20k steps (about -200 mean return). Writes ``benchmarks/results/off_policy.json`` and the
table between the ``off-policy`` markers of ``docs/off-policy.md``.

    python benchmarks/off_policy.py                 # speeds + the 15k-step learning check
    python benchmarks/off_policy.py --quick         # speeds only, short
    python benchmarks/off_policy.py --from-json --compare 5000   # add a 5k-step comparison
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, cpu_name, write_section  # noqa: E402

from reverie.agents.offpolicy_nets import LearnerConfig  # noqa: E402
from reverie.training.branched import ModelAugmentConfig, branched_rollouts  # noqa: E402
from reverie.training.offpolicy import OffPolicyConfig, OffPolicyTrainer  # noqa: E402
from reverie.training.offpolicy_runs import train_offpolicy  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "off_policy.json"
DOC = ROOT / "docs" / "off-policy.md"

MBPO = dict(model_every=250, rollout_batch=400, rollout_every=250, horizon_min=1, horizon_max=3,
            horizon_from=1000, horizon_to=5000)
#: NAF's pre-tanh mu penalty (weight 1 beyond |mu| = 2): without it imagination rollouts drove the
#: greedy action to the bound and NAF + imagination never learned Pendulum (docs/off-policy.md).
NAF = dict(agent="naf", naf_mu_penalty=1.0, naf_mu_bound=2.0)
CONFIGS = {
    "sac": ("pendulum", dict(agent="sac"), {}, False),
    "naf": ("pendulum", NAF, {}, False),
    "sac+mbpo": ("pendulum", dict(agent="sac"), MBPO, False),
    "naf+imagination": ("pendulum", NAF, MBPO, False),
    "sac+mbve3": ("pendulum", dict(agent="sac"), dict(model_every=250, mbve_horizon=3), False),
    "sac+her (parking)": ("parking", dict(agent="sac"), {}, True),
}


def speed(name: str, steps: int, starts: int) -> dict:
    """Steps/s and updates/s of one configuration over ``steps`` (``starts`` of them random)."""
    task, learner, model, her = CONFIGS[name]
    with tempfile.TemporaryDirectory() as tmp:
        config = OffPolicyConfig(task=task, steps=steps, learning_starts=starts, her=her, run_dir=Path(tmp) / "run",
                                 eval_episodes=0, tensorboard=False, log_every=steps, checkpoint_every=steps)
        summary = train_offpolicy(config, LearnerConfig(**learner), ModelAugmentConfig(**model), progress=False)
    return {"config": name, "task": task, "steps": steps, "learning_starts": starts,
            "steps_per_second": summary["steps_per_second"], "updates_per_second": summary["updates_per_second"],
            "wall_seconds": summary["wall_seconds"]}


def rollout_speed() -> dict:
    """Imagined transitions/s of branched rollouts: 5 members of 3x200, 400 starts, H = 5."""
    with tempfile.TemporaryDirectory() as tmp:
        config = OffPolicyConfig(steps=1, learning_starts=600, run_dir=Path(tmp) / "r", eval_episodes=0,
                                 tensorboard=False)
        trainer = OffPolicyTrainer(config, LearnerConfig(), ModelAugmentConfig(model_every=600, rollout_batch=400,
                                                                              horizon_max=5, trusted_horizon=5))
        while trainer.steps < 600:
            trainer.train_step()
        starts = trainer.replay.sample(400, trainer.sample_gen)["obs"]
        policy = lambda s: trainer.learner.act(s, trainer.model_gen)  # noqa: E731
        branched_rollouts(trainer.imagined, starts, 5, 5, policy, trainer.model_buffer, trainer.model_gen)
        t0, added, rounds = time.perf_counter(), 0, 0
        while time.perf_counter() - t0 < 5.0:
            added += branched_rollouts(trainer.imagined, starts, 5, 5, policy, trainer.model_buffer,
                                       trainer.model_gen)["rollout_transitions"]
            rounds += 1
        seconds = time.perf_counter() - t0
    return {"imagined_transitions_per_second": round(added / seconds, 1), "rounds": rounds,
            "rollout_batch": 400, "horizon": 5, "members": 5}


def learning_check(steps: int, seed: int) -> dict:
    """SAC on Pendulum-v1: greedy evaluations (10 episodes) every 2,500 steps."""
    run_dir = ROOT / "runs" / f"offpolicy-bench-sac-pendulum-{seed}"
    import shutil

    shutil.rmtree(run_dir, ignore_errors=True)
    config = OffPolicyConfig(task="pendulum", steps=steps, seed=seed, run_dir=run_dir, eval_every=2500,
                             eval_episodes=10, log_every=500, checkpoint_every=steps, tensorboard=False)
    summary = train_offpolicy(config, LearnerConfig(agent="sac"), progress=False)
    evals = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    curve = [(r["step"], round(r["eval_return"], 1)) for r in evals if "eval_return" in r]
    return {"steps": steps, "seed": seed, "eval_curve": curve, "final_eval_return": round(summary["evaluation"]["mean_return"], 1),
            "wall_seconds": summary["wall_seconds"], "steps_per_second": summary["steps_per_second"]}


def compare(steps: int, seed: int) -> list[dict]:
    """Every Pendulum configuration for ``steps`` (1,000 random): greedy evaluations every 2,500."""
    out = []
    for name, (task, learner, model, her) in CONFIGS.items():
        if task != "pendulum":
            continue
        with tempfile.TemporaryDirectory() as tmp:
            run_dir = Path(tmp) / "run"
            config = OffPolicyConfig(task=task, steps=steps, seed=seed, run_dir=run_dir, eval_every=2500,
                                     eval_episodes=10, log_every=500, checkpoint_every=steps, tensorboard=False)
            summary = train_offpolicy(config, LearnerConfig(**learner), ModelAugmentConfig(**model), progress=False)
            evals = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
        out.append({"config": name, "steps": steps, "seed": seed, "wall_seconds": summary["wall_seconds"],
                    "eval_curve": [(r["step"], round(r["eval_return"], 1)) for r in evals if "eval_return" in r]})
        print(json.dumps(out[-1]), flush=True)
    return out


def table(result: dict) -> str:
    rows = ["| configuration | task | steps/s (real) | updates/s |", "|---|---|---:|---:|"]
    for r in result["speed"]:
        rows.append(f"| {r['config']} | {r['task']} | {r['steps_per_second']:.0f} | {r['updates_per_second']:.0f} |")
    roll = result["rollouts"]
    text = "\n".join(rows) + (f"\n\nBranched rollouts: {roll['imagined_transitions_per_second']:,.0f} imagined "
                             f"transitions/s ({roll['members']} members, {roll['rollout_batch']} starts, H = "
                             f"{roll['horizon']}).")
    if "learning" in result:
        ln = result["learning"]
        curve = ", ".join(f"{s / 1000:g}k: {v}" for s, v in ln["eval_curve"])
        text += (f"\n\nSAC on Pendulum-v1, seed {ln['seed']}, {ln['steps']:,} steps in {ln['wall_seconds']:.0f} s: "
                 f"greedy mean return over 10 episodes {curve}.")
    if "compare" in result:
        text += "\n\n| configuration (Pendulum, seed 0) | " + " | ".join(
            f"return at {s / 1000:g}k" for s, _ in result["compare"][0]["eval_curve"]) + " | wall s |\n|---|"
        text += "---:|" * (len(result["compare"][0]["eval_curve"]) + 1)
        for r in result["compare"]:
            text += f"\n| {r['config']} | " + " | ".join(str(v) for _, v in r["eval_curve"]) + f" | {r['wall_seconds']:.0f} |"
    return text + f"\n\nMeasured on {result['machine']} ({result['threads']} torch thread), {result['date']}."


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="speeds only, short runs")
    parser.add_argument("--steps", type=int, default=1500, help="steps per speed run (default 1500, 500 random)")
    parser.add_argument("--learn-steps", type=int, default=15000, help="steps of the learning check")
    parser.add_argument("--only", nargs="*", help="speed runs to do (names of CONFIGS)")
    parser.add_argument("--compare", type=int, default=0, metavar="STEPS",
                        help="also train every Pendulum configuration this many steps and compare returns")
    parser.add_argument("--from-json", action="store_true",
                        help="keep the speeds and learning check already in the results file; run only --compare")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.from_json:
        result = json.loads(RESULTS.read_text())
        result["compare"] = compare(args.compare, 0)
        RESULTS.write_text(json.dumps(result, indent=1) + "\n")
        publish(result)
        return
    result = {"machine": cpu_name(), "threads": 1, "date": time.strftime("%Y-%m-%d"), "speed": []}
    for name in args.only or CONFIGS:
        steps = 300 if "parking" in name else (600 if args.quick else args.steps)
        result["speed"].append(speed(name, steps, steps // 3))
        print(json.dumps(result["speed"][-1]), flush=True)
    result["rollouts"] = rollout_speed()
    print(json.dumps(result["rollouts"]), flush=True)
    if not args.quick:
        result["learning"] = learning_check(args.learn_steps, 0)
        print(json.dumps(result["learning"]), flush=True)
    if args.compare:
        result["compare"] = compare(args.compare, 0)
    RESULTS.write_text(json.dumps(result, indent=1) + "\n")
    publish(result)


def publish(result: dict) -> None:
    """The table into docs/off-policy.md and docs/benchmarks.md (where every figure stands)."""
    write_section("off-policy", table(result), "Measured", DOC)
    write_section("off-policy", "`python benchmarks/off_policy.py` (then `--from-json --compare 5000`); "
                  "details and the runs behind these rows in docs/off-policy.md.\n\n" + table(result),
                  "Off-policy learners (`benchmarks/off_policy.py`)")
    print(table(result))


if __name__ == "__main__":
    main()
