#!/usr/bin/env python3
"""Imagination efficiency (the I2A paper's Table 1): imagined steps per level to reach a solve rate.

    python benchmarks/imagination_efficiency.py                  # both settings (~20 min on 2 busy cores)
    python benchmarks/imagination_efficiency.py --quick          # a smoke run (~2 min)
    python benchmarks/imagination_efficiency.py --i2a-run RUN    # add an I2A run's row (its own setting)
    python benchmarks/imagination_efficiency.py --from-json      # redraw docs and plot from the saved JSON

Each planner plays the same levels at a sweep of budgets (imagined steps per level per real
step); a budget gives a solve rate and a mean count of imagined steps per level (every level
counts, solved or not). The table reads, for each target solve rate, the imagined steps per
level at the first budget reaching it, interpolated log-linearly from the budget below
("not reached" when no budget did).

Settings (both on one torch thread):

- **CPU-scale protocol**: ``sokoban-7x7-2`` test levels (the first ``--levels-7`` of them),
  50-step episodes: MCTS (UCT, random rollouts) with the perfect model; PUCT with the
  protocol's standard agent (``runs/protocol/standard-seed0``) as prior and value when that
  run exists; MC search with the perfect model and with learned models of decreasing
  quality: the shipped ``sokoban-10x10`` model and GridModels fitted for 1,200 and 300 steps
  on 100k random-play transitions (one-step exactness reported beside each).
- **10x10 Boxoban unfiltered/test**, 120-step episodes, the first ``--levels-10`` levels (a
  documented subset, to keep the run near 20 minutes): MCTS and MC search with the perfect
  model, MC search with the shipped learned model.

I2A: its imagined steps per level are rollout length x actions x episode length, read from
an I2A run's config and measured by playing it on the same levels (``--i2a-run``, whose
level size picks the setting). Without one the row says it is absent. For a learned-model
``i2a`` run it also sweeps the paper's "I2A + MC search": MC search with that run's
environment model and its distilled rollout policy.

Also measured: MCTS throughput with the perfect model on 10x10, all 1,000 test levels as one
batch (imagined steps/s, with the load average, since the machine is shared).

Writes ``benchmarks/results/imagination_efficiency.json``, a plot into ``docs/images/`` and
the ``imagination-efficiency`` section of ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

from common import boxoban_levels, cpu_name, success_rate, write_section
from reverie.envs.registry import get_spec
from reverie.envs.sokoban.presets import level_bank
from reverie.envs.sokoban import rules
from reverie.envs.sokoban.bank import LevelBank
from reverie.training.runs import parse_agent_options
from reverie.models import codes_to_planes, load, pretrained, resolve
from reverie.planning.episodes import make_planner, play_levels

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "imagination_efficiency.json"
PLOT = ROOT / "docs" / "images" / "imagination_efficiency.png"
BOXOBAN = boxoban_levels() or ROOT.parent / "shared" / "boxoban-levels"
AGENT_7X7 = ROOT / "runs" / "protocol" / "standard-seed0"
TARGETS = (0.1, 0.25, 0.5, 0.75, 0.87)


def spec_7x7():
    """The CPU-scale setting's world: ``sokoban-7x7-2``, 50-step episodes."""
    return get_spec("sokoban-7x7-2", max_steps=50)


def spec_10x10():
    """The 10x10 setting's world: Boxoban unfiltered, 120-step episodes."""
    return get_spec("boxoban-unfiltered", levels_dir=BOXOBAN, max_steps=120)


def load_avg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def model_quality(model, bank: LevelBank, n: int = 2000, seed: int = 0) -> float:
    """Share of one-step predictions (frame and reward) that are exact, on random-walk states."""
    g = torch.Generator().manual_seed(seed)
    codes = torch.from_numpy(bank.codes[torch.randint(len(bank), (n,), generator=g).numpy()].copy())
    flat = codes.reshape(n, -1)
    tables = rules.make_tables(bank.shape[1])
    for _ in range(int(torch.randint(0, 20, (1,), generator=g))):
        rules.step_(flat, rules.player_index(flat), torch.randint(0, 5, (n,), generator=g), tables)
    action = torch.randint(0, 5, (n,), generator=g)
    true_next, result = rules.step(flat, action, tables)
    return exact_rate(model, codes_to_planes(flat.view(codes.shape), spec_7x7().observation.num_codes),
                      action, true_next.view(codes.shape), result.reward)


@torch.no_grad()
def exact_rate(model, obs: torch.Tensor, action: torch.Tensor, next_codes: torch.Tensor,
               reward: torch.Tensor) -> float:
    """Share of one-step predictions whose next frame (most likely cell codes) and reward are both exact."""
    pred, predicted_reward, _ = model.step(obs, action)  # (next_state, reward, done)
    same = (pred.argmax(1) == next_codes).flatten(1).all(1)
    return float((same & ((predicted_reward - reward).abs() < 1e-3)).float().mean())


def fit_poor_model(work: Path, minutes: float, steps: int) -> Path:
    """A GridModel fitted briefly on random-play Boxoban transitions (a deliberately poor model)."""
    from reverie.data.transitions import CollectConfig, collect
    from reverie.models.grid import GridModelConfig
    from reverie.training.model_fitting import FitConfig, fit

    data = work / "data"
    collect(CollectConfig(out=data, train_levels=BOXOBAN / "unfiltered" / "train" / "000.txt",
                          valid_levels=BOXOBAN / "unfiltered" / "valid" / "000.txt",
                          train_frames=100_000, valid_frames=10_000, seed=0), progress=False)
    fit(FitConfig(data=data, out=work / "fit", steps=steps, time_limit=minutes, val_every=steps,
                  val_frames=5_000, patience=0, tensorboard=False, warmup=20),
        GridModelConfig(size="small"), progress=False)
    return work / "fit" / "model.pt"


def sweep(name: str, kind: str, model, budgets, spec, episodes, agent=None, depth=None, batch=1000) -> dict:
    """Play the first ``episodes`` test levels of ``spec`` at each budget."""
    rows = []
    for budget in budgets:
        planner = make_planner(kind, model, budget, spec, str(agent) if agent else None, depth, seed=0)
        began = time.perf_counter()
        r = play_levels(planner, spec, "test", episodes, batch=batch, seed=0)
        rows.append({"budget": budget, "success_rate": r["success_rate"], "ci95": r["ci95"],
                     "imagined_per_level": r["imagined_per_level"]["mean"],
                     "imagined_median": r["imagined_per_level"]["median"],
                     "mean_length": r["mean_length"], "wall_seconds": round(time.perf_counter() - began, 1),
                     "steps_per_second": round(r["imagined_steps_per_second"]), "load": load_avg()})
        print(f"  {name} budget {budget}: solved {r['success_rate']:.1%}, "
              f"{r['imagined_per_level']['mean']:,.0f} imagined/level, {rows[-1]['wall_seconds']} s, "
              f"{rows[-1]['steps_per_second']:,} steps/s (load {rows[-1]['load']})", flush=True)
    return {"name": name, "planner": kind, "agent": str(agent) if agent else None, "depth": depth, "points": rows}


def needed(points: list[dict], target: float) -> float | None:
    """Imagined steps per level at which the sweep first reaches ``target`` (log-interpolated)."""
    prev = None
    for p in points:
        if success_rate(p) >= target:
            if prev is None or success_rate(prev) >= success_rate(p):
                return p["imagined_per_level"]
            frac = (target - success_rate(prev)) / (success_rate(p) - success_rate(prev))
            lo, hi = math.log(max(prev["imagined_per_level"], 1)), math.log(max(p["imagined_per_level"], 1))
            return math.exp(lo + frac * (hi - lo))
        prev = p
    return None


def i2a_row(run, spec, episodes: int) -> dict:
    """A loaded I2A run played on the first ``episodes`` test levels of ``spec``."""
    from reverie.evaluation.evaluate import evaluate_policy

    core = getattr(run.policy, "core", None)
    if core is None:
        raise SystemExit(f"{run.run_dir}: not an I2A run (no imagination core)")
    points = []
    for greedy in (False, True):
        r = evaluate_policy(run.policy, spec, "test", episodes, greedy=greedy, seed=0)
        per_step = core.rollout_length * core.num_actions
        points.append({"mode": r["mode"], "success_rate": r["success_rate"], "ci95": r["ci95"],
                       "mean_length": r["mean_length"], "imagined_per_step": per_step,
                       "imagined_per_level": per_step * r["mean_length"]})
    points.sort(key=success_rate)
    return {"name": f"I2A ({run.run_dir.name}, {run.config.agent}, L={core.rollout_length})", "planner": "i2a",
            "points": points}


def add_i2a_row(settings: list[dict], run_dir: Path) -> None:
    """Play an I2A run on its setting's levels (7x7 runs: the first setting; others: Boxoban) and
    put its row in that setting, replacing an earlier I2A row of the same run."""
    from reverie.training.runs import load_run

    run = load_run(run_dir)
    small = tuple(run.spec.extra.get("size", ())) == (7, 7)
    setting = settings[0] if small else settings[1]
    spec = spec_7x7() if small else spec_10x10()
    rows = [i2a_row(run, spec, setting["levels"])]
    if run.config.agent == "i2a":  # the paper's "I2A + MC search": its model and distilled rollout policy
        options = parse_agent_options(run.config.agent_options)
        model = resolve(options.get("model") or spec.default_model, spec=spec)
        rows.append(sweep(f"MC search + I2A's model and distilled rollout policy ({run_dir.name})", "mc", model,
                          [20, 50, 100, 200], spec, setting["levels"], agent=run_dir))
    names = {r["name"] for r in rows}
    setting["rows"] = [r for r in setting["rows"] if r["name"] not in names] + rows


def table(setting: dict) -> str:
    head = "| method | " + " | ".join(f"{t:.0%} solved" for t in TARGETS) + " | best measured |"
    lines = [head, "|---" * (len(TARGETS) + 2) + "|"]
    for row in setting["rows"]:
        cells = []
        points = sorted(row["points"], key=lambda p: p["imagined_per_level"])
        for t in TARGETS:
            v = needed(points, t)
            at_most = v is not None and success_rate(points[0]) >= t  # the smallest budget already did it
            cells.append("not reached" if v is None else f"{'≤ ' if at_most else ''}{v:,.0f}")
        best = max(row["points"], key=success_rate)
        cells.append(f"{success_rate(best):.1%} at {best['imagined_per_level']:,.0f}")
        lines.append(f"| {row['name']} | " + " | ".join(cells) + " |")
    if not any(r["planner"] == "i2a" for r in setting["rows"]):
        lines.append("| I2A | absent: no I2A run on these levels was given (`--i2a-run`) |" + " |" * len(TARGETS))
    return "\n".join(lines)


def sweep_table(setting: dict) -> str:
    lines = ["| method | budget / step | solved [95% CI] | imagined / level (mean, median) | mean length | "
             "wall s | steps/s (load) |", "|---|---|---|---|---|---|---|"]
    for row in setting["rows"]:
        for p in row["points"]:
            if "budget" not in p:
                continue
            lines.append(f"| {row['name']} | {p['budget']} | {success_rate(p):.1%} [{p['ci95'][0]:.1%}, "
                         f"{p['ci95'][1]:.1%}] | {p['imagined_per_level']:,.0f}, {p['imagined_median']:,.0f} | "
                         f"{p['mean_length']:.1f} | {p['wall_seconds']} | {p['steps_per_second']:,} ({p['load']}) |")
    return "\n".join(lines)


def plot(settings: list[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(settings), figsize=(6 * len(settings), 4.2), squeeze=False)
    for ax, setting in zip(axes[0], settings):
        for row in setting["rows"]:
            pts = sorted(row["points"], key=lambda p: p["imagined_per_level"])
            ax.plot([p["imagined_per_level"] for p in pts], [success_rate(p) for p in pts], "o-", label=row["name"])
        ax.set_xscale("log")
        ax.set_xlabel("imagined steps per level")
        ax.set_ylabel("solve rate")
        ax.set_ylim(0, 1)
        ax.set_title(setting["title"], fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    PLOT.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(PLOT, dpi=110)


def throughput(budget: int = 100, decisions: int = 6) -> dict:
    """MCTS imagined steps/s with the perfect model: all 1,000 10x10 test levels as one batch."""
    from reverie.planning.mcts import MCTS, MCTSConfig

    spec = spec_10x10()
    levels = len(level_bank(spec.id, "test", BOXOBAN))
    search = MCTS(spec.make_perfect_model(), spec, MCTSConfig(budget=budget))
    r = play_levels(search, spec, "test", levels, max_steps=decisions, batch=levels)
    return {"levels": levels, "budget": budget, "decisions": decisions,
            "imagined_steps": int(r["imagined_per_level"]["mean"] * levels),
            "seconds": round(r["wall_seconds"], 2), "steps_per_second": round(r["imagined_steps_per_second"]),
            "load": load_avg(), "codes_shape": [levels, *spec.observation.compact_shape]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sweeps (smoke run)")
    parser.add_argument("--levels-7", type=int, default=150, help="sokoban-7x7-2 test levels played")
    parser.add_argument("--levels-10", type=int, default=100, help="Boxoban unfiltered/test levels played")
    parser.add_argument("--i2a-run", type=Path, help="an I2A run folder to add I2A's row")
    parser.add_argument("--fit-steps", type=int, default=300, help="optimizer steps of the poor learned model")
    parser.add_argument("--from-json", action="store_true", help="only rewrite the docs and plot from the results JSON")
    args = parser.parse_args()
    if args.from_json:
        record = json.loads(RESULTS.read_text())
        if args.i2a_run:  # measure only the I2A run and put its row beside the saved ones
            add_i2a_row(record["settings"], args.i2a_run)
            record["command"] += f" (I2A row: --from-json --i2a-run {args.i2a_run})"
            RESULTS.write_text(json.dumps(record, indent=1))
        write_docs(record)
        return
    torch.set_num_threads(1)
    began = time.perf_counter()
    quick = args.quick
    n7, n10 = (30, 20) if quick else (args.levels_7, args.levels_10)

    print(f"throughput (load {load_avg()})", flush=True)
    speed = throughput(decisions=2 if quick else 6)
    print(f"  MCTS perfect 10x10: {speed['steps_per_second']:,} imagined steps/s over {speed['levels']} levels "
          f"(load {speed['load']})", flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        poor = load(fit_poor_model(Path(tmp) / "a", 1.0, 60 if quick else args.fit_steps))
        medium_steps = 4 * (60 if quick else args.fit_steps)
        medium = load(fit_poor_model(Path(tmp) / "b", 2.0, medium_steps))
    shipped = pretrained("sokoban-10x10")

    bank7 = level_bank("sokoban-7x7-2", "test")
    spec7 = spec_7x7()
    bank7 = LevelBank(bank7.codes[:n7])
    quality = {"perfect": 1.0, "sokoban-10x10 (shipped)": model_quality(shipped, bank7),
               f"GridModel fitted {medium_steps} steps": model_quality(medium, bank7),
               f"GridModel fitted {args.fit_steps} steps": model_quality(poor, bank7)}
    print(f"one-step exact rate on 7x7 random-walk states: {quality}", flush=True)
    b7 = [10, 25, 50] if quick else [25, 50, 100, 200]
    mc7 = [20, 50] if quick else [20, 50, 100, 200, 400, 800]
    mc7_learned = [20, 50] if quick else [20, 50, 100, 200]  # learned models step ~10x slower
    setting7 = {"title": f"sokoban-7x7-2 test, first {n7} levels, 50-step episodes", "levels": n7, "rows": []}
    print(setting7["title"], flush=True)
    rows = setting7["rows"]
    rows.append(sweep("MCTS (UCT) + perfect model", "mcts", spec7.make_perfect_model(), b7, spec7, n7))
    if AGENT_7X7.is_dir():
        rows.append(sweep("MCTS (PUCT, standard agent) + perfect model", "mcts", spec7.make_perfect_model(),
                          [5, 10] if quick else [10, 25, 50], spec7, n7, agent=AGENT_7X7))
    rows.append(sweep("MC search + perfect model", "mc", spec7.make_perfect_model(), mc7, spec7, n7))
    rows.append(sweep(f"MC search + shipped model ({quality['sokoban-10x10 (shipped)']:.1%} exact)", "mc",
                      shipped, mc7_learned, spec7, n7))
    rows.append(sweep(f"MC search + {medium_steps}-step fit ({quality[f'GridModel fitted {medium_steps} steps']:.1%} "
                      "exact)", "mc", medium, mc7_learned, spec7, n7))
    rows.append(sweep(f"MC search + brief fit ({quality[f'GridModel fitted {args.fit_steps} steps']:.1%} exact)",
                      "mc", poor, mc7_learned, spec7, n7))

    spec10 = spec_10x10()
    bank10 = LevelBank(level_bank("boxoban-unfiltered", "test", BOXOBAN).codes[:n10])
    q10 = model_quality(shipped, bank10)
    setting10 = {"title": f"Boxoban unfiltered/test, first {n10} levels, 120-step episodes", "levels": n10,
                 "rows": []}
    print(setting10["title"], flush=True)
    rows = setting10["rows"]
    rows.append(sweep("MCTS (UCT) + perfect model", "mcts", spec10.make_perfect_model(), [50, 100] if quick else [100, 300],
                      spec10, n10))
    rows.append(sweep("MC search + perfect model", "mc", spec10.make_perfect_model(),
                      [100, 300] if quick else [100, 300, 1000], spec10, n10))
    rows.append(sweep(f"MC search + shipped model ({q10:.1%} exact)", "mc", shipped,
                      [100] if quick else [100, 300], spec10, n10))

    settings = [setting7, setting10]
    if args.i2a_run:
        add_i2a_row(settings, args.i2a_run)
    plot(settings)
    wall = time.perf_counter() - began
    record = {"date": datetime.date.today().isoformat(), "quick": quick, "wall_seconds": round(wall),
              "machine": f"{cpu_name()}, 1 torch thread, torch {torch.__version__}, Python {platform.python_version()}",
              "command": "python benchmarks/imagination_efficiency.py" + (" --quick" if quick else ""),
              "throughput": speed, "model_quality_7x7": quality, "model_quality_10x10_shipped": q10,
              "targets": TARGETS, "settings": settings}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(record, indent=1))
    write_docs(record)
    print(f"wrote {RESULTS} and docs/benchmarks.md in {wall / 60:.1f} min", file=sys.stderr)


def write_docs(record: dict) -> None:
    """The docs section (and plot) from a results record."""
    speed, settings, wall = record["throughput"], record["settings"], record["wall_seconds"]
    plot(settings)
    body = [f"Measured {record['date']} on {record['machine']}, a 2-core machine shared with training runs "
            f"(load averages beside each timing). Command: `{record['command']}` ({wall / 60:.0f} min). "
            "Budgets are imagined steps per level per real step; a cell is the imagined steps per level "
            "(mean over all levels, solved or not) at which a method first reaches the solve rate "
            "(≤: the smallest budget tried already reached it).",
            "",
            f"**Throughput**: MCTS (UCT, rollouts of 10) with the perfect model on 10x10 Boxoban, "
            f"{speed['levels']} levels as one batch, budget {speed['budget']}, first {speed['decisions']} "
            f"decisions: **{speed['steps_per_second']:,} imagined steps/s** (load {speed['load']}). Deeper trees "
            "and smaller batches run slower: see the steps/s column of each sweep.", ""]
    for setting in settings:
        body += [f"### {setting['title']}", "", table(setting), "", "<details><summary>every budget</summary>", "",
                 sweep_table(setting), "", "</details>", ""]
    body += [f"![solve rate vs imagined steps](images/{PLOT.name})", "",
             "Paper (Weber et al. 2017, 10x10, 4 boxes, approx.): I2A ~1.4k imagined steps per level for 87%, "
             "MCTS with a perfect model ~25k (with a trained value network). Here UCT has no value network "
             "(random rollouts) and no 10x10 agent exists to guide PUCT, so the 10x10 rows stay far below "
             "the paper's; on 7x7 the protocol's standard agent (35% solved alone) guides PUCT."]
    write_section("imagination-efficiency", "\n".join(body),
                  "Imagination efficiency: search vs I2A (`benchmarks/imagination_efficiency.py`)")


if __name__ == "__main__":
    main()
