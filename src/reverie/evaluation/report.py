"""A report on one or more training runs: one Markdown page with its pictures beside it.

- **Learning curves**: training success rate (where the world has success; records written
  before it say ``solve_rate``) and episode return against frames, one line per
  group of runs that differ only in their seed (same env id, agent and training settings):
  the mean over the group's runs with their min-max spread shaded, on the frames all of them
  reached. Groups are labelled by env id and agent, plus the settings that tell them apart.
- **Evaluation table**: every run's held-out results (``evaluation.json``; runs without one
  are evaluated first on their env id's test split) and, per group, the mean and standard
  deviation over seeds.
- **A GIF** of one evaluation episode of the first run (the longest successful one of its first
  16 test episodes when there is one: a whole episode at 5 frames a second), where its world
  draws pictures.

A caller may put its own section at the top (``reverie run`` puts the random policy's result
and its environment model's accuracy beside the agent's there).

The page links its PNG and GIF by relative path, so it opens in any Markdown viewer, on
GitHub, or as a file, without a server.
"""

from __future__ import annotations

import datetime
import io
import json
import math
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..core.errors import ReverieError
from ..core.atomic import atomic_write
from ..core.stats import success_rate

__all__ = ["write_report", "RunRecord", "read_run", "group_curves", "group_labels", "frames_label", "showcase_episode", "curves_figure"]

#: Run settings that do not change what is learned: runs differing only in these (and the
#: seed) are one group.
_BOOKKEEPING = {"seed", "run_dir", "log_every", "checkpoint_every", "eval_episodes", "threads", "device",
                "tensorboard", "levels_dir"}


@dataclass
class RunRecord:
    """What a report needs from a run folder."""

    path: Path
    config: dict[str, Any]
    metrics: list[dict[str, Any]]
    evaluations: dict[str, Any]
    summary: dict[str, Any]

    @property
    def env(self) -> str:
        return self.config["train"]["env"]

    @property
    def agent(self) -> str:
        return self.config["train"]["agent"]

    @property
    def seed(self) -> int:
        return self.config["train"]["seed"]

    @property
    def settings(self) -> dict[str, Any]:
        """The training settings that define the run's group (everything but seed and bookkeeping)."""
        train = {k: v for k, v in self.config["train"].items() if k not in _BOOKKEEPING}
        return train | self.config.get("a2c", {})

    @property
    def group(self) -> tuple[str, str, str]:
        return self.env, self.agent, json.dumps(self.settings, sort_keys=True, default=str)


def group_labels(runs: list[RunRecord]) -> dict[tuple[str, str, str], str]:
    """A short name per group: "agent on env", plus the settings that differ between groups
    of the same env and agent."""
    labels = {}
    for group in dict.fromkeys(run.group for run in runs):
        env, agent, _ = group
        same = [json.loads(g[2]) for g in dict.fromkeys(r.group for r in runs) if g[:2] == (env, agent)]
        mine = json.loads(group[2])
        differ = [k for k in sorted(mine) if k not in ("env", "agent") and len({json.dumps(s.get(k)) for s in same}) > 1]
        labels[group] = f"{agent} on {env}" + (f" ({', '.join(f'{k}={mine[k]}' for k in differ)})" if differ else "")
    return labels


def _is_training_run(path: Path) -> bool:
    """Whether ``path`` looks like an actor-critic run folder (to point at one inside a folder given)."""
    try:
        return (path / "metrics.jsonl").is_file() and "train" in json.loads((path / "config.json").read_text())
    except (OSError, ValueError, TypeError):
        return False


def read_run(path: str | Path) -> RunRecord:
    """Read a run folder's config, metrics, evaluations and summary."""
    from ..core.metrics import read_metrics
    from .evaluate import read_evaluations

    path = Path(path)
    if not path.is_dir():
        raise ReverieError(f"{path}: no such run folder")
    config_path = path / "config.json"
    if not config_path.is_file() or not (path / "metrics.jsonl").is_file():
        inside = sorted(str(d) for d in path.iterdir() if _is_training_run(d))
        hint = f"; it holds {' and '.join(inside[:3])}{' and more' if len(inside) > 3 else ''}" if inside else ""
        raise ReverieError(f"{path}: not a training run folder (no config.json and metrics.jsonl){hint}")
    try:
        config = json.loads(config_path.read_text())
        metrics = read_metrics(path)
        summary = json.loads((path / "summary.json").read_text()) if (path / "summary.json").is_file() else {}
    except json.JSONDecodeError as err:
        raise ReverieError(f"{path}: a run file is not valid JSON ({err})") from None
    if "train" not in config:
        raise ReverieError(f"{config_path}: not the config of an actor-critic run")
    return RunRecord(path, config, metrics, read_evaluations(path), summary)


#: Metric names of records written before worlds other than Sokoban: new -> old.
_OLD_METRICS = {"success_rate": "solve_rate"}


def _value(record: dict[str, Any], key: str) -> Any:
    return record[key] if key in record else record.get(_OLD_METRICS.get(key, ""))


def _series(run: RunRecord, key: str) -> tuple[np.ndarray, np.ndarray]:
    points = [(r["frames"], _value(r, key)) for r in run.metrics
              if isinstance(_value(r, key), (int, float)) and math.isfinite(_value(r, key))]
    if not points:
        return np.zeros(0), np.zeros(0)
    frames, values = zip(*points)
    return np.asarray(frames, dtype=float), np.asarray(values, dtype=float)


def group_curves(runs: list[RunRecord], key: str, points: int = 200) -> dict[tuple[str, str, str], dict[str, Any]]:
    """Per group (:attr:`RunRecord.group`): a frames grid and the mean, min and max of ``key``
    over its runs, each run linearly interpolated onto the frames every run of the group reached
    (``success_rate`` reads old records' ``solve_rate``)."""
    groups: dict[tuple[str, str, str], list[tuple[np.ndarray, np.ndarray]]] = {}
    for run in runs:
        frames, values = _series(run, key)
        if len(frames):
            groups.setdefault(run.group, []).append((frames, values))
    curves = {}
    for group, series in groups.items():
        start = max(f[0] for f, _ in series)
        end = min(f[-1] for f, _ in series)
        grid = np.linspace(start, end, points) if end > start else np.asarray([end])
        stacked = np.stack([np.interp(grid, f, v) for f, v in series])
        curves[group] = {"frames": grid, "mean": stacked.mean(0), "min": stacked.min(0),
                         "max": stacked.max(0), "runs": len(series)}
    return curves


def frames_label(frames: float) -> str:
    """A frame count as an axis tick: 0, 500, 50k, 1.5M, 2G (ticks of raw counts run together)."""
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(frames) >= size:
            return f"{frames / size:.3g}{suffix}"
    return f"{frames:.3g}"


def curves_figure(runs: list[RunRecord]):
    """The learning curves' matplotlib Figure (see the module docstring)."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    labels = group_labels(runs)
    columns = min(3, max(1, len(labels)))
    legend_inches = 0.15 + 0.2 * -(-len(labels) // columns)  # one 0.2-inch row per `columns` runs
    height = 4.2 + legend_inches
    figure = Figure(figsize=(11, height), dpi=110)
    rates = group_curves(runs, "success_rate")
    panels = list(np.atleast_1d(figure.subplots(1, 2 if rates else 1)))
    shown = [("success_rate", "training success rate")] if rates else []
    shown.append(("episode_return", "training return"))
    for ax, (key, label) in zip(panels, shown):
        top = 0.0
        for group, curve in sorted(group_curves(runs, key).items(), key=lambda item: labels[item[0]]):
            name = f"{labels[group]}: {curve['runs']} run{'s' if curve['runs'] > 1 else ''}"
            line, = ax.plot(curve["frames"], curve["mean"], label=name, marker="o" if len(curve["frames"]) == 1 else None)
            if curve["runs"] > 1:
                ax.fill_between(curve["frames"], curve["min"], curve["max"], color=line.get_color(), alpha=0.2)
            top = max(top, float(curve["max"].max()))
        ax.set_xlabel("frames")
        ax.xaxis.set_major_locator(MaxNLocator(nbins=5, steps=[1, 2, 2.5, 5, 10]))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: frames_label(x)))
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        if key == "success_rate":
            ax.set_ylim(0, min(1.0, max(0.1, 1.1 * top)))
    handles, names = panels[0].get_legend_handles_labels()
    figure.legend(handles, names, loc="lower center", fontsize=8, frameon=False, ncols=columns)
    if any(curve["runs"] > 1 for key, _ in shown for curve in group_curves(runs, key).values()):
        figure.suptitle("mean over seeds (line), min to max (shaded)", fontsize=9)
    figure.tight_layout(rect=(0, legend_inches / height, 1, 1))
    return figure


def _plot(runs: list[RunRecord], path: Path) -> None:
    buffer = io.BytesIO()
    curves_figure(runs).savefig(buffer, format="png")
    with atomic_write(path) as f:
        f.write(buffer.getvalue())


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def _success_cell(result: dict[str, Any]) -> str:
    rate = success_rate(result)
    if rate is None:
        return "-"
    low, high = result["ci95"]
    return f"{_pct(rate)} ({_pct(low)} to {_pct(high)})"


def _has_success(runs: list[RunRecord]) -> bool:
    """Whether any evaluation of these runs has a success rate (else only returns are reported)."""
    return any(success_rate(r) is not None for run in runs for r in run.evaluations.values())


def _return_cell(result: dict[str, Any]) -> str:
    low, high = result.get("return_ci95", (result["mean_return"], result["mean_return"]))
    return f"{result['mean_return']:.2f} ({low:.2f} to {high:.2f})"


def _eval_rows(runs: list[RunRecord]) -> list[str]:
    # worlds with returns only (MiniPacman): the return's interval instead of a success column
    success = _has_success(runs)
    rows = ["| run | env | agent | seed | parameters | frames | frames/s | episodes from | actions | episodes "
            + ("| success rate (95% CI) | mean return | mean length |" if success
               else "| mean return (95% CI) | mean length |"),
            "|---|---|---|---:|---:|---:|---:|---|---|---:|---|" + ("---:|---:|" if success else "---:|")]
    for run in runs:
        params = run.config.get("agent", {}).get("parameters")
        params = f"{params:,}" if isinstance(params, int) else "-"
        fps = run.summary.get("frames_per_second")
        frames = run.summary.get("frames", run.metrics[-1]["frames"] if run.metrics else 0)
        for key, result in sorted(run.evaluations.items()):
            outcome = (f"{_success_cell(result)} | {result['mean_return']:.2f}" if success
                       else _return_cell(result))
            rows.append(
                f"| {run.path.name} | {run.env} | {run.agent} | {run.seed} | {params} | {frames:,} | "
                f"{f'{fps:,.0f}' if fps else '-'} | {result['levels']} | {result['mode']} | {result['episodes']} | "
                f"{outcome} | {result['mean_length']:.1f} |")
    return rows


def _group_rows(runs: list[RunRecord]) -> list[str]:
    """Per group, source and action choice: the success rate (else the return) over seeds."""
    labels = group_labels(runs)
    table: dict[tuple[str, str, str], list[float]] = {}
    success = all(success_rate(r) is not None for run in runs for r in run.evaluations.values())
    for run in runs:
        for result in run.evaluations.values():
            value = success_rate(result) if success else result["mean_return"]
            key = (labels[run.group], result["levels"], result["mode"], result["episodes"])
            table.setdefault(key, []).append(value)  # rows of other episode counts are not mixed
    show = _pct if success else (lambda v: f"{v:.2f}")
    what = "success rate" if success else "return"
    rows = [f"| runs of | episodes from | actions | episodes per run | runs | {what}, mean | std over runs |",
            "|---|---|---|---:|---:|---:|---:|"]
    for (label, levels, mode, episodes), values in sorted(table.items()):
        std = show(statistics.stdev(values)) if len(values) > 1 else "-"
        rows.append(f"| {label} | {levels} | {mode} | {episodes:,} | {len(values)} | {show(statistics.mean(values))} "
                    f"| {std} |")
    return rows


def showcase_episode(run_dir: str | Path, gif: Path, episodes: int = 16, levels_dir: str | Path | None = None,
                     seed: int = 0) -> dict[str, Any] | None:
    """Play the first ``episodes`` test episodes with sampled actions and write a GIF of the
    longest successful one (else the longest): a whole episode worth watching, not a win in
    one push. Returns what it showed (``episodes``, ``successes``, ``length``, ``success``,
    ``mean_return``), or None where the world draws no pictures."""
    from ..envs.registry import get_spec
    from ..training.runs import load_run
    from .evaluate import episode_frames, play_first_episodes
    from .pictures import save_gif

    run = load_run(run_dir)
    options = run.config.env_kwargs() | ({"levels_dir": levels_dir} if levels_dir is not None else {})
    spec = get_spec(run.config.env, **options)
    if spec.render is None:
        return None
    env = spec.make_env("test", episodes, seed=seed, device=run.device)
    reset_to = getattr(env, "reset_to", None)
    with torch.inference_mode():
        obs = reset_to(torch.arange(episodes, device=run.device)) if reset_to is not None else env.reset(seed=seed)[0]
    generator = torch.Generator(run.device)
    generator.manual_seed(seed)
    run.policy.eval()
    with torch.inference_mode():  # not around load_run: weights made in it would be inference tensors
        played = play_first_episodes(run.policy, env, obs, False, generator, spec, record=True)
    length, success = played["length"].cpu(), played["success"].cpu()
    row = int(torch.argmax(torch.where(success, length, -1) if bool(success.any()) else length))
    frames = episode_frames(spec, played | {"success": torch.arange(episodes) == row})
    if not frames:
        return None
    save_gif(frames, gif)
    return {"episodes": episodes, "successes": int(success.sum()) if spec.success is not None else None,
            "length": int(length[row]), "success": bool(success[row]) if spec.success is not None else None,
            "mean_return": float(played["return"].mean())}


def write_report(run_dirs: list[str | Path], out: str | Path | None = None, eval_episodes: int = 500,
                 levels_dir: str | Path | None = None, preamble: list[str] | None = None) -> Path:
    """Write the report page (and ``<stem>_curves.png``, ``<stem>_episode.gif`` beside it);
    ``preamble``: Markdown lines put before the learning curves."""
    from .evaluate import evaluate_run

    if not run_dirs:
        raise ReverieError("report needs at least one run folder")
    runs = [read_run(d) for d in run_dirs]
    if out is None:
        out = runs[0].path / "report.md" if len(runs) == 1 else Path("report.md")
    out = Path(out)
    if out.suffix.lower() != ".md":
        raise ReverieError(f"--out {out}: the report is a Markdown page; give a path ending in .md")
    out.parent.mkdir(parents=True, exist_ok=True)
    for i, run in enumerate(runs):
        if not run.evaluations and (run.path / "checkpoint.pt").is_file():
            evaluate_run(run.path, None, eval_episodes, levels_dir=levels_dir)
            runs[i] = read_run(run.path)
    curves = out.with_name(f"{out.stem}_curves.png")
    _plot(runs, curves)
    gif = out.with_name(f"{out.stem}_episode.gif")
    gif_note = ""
    first = runs[0]
    shown = showcase_episode(first.path, gif, levels_dir=levels_dir) if (first.path / "checkpoint.pt").is_file() else None
    if shown is not None:
        head = (f"One {first.env} test episode played by {first.agent} (seed {first.seed}, sampled actions), "
                f"{shown['length']} steps")
        if shown["successes"] is not None:
            gif_note = head + (f": the longest of the {shown['successes']} successful ones among the first "
                               f"{shown['episodes']} test episodes." if shown["success"] else
                               f": not successful (none of the first {shown['episodes']} test episodes were).")
        else:
            gif_note = head + (f", the longest of the first {shown['episodes']} test episodes (mean return "
                               f"{shown['mean_return']:.2f}).")
    lines = [
        "# Training report",
        "",
        f"{len(runs)} run{'s' if len(runs) > 1 else ''}, written "
        f"{datetime.datetime.now().strftime('%Y-%m-%d %H:%M')} by `reverie report`.",
        "",
        *(preamble or []),
        "## Learning curves",
        "",
        "Training episodes (sampled actions) on the training split; each point averages the episodes "
        "that ended in one logging interval.",
        "",
        f"![learning curves]({curves.name})",
        "",
        "## Evaluation",
        "",
        "Held-out episodes; the interval is the 95% Wilson score interval of the success rate."
        if _has_success(runs) else "Held-out episodes; the interval is the 95% normal interval of the mean return.",
        "",
        *_group_rows(runs),
        "",
        *_eval_rows(runs),
        "",
    ]
    if gif_note and gif.is_file():
        lines += ["## An evaluation episode", "", gif_note, "", f"![evaluation episode]({gif.name})", ""]
    lines += ["## Runs", ""]
    for run in runs:
        a2c = run.config.get("a2c", {})
        train = run.config["train"]
        lines.append(f"- `{run.path}`: {train['agent']} on {train['env']}, seed {train['seed']}, "
                     f"{train['num_envs']} envs x {a2c.get('n_steps')} steps, {a2c.get('optimizer')} "
                     f"lr {a2c.get('lr')} ({a2c.get('lr_schedule')}), entropy {a2c.get('entropy_coef')}, "
                     f"budget {train['frames']:,} frames")
    with atomic_write(out, "w") as f:
        f.write("\n".join(lines) + "\n")
    return out
