"""``reverie plan`` as a library call: collect, fit, (refit on the planner's data), plan, score.

:func:`run_plan` takes a :class:`PlanConfig` (the CLI's flags) and returns a JSON-ready
summary; with ``out`` it also writes the config, the summary, the fitted model checkpoint
and, if asked, pictures (trajectories under constant commands, compounding-error curve, a
GIF of one episode).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from ..core.errors import ReverieError
from ..core.atomic import write_json
from ..core.config import option, to_dict
from ..models.io import save_model
from ..models.vector import VectorFitConfig
from ..planning.cem import CEMConfig
from .control import ENVS, MODEL_KINDS, collect_random, collect_with_planner, evaluate, make_model, make_planner, \
    make_task, run_episode


@dataclass
class PlanConfig:
    """What ``reverie plan`` does: which env, which model, how many episodes."""

    env: str = option("parking", f"environment: {' or '.join(ENVS)}")
    model: str = option("structured", f"dynamics model: {', '.join(MODEL_KINDS)} (true = the real env's dynamics)")
    episodes: int = option(10, "evaluation episodes")
    transitions: int = option(0, "random real transitions to fit on; 0 = the env's default (parking 5000, pendulum 3000)")
    refit_rounds: int = option(0, "rounds of: run the planner, add its transitions, refit")
    refit_episodes: int = option(5, "planner episodes collected per refit round")
    members: int = option(5, "ensemble members (--model ensemble)")
    ensemble_base: str = option("structured", "kind of each ensemble member: mlp or structured")
    ensemble_mode: str = option("partition", "how an ensemble plans: partition (each imagined trajectory follows "
                                             "one member; one model's cost) or mean (every member, averaged)")
    hidden: int = option(64, "hidden units per layer of the model's networks")
    epochs: int = option(300, "fitting epochs at most (early stopping on a validation split)")
    horizon: int = option(0, "planned actions per sequence; 0 = the env's default")
    action_repeat: int = option(0, "imagined steps per planned action; 0 = the env's default")
    population: int = option(0, "sequences per CEM iteration; 0 = the env's default")
    elites: int = option(0, "elite sequences per CEM iteration; 0 = the env's default")
    iterations: int = option(0, "CEM iterations per decision; 0 = the env's default")
    method: str = option("cem", "cem or mppi")
    add_walls: bool = option(True, "parking: walls around the parking lot (the env's default)")
    duration: int = option(100, "parking: episode length in seconds (the env's default; 5 decisions a second)")
    max_steps: int = option(0, "end episodes after this many steps; 0 = the env's own limit")
    seed: int = option(0, "seed of data collection, fitting and planning; episodes use seed + 10000 + i")
    out: Path | None = option(None, "folder for config.json, summary.json, model.pt (and pictures)")
    pictures: bool = option(False, "with --out: trajectory and compounding-error plots and an episode GIF")
    threads: int = option(1, "torch CPU threads")

    def __post_init__(self) -> None:
        if self.env not in ENVS:
            raise ReverieError(f"unknown env {self.env!r}; choose one of {', '.join(ENVS)}")
        if self.model not in MODEL_KINDS:
            raise ReverieError(f"unknown model {self.model!r}; choose one of {', '.join(MODEL_KINDS)}")
        if self.ensemble_base not in ("mlp", "structured"):
            raise ReverieError(f"--ensemble-base must be mlp or structured, got {self.ensemble_base!r}")
        if self.ensemble_mode not in ("partition", "mean"):
            raise ReverieError(f"--ensemble-mode must be partition or mean, got {self.ensemble_mode!r}")
        for name in ("episodes", "members", "hidden", "epochs", "duration", "refit_episodes", "threads"):
            if getattr(self, name) < 1:
                raise ReverieError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        for name in ("transitions", "refit_rounds", "horizon", "action_repeat", "population", "elites",
                     "iterations", "max_steps"):
            if getattr(self, name) < 0:
                raise ReverieError(f"--{name.replace('_', '-')} must be >= 0, got {getattr(self, name)}")
        if self.out is not None:
            self.out = Path(self.out)
        if self.pictures and self.out is None:
            raise ReverieError("--pictures needs --out")
        self.cem()  # check the planner settings now, not after fitting

    def cem(self) -> CEMConfig:
        task = make_task(self.env, self.add_walls, self.duration)
        base = to_dict(task.cem_config())
        for name in ("horizon", "action_repeat", "population", "elites", "iterations"):
            if getattr(self, name):
                base[name] = getattr(self, name)
        base["method"] = self.method
        if not self.elites:
            base["elites"] = min(base["elites"], base["population"])
        return CEMConfig(**base)


DEFAULT_TRANSITIONS = {"parking": 5000, "pendulum": 3000}


def run_plan(config: PlanConfig, log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Collect, fit, plan and evaluate as ``config`` says; the summary as a dict."""
    threads = torch.get_num_threads()
    torch.set_num_threads(config.threads)
    try:
        return _run_plan(config, log or (lambda text: None))
    finally:
        torch.set_num_threads(threads)


def _run_plan(config: PlanConfig, log: Callable[[str], None]) -> dict[str, Any]:
    task = make_task(config.env, config.add_walls, config.duration, config.max_steps or None)
    env = task.make_env()
    cem = config.cem()
    started = time.perf_counter()
    summary: dict[str, Any] = {"config": to_dict(config), "planner": to_dict(cem)}
    data, fit = None, None
    if config.model != "true":
        n = config.transitions or DEFAULT_TRANSITIONS[config.env]
        log(f"collecting {n} random transitions from {task.describe()['env']}")
        begin = time.perf_counter()
        data = collect_random(task, n, seed=config.seed, env=env)
        summary["data"] = {"random_transitions": len(data), "collect_seconds": time.perf_counter() - begin}
    fit_config = VectorFitConfig(epochs=config.epochs, seed=config.seed)
    model, fit = make_model(task, config.model, data, env=env, members=config.members,
                            ensemble_base=config.ensemble_base, hidden=config.hidden, fit=fit_config,
                            ensemble_mode=config.ensemble_mode, seed=config.seed)
    if fit is not None:
        log(f"fitted {config.model}: {fit.epochs} epochs, best validation loss {fit.best_val_loss:.3g}, {fit.seconds:.1f} s")
    for round_ in range(config.refit_rounds):
        if config.model == "true":
            break
        planner = make_planner(task, model, cem, seed=config.seed + round_)
        extra = collect_with_planner(task, planner, config.refit_episodes, seed=config.seed + 50_000 + 100 * round_,
                                     env=env, max_steps=config.max_steps or None)
        if extra is not None:
            data = data.cat(extra)
        model, fit = make_model(task, config.model, data, env=env, members=config.members,
                                ensemble_base=config.ensemble_base, hidden=config.hidden, fit=fit_config,
                                ensemble_mode=config.ensemble_mode,
                                seed=config.seed + round_ + 1)
        log(f"refit round {round_ + 1}: {len(data)} transitions, validation loss {fit.best_val_loss:.3g}")
    if fit is not None:
        summary["fit"] = {"epochs": fit.epochs, "best_val_loss": fit.best_val_loss, "seconds": fit.seconds,
                          "transitions": len(data)}
    planner = make_planner(task, model, cem, seed=config.seed)

    def progress(i: int, episode) -> None:
        log(f"episode {i + 1}/{config.episodes}: {'success' if episode.success else 'crash' if episode.crashed else 'fail'}"
            f" after {episode.length} steps")

    result = evaluate(task, planner, config.episodes, seed=config.seed + 10_000, env=env,
                      max_steps=config.max_steps or None, progress=progress)
    summary["result"] = result
    summary["wall_seconds"] = time.perf_counter() - started
    if config.out is not None:
        out = config.out
        out.mkdir(parents=True, exist_ok=True)
        write_json(out / "config.json", to_dict(config))
        if config.model != "true":
            save_model(model, out / "model.pt", {"env": config.env, "transitions": len(data)})
        if config.pictures:
            summary["pictures"] = _pictures(task, env, model, planner, config, out)
        write_json(out / "summary.json", summary)
    env.close()
    return summary


def _pictures(task, env, model, planner, config: PlanConfig, out: Path) -> dict[str, str]:
    from .control_diagnostics import (command_trajectories, compounding_error, plot_command_trajectories,
                              plot_error_curves, real_segments, save_episode_gif)

    pictures = {}
    models = {config.model: model}
    if config.env == "parking":
        traj = command_trajectories(task, env, models)
        pictures["trajectories"] = str(plot_command_trajectories(traj, out / "trajectories.png"))
        states, actions = real_segments(task, env, 20, 15)
        curves = compounding_error(models, states, actions, position_dims=(0, 1), position_scale=100.0)
    else:
        states, actions = real_segments(task, env, 20, 30)
        curves = compounding_error(models, states, actions)
    write_json(out / "compounding_error.json", curves)
    pictures["compounding_error"] = str(plot_error_curves(curves, out / "compounding_error.png"))
    render_env = task.make_env(render=True)
    episode = run_episode(task, render_env, planner, config.seed + 10_000, config.max_steps or None, frames=True)
    render_env.close()
    pictures["episode_gif"] = str(save_episode_gif(episode.frames, out / "episode.gif"))
    return pictures


def describe(summary: dict[str, Any]) -> str:
    """The summary in two lines."""
    r = summary["result"]
    walls = f", add_walls={r['add_walls']}, duration={r['duration']}" if "add_walls" in r else ""
    return (f"{r['env']}{walls}, model {summary['config']['model']}: success {100 * r['success_rate']:.0f}% "
            f"({r['episodes']} episodes, 95% CI {100 * r['success_ci95'][0]:.0f}-{100 * r['success_ci95'][1]:.0f}%), "
            f"crashes {100 * r['crash_rate']:.0f}%, mean length {r['mean_length']:.1f}\n"
            f"planning: median {r['median_plan_ms']:.1f} ms per decision (p90 {r['p90_plan_ms']:.1f} ms), "
            f"{r['decisions']} decisions")
