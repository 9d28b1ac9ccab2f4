#!/usr/bin/env python3
"""Parking success of the goal-conditioned off-policy learners over seeds, beside CEM/MPC.

    python benchmarks/parking_offpolicy.py                  # sac+her and tdm, seeds 0-2, 30k steps (~1.5 h per method)
    python benchmarks/parking_offpolicy.py --no-train       # re-tabulate the records
    python benchmarks/parking_offpolicy.py --methods tdm --seeds 2

Why: issue 19 asks for TDM's parking success against SAC with hindsight relabelling and
against CEM/MPC on a learned model, at stated budgets, over seeds with intervals. Each
(method, seed) is a normal ``reverie offpolicy`` run on ``parking`` (highway-env parking-v0,
walls on, 100 s = 500 steps per episode, as ``reverie plan`` plays it) for ``--steps`` real
steps, evaluated greedily on 20 episodes every 5,000 steps. The table gives, per method, the
success rate at the budget pooled over the seeds' evaluation episodes (95% Wilson interval),
the seeds' own rates, and the pooled rate at each evaluation step; the CEM/MPC rows come from
``benchmarks/results/parking.json`` (``benchmarks/parking.py``: 100 episodes of the same env,
planning on a model fitted to 5,000 random steps).

Each finished run's record (its evaluation curve, final evaluation and timings) is written to
``benchmarks/results/parking_offpolicy/<method>-seed<N>.json`` as soon as it finishes; runs
recorded there are not trained again, and an interrupted run resumes from its checkpoint in
``runs/parking_offpolicy/``. Writes the summary to ``benchmarks/results/parking_offpolicy.json``
and the ``parking-offpolicy`` sections of ``docs/off-policy.md`` and ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, cpu_name, rerun_command, write_section  # noqa: E402

from reverie.agents.offpolicy_nets import LearnerConfig  # noqa: E402
from reverie.core.atomic import write_json  # noqa: E402
from reverie.core.stats import mean_interval, wilson_interval  # noqa: E402
from reverie.training.branched import ModelAugmentConfig  # noqa: E402
from reverie.training.offpolicy import OffPolicyConfig  # noqa: E402
from reverie.training.offpolicy_runs import resume_offpolicy, train_offpolicy  # noqa: E402

RECORDS = ROOT / "benchmarks" / "results" / "parking_offpolicy"
SUMMARY = ROOT / "benchmarks" / "results" / "parking_offpolicy.json"
CEM = ROOT / "benchmarks" / "results" / "parking.json"
RUNS = ROOT / "runs" / "parking_offpolicy"
DOC = ROOT / "docs" / "off-policy.md"
SECTION = "parking-offpolicy"
HEADING = "Parking over seeds: TDM, SAC + HER and CEM/MPC"
#: The learners (the settings of the recorded one-seed runs in docs/off-policy.md) and whether
#: they relabel goals with hindsight (TDM relabels goals and horizons itself).
METHODS = {
    "sac+her": (dict(agent="sac", lr=1e-3, gamma=0.95), True),
    "tdm": (dict(agent="tdm", lr=1e-3, gamma=0.99), False),
}
CLAIMS = {
    "sac+her": "HER (Andrychowicz et al. 2017) makes sparse goal tasks learnable for an off-policy learner",
    "tdm": "TDM (Pong et al. 2018): more sample-efficient than model-free goal-conditioned RL (HER/DDPG) on "
           "goal-reaching tasks, approaching model-based efficiency",
}
EVAL_EVERY, EVAL_EPISODES = 5000, 20
#: parking.py's rows set beside the learners: its headline model, the ensemble, and the true env.
CEM_ROWS = ("structured", "ensemble", "true env (upper bound)")


def record_path(results: Path, method: str, seed: int) -> Path:
    return results / f"{method}-seed{seed}.json"


def train(method: str, seed: int, steps: int, runs: Path, progress: bool) -> Path:
    """Train (or resume) one run to ``steps``; its run folder."""
    run_dir = runs / f"{method}-seed{seed}"
    summary = run_dir / "summary.json"
    if summary.is_file() and json.loads(summary.read_text()).get("completed"):
        return run_dir
    if (run_dir / "checkpoint.pt").is_file():
        resume_offpolicy(run_dir, progress=progress)
        return run_dir
    learner, her = METHODS[method]
    config = OffPolicyConfig(task="parking", steps=steps, seed=seed, run_dir=run_dir, her=her,
                             eval_every=EVAL_EVERY, eval_episodes=EVAL_EPISODES, checkpoint_every=EVAL_EVERY)
    train_offpolicy(config, LearnerConfig(**learner), ModelAugmentConfig(), progress=progress)
    return run_dir


def read_run(run_dir: Path, method: str) -> dict:
    """A finished run's record: greedy success at each evaluation, the final evaluation, timings."""
    summary = json.loads((run_dir / "summary.json").read_text())
    curve = []
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        row = json.loads(line)
        if "eval_success_rate" in row:
            curve.append([int(row["step"]), float(row["eval_success_rate"])])
    evaluation = summary["evaluation"]
    return {"method": method, "seed": summary["seed"], "steps": summary["steps"], "curve": curve,
            "episodes": evaluation["episodes"],
            "successes": round(evaluation["success_rate"] * evaluation["episodes"]),
            "success_rate": evaluation["success_rate"], "mean_return": evaluation["mean_return"],
            "wall_seconds": summary["wall_seconds"], "steps_per_second": summary["steps_per_second"]}


def summarize(records: dict[str, list[dict]]) -> dict:
    """Per method: pooled success at the budget (Wilson), the seeds' rates (t-interval), and the
    pooled success at every evaluation step all its seeds reached."""
    out = {}
    for method, runs in records.items():
        successes, episodes = sum(r["successes"] for r in runs), sum(r["episodes"] for r in runs)
        steps = sorted(set.intersection(*({s for s, _ in r["curve"]} for r in runs)))
        curve = [[s, sum(v for r in runs for t, v in r["curve"] if t == s) / len(runs)] for s in steps]
        out[method] = {"seeds": [r["seed"] for r in runs], "budget": min(r["steps"] for r in runs),
                       "successes": successes, "episodes": episodes,
                       "pooled_success": successes / episodes if episodes else None,
                       "pooled_ci95": list(wilson_interval(successes, episodes)) if episodes else None,
                       "per_seed": [r["success_rate"] for r in runs],
                       "seed_interval": mean_interval([r["success_rate"] for r in runs]),
                       "curve": curve,
                       "steps_per_second": mean_interval([r["steps_per_second"] for r in runs])["mean"]}
    return out


def cem_rows() -> list[dict]:
    """CEM/MPC's recorded parking rows (benchmarks/parking.py), where that record exists."""
    if not CEM.is_file():
        return []
    data = json.loads(CEM.read_text())
    return [{"name": f"CEM/MPC ({name})", "success_rate": row["success_rate"], "ci95": row["success_ci95"],
             "episodes": row["episodes"], "data": row.get("data", "")}
            for name, row in data["rows"].items() if name in CEM_ROWS]


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.0f}%"


def markdown(result: dict) -> str:
    lines = [
        f"`{result['command']}` on {result['date']}; {result['machine']}. Parking-v0 with walls, 500-step "
        f"episodes; each learner trained {result['steps']:,} real env steps per seed (1,000 random first), "
        f"one update per step, evaluated greedily on {EVAL_EPISODES} episodes every {EVAL_EVERY:,} steps. "
        "*Pooled* counts all seeds' final evaluation episodes (95% Wilson interval); *seeds* is the mean of "
        "the seeds' rates with its 95% t-interval.",
        "",
        "| method | real env steps | seeds | success, pooled (95% CI) | seeds' rates | mean over seeds [95% CI] | "
        + " | ".join(f"at {s // 1000}k" for s in result["eval_steps"]) + " | published claim |",
        "|---|---:|---:|---|---|---|" + "---:|" * len(result["eval_steps"]) + "---|",
    ]
    for method, row in result["methods"].items():
        low, high = row["pooled_ci95"]
        si = row["seed_interval"]
        seeds_mean = (f"{_pct(si['mean'])} [{_pct(max(si['low'], 0))}, {_pct(min(si['high'], 1))}]"
                      if si["low"] is not None else _pct(si["mean"]))
        at = {s: v for s, v in row["curve"]}
        lines.append(f"| {method} | {row['budget']:,} | {len(row['seeds'])} | {_pct(row['pooled_success'])} "
                     f"({_pct(low)} to {_pct(high)}; {row['successes']}/{row['episodes']}) | "
                     f"{', '.join(_pct(v) for v in row['per_seed'])} | {seeds_mean} | "
                     + " | ".join(_pct(at.get(s)) for s in result["eval_steps"]) + f" | {CLAIMS.get(method, '')} |")
    for row in result["cem"]:
        low, high = row["ci95"]
        lines.append(f"| {row['name']} | model data: {row['data']} | 1 | {_pct(row['success_rate'])} "
                     f"({_pct(low)} to {_pct(high)}; {row['episodes']} episodes) | - | - | "
                     + " | ".join("-" for _ in result["eval_steps"]) + " | planning: no policy is learned |")
    return "\n".join(lines)


def readme_table(result: dict) -> str:
    """The README's short form: pooled success at the budget, CEM/MPC beside."""
    lines = [f"Parking-v0 with walls (`benchmarks/parking_offpolicy.py`; greedy success on {EVAL_EPISODES} episodes "
             "per seed at the budget, seeds pooled, 95% Wilson interval; CEM/MPC from `benchmarks/parking.py`).", "",
             "| method | real env steps | seeds | parked (95% CI) | published claim |", "|---|---:|---:|---|---|"]
    for method, row in result["methods"].items():
        low, high = row["pooled_ci95"]
        lines.append(f"| {method} | {row['budget']:,} | {len(row['seeds'])} | {_pct(row['pooled_success'])} "
                     f"({_pct(low)} to {_pct(high)}) | {CLAIMS.get(method, '')} |")
    for row in result["cem"]:
        low, high = row["ci95"]
        lines.append(f"| {row['name']} | model data: {row['data']} | 1 | {_pct(row['success_rate'])} "
                     f"({_pct(low)} to {_pct(high)}) | planning every step, no policy learned |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="+", choices=sorted(METHODS), default=list(METHODS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=30_000, help="real env steps per run")
    parser.add_argument("--results", type=Path, default=RECORDS,
                        help="folder of the per-run records; another than the default also receives the "
                             "table and summary (the repository's docs are then left alone)")
    parser.add_argument("--runs", type=Path, default=RUNS, help="run folders go here")
    parser.add_argument("--no-train", action="store_true", help="only tabulate the records already written")
    parser.add_argument("--progress", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    args.results.mkdir(parents=True, exist_ok=True)
    for method in args.methods:
        for seed in args.seeds:
            path = record_path(args.results, method, seed)
            if path.is_file() or args.no_train:
                continue
            run_dir = train(method, seed, args.steps, args.runs, args.progress)
            write_json(path, read_run(run_dir, method))
            print(f"recorded {path.name}", flush=True)
    records = {m: [json.loads(p.read_text()) for s in args.seeds if (p := record_path(args.results, m, s)).is_file()]
               for m in args.methods}
    records = {m: runs for m, runs in records.items() if runs}
    if not records:
        raise SystemExit(f"no records in {args.results}")
    methods = summarize(records)
    eval_steps = sorted(set.intersection(*({s for s, _ in row["curve"]} for row in methods.values())))
    result = {"date": datetime.date.today().isoformat(), "machine": f"{os.cpu_count()} CPU cores ({cpu_name()}), no GPU",
              "command": rerun_command("parking_offpolicy.py", sys.argv[1:]).replace("PYTHONPATH=src ", ""),
              "steps": args.steps, "eval_steps": eval_steps, "methods": methods, "cem": cem_rows()}
    table = markdown(result)
    print(table)
    default = args.results.resolve() == RECORDS.resolve()
    (SUMMARY if default else args.results / "summary.json").write_text(json.dumps(result, indent=1) + "\n")
    if default:
        write_section(SECTION, table, HEADING, DOC)
        write_section(SECTION, table, HEADING)
        write_section(f"{SECTION}-readme", readme_table(result), HEADING, ROOT / "README.md")
    else:
        (args.results / "table.md").write_text(table + "\n")


if __name__ == "__main__":
    main()
