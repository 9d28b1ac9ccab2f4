"""The CPU-scale MiniPacman protocol: agents x tasks x seeds trained to one frame budget, then
evaluated on held-out episodes, as one rerunnable command.

    python benchmarks/minipacman_protocol.py --tasks hunt ambush --agents standard i2a-copy i2a i2a-perfect
    python benchmarks/minipacman_protocol.py --no-train       # re-tabulate the recorded runs

Each (task, agent, seed) is a normal ``reverie train`` run folder under ``--runs``; finished runs
are kept, interrupted ones resumed, and every finished run's record (no checkpoint) is copied to
``benchmarks/results/minipacman_runs/<task>/<agent>-seed<N>/`` at once, so the table grows run
by run across sessions. At the end it writes ``benchmarks/results/minipacman_protocol.json``,
``docs/minipacman/report.md`` (curves over every recorded run) and the protocol section of
``docs/benchmarks.md``, with the paper's numbers beside ours.

The settings are the released MiniPacman A2C settings (16 envs, 5-step returns, RMSprop 7e-4,
entropy 0.01, value 0.5, gradient clip 0.5) at a frame budget a CPU affords: the paper trained
for far longer, so the absolute returns are not comparable, the ordering is what is tested.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path

import protocol_runs
from common import cpu_name, write_section
from protocol_runs import run_dir
from reverie.evaluation.evaluate import find_evaluation, read_evaluations
from reverie.evaluation.report import write_report

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "minipacman_protocol.json"
ARCHIVE = ROOT / "benchmarks" / "results" / "minipacman_runs"
REPORT = ROOT / "docs" / "minipacman" / "report.md"
TASKS = ("regular", "avoid", "hunt", "ambush", "rush")

#: The protocol: what every run shares (flags of ``reverie train``); ``env`` is set per task.
PROTOCOL = {
    "frames": 300_000,
    "num_envs": 16,
    "n_steps": 5,
    "lr": 7e-4,
    "lr_schedule": "constant",
    "entropy_coef": 0.01,
    "eval_episodes": 200,
    "checkpoint_every": 50_000,  # an imagining run takes ~40 min here: a stopped one resumes near where it was
}
#: The paper's final returns (approx., read from its figure): standard / copy-model I2A / I2A.
#: Agent options per agent (``--agent-options``). ``i2a`` imagines with the shipped model's
#: predicted cell values (``imagine=distribution``): its most likely frame drops a ghost whose
#: move is a coin toss about two times in three (docs/benchmarks.md, "MiniPacman's one model"),
#: and a rollout without ghosts cannot show a hunt.
AGENT_OPTIONS = {"i2a": "imagine=distribution"}
PAPER = {"regular": (192, 919, 859), "avoid": (-16, 3, 23), "hunt": (-35, 33, 334),
         "ambush": (-40, -30, 294), "rush": (1.3, 178, 214)}
PAPER_AGENT = {"standard": 0, "i2a-copy": 1, "i2a": 2}


def env_id(task: str) -> str:
    return f"minipacman-{task}"


def pooled(results: list[dict]) -> tuple[float, float, float]:
    """Mean return over every episode of several runs and its 95% normal interval, from each
    run's mean, interval and episode count (within-run and between-run spread both count)."""
    n = [r["episodes"] for r in results]
    means = [r["mean_return"] for r in results]
    variances = [((r["return_ci95"][1] - r["return_ci95"][0]) / (2 * 1.96)) ** 2 * k for r, k in zip(results, n)]
    total = sum(n)
    mean = sum(k * m for k, m in zip(n, means)) / total
    variance = sum(k * (v + (m - mean) ** 2) for k, v, m in zip(n, variances, means)) / total
    half = 1.96 * math.sqrt(variance / total)
    return mean, mean - half, mean + half


def summarize(jobs: list[tuple[str, str, int]], runs: Path) -> dict:
    rows = []
    for task, agent, seed in jobs:
        path = protocol_runs.record(runs / task, agent, seed, ARCHIVE / task)
        if path is None:
            continue
        summary = json.loads((path / "summary.json").read_text())
        evaluation = read_evaluations(path)
        test = find_evaluation(evaluation, f"{env_id(task)}:test", "sample")
        greedy = find_evaluation(evaluation, f"{env_id(task)}:test", "greedy")
        rows.append({"task": task, "agent": agent, "seed": seed, "parameters": summary["parameters"],
                     "frames": summary["frames"], "frames_per_second": summary["frames_per_second"],
                     "wall_seconds": summary["wall_seconds"], "episodes": test["episodes"],
                     "mean_return": test["mean_return"], "return_ci95": test["return_ci95"],
                     "mean_length": test["mean_length"],
                     "greedy_mean_return": greedy["mean_return"] if greedy else None})
    table = {}
    for task, agent in dict.fromkeys((t, a) for t, a, _ in jobs):
        mine = [r for r in rows if (r["task"], r["agent"]) == (task, agent)]
        if not mine:
            continue
        mean, low, high = pooled(mine)
        table.setdefault(task, {})[agent] = {
            "seeds": len(mine), "parameters": mine[0]["parameters"], "frames": mine[0]["frames"],
            "mean_return": mean, "ci95": [low, high],
            "seed_means": [r["mean_return"] for r in mine],
            "greedy_mean_return": statistics.mean(r["greedy_mean_return"] for r in mine),
            "frames_per_second_mean": statistics.mean(r["frames_per_second"] for r in mine)}
    return {"runs": rows, "table": table}


def markdown(result: dict) -> str:
    p = result["protocol"]
    lines = [
        f"`{result['command']}` on {result['date']}; {result['machine']}.",
        "",
        f"Protocol: {p['frames']:,} frames per run, {p['num_envs']} envs x {p['n_steps']} steps, RMSprop lr "
        f"{p['lr']} ({p['lr_schedule']}), entropy {p['entropy_coef']} (the released MiniPacman A2C settings); "
        f"held-out test episodes ({p['eval_episodes']} per run, sampled actions); the interval is the 95% normal "
        "interval of the mean return over every episode of every seed. The paper's numbers (approx., its final "
        "returns after far more training) stand beside ours for direction only.",
        "",
        "| task | agent | seeds | mean return (95% CI) | per seed | greedy | paper | frames/s |",
        "|---|---|---:|---|---|---:|---:|---:|",
    ]
    for task, agents in result["table"].items():
        for agent, a in agents.items():
            paper = PAPER[task][PAPER_AGENT[agent]] if agent in PAPER_AGENT else None
            seeds = ", ".join(f"{m:.1f}" for m in a["seed_means"])
            lines.append(f"| {task} | {agent} | {a['seeds']} | {a['mean_return']:.1f} ({a['ci95'][0]:.1f} to "
                         f"{a['ci95'][1]:.1f}) | {seeds} | {a['greedy_mean_return']:.1f} | "
                         f"{'-' if paper is None else f'~{paper:g}'} | {a['frames_per_second_mean']:,.0f} |")
    lines += ["", f"![learning curves]({REPORT.parent.name}/{REPORT.stem}_curves.png)", "",
              f"Every run's curves and tables: [{REPORT.parent.name}/{REPORT.name}]({REPORT.parent.name}/{REPORT.name})."]
    return "\n".join(lines)


def readme_table(result: dict) -> str:
    """The README's MiniPacman table: one row per task, one column per agent, the paper beside."""
    agents = [a for a in ("standard", "i2a-copy", "i2a", "i2a-perfect")
              if any(a in row for row in result["table"].values())]
    p = result["protocol"]
    lines = [f"MiniPacman, CPU-scale protocol ({p['frames']:,} frames per run, the released A2C settings; mean "
             f"return on {p['eval_episodes']} held-out episodes per run, 95% CI, seeds pooled; "
             "`benchmarks/minipacman_protocol.py`). Paper: standard / copy-model / I2A after far longer training "
             "(approx.).", "",
             "| task | " + " | ".join(f"`{a}`" for a in agents) + " | paper |",
             "|---|" + "---:|" * (len(agents) + 1)]
    for task in TASKS:
        row = result["table"].get(task)
        if not row:
            continue
        cells = []
        for agent in agents:
            a = row.get(agent)
            cells.append("-" if a is None else f"{a['mean_return']:.1f} ({a['ci95'][0]:.1f} to {a['ci95'][1]:.1f})"
                         + (f", {a['seeds']} seeds" if a["seeds"] > 1 else ""))
        lines.append(f"| {task} | " + " | ".join(cells) + f" | {' / '.join(f'{v:g}' for v in PAPER[task])} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=["hunt"], choices=TASKS)
    parser.add_argument("--agents", nargs="+", default=["standard", "i2a-copy", "i2a", "i2a-perfect"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--frames", type=int, default=PROTOCOL["frames"], help="frame budget per run")
    parser.add_argument("--runs", type=Path, default=ROOT / "runs" / "minipacman", help="run folders go here")
    parser.add_argument("--jobs", type=int, default=2, help="runs at once (one thread each)")
    parser.add_argument("--no-train", action="store_true", help="tabulate the recorded runs; train nothing")
    args = parser.parse_args()
    protocol = PROTOCOL | {"frames": args.frames}
    triples = [(t, a, s) for t in args.tasks for a in args.agents for s in args.seeds]
    started = time.time()
    if not args.no_train:
        jobs = {}
        for task, agent, seed in triples:
            if protocol_runs.record(args.runs / task, agent, seed, ARCHIVE / task) is None:
                path = run_dir(args.runs / task, agent, seed)
                jobs[path] = protocol_runs.command(path, agent, seed, protocol | {"env": env_id(task)},
                                                   AGENT_OPTIONS.get(agent, ""))
        for task in args.tasks:  # each task archives into its own folder
            mine = {p: c for p, c in jobs.items() if p.parent.name == task}
            if mine:
                protocol_runs.train_all(mine, args.jobs, ARCHIVE / task)
    for task, agent, seed in triples:  # finished folders from earlier calls go into the records too
        protocol_runs.archive(run_dir(args.runs / task, agent, seed), ARCHIVE / task)
    if RESULTS.is_file():  # keep what other calls recorded: the table grows run by run
        earlier = json.loads(RESULTS.read_text())
        known = {(r["task"], r["agent"], r["seed"]) for r in earlier.get("runs", [])}
        triples = list(dict.fromkeys(sorted(known) + triples))
    result = {"date": datetime.date.today().isoformat(), "machine": f"{os.cpu_count()} CPU cores ({cpu_name()}), no GPU",
              "command": "python benchmarks/minipacman_protocol.py " + " ".join(sys.argv[1:]), "protocol": protocol,
              "wall_seconds": None if args.no_train else round(time.time() - started, 1),
              **summarize(triples, args.runs)}
    if not result["runs"]:
        raise SystemExit(f"no finished runs under {args.runs} or in {ARCHIVE}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=1) + "\n")
    table = markdown(result)
    print(table)
    recorded = [p for t, a, s in triples if (p := protocol_runs.record(args.runs / t, a, s, ARCHIVE / t)) is not None]
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    write_report(recorded, REPORT)
    write_section("minipacman-protocol", table, "The CPU-scale MiniPacman protocol (`benchmarks/minipacman_protocol.py`)")
    write_section("minipacman", readme_table(result), "MiniPacman", path=ROOT / "README.md")


if __name__ == "__main__":
    main()
