"""An off-policy run's report: learning curves and a results table as a Markdown page.

Why apart from :mod:`reverie.evaluation.report`: A2C reports read frames, level splits and
held-out success over levels; an off-policy run has env steps, greedy evaluations on fixed
episodes and learner/model speeds. Both write ``report.md`` beside a PNG in the run folder.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..core.atomic import atomic_write
from ..core.errors import ReverieError
from ..core.metrics import read_metrics


def _curves(records: list[dict], path: Path) -> None:
    from matplotlib.figure import Figure

    success = any("eval_success_rate" in r for r in records)
    fig = Figure(figsize=(9 if success else 5, 3.4))
    ax = fig.add_subplot(1, 2 if success else 1, 1)
    train = [(r["step"], r["episode_return"]) for r in records if r.get("episodes")]
    evals = [(r["step"], r["eval_return"]) for r in records if "eval_return" in r]
    if train:
        ax.plot(*zip(*train), label="training episodes", alpha=0.6)
    if evals:
        ax.plot(*zip(*evals), "o-", label="greedy evaluation")
    ax.set_xlabel("env steps")
    ax.set_ylabel("return")
    if train or evals:
        ax.legend(loc="lower right", fontsize=8)
    if success:
        ax2 = fig.add_subplot(1, 2, 2)
        ax2.plot(*zip(*[(r["step"], r["eval_success_rate"]) for r in records if "eval_success_rate" in r]), "o-")
        ax2.set_xlabel("env steps")
        ax2.set_ylabel("greedy success rate")
        ax2.set_ylim(-0.02, 1.02)
    fig.tight_layout()
    with atomic_write(path) as f:
        fig.savefig(f, format="png", dpi=90)


def write_offpolicy_report(run_dir: str | Path) -> Path:
    """Write ``run_dir/report.md`` (and ``curves.png``) from the run's config, metrics and summary."""
    run_dir = Path(run_dir)
    for name in ("config.json", "metrics.jsonl", "summary.json"):
        if not (run_dir / name).is_file():
            raise ReverieError(f"{run_dir}: no {name}; not a finished off-policy run folder")
    config = json.loads((run_dir / "config.json").read_text())
    summary = json.loads((run_dir / "summary.json").read_text())
    records = read_metrics(run_dir / "metrics.jsonl")
    _curves(records, run_dir / "curves.png")
    ev = summary.get("evaluation") or {}
    rows = [("method", summary["method"]), ("task", json.dumps(config["task"])), ("seed", summary["seed"]),
            ("env steps", f"{summary['steps']:,}"), ("gradient updates", f"{summary['updates']:,}"),
            ("wall time", f"{summary['wall_seconds']:.0f} s"), ("steps/s", summary["steps_per_second"]),
            ("updates/s", summary["updates_per_second"]), ("learner parameters", f"{summary['learner_parameters']:,}")]
    if ev:
        rows.append((f"greedy return ({ev['episodes']} episodes, step {ev['steps']:,})", f"{ev['mean_return']:.1f}"))
        if "success_rate" in ev:
            rows.append(("greedy success rate", f"{ev['success_rate']:.0%}"))
    page = [f"# {summary['method']} on {summary['task']}", "", "| | |", "|---|---|"]
    page += [f"| {k} | {v} |" for k, v in rows]
    page += ["", "![learning curves](curves.png)", "",
             f"Settings: `config.json` (learner: {json.dumps(config['learner'])}; model: {json.dumps(config['model'])}).",
             ""]
    out = run_dir / "report.md"
    with atomic_write(out, "w") as f:
        f.write("\n".join(page))
    return out
