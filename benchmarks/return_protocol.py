"""Protocols scored by mean return: agents x tasks x seeds trained to one frame budget, then
evaluated on held-out episodes, as one rerunnable command (MiniPacman's, MinAtar's).

A world's protocol script describes itself as a :class:`ReturnProtocol` and calls
:func:`main`. Each (task, agent, seed) is a normal ``reverie train`` run folder under
``--runs``; finished runs are kept, interrupted ones resumed, and every finished run's record
(no checkpoint) is copied to ``benchmarks/results/<name>_runs/<task>/<agent>-seed<N>/`` at once,
so the table grows run by run across sessions. At the end it writes
``benchmarks/results/<name>_protocol.json``, ``docs/<name>/report.md`` (curves over every
recorded run), the protocol's section of ``docs/benchmarks.md`` and its table in the README.
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import protocol_runs
from common import cpu_name, write_section
from protocol_runs import run_dir
from reverie.evaluation.evaluate import find_evaluation, read_evaluations
from reverie.evaluation.report import write_report

ROOT = Path(__file__).resolve().parents[1]
AGENTS = ("standard", "i2a-copy", "i2a", "i2a-perfect")
#: The released MiniPacman A2C settings (REFERENCE.md section 3), which the return protocols share.
A2C_SETTINGS = {"num_envs": 16, "n_steps": 5, "lr": 7e-4, "lr_schedule": "constant", "entropy_coef": 0.01,
                "eval_episodes": 200}


@dataclass(frozen=True)
class ReturnProtocol:
    """One world's protocol.

    ``settings`` are the ``reverie train`` flags every run shares (``env`` is set per task);
    ``published`` gives, per task, the published figures the README shows beside ours (text),
    and ``published_by_agent`` the figure of one of our agents where the source ran the same
    agent (the docs table's column); ``about`` is the sentence that says what the settings are
    and why the budget.
    """

    name: str
    title: str
    tasks: tuple[str, ...]
    env_id: Callable[[str], str]
    settings: dict
    about: str
    published_label: str
    published: dict[str, str] = field(default_factory=dict)
    published_by_agent: dict[tuple[str, str], float] = field(default_factory=dict)
    agent_options: dict[str, str] = field(default_factory=dict)
    default_tasks: tuple[str, ...] = ()

    @property
    def results(self) -> Path:
        return ROOT / "benchmarks" / "results" / f"{self.name}_protocol.json"

    @property
    def archive(self) -> Path:
        return ROOT / "benchmarks" / "results" / f"{self.name}_runs"

    @property
    def report(self) -> Path:
        return ROOT / "docs" / self.name / "report.md"


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


def order(protocol: ReturnProtocol, triples) -> list[tuple[str, str, int]]:
    """(task, agent, seed) in the protocol's task order, then the agents' order, then seeds."""
    def key(t):
        return (protocol.tasks.index(t[0]), AGENTS.index(t[1]) if t[1] in AGENTS else len(AGENTS), t[1], t[2])
    return sorted(dict.fromkeys(tuple(t) for t in triples), key=key)


def summarize(protocol: ReturnProtocol, jobs: list[tuple[str, str, int]], runs: Path) -> dict:
    rows = []
    for task, agent, seed in jobs:
        path = protocol_runs.record(runs / task, agent, seed, protocol.archive / task)
        if path is None:
            continue
        summary = json.loads((path / "summary.json").read_text())
        evaluation = read_evaluations(path)
        test = find_evaluation(evaluation, f"{protocol.env_id(task)}:test", "sample")
        greedy = find_evaluation(evaluation, f"{protocol.env_id(task)}:test", "greedy")
        rows.append({"task": task, "agent": agent, "seed": seed, "parameters": summary["parameters"],
                     "frames": summary["frames"], "frames_per_second": summary["frames_per_second"],
                     "wall_seconds": summary["wall_seconds"], "episodes": test["episodes"],
                     "mean_return": test["mean_return"], "return_ci95": test["return_ci95"],
                     "mean_length": test["mean_length"],
                     "greedy_mean_return": greedy["mean_return"] if greedy else None})
    table: dict = {}
    for task, agent in dict.fromkeys((t, a) for t, a, _ in jobs):
        mine = [r for r in rows if (r["task"], r["agent"]) == (task, agent)]
        if not mine:
            continue
        mean, low, high = pooled(mine)
        greedy = [r["greedy_mean_return"] for r in mine if r["greedy_mean_return"] is not None]
        table.setdefault(task, {})[agent] = {
            "seeds": len(mine), "parameters": mine[0]["parameters"], "frames": mine[0]["frames"],
            "mean_return": mean, "ci95": [low, high],
            "seed_means": [r["mean_return"] for r in mine],
            "greedy_mean_return": statistics.mean(greedy) if greedy else None,
            "frames_per_second_mean": statistics.mean(r["frames_per_second"] for r in mine)}
    return {"runs": rows, "table": table}


def markdown(protocol: ReturnProtocol, result: dict) -> str:
    p = result["protocol"]
    report = protocol.report
    lines = [
        f"`{result['command']}` on {result['date']}; {result['machine']}.",
        "",
        f"Protocol: {p['frames']:,} frames per run, {p['num_envs']} envs x {p['n_steps']} steps, RMSprop lr "
        f"{p['lr']} ({p['lr_schedule']}), entropy {p['entropy_coef']}; {protocol.about} Held-out test episodes "
        f"({p['eval_episodes']} per run, sampled actions); the interval is the 95% normal interval of the mean "
        f"return over every episode of every seed. {protocol.published_label}",
        "",
        "| task | agent | seeds | mean return (95% CI) | per seed | greedy | published | frames/s |",
        "|---|---|---:|---|---|---:|---:|---:|",
    ]
    for task, agents in result["table"].items():
        for agent, a in agents.items():
            published = protocol.published_by_agent.get((task, agent))
            seeds = ", ".join(f"{m:.1f}" for m in a["seed_means"])
            greedy = "-" if a["greedy_mean_return"] is None else f"{a['greedy_mean_return']:.1f}"
            lines.append(f"| {task} | {agent} | {a['seeds']} | {a['mean_return']:.1f} ({a['ci95'][0]:.1f} to "
                         f"{a['ci95'][1]:.1f}) | {seeds} | {greedy} | "
                         f"{'-' if published is None else f'~{published:g}'} | {a['frames_per_second_mean']:,.0f} |")
    gains = gain_lines(result)
    if gains:
        lines += ["", "I2A's gain (difference of pooled mean returns, 95% interval from the two intervals):", "",
                  *gains]
    lines += ["", f"![learning curves]({report.parent.name}/{report.stem}_curves.png)", "",
              f"Every run's curves and tables: [{report.parent.name}/{report.name}]({report.parent.name}/{report.name})."]
    return "\n".join(lines)


def gain(a: dict, b: dict) -> tuple[float, float, float]:
    """``a``'s pooled mean return minus ``b``'s and the 95% interval of the difference (the two
    runs' intervals are independent: half-widths add in quadrature)."""
    half = math.hypot((a["ci95"][1] - a["ci95"][0]) / 2, (b["ci95"][1] - b["ci95"][0]) / 2)
    diff = a["mean_return"] - b["mean_return"]
    return diff, diff - half, diff + half


def gain_lines(result: dict) -> list[str]:
    """One line per task where ``i2a`` and a baseline both have runs: its gain over each."""
    lines = []
    for task, agents in result["table"].items():
        if "i2a" not in agents:
            continue
        parts = []
        for baseline in ("standard", "i2a-copy"):
            if baseline in agents:
                diff, low, high = gain(agents["i2a"], agents[baseline])
                parts.append(f"over `{baseline}` {diff:+.1f} ({low:+.1f} to {high:+.1f})")
        if parts:
            seeds = agents["i2a"]["seeds"]
            lines.append(f"- {task} (`i2a` {seeds} seed{'s' if seeds > 1 else ''}): " + "; ".join(parts))
    return lines


def readme_table(protocol: ReturnProtocol, result: dict) -> str:
    """The README's table: one row per task, one column per agent, the published figures beside."""
    agents = [a for a in AGENTS if any(a in row for row in result["table"].values())]
    p = result["protocol"]
    lines = [f"{protocol.title}, CPU-scale protocol ({p['frames']:,} frames per run; mean return on "
             f"{p['eval_episodes']} held-out episodes per run, 95% CI, seeds pooled; "
             f"`benchmarks/{protocol.name}_protocol.py`). {protocol.published_label}", "",
             "| task | " + " | ".join(f"`{a}`" for a in agents) + " | published |",
             "|---|" + "---:|" * (len(agents) + 1)]
    for task in protocol.tasks:
        row = result["table"].get(task)
        if not row:
            continue
        cells = []
        for agent in agents:
            a = row.get(agent)
            cells.append("-" if a is None else f"{a['mean_return']:.1f} ({a['ci95'][0]:.1f} to {a['ci95'][1]:.1f})"
                         + (f", {a['seeds']} seeds" if a["seeds"] > 1 else ""))
        lines.append(f"| {task} | " + " | ".join(cells) + f" | {protocol.published.get(task, '-')} |")
    gains = gain_lines(result)
    if gains:
        lines += ["", "`i2a`'s gain in mean return (95% interval):", "", *gains]
    return "\n".join(lines)


def main(protocol: ReturnProtocol, description: str) -> None:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--tasks", nargs="+", default=list(protocol.default_tasks or protocol.tasks[:1]),
                        choices=protocol.tasks)
    parser.add_argument("--agents", nargs="+", default=list(AGENTS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--frames", type=int, default=protocol.settings["frames"], help="frame budget per run")
    parser.add_argument("--runs", type=Path, default=ROOT / "runs" / protocol.name, help="run folders go here")
    parser.add_argument("--jobs", type=int, default=2, help="runs at once (one thread each)")
    parser.add_argument("--no-train", action="store_true", help="tabulate the recorded runs; train nothing")
    args = parser.parse_args()
    settings = protocol.settings | {"frames": args.frames}
    triples = [(t, a, s) for t in args.tasks for a in args.agents for s in args.seeds]
    started = time.time()
    if not args.no_train:
        jobs = {}
        for task, agent, seed in triples:
            if protocol_runs.record(args.runs / task, agent, seed, protocol.archive / task) is None:
                path = run_dir(args.runs / task, agent, seed)
                jobs[path] = protocol_runs.command(path, agent, seed, settings | {"env": protocol.env_id(task)},
                                                   protocol.agent_options.get(agent, ""))
        for task in args.tasks:  # each task archives into its own folder
            mine = {p: c for p, c in jobs.items() if p.parent.name == task}
            if mine:
                protocol_runs.train_all(mine, args.jobs, protocol.archive / task)
    for task, agent, seed in triples:  # finished folders from earlier calls go into the records too
        protocol_runs.archive(run_dir(args.runs / task, agent, seed), protocol.archive / task)
    if protocol.results.is_file():  # keep what other calls recorded: the table grows run by run
        earlier = json.loads(protocol.results.read_text())
        triples += [(r["task"], r["agent"], r["seed"]) for r in earlier.get("runs", [])]
    triples = order(protocol, triples)
    result = {"date": datetime.date.today().isoformat(), "machine": f"{os.cpu_count()} CPU cores ({cpu_name()}), no GPU",
              "command": f"python benchmarks/{protocol.name}_protocol.py " + " ".join(sys.argv[1:]),
              "protocol": settings, "wall_seconds": None if args.no_train else round(time.time() - started, 1),
              **summarize(protocol, triples, args.runs)}
    if not result["runs"]:
        raise SystemExit(f"no finished runs under {args.runs} or in {protocol.archive}")
    protocol.results.parent.mkdir(parents=True, exist_ok=True)
    protocol.results.write_text(json.dumps(result, indent=1) + "\n")
    table = markdown(protocol, result)
    print(table)
    recorded = [p for t, a, s in triples
                if (p := protocol_runs.record(args.runs / t, a, s, protocol.archive / t)) is not None]
    protocol.report.parent.mkdir(parents=True, exist_ok=True)
    write_report(recorded, protocol.report)
    write_section(f"{protocol.name}-protocol", table,
                  f"The CPU-scale {protocol.title} protocol (`benchmarks/{protocol.name}_protocol.py`)")
    write_section(protocol.name, readme_table(protocol, result), protocol.title, path=ROOT / "README.md")
