"""The CPU-scale Sokoban protocol: several agents x seeds trained to one frame budget, then
evaluated on held-out levels, as one rerunnable command.

    python benchmarks/sokoban_protocol.py                          # standard + large, 3 seeds
    python benchmarks/sokoban_protocol.py --agents i2a i2a-copy    # more agents, same protocol
    python benchmarks/sokoban_protocol.py --study                  # why the protocol is set so

Each (agent, seed) is a normal ``reverie train`` run folder under ``--runs``. A finished run
is kept (as is one recorded in ``protocol_runs``, below), an interrupted one is resumed from
its checkpoint (``reverie train --resume``), so the command can be stopped and rerun at any time. ``--jobs`` runs go at once, one torch
thread each. At the end it writes

- ``benchmarks/results/sokoban_protocol.json``: every run's held-out result and, per agent,
  the mean and spread over seeds and the solve rate pooled over all seeds' episodes with its
  95% Wilson interval;
- ``docs/protocol/report.md`` (``reverie report`` over all runs: curves, tables, a GIF);
- the protocol section of ``docs/benchmarks.md``.

A finished run's record (its config, metrics, evaluation and summary, without the checkpoint)
is copied to ``benchmarks/results/protocol_runs/<agent>-seed<N>/`` as soon as it finishes, so
the table can grow across machines and sessions: the summary uses a run folder where there is
one, else its record, else the run's row of the previous results JSON.

``--rerun`` trains recorded runs again with today's code into ``runs/protocol-rerun`` and sets
each beside the recorded table (``benchmarks/results/sokoban_protocol_rerun.json``, records in
``benchmarks/results/protocol_reruns/``, its own docs section): does the code still reproduce it?

``--study`` instead trains the standard agent once (seed 0, 2M frames) under each setting of
:data:`STUDY`, the evidence behind the protocol's A2C settings, into
``benchmarks/results/sokoban_protocol_study.json`` and its own docs section.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import sys
import time
from pathlib import Path

import protocol_runs
from common import cpu_name, write_section
from protocol_runs import run_dir
from reverie.envs.registry import get_spec
from reverie.evaluation.evaluate import find_evaluation, read_evaluations, wilson_interval
from reverie.evaluation.report import write_report

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "sokoban_protocol.json"
STUDY_RESULTS = ROOT / "benchmarks" / "results" / "sokoban_protocol_study.json"
REPORT = ROOT / "docs" / "protocol" / "report.md"
#: finished runs' records (no checkpoints), kept in the repository
ARCHIVE = ROOT / "benchmarks" / "results" / "protocol_runs"
#: ``--rerun``'s records: recorded runs trained again with today's code, kept apart from ARCHIVE
RERUN_ARCHIVE = ROOT / "benchmarks" / "results" / "protocol_reruns"
RERUN_RESULTS = ROOT / "benchmarks" / "results" / "sokoban_protocol_rerun.json"

#: The protocol: what every run shares (flags of ``reverie train``).
PROTOCOL = {
    "env": "sokoban-7x7-2",
    "frames": 3_000_000,
    "num_envs": 64,
    "n_steps": 5,
    "lr": 7e-4,
    "lr_schedule": "constant",
    "entropy_coef": 0.01,
    "bootstrap_truncated": False,
    "eval_episodes": 1000,
}
#: Agent options per agent name (``--agent-options``), where the default is not wanted.
AGENT_OPTIONS: dict[str, str] = {}
#: The settings study: name -> (what it tests, settings that differ from PROTOCOL).
STUDY: dict[str, tuple[str, dict]] = {
    "a3c-defaults": ("A3C's Atari defaults: linear lr decay, step cap bootstrapped",
                     {"lr_schedule": "linear", "bootstrap_truncated": True}),
    "fc128-bootstrap": ("constant lr, FC 128, step cap bootstrapped",
                        {"bootstrap_truncated": True, "agent_options": "hidden=128"}),
    "fc128-bootstrap-n10-ent02": ("as above with 10-step returns and entropy 0.02",
                                  {"bootstrap_truncated": True, "agent_options": "hidden=128",
                                   "n_steps": 10, "entropy_coef": 0.02}),
    "fc128-cap-terminal": ("constant lr, FC 128, step cap ends the return",
                           {"agent_options": "hidden=128"}),
    "fc128-cap-terminal-clip5": ("as above with gradient clipping at 5 instead of 0.5",
                                 {"agent_options": "hidden=128", "max_grad_norm": 5.0}),
    "protocol": ("the protocol's settings (standard agent, FC 256)", {}),
}
STUDY_FRAMES = 2_000_000
#: Where the learned I2A agents' model comes from (its frames are not in the protocol's budget).
MODEL_NOTE = ("`i2a` and `i2a-noreward` imagine with the shipped `sokoban-10x10` model (fully convolutional; "
              "99.9995% exact one-step frames on these 7x7 levels), fitted once, before and apart from these "
              "runs, on 2,000,000 random-policy transitions of Boxoban 10x10 training levels (5.12M frames "
              "seen in 12 minutes on one thread; `src/reverie/assets/models/sokoban-10x10.json`). Those "
              "environment-model frames are not counted in the frame budget above. Since 2026-12-03 `i2a`'s default is "
              "`sokoban-10x10-12ch` (the same network at 12 channels, a quarter less imagination time; 75,000 of "
              "75,000 one-step frames exact on these test levels); the reruns below use it.")


def record(runs: Path, agent: str, seed: int) -> Path | None:
    return protocol_runs.record(runs, agent, seed, ARCHIVE)


def archive(path: Path) -> None:
    protocol_runs.archive(path, ARCHIVE)


def command(path: Path, agent: str, seed: int, settings: dict) -> list[str]:
    return protocol_runs.command(path, agent, seed, settings, AGENT_OPTIONS.get(agent, ""))


def train_all(jobs: dict[Path, list[str]], parallel: int) -> None:
    protocol_runs.train_all(jobs, parallel, ARCHIVE)


def summarize(jobs: list[tuple[str, int]], runs: Path, protocol: dict, earlier: list[dict]) -> dict:
    """Per-run held-out results and per-agent aggregates over seeds (a run with neither folder nor
    record keeps its row from ``earlier``)."""
    rows, agents = [], {}
    for agent, seed in jobs:
        path = record(runs, agent, seed)
        if path is None:
            rows += [r for r in earlier if (r["agent"], r["seed"]) == (agent, seed)]
            continue
        summary = json.loads((path / "summary.json").read_text())
        evaluation = read_evaluations(path)  # old records' solve_rate/solved read as success_rate/successes
        test = find_evaluation(evaluation, f"{protocol['env']}:test", "sample")
        greedy = find_evaluation(evaluation, f"{protocol['env']}:test", "greedy")
        rows.append({"agent": agent, "seed": seed, "parameters": summary["parameters"],
                     "frames": summary["frames"], "frames_per_second": summary["frames_per_second"],
                     "wall_seconds": summary["wall_seconds"], "solved": test["successes"],
                     "episodes": test["episodes"], "solve_rate": test["success_rate"], "ci95": test["ci95"],
                     "greedy_solve_rate": greedy["success_rate"] if greedy else None})
    for agent in dict.fromkeys(a for a, _ in jobs):
        mine = [r for r in rows if r["agent"] == agent]
        rates = [r["solve_rate"] for r in mine]
        solved, episodes = sum(r["solved"] for r in mine), sum(r["episodes"] for r in mine)
        agents[agent] = {
            "seeds": len(mine), "parameters": mine[0]["parameters"],
            "solve_rate_mean": statistics.mean(rates),
            "solve_rate_std": statistics.stdev(rates) if len(rates) > 1 else None,
            "solve_rate_min": min(rates), "solve_rate_max": max(rates),
            "pooled_solve_rate": solved / episodes, "pooled_ci95": list(wilson_interval(solved, episodes)),
            "greedy_mean": statistics.mean(r["greedy_solve_rate"] or 0.0 for r in mine),
            "frames_per_second_mean": statistics.mean(r["frames_per_second"] for r in mine),
            "minutes_mean": statistics.mean(r["wall_seconds"] for r in mine) / 60,
        }
    return {"runs": rows, "agents": agents}


def markdown(result: dict) -> str:
    p = result["protocol"]
    lines = [
        f"`{result['command']}` on {result['date']}; {result['machine']}.",
        "",
        f"Protocol: `{p['env']}` (7x7 rooms with the border, 2 boxes, 50-step cap; 50,000 generated "
        f"training levels; 1,000 held-out test levels from another generator seed, deduplicated "
        f"against the training bank), {p['frames']:,} frames per run, {p['num_envs']} envs x "
        f"{p['n_steps']} steps, RMSprop lr {p['lr']} ({p['lr_schedule']}), entropy {p['entropy_coef']}, the step cap "
        f"{'bootstrapped' if p['bootstrap_truncated'] else 'ending returns like a terminal state'}; "
        f"evaluation on the test levels with sampled actions, one episode per level. One torch thread "
        f"per run, several runs at a time on this shared machine ({result['parallel']} in this call; the "
        "recorded I2A runs shared its 2 cores 2 or 3 at a time), so *frames/s* and *minutes* tell more about "
        "that sharing than about the agents: the I2A cost section has paired timings.",
        "",
        "| agent | parameters | seeds | solved, mean over seeds | min - max | pooled (95% CI) | greedy, mean "
        "| frames/s | minutes per run |",
        "|---|---:|---:|---:|---|---|---:|---:|---:|",
    ]
    for agent, a in result["agents"].items():
        std = f" +/- {100 * a['solve_rate_std']:.1f}" if a["solve_rate_std"] is not None else ""
        low, high = a["pooled_ci95"]
        lines.append(
            f"| {agent} | {a['parameters']:,} | {a['seeds']} | {100 * a['solve_rate_mean']:.1f}%{std} | "
            f"{100 * a['solve_rate_min']:.1f} - {100 * a['solve_rate_max']:.1f}% | "
            f"{100 * a['pooled_solve_rate']:.1f}% ({100 * low:.1f} to {100 * high:.1f}) | "
            f"{100 * a['greedy_mean']:.1f}% | {a['frames_per_second_mean']:,.0f} | {a['minutes_mean']:.1f} |")
    if any(agent in ("i2a", "i2a-noreward") for agent in result["agents"]):
        lines += ["", MODEL_NOTE]
    page = Path(result["report"])
    link = f"{page.parent.name}/{page.name}"
    lines += ["", f"![learning curves]({page.parent.name}/{page.stem}_curves.png)", ""]
    if result.get("runs_without_curves"):
        lines.append(f"Curves, tables and an episode GIF of the runs recorded in `benchmarks/results/protocol_runs/`: "
                     f"[{link}]({link}). The runs {', '.join(result['runs_without_curves'])} are known here by their "
                     f"results only (their folders predate the records); their curves are in "
                     f"[{REPORT.parent.name}/{REPORT.name}]({REPORT.parent.name}/{REPORT.name}).")
    else:
        lines.append(f"Every run's curves, tables and an episode GIF: [{link}]({link}).")
    return "\n".join(lines)


def rerun(pairs: list[tuple[str, int]], runs: Path, parallel: int, docs: bool) -> None:
    """Train recorded (agent, seed) runs again with today's code into ``runs``, and set each
    beside the recorded result: does the code still reproduce the table?

    The records stay as they are (the reruns' own go to RERUN_ARCHIVE). The same seed does not
    repeat a run bit for bit once anything it computes has changed (a faster model, another
    summation order), so a rerun is judged against the recorded spread over seeds: the pooled
    95% interval and the range of the seeds' solve rates."""
    recorded = json.loads(RESULTS.read_text())
    protocol = recorded["protocol"]
    for agent, _ in pairs:
        if agent not in recorded["agents"]:
            raise SystemExit(f"{agent} has no recorded result in {RESULTS} to rerun against")
    jobs = {run_dir(runs, a, s): command(run_dir(runs, a, s), a, s, protocol) for a, s in pairs}
    protocol_runs.train_all(jobs, parallel, RERUN_ARCHIVE)
    rows = []
    for agent, seed in pairs:
        path = run_dir(runs, agent, seed)
        if not protocol_runs.finished(path):
            path = RERUN_ARCHIVE / path.name
        summary = json.loads((path / "summary.json").read_text())
        test = find_evaluation(read_evaluations(path), f"{protocol['env']}:test", "sample")
        before = recorded["agents"][agent]
        same_seed = next((r for r in recorded["runs"] if (r["agent"], r["seed"]) == (agent, seed)), None)
        low, high = before["pooled_ci95"]
        rows.append({"agent": agent, "seed": seed, "solve_rate": test["success_rate"], "ci95": test["ci95"],
                     "frames_per_second": summary["frames_per_second"], "wall_seconds": summary["wall_seconds"],
                     "recorded_seed_solve_rate": same_seed["solve_rate"] if same_seed else None,
                     "recorded_mean": before["solve_rate_mean"], "recorded_pooled_ci95": [low, high],
                     "recorded_range": [before["solve_rate_min"], before["solve_rate_max"]],
                     "inside_pooled_ci95": low <= test["success_rate"] <= high})
    result = {"date": datetime.date.today().isoformat(), "machine": f"{os.cpu_count()} CPU cores ({cpu_name()}), no GPU",
              "command": "python benchmarks/sokoban_protocol.py " + " ".join(sys.argv[1:]),
              "recorded": recorded["date"], "default_model": get_spec(protocol["env"]).default_model, "rows": rows}
    RERUN_RESULTS.write_text(json.dumps(result, indent=1) + "\n")
    lines = [f"`{result['command']}` on {result['date']}; {result['machine']}. Recorded runs trained again with "
             f"today's code (same protocol, same seed; learned-model agents imagine with `{result['default_model']}`, the "
             f"world's default model) and set beside the table above (recorded {result['recorded']}).",
             "", "| agent | seed | recorded, this seed | recorded, seeds' range | recorded, pooled (95% CI) | "
             "rerun (95% CI) | inside the pooled interval | frames/s |", "|---|---:|---:|---|---|---|---|---:|"]
    for r in rows:
        seed_rate = f"{100 * r['recorded_seed_solve_rate']:.1f}%" if r["recorded_seed_solve_rate"] is not None else "-"
        (lo, hi), (rlo, rhi) = r["recorded_pooled_ci95"], r["recorded_range"]
        lines.append(f"| {r['agent']} | {r['seed']} | {seed_rate} | {100 * rlo:.1f} - {100 * rhi:.1f}% | "
                     f"{100 * r['recorded_mean']:.1f}% ({100 * lo:.1f} to {100 * hi:.1f}) | "
                     f"{100 * r['solve_rate']:.1f}% ({100 * r['ci95'][0]:.1f} to {100 * r['ci95'][1]:.1f}) | "
                     f"{'yes' if r['inside_pooled_ci95'] else '**no**'} | {r['frames_per_second']:,.0f} |")
    table = "\n".join(lines)
    print(table)
    if docs:
        write_section("sokoban-protocol-rerun", table, "Reruns of the Sokoban protocol (`--rerun`)")


def study(runs: Path, parallel: int, docs: bool) -> None:
    """Train the standard agent under each setting of STUDY and tabulate the held-out results."""
    paths = {name: runs / name for name in STUDY}
    jobs = {paths[name]: command(paths[name], "standard", 0, PROTOCOL | {"frames": STUDY_FRAMES} | changes)
            for name, (_, changes) in STUDY.items()}
    train_all(jobs, parallel)
    rows = []
    for name, (what, changes) in STUDY.items():
        evaluation = read_evaluations(paths[name])
        test, greedy = (find_evaluation(evaluation, f"{PROTOCOL['env']}:test", mode) for mode in ("sample", "greedy"))
        rows.append({"name": name, "what": what, "settings": PROTOCOL | {"frames": STUDY_FRAMES} | changes,
                     "solve_rate": test["success_rate"], "ci95": test["ci95"],
                     "greedy_solve_rate": greedy["success_rate"]})
    result = {"date": datetime.date.today().isoformat(), "machine": f"{os.cpu_count()} CPU cores ({cpu_name()}), no GPU",
              "command": "python benchmarks/sokoban_protocol.py --study", "frames": STUDY_FRAMES, "seed": 0,
              "rows": rows}
    STUDY_RESULTS.write_text(json.dumps(result, indent=1) + "\n")
    lines = [f"`{result['command']}` on {result['date']}; {result['machine']}. The standard agent, seed 0, "
             f"{STUDY_FRAMES:,} frames on `{PROTOCOL['env']}`, everything else as in the protocol; held-out "
             "test levels, 1,000 episodes.", "",
             "| setting | what changes | solved, sampled (95% CI) | solved, greedy |", "|---|---|---|---:|"]
    for row in rows:
        low, high = row["ci95"]
        lines.append(f"| {row['name']} | {row['what']} | {100 * row['solve_rate']:.1f}% ({100 * low:.1f} to "
                     f"{100 * high:.1f}) | {100 * row['greedy_solve_rate']:.1f}% |")
    table = "\n".join(lines)
    print(table)
    if docs:
        write_section("sokoban-protocol-study", table, "Why the protocol's A2C settings (`--study`)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", nargs="+", default=["standard", "large"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--frames", type=int, default=PROTOCOL["frames"], help="frame budget per run")
    parser.add_argument("--runs", type=Path, default=ROOT / "runs" / "protocol", help="run folders go here")
    parser.add_argument("--jobs", type=int, default=2, help="runs at once (one thread each)")
    parser.add_argument("--study", action="store_true", help="run the settings study instead (into RUNS/../study)")
    parser.add_argument("--no-docs", action="store_true", help="train only: write no results JSON and no docs")
    parser.add_argument("--rerun", action="store_true",
                        help="train recorded AGENTS x SEEDS again with today's code (into RUNS/../protocol-rerun) "
                             "and compare each with the recorded results; the records stay as they are")
    parser.add_argument("--no-train", action="store_true",
                        help="summarise the finished runs among AGENTS x SEEDS; train nothing")
    args = parser.parse_args()
    if args.study:
        study(args.runs.parent / "study", args.jobs, not args.no_docs)
        return
    protocol = PROTOCOL | {"frames": args.frames}
    pairs = [(agent, seed) for agent in args.agents for seed in args.seeds]
    if args.rerun:
        rerun(pairs, args.runs.parent / "protocol-rerun", args.jobs, not args.no_docs)
        return
    started = time.time()
    if not args.no_train:
        # a run already recorded (here or in ARCHIVE, e.g. from another machine) is not trained again
        todo = [(a, s) for a, s in pairs if record(args.runs, a, s) is None]
        train_all({run_dir(args.runs, a, s): command(run_dir(args.runs, a, s), a, s, protocol) for a, s in todo},
                  args.jobs)
    for agent, seed in pairs:
        archive(run_dir(args.runs, agent, seed))
    if args.no_docs:
        return
    earlier = json.loads(RESULTS.read_text())["runs"] if RESULTS.is_file() else []
    known = {(r["agent"], r["seed"]) for r in earlier}
    pairs = [(a, s) for a, s in pairs if record(args.runs, a, s) is not None or (a, s) in known]
    if not pairs:
        raise SystemExit(f"no finished runs under {args.runs}, in {ARCHIVE} or in {RESULTS}")
    # the report's curves need metrics: runs known only by an earlier results row have none, so
    # while any is left the report of the recorded runs goes beside the full one instead of over it
    recorded = [path for a, s in pairs if (path := record(args.runs, a, s)) is not None]
    report = REPORT if len(recorded) == len(pairs) else REPORT.with_name("report_recorded.md")
    result = {
        "date": datetime.date.today().isoformat(),
        "machine": f"{os.cpu_count()} CPU cores ({cpu_name()}), no GPU",
        "command": "python benchmarks/sokoban_protocol.py " + " ".join(sys.argv[1:]),
        "protocol": protocol, "parallel": args.jobs,
        "wall_seconds": None if args.no_train else round(time.time() - started, 1),
        "report": str(report.relative_to(ROOT)),
        "runs_without_curves": [f"{a}-seed{s}" for a, s in pairs if record(args.runs, a, s) is None],
        **summarize(pairs, args.runs, protocol, earlier),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=1) + "\n")
    table = markdown(result)
    print(table)
    write_report(recorded, report)
    write_section("sokoban-protocol", table, "The CPU-scale Sokoban protocol (`benchmarks/sokoban_protocol.py`)")


if __name__ == "__main__":
    main()
