"""``reverie run``: the whole I2A pipeline as one command, from nothing to a report.

Five stages, each reusing the library call its own command runs, each writing into its
own folder under ``out``:

1. **collect** (``data/``): random-policy transitions on the env id's training levels, with
   validation transitions from its validation levels (``reverie model collect``);
2. **fit** (``model/``): a :class:`~reverie.models.GridModel` fitted to them (``reverie model fit``);
3. **train** (``agent/``): the ``i2a`` agent imagining with that model, trained by A2C with
   the CPU-scale protocol's settings (``reverie train``);
4. **evaluate** (``evaluation.json``): held-out test levels, sampled and greedy actions, and
   a uniform random policy on the same levels for scale (``reverie evaluate``);
5. **report** (``report.md`` and its pictures, ``imagination.gif``): the training report
   (``reverie report``) plus a GIF of what the agent imagined before each real step.

A stage whose output exists is skipped, and an interrupted fit or training run continues
from its checkpoint, so running the same command again resumes the pipeline; a different
config for the same ``out`` is refused rather than mixed. ``summary.json`` holds every
stage's wall time and the results. The test levels are never seen by any stage but the
evaluation: the model's data comes from the training and validation splits only.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from ..core.errors import ReverieError
from ..core.limits import check_limits
from ..core.atomic import write_json
from ..core.config import add_arguments, option, to_dict
from ..core.stats import success_rate

__all__ = ["PipelineConfig", "PRESETS", "STAGES", "run", "describe", "add_pipeline_arguments", "agent_run_hint"]

#: Built-in settings. ``default`` finishes in about 10 minutes on 2 CPU cores; ``paper`` is
#: the I2A paper's Sokoban at its sizes and scale, a GPU job (see docs/benchmarks.md).
PRESETS: dict[str, dict[str, Any]] = {
    "default": dict(env="sokoban-6x6-1", data_frames=300_000, model_size="small", fit_steps=6_000,
                    fit_minutes=2.0, agent_frames=400_000, rollout_length=3, encoder_hidden=32,
                    num_envs=64, eval_episodes=500),
    "paper": dict(env="sokoban-10x10-4", data_frames=2_000_000, model_size="paper", fit_steps=20_000,
                  fit_minutes=0.0, agent_frames=1_000_000_000, rollout_length=5, encoder_hidden=256,
                  num_envs=64, eval_episodes=1000),
    # Atari Breakout from pixels at the book's scale (REFERENCE.md section 4: rollout length 3,
    # LSTM 256, 16 envs; the pixel model of frame differences): a GPU job, see docs/atari.md
    "atari": dict(env="atari-breakout", data_frames=500_000, model_size="small", fit_steps=30_000,
                  fit_minutes=0.0, agent_frames=20_000_000, rollout_length=3, encoder_hidden=256,
                  num_envs=16, eval_episodes=100),
}
STAGES = ("collect", "fit", "train", "evaluate", "report")
#: Settings that may change between a run and its resumption.
_RESUMABLE = {"out", "device", "threads"}


@dataclass
class PipelineConfig:
    """What ``reverie run`` does; unset fields take the preset's value."""

    preset: str = option("default", f"built-in settings, one of {sorted(PRESETS)}: default (~10 min on 2 CPU "
                                     "cores), paper (10x10, 4 boxes, the paper's sizes; a GPU job) or atari "
                                     "(Breakout from pixels at the I2A Breakout recipe's scale; a GPU job)")
    out: Path | None = option(None, "output folder (default: runs/pipeline; runs/pipeline-<preset> for other presets)")
    env: str | None = option(None, "env id to train and evaluate on")
    observation: str | None = option(None, "observation kind, where the world offers several (Sokoban: symbolic, "
                                           "or rgb: the paper's 8x8 sprites per cell, imagined by a palette "
                                           "model); default: the world's own")
    data_frames: int | None = option(None, "random-policy transitions to fit the model on (and a tenth as many for validation)")
    model_size: str | None = option(None, "GridModel size: tiny, small or paper (16,32,64 channels)")
    fit_steps: int | None = option(None, "model fitting steps at most")
    fit_minutes: float | None = option(None, "model fitting minutes at most; 0 = no limit")
    agent_frames: int | None = option(None, "I2A training frames")
    rollout_length: int | None = option(None, "imagined steps per rollout")
    encoder_hidden: int | None = option(None, "LSTM units of the rollout encoder (the paper: 256)")
    num_envs: int | None = option(None, "envs stepped as one batch while training")
    eval_episodes: int | None = option(None, "held-out test episodes per action choice")
    levels_dir: Path | None = option(None, "Boxoban folder for boxoban-* env ids")
    seed: int = option(0, "seed of every stage")
    device: str = option("cpu", "device to fit, train and evaluate on (e.g. cuda)")
    threads: int = option(1, "torch CPU threads; 0 = torch's default")

    def __post_init__(self) -> None:
        from ..envs.registry import get_spec
        from ..models.grid import SIZES

        if self.preset not in PRESETS:
            raise ReverieError(f"unknown --preset {self.preset!r}; choose one of {', '.join(PRESETS)}")
        for name, value in PRESETS[self.preset].items():
            if getattr(self, name) is None:
                setattr(self, name, value)
        default_out = "runs/pipeline" if self.preset == "default" else f"runs/pipeline-{self.preset}"
        self.out = Path(self.out if self.out is not None else default_out)
        self.levels_dir = Path(self.levels_dir) if self.levels_dir is not None else None
        spec = get_spec(self.env).with_options(observation=self.observation)
        missing = [s for s in ("train", "valid", "test") if s not in spec.splits]
        if missing:
            raise ReverieError(f"--env {self.env} has no {' or '.join(missing)} split; the pipeline needs all three")
        if _sokoban(spec):
            from ..envs.sokoban.presets import get_preset

            preset = get_preset(self.env)
            if preset.folders and preset.folders["valid"] == preset.folders["test"]:
                raise ReverieError(f"--env {self.env}: its validation levels are its test levels, and the model's "
                                   "validation data must not come from test levels")
        if self.model_size not in SIZES:
            raise ReverieError(f"--model-size must be one of {', '.join(SIZES)}, got {self.model_size!r}")
        for name in ("data_frames", "fit_steps", "agent_frames", "rollout_length", "encoder_hidden", "num_envs",
                     "eval_episodes"):
            if getattr(self, name) < 1:
                raise ReverieError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if not 0 <= self.fit_minutes < math.inf or self.threads < 0:
            raise ReverieError("--fit-minutes (finite) and --threads must be >= 0")
        check_limits(self)  # seed, num_envs, threads, device: one line before any stage starts


def add_pipeline_arguments(parser: argparse.ArgumentParser) -> None:
    """The config's flags, each preset-dependent one showing every preset's value as its default."""
    add_arguments(parser, PipelineConfig)
    for action in parser._actions:
        if action.dest in PRESETS["default"] and action.help:
            values = "; ".join(f"{name}: {preset[action.dest]:,}" if not isinstance(preset[action.dest], str)
                               else f"{name}: {preset[action.dest]}" for name, preset in PRESETS.items())
            action.help = f"{action.help} (by preset: {values})"


class _RandomPolicy(nn.Module):
    """Uniform over the actions: the scale against which the agent's solve rate reads."""

    def __init__(self, num_actions: int) -> None:
        super().__init__()
        self.num_actions = num_actions

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n = obs.shape[0]
        return torch.zeros(n, self.num_actions, device=obs.device), torch.zeros(n, device=obs.device)


# -- the stages: each one calls the library function its own command runs -------------------

def _sokoban(spec) -> bool:
    """Sokoban's model data comes from level files (its own splits, never its test levels);
    every other world collects from its env's train and valid splits."""
    return spec.extra.get("world") == "sokoban"


#: Real steps shown in the imagination GIF at most (a MiniPacman episode may last 3,000).
GIF_STEPS = 60

def _level_files(config: PipelineConfig) -> tuple[Path, Path]:
    """The model's training and validation levels: the env id's own splits, never its test split."""
    from ..envs.sokoban.presets import boxoban_dir, get_preset, level_bank
    from ..envs.sokoban.levels import format_level_file

    preset = get_preset(config.env)
    if not preset.generated:
        root = boxoban_dir(config.levels_dir)
        return root / preset.folders["train"], root / preset.folders["valid"]
    files = []
    for split in ("train", "valid"):
        path = config.out / "levels" / f"{split}.txt"
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(format_level_file(level_bank(config.env, split)))
        files.append(path)
    return files[0], files[1]


def _collect(config: PipelineConfig, progress: bool) -> None:
    from ..data.transitions import CollectConfig, collect
    from ..envs.registry import get_spec

    spec = get_spec(config.env)
    if not _sokoban(spec):
        collect(CollectConfig(out=config.out / "data", env=config.env, observation=config.observation,
                              train_frames=config.data_frames,
                              valid_frames=max(1_000, config.data_frames // 10), seed=config.seed), progress=progress)
        return
    from ..envs.sokoban.presets import get_preset

    train, valid = _level_files(config)
    preset = get_preset(config.env)
    collect(CollectConfig(out=config.out / "data", env=config.env, observation=config.observation,
                          train_levels=train, valid_levels=valid,
                          train_frames=config.data_frames, valid_frames=max(1_000, config.data_frames // 10),
                          # Boxoban's 900,000 training levels: a model needs far fewer to learn the rules
                          level_limit=None if preset.generated else 100_000,
                          max_steps=preset.max_steps, seed=config.seed), progress=progress)


def _fit(config: PipelineConfig, progress: bool) -> None:
    from ..models.grid import GridModelConfig
    from ..training.model_fitting import FitConfig, fit

    folder = config.out / "model"
    fit(FitConfig(data=config.out / "data", out=folder, steps=config.fit_steps, time_limit=config.fit_minutes,
                  seed=config.seed, threads=config.threads, device=config.device, tensorboard=False,
                  resume=(folder / "checkpoint.pt").is_file()),
        GridModelConfig(size=config.model_size), progress=progress)


def _train(config: PipelineConfig, progress: bool) -> dict[str, Any]:
    from ..training.actor_critic import A2CConfig
    from ..training.runs import TrainConfig, resume, train

    folder = config.out / "agent"
    if (folder / "checkpoint.pt").is_file():
        return resume(folder, progress=progress)
    model = (config.out / "model" / "model.pt").resolve()
    log_every = max(1_000, config.agent_frames // 200)
    return train(TrainConfig(
        env=config.env, observation=config.observation, agent="i2a", frames=config.agent_frames, seed=config.seed,
        run_dir=folder,
        agent_options=f"model={model},rollout_length={config.rollout_length},encoder_hidden={config.encoder_hidden}",
        num_envs=config.num_envs, levels_dir=config.levels_dir, log_every=log_every,
        checkpoint_every=min(250_000, max(log_every, config.agent_frames // 10)), eval_episodes=0,
        threads=config.threads, device=config.device, tensorboard=False),
        # the CPU-scale protocol's settings (docs/benchmarks.md: why the protocol's A2C settings)
        A2CConfig(lr_schedule="constant", bootstrap_truncated=False), progress=progress)


def _evaluate(config: PipelineConfig, progress: bool) -> None:
    from ..envs.registry import get_spec
    from ..evaluation.evaluate import evaluate_policy, evaluate_run

    keep = ("levels", "episodes", "successes", "success_rate", "ci95", "mean_return", "return_ci95", "mean_length")
    results: dict[str, Any] = {}
    for greedy in (False, True):
        result = evaluate_run(config.out / "agent", None, config.eval_episodes, greedy=greedy,
                              levels_dir=config.levels_dir, seed=config.seed)
        results[result["mode"]] = {k: result[k] for k in keep if k in result}
    spec = get_spec(config.env, levels_dir=config.levels_dir).with_options(observation=config.observation)
    random = evaluate_policy(_RandomPolicy(spec.num_actions), spec, "test", config.eval_episodes,
                             seed=config.seed, device=config.device)
    results["random"] = {"levels": results["sample"]["levels"]} | {k: random[k] for k in keep if k in random}
    write_json(config.out / "evaluation.json", results)


def _report(config: PipelineConfig, progress: bool) -> None:
    from ..envs.registry import make_env
    from ..evaluation.imagination_gif import save_imagination_gif
    from ..evaluation.imagined_episode import show_episode
    from ..evaluation.report import write_report
    from ..training.runs import load_run

    page = write_report([config.out / "agent"], config.out / "report.md", levels_dir=config.levels_dir,
                        preamble=results_section(_results(config)))
    run = load_run(config.out / "agent", config.device)
    env = make_env(config.env, "test", 1, seed=config.seed, device=run.device, levels_dir=config.levels_dir,
                   max_steps=run.env_info["max_steps"], observation=config.observation)
    episode = show_episode(run.policy, env, seed=config.seed, max_steps=GIF_STEPS)
    write_json(config.out / "imagination.json", episode.to_dict())
    save_imagination_gif(episode, config.out / "imagination.gif")
    if episode.success is None:
        verdict = f"plays the first {len(episode.steps)} steps shown"
    else:
        verdict = ("solves it" if episode.solved else "does not solve it") + f" in {len(episode.steps)} steps"
    with page.open("a") as f:
        f.write(f"\n## What the agent imagined\n\nTest episode {episode.level} of {config.env}: the agent "
                f"{verdict}. Left, the real position and the action taken; right, "
                "one row per action: the rollout the agent imagined for it with its learned model (the forced "
                "first action, then the rollout policy's), with each imagined reward and the agent's "
                "probability of the action; the chosen row is framed.\n\n![imagination](imagination.gif)\n")


def results_section(results: dict[str, Any]) -> list[str]:
    """The report's opening section: the agent's held-out result beside a uniform random
    policy's on the same levels and the accuracy of the model it imagines with, which are what
    give the agent's number its meaning."""
    lines = ["## Results", ""]
    if evaluation := results.get("evaluation"):
        names = {"sample": "I2A, sampled actions", "greedy": "I2A, greedy actions",
                 "random": "uniform random policy (for scale)"}
        first = next(iter(evaluation.values()))
        if success_rate(first) is not None:
            lines += [f"Held-out test levels ({first['levels']}, {first['episodes']:,} episodes each); the interval "
                      "is the 95% Wilson score interval.", "",
                      "| policy | success rate (95% CI) | mean return | mean length |", "|---|---|---:|---:|"]
        else:
            lines += [f"Held-out test episodes ({first['levels']}, {first['episodes']:,} each); the interval is "
                      "the 95% normal interval of the mean return.", "",
                      "| policy | mean return (95% CI) | mean length |", "|---|---|---:|"]
        for mode, name in names.items():
            if mode in evaluation:
                r = evaluation[mode]
                if success_rate(r) is not None:
                    lines.append(f"| {name} | {success_rate(r):.1%} ({r['ci95'][0]:.1%} to {r['ci95'][1]:.1%}) | "
                                 f"{r['mean_return']:.2f} | {r['mean_length']:.1f} |")
                else:
                    low, high = r.get("return_ci95", (r["mean_return"], r["mean_return"]))
                    lines.append(f"| {name} | {r['mean_return']:.2f} ({low:.2f} to {high:.2f}) | "
                                 f"{r['mean_length']:.1f} |")
        lines.append("")
    if model := results.get("model"):
        lines += [f"The environment model the agent imagines with ({model['fit_steps']:,} fitting steps): "
                  f"{model['exact_frame_accuracy']:.1%} of next frames exactly right and {model['reward_accuracy']:.1%} "
                  f"of rewards right on {model['validation_frames']:,} validation transitions of random play "
                  "(validation levels, never test levels).", ""]
    return lines if len(lines) > 2 else []


#: stage -> (what it does, the file that proves it done, the work)
_WORK: dict[str, tuple[str, str, Callable[[PipelineConfig, bool], Any]]] = {
    "collect": ("collect random-policy transitions", "data/manifest.json", _collect),
    "fit": ("fit the environment model", "model/summary.json", _fit),
    "train": ("train I2A with the fitted model", "agent/summary.json", _train),
    "evaluate": ("evaluate on held-out test levels", "evaluation.json", _evaluate),
    "report": ("write the report and the imagination GIF", "imagination.gif", _report),
}


def _done(config: PipelineConfig, stage: str) -> bool:
    marker = config.out / _WORK[stage][1]
    if stage == "train":
        return marker.is_file() and bool(json.loads(marker.read_text()).get("completed"))
    if stage == "report":
        return marker.is_file() and (config.out / "report.md").is_file()
    return marker.is_file()


def _check_out(config: PipelineConfig) -> None:
    """Refuse an output folder that holds a pipeline run with other settings, or something else."""
    path = config.out / "config.json"
    if not path.is_file():
        return
    try:
        saved = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ReverieError(f"{path}: not valid JSON; choose another --out or delete that folder") from None
    mine = to_dict(config)
    if not isinstance(saved, dict) or "preset" not in saved or "data_frames" not in saved:
        kind = "a training run folder" if isinstance(saved, dict) and "train" in saved else "another kind of folder"
        raise ReverieError(f"--out {config.out}: {kind}, not a pipeline folder (`reverie run` writes data/, model/, "
                           "agent/ there); choose another --out")
    differ = sorted(k for k in mine if k not in _RESUMABLE and saved.get(k) != mine[k])
    if differ:
        raise ReverieError(f"{config.out} holds a pipeline run with other settings ({', '.join(differ)}); "
                           "choose another --out or delete that folder")


def agent_run_hint(path: str | Path) -> str:
    """For commands that take a training run folder and were given a pipeline folder: where its
    agent's run is (``"; ..."`` to append to their error), else ``""``."""
    path = Path(path)
    if (path / "agent" / "config.json").is_file() and (path / "data").is_dir() and (path / "model").is_dir():
        return f"; {path} is a `reverie run` folder, its agent's training run is {path / 'agent'}"
    return ""


def _results(config: PipelineConfig) -> dict[str, Any]:
    """What the finished stages' files say (so skipped stages report too)."""
    def read(name: str) -> dict[str, Any]:
        path = config.out / name
        return json.loads(path.read_text()) if path.is_file() else {}

    results: dict[str, Any] = {}
    if fit := read("model/summary.json"):
        v = fit["validation"]
        results["model"] = {"fit_steps": fit["steps"], "exact_frame_accuracy": v["exact_frame_accuracy"],
                            "reward_accuracy": v["reward_accuracy"], "validation_frames": v["frames"]}
    if agent := read("agent/summary.json"):
        results["agent"] = {k: agent[k] for k in ("frames", "frames_per_second", "parameters", "completed")}
    if evaluation := read("evaluation.json"):
        results["evaluation"] = evaluation
    if imagination := read("imagination.json"):
        results["imagination_gif"] = {"level": imagination["level"], "steps": len(imagination["steps"]),
                                      "solved": imagination["solved"]}
    return results


def run(config: PipelineConfig, progress: bool = True, log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run (or resume) the pipeline; returns the summary it also writes to ``out/summary.json``."""
    log = log or (lambda line: print(line, flush=True))
    _check_out(config)
    out = config.out
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "config.json", to_dict(config))
    previous = json.loads((out / "summary.json").read_text()) if (out / "summary.json").is_file() else {}
    summary: dict[str, Any] = {"preset": config.preset, "env": config.env, "out": str(out), "device": config.device,
                               "stages": {}, "interrupted": False}
    threads = torch.get_num_threads()
    if config.threads:
        torch.set_num_threads(config.threads)
    try:
        for number, stage in enumerate(STAGES, 1):
            what, marker, work = _WORK[stage]
            if _done(config, stage):
                before = previous.get("stages", {}).get(stage, {})
                summary["stages"][stage] = {"seconds": before.get("seconds"), "skipped": True}
                log(f"[{number}/{len(STAGES)}] {stage}: done before, skipped ({out / marker} exists)")
                continue
            log(f"[{number}/{len(STAGES)}] {stage}: {what} ...")
            start = time.perf_counter()
            outcome = work(config, progress)
            seconds = round(time.perf_counter() - start, 1)
            summary["stages"][stage] = {"seconds": seconds, "skipped": False}
            log(f"[{number}/{len(STAGES)}] {stage}: done in {seconds:.0f} s")
            if stage == "train" and outcome.get("interrupted"):
                summary["interrupted"] = True
                log("stopped during training with a checkpoint; run the same command again to continue")
                break
    finally:
        torch.set_num_threads(threads)
        summary |= _results(config)
        summary["total_seconds"] = round(sum(s["seconds"] or 0 for s in summary["stages"].values()), 1)
        write_json(out / "summary.json", summary)
    return summary


def describe(summary: dict[str, Any]) -> str:
    """The summary as a few lines for the terminal."""
    lines = []
    times = ", ".join(f"{k} {v['seconds']:.0f} s" + (" (earlier)" if v["skipped"] else "")
                      for k, v in summary["stages"].items() if v["seconds"] is not None)
    lines.append(f"pipeline {summary['preset']} on {summary['env']}: {summary['total_seconds']:.0f} s ({times})")
    if "model" in summary:
        m = summary["model"]
        lines.append(f"environment model: {m['exact_frame_accuracy']:.2%} exact next frames, "
                     f"{m['reward_accuracy']:.2%} rewards on {m['validation_frames']:,} validation transitions")
    if "agent" in summary:
        a = summary["agent"]
        lines.append(f"i2a: {a['frames']:,} frames at {a['frames_per_second']:,.0f} frames/s")
    if "evaluation" in summary:
        e = summary["evaluation"]
        if success_rate(e["sample"]) is not None:
            parts = [f"{mode} {success_rate(e[mode]):.1%} [{e[mode]['ci95'][0]:.1%}, {e[mode]['ci95'][1]:.1%}]"
                     for mode in ("sample", "greedy", "random") if mode in e]
            lines.append(f"held-out {e['sample']['levels']} solved ({e['sample']['episodes']} episodes): "
                         + ", ".join(parts))
        else:
            parts = [f"{mode} {e[mode]['mean_return']:.2f}" for mode in ("sample", "greedy", "random") if mode in e]
            lines.append(f"held-out {e['sample']['levels']} mean return ({e['sample']['episodes']} episodes): "
                         + ", ".join(parts))
    if "imagination_gif" in summary:
        lines.append(f"wrote {summary['out']}/report.md and imagination.gif")
    return "\n".join(lines)
