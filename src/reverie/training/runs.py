"""Training runs: ``reverie train`` and its Python twin :func:`train`, resumable exactly.

A run directory holds

- ``config.json``: the resolved run and algorithm configs, the env and agent details;
- ``metrics.jsonl`` / ``metrics.csv`` / ``tensorboard/``: per log interval the frames, mean
  episode return and length of the episodes that ended (and their success rate where the
  world has success: ``success_rate``), the losses,
  entropy, gradient norm, learning rate and frames/s;
- ``checkpoint.pt``: the latest resumable checkpoint (written atomically every
  ``checkpoint_every`` frames, on Ctrl-C and at the end): weights, optimizer, frame and
  update counters, the global RNG states, the trainer's action sampler, the env's state
  (Sokoban: level grids, step counters and level sampler, via ``get_state``) and the current
  observations, so ``resume`` continues the very same run: a run killed after a checkpoint and
  resumed ends with exactly the weights of an uninterrupted one (on the CPU);
- ``evaluation.json``: held-out results (the env id's test split, sampled and greedy action
  choice) from the end of training and from ``reverie evaluate``; ``summary.json``.

The env and the agent come from the env id's spec (:func:`reverie.envs.registry.make_env`,
:func:`reverie.agents.build_agent`), so any registered world trains here. The held-out
evaluation at the end is a hook (``evaluate=``, e.g.
:func:`reverie.evaluation.evaluate.final_evaluation`): runs never import evaluation.

Ctrl-C (SIGINT) and SIGTERM stop the run after the current update, with a final checkpoint;
a second Ctrl-C aborts at once. A process training in a folder holds its lock
(:mod:`reverie.core.lock`): a second ``train`` or ``--resume`` there is refused in one line, and
a killed process's lock does not block the resume. A checkpoint that does not fit its config,
lacks a part or carries settings this version does not know is refused in one line, before
anything is written.
"""

from __future__ import annotations

import dataclasses
import json
import math
import platform
import signal
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from ..core.limits import check_limits
from ..core.errors import ReverieError
from ..core.version import __version__
from ..core.atomic import remove_stale_temps, write_json
from ..core.lock import locked_run_folder
from ..core.config import option, to_dict
from .actor_critic import A2C, A2CConfig
from ..core.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from ..core.metrics import MetricsLogger
from ..core.stats import success_rate

__all__ = ["TrainConfig", "train", "resume", "load_run", "Run", "parse_agent_options", "RUN_KIND",
           "describe", "EvaluateHook", "has_success"]

RUN_KIND = "actor-critic-run"
CHECKPOINT = "checkpoint.pt"


@dataclass
class TrainConfig:
    """One actor-critic training run (the algorithm's own settings are an A2CConfig)."""

    env: str = option("sokoban-7x7-2", "env id (see reverie.envs.registry.env_ids())")
    agent: str = option("standard", "agent name: standard, large, i2a, i2a-perfect, i2a-copy, i2a-noreward")
    agent_options: str = option("", "options for the agent builder, comma-separated key=value "
                                    "(e.g. hidden=128, or target_params=800000 for large)")
    frames: int = option(1_000_000, "training frames (env steps summed over the envs)")
    seed: int = option(0, "seeds weights, action sampling and the env (its level or episode sampler)")
    run_dir: Path = option(Path("runs/a2c"), "run folder: config, metrics, checkpoint, evaluation, report")
    num_envs: int = option(64, "envs stepped as one batch")
    max_steps: int | None = option(None, "episode step cap (default: the env id's)")
    train_levels: int | None = option(None, "worlds with generated levels: levels in the training bank "
                                            "(default: the id's)")
    levels_dir: Path | None = option(None, "worlds with level files (Boxoban ids): their folder (default: the "
                                           "world's, e.g. $REVERIE_BOXOBAN)")
    observation: str | None = option(None, "observation kind, where the world offers several (Sokoban: symbolic "
                                           "or rgb); default: the world's own")
    env_options: str = option("", "further env options, comma-separated key=value (the world's own)")
    log_every: int = option(20_000, "log metrics every N frames")
    checkpoint_every: int = option(250_000, "write the resumable checkpoint every N frames")
    eval_episodes: int = option(1000, "held-out test episodes played at the end, per action choice (0 = none)")
    threads: int = option(1, "torch CPU threads (1 is fastest for small agents on a busy CPU); 0 = torch's default")
    device: str = option("cpu", "device to train on")
    tensorboard: bool = option(True, "also write TensorBoard events")

    def __post_init__(self) -> None:
        self.run_dir = Path(self.run_dir)
        self.levels_dir = Path(self.levels_dir) if self.levels_dir is not None else None
        for name in ("frames", "num_envs", "log_every", "checkpoint_every"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ReverieError(f"--{name.replace('_', '-')} must be a positive integer, got {value}")
        for name in ("max_steps", "train_levels"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ReverieError(f"--{name.replace('_', '-')} must be >= 1, got {value}")
        if self.eval_episodes < 0 or self.threads < 0:
            raise ReverieError("--eval-episodes and --threads must be >= 0")
        parse_agent_options(self.agent_options)
        parse_agent_options(self.env_options, "--env-options")

    def env_kwargs(self) -> dict[str, Any]:
        """The env options this run passes to its world (the fields that are set, and ``env_options``)."""
        options: dict[str, Any] = {}
        for name in ("observation", "max_steps", "levels_dir", "train_levels"):
            if getattr(self, name) is not None:
                options[name] = getattr(self, name)
        return options | parse_agent_options(self.env_options, "--env-options")


def parse_agent_options(text: str, flag: str = "--agent-options") -> dict[str, Any]:
    """``"hidden=128,channels=32"`` -> ``{"hidden": 128, "channels": 32}`` (JSON values, else strings)."""
    options: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ReverieError(f"{flag} wants key=value pairs, got {item!r}")
        try:
            options[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            options[key.strip()] = value.strip()
    return options


def saved_configs(state: dict[str, Any], run_dir: Path) -> tuple[TrainConfig, A2CConfig]:
    """The run and algorithm configs a checkpoint was written with; one-line errors naming the
    file for settings this version does not know (a newer one wrote them) or values it refuses."""
    path = run_dir / CHECKPOINT
    configs = state["config"] if isinstance(state["config"], dict) else {}
    built = []
    for part, cls in (("train", TrainConfig), ("a2c", A2CConfig)):
        values = configs.get(part)
        if not isinstance(values, dict):
            raise ReverieError(f"{path}: incomplete checkpoint (no {part!r} config)")
        unknown = sorted(set(values) - {field.name for field in dataclasses.fields(cls)})
        if unknown:
            raise ReverieError(f"{path}: its {part} config has settings unknown to reverie {__version__}: "
                               f"{', '.join(unknown)} (written by a newer version?)")
        try:
            built.append(cls(**(values | ({"run_dir": run_dir} if cls is TrainConfig else {}))))
        except (ReverieError, ValueError, TypeError) as err:
            raise ReverieError(f"{path}: its {part} config is invalid ({err})") from None
    return built[0], built[1]


@contextmanager
def restoring(run_dir: Path, agent: str):
    """Turn a checkpoint's state that does not fit the run's agent or optimizer into one line."""
    path = run_dir / CHECKPOINT
    try:
        yield
    except KeyError as err:
        raise ReverieError(f"{path}: incomplete checkpoint (no {err.args[0]!r} in its trainer state)") from None
    except (RuntimeError, ValueError, TypeError, IndexError) as err:
        raise ReverieError(f"{path}: does not fit agent {agent!r} with the run's config ({_detail(err)})") from None


def _detail(err: BaseException) -> str:
    """The telling line of a (multi-line) error: torch's load_state_dict opens with a header."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    if len(lines) > 1 and lines[0].startswith("Error(s) in loading state_dict"):
        lines = lines[1:]
    return (lines[0] if lines else type(err).__name__)[:300]


def _agent(name: str, spec, options: dict[str, Any]):
    """Agent ``name`` for the world of ``spec`` (its builder reads shapes, actions, models from it)."""
    from ..agents import build_agent

    return build_agent(name, spec, **options)


# -- building a run ------------------------------------------------------------------------

def _build(config: TrainConfig):
    """The training env, the agent and details of both (for config.json)."""
    from ..agents import count_parameters
    from ..envs.registry import make_env

    if config.threads:
        torch.set_num_threads(config.threads)
    device = torch.device(config.device)
    env = make_env(config.env, "train", config.num_envs, seed=config.seed, device=device, **config.env_kwargs())
    spec = env.spec
    torch.manual_seed(config.seed)
    policy = _agent(config.agent, spec, parse_agent_options(config.agent_options))
    policy = policy.to(device)
    env_info = {"id": config.env, "description": spec.description, "obs_shape": list(spec.observation.shape),
                "num_actions": spec.num_actions, "max_steps": env.max_steps, "success": spec.success}
    describe_env = getattr(env, "describe", None)
    if describe_env is not None:
        env_info |= describe_env()
    agent_info = {"name": config.agent, "options": parse_agent_options(config.agent_options),
                  "parameters": count_parameters(policy), "class": type(policy).__name__}
    return env, policy, env_info, agent_info


class _StopRequest:
    """SIGINT/SIGTERM set a flag the loop checks between updates; a second SIGINT aborts."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: dict[int, Any] = {}

    def _handle(self, signum, frame) -> None:
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True
        print("\nreverie: stopping after this update with a checkpoint (Ctrl-C again to abort)",
              file=sys.stderr, flush=True)

    def __enter__(self) -> "_StopRequest":
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def write_run_config(run_dir: Path, config: TrainConfig, a2c: A2CConfig, trainer: A2C, env_info: dict[str, Any],
                     agent_info: dict[str, Any], **extra: Any) -> None:
    """The run folder's ``config.json`` (every field a report or a resume reads)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json(run_dir / "config.json", {
        "train": to_dict(config), "a2c": to_dict(a2c), "env": env_info, "agent": agent_info,
        "frames_per_update": trainer.frames_per_update, **extra,
        "versions": {"reverie": __version__, "torch": torch.__version__, "python": platform.python_version()},
        "threads": torch.get_num_threads(),
    })


def episode_record(trainer: A2C, sums: dict[str, torch.Tensor], updates: int) -> dict[str, Any]:
    """One log record of this process: the episodes that ended in the window, mean losses
    (``success_rate`` only where the world has success)."""
    episodes = trainer.stats.pop()
    record = {"frames": trainer.frames, "updates": trainer.updates,
              "episodes": episodes["episodes"], "episode_return": episodes["episode_return"]}
    if has_success(trainer.env):
        record["success_rate"] = episodes["success_rate"]
    record["episode_length"] = episodes["episode_length"]
    return record | {k: float(v) / updates for k, v in sums.items()}


def has_success(env) -> bool:
    """Whether the env's world reports success (``spec.success``)."""
    spec = getattr(env, "spec", None)
    return getattr(spec, "success", None) is not None


def _progress_note(line: dict[str, Any]) -> str:
    if "success_rate" in line:
        return f"success {line['success_rate']:.1%}"
    return f"return {line['episode_return']:.2f}"


@dataclass
class LoopEnd:
    """How the training loop ended."""

    elapsed: float
    interrupted: bool
    last_success: float | None  # the last logged training success rate (None: no world success or no episode)
    last_return: float | None = None


def training_loop(trainer: A2C, config: TrainConfig, save: Callable[[float, dict[str, Any]], None],
                  metrics: MetricsLogger | None, *, elapsed: float = 0.0, window: dict[str, Any] | None = None,
                  progress: bool = True, desc: str = "",
                  record: Callable[[A2C, dict[str, torch.Tensor], int], dict[str, Any]] = episode_record,
                  any_stop: Callable[[bool], bool] = bool) -> LoopEnd:
    """Update until ``config.frames``, logging every ``log_every`` and checkpointing every
    ``checkpoint_every`` frames and at the end; Ctrl-C/SIGTERM stop after the current update.

    ``save(elapsed, log_window)`` writes the checkpoint; ``record`` makes a log record (in a
    data-parallel run, over all ranks) and ``any_stop`` says whether any process was asked to stop,
    so every process leaves the loop at the same update. ``window`` is a resumed log window: the
    losses summed since the last log line, so a resumed run logs the same means.
    """
    from tqdm import tqdm

    window = window or {"sums": {}, "updates": 0}
    sums: dict[str, torch.Tensor] = dict(window["sums"])
    window_updates = int(window["updates"])
    window_start, window_frames = time.perf_counter(), trainer.frames
    last: dict[str, Any] = {}
    note = "no episode ended yet"
    start = time.perf_counter() - elapsed

    def checkpoint() -> float:
        now = time.perf_counter() - start
        save(now, {"sums": {k: v.clone() for k, v in sums.items()}, "updates": window_updates})
        return now

    bar = tqdm(total=config.frames, initial=trainer.frames, unit="frame", unit_scale=True,
               desc=desc or f"{config.agent} {config.env}", disable=not progress, smoothing=0.1, mininterval=0.5)
    interrupted = False
    with _StopRequest() as stop:
        while trainer.frames < config.frames:
            if any_stop(stop.requested):
                interrupted = True
                break
            before = trainer.frames
            stats = trainer.train_step()
            for key, value in stats.items():
                sums[key] = sums[key] + value if key in sums else value.clone()
            window_updates += 1
            bar.update(trainer.frames - before)
            done = trainer.frames >= config.frames
            if trainer.frames // config.log_every > before // config.log_every or done:
                now = time.perf_counter()
                line = record(trainer, sums, window_updates)
                line |= {"frames_per_second": (trainer.frames - window_frames) / max(now - window_start, 1e-9),
                         "elapsed_seconds": now - start}
                if metrics is not None:
                    metrics.log(trainer.frames, line)
                if line["episodes"]:
                    last, note = line, _progress_note(line)
                bar.set_postfix_str(f"{line['frames_per_second']:,.0f} frames/s, {note}", refresh=False)
                sums, window_updates, window_start, window_frames = {}, 0, now, trainer.frames
            if trainer.frames // config.checkpoint_every > before // config.checkpoint_every:
                checkpoint()
        elapsed = checkpoint()
    bar.close()
    return LoopEnd(elapsed, interrupted, last.get("success_rate"), last.get("episode_return"))


#: ``evaluate(policy, config, env_info, frames) -> {mode: result}``: the held-out evaluation a
#: completed run ends with (:func:`reverie.evaluation.evaluate.final_evaluation`).
EvaluateHook = Callable[[torch.nn.Module, TrainConfig, dict[str, Any], int], dict[str, Any]]


def finish_run(config: TrainConfig, trainer: A2C, policy, env_info: dict[str, Any], agent_info: dict[str, Any],
               end: LoopEnd, evaluate: EvaluateHook | None = None, **extra: Any) -> dict[str, Any]:
    """The run's summary (with the held-out evaluation of a completed run, when given an
    ``evaluate`` hook and ``eval_episodes``), written to ``summary.json`` (no NaN: None)."""
    summary: dict[str, Any] = {
        "run_dir": str(config.run_dir), "env": config.env, "agent": config.agent, "seed": config.seed,
        "frames": trainer.frames, "updates": trainer.updates, "target_frames": config.frames,
        "completed": trainer.frames >= config.frames, "interrupted": end.interrupted,
        "wall_seconds": round(end.elapsed, 2), "frames_per_second": round(trainer.frames / max(end.elapsed, 1e-9), 1),
        "final_train_success_rate": _finite(end.last_success), "final_train_return": _finite(end.last_return),
        "parameters": agent_info["parameters"], **extra,
    }
    if summary["completed"] and config.eval_episodes and evaluate is not None:
        summary["evaluation"] = evaluate(policy, config, env_info, trainer.frames)
    write_json(config.run_dir / "summary.json", summary)
    return summary


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _run(config: TrainConfig, a2c: A2CConfig, state: dict[str, Any] | None, progress: bool,
         evaluate: EvaluateHook | None) -> dict[str, Any]:
    run_dir = config.run_dir
    env, policy, env_info, agent_info = _build(config)
    trainer = A2C(policy, env, a2c, total_frames=config.frames, seed=config.seed)
    if state is not None:
        with restoring(run_dir, config.agent):
            trainer.load_state_dict(state["trainer"], reseed=config.seed + 1)
            set_rng_state(state["rng"])
    remove_stale_temps(run_dir)  # a killed run's half-written checkpoint (we hold the folder's lock)
    write_run_config(run_dir, config, a2c, trainer, env_info, agent_info)
    metrics = MetricsLogger(run_dir, tensorboard=config.tensorboard,
                            resume_step=trainer.frames if state is not None else None)

    def save(elapsed: float, window: dict[str, Any]) -> None:
        save_checkpoint(run_dir / CHECKPOINT, {
            "trainer": trainer.state_dict(), "rng": rng_state(), "elapsed": elapsed,
            "config": {"train": to_dict(config), "a2c": to_dict(a2c)},
            "env_info": env_info, "agent_info": agent_info, "log_window": window,
        }, kind=RUN_KIND)

    end = training_loop(trainer, config, save, metrics, progress=progress,
                        elapsed=float(state["elapsed"]) if state is not None else 0.0,
                        window=state.get("log_window") if state is not None else None)
    metrics.close()
    return finish_run(config, trainer, policy, env_info, agent_info, end, evaluate)


# -- public API ----------------------------------------------------------------------------

def train(config: TrainConfig, a2c: A2CConfig | None = None, progress: bool = True,
          evaluate: EvaluateHook | None = None) -> dict[str, Any]:
    """Start a run in ``config.run_dir`` (which must not hold one); returns its summary.

    ``evaluate(policy, config, env_info, frames)``: the held-out evaluation of the completed run
    (none without it); ``reverie train`` passes :func:`reverie.evaluation.evaluate.final_evaluation`."""
    a2c = a2c or A2CConfig()
    check_limits(config)  # seed, envs, levels, threads, device: refused before the folder exists
    with locked_run_folder(config.run_dir):  # before anything is written or checked
        check_fresh(config.run_dir)
        return _run(config, a2c, None, progress, evaluate)


def check_fresh(run_dir: Path, resume_hint: str = "reverie train --resume") -> None:
    """Refuse a folder that holds a run (a checkpoint) already."""
    if (run_dir / CHECKPOINT).exists():
        raise ReverieError(f"{run_dir}: holds a run already; resume it with "
                           f"`{resume_hint} {run_dir}` or choose another --run-dir")


def _load_state(run_dir: Path) -> dict[str, Any]:
    if not run_dir.is_dir():
        raise ReverieError(f"{run_dir}: no such run folder")
    path = run_dir / CHECKPOINT
    if not path.is_file():
        raise ReverieError(f"{run_dir}: no {CHECKPOINT} in this folder, so there is no run to resume or load")
    state = load_checkpoint(path, kind=RUN_KIND)
    for key in ("trainer", "rng", "config", "env_info"):
        if key not in state:
            raise ReverieError(f"{path}: incomplete checkpoint (no {key!r})")
    return state


def resume(run_dir: str | Path, progress: bool = True, evaluate: EvaluateHook | None = None) -> dict[str, Any]:
    """Continue the run in ``run_dir`` from its checkpoint, with the config it was started with
    (``evaluate``: as in :func:`train`)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ReverieError(f"{run_dir}: no such run folder")
    with locked_run_folder(run_dir):
        state = _load_state(run_dir)
        config, a2c = saved_configs(state, run_dir)
        return _run(config, a2c, state, progress, evaluate)


@dataclass
class Run:
    """A trained run loaded for evaluation: its config, policy, training details and the env
    spec it trained on (configured with the run's env options)."""

    run_dir: Path
    config: TrainConfig
    a2c: A2CConfig
    policy: torch.nn.Module
    env_info: dict[str, Any]
    frames: int
    device: torch.device
    spec: Any = None


def load_run(run_dir: str | Path, device: str | torch.device | None = None) -> Run:
    """The policy of a run's latest checkpoint, rebuilt from the run's own config."""
    from ..envs.registry import get_spec

    run_dir = Path(run_dir)
    state = _load_state(run_dir)
    config, a2c = saved_configs(state, run_dir)
    if config.threads:
        torch.set_num_threads(config.threads)  # as in training: one thread is fastest for small agents
    device = torch.device(device or config.device)
    env_info = state["env_info"]
    spec = get_spec(config.env, **config.env_kwargs())
    policy = _agent(config.agent, spec, parse_agent_options(config.agent_options)).to(device)
    with restoring(run_dir, config.agent):
        policy.load_state_dict(state["trainer"]["policy"])
        frames = int(state["trainer"]["frames"])
    policy.eval()
    return Run(run_dir, config, a2c, policy, env_info, frames, device, spec)


def run_policy(run_dir: str | Path, spec, seed: int = 0) -> Callable[[torch.Tensor], torch.Tensor]:
    """The agent of a trained run as a collection policy (actions sampled from its logits),
    refused in one line where it was trained on other observations or actions than ``spec``'s."""
    from ..agents.actor_critic import sample_actions

    run = load_run(run_dir, device="cpu")
    trained = run.spec
    if (tuple(trained.observation.shape) != tuple(spec.observation.shape) or trained.num_actions != spec.num_actions
            or trained.observation.kind != spec.observation.kind):
        raise ReverieError(f"{run_dir}: its agent plays {trained.id} ({trained.observation.kind} "
                           f"{list(trained.observation.shape)}, {trained.num_actions} actions), not {spec.id}'s "
                           f"{spec.observation.kind} {list(spec.observation.shape)} with {spec.num_actions} actions")
    policy, generator = run.policy, torch.Generator().manual_seed(seed + 2)

    @torch.no_grad()
    def act(obs: torch.Tensor) -> torch.Tensor:
        logits, _ = policy(obs.to(run.device))
        return sample_actions(logits.float().cpu(), generator)

    return act


def describe(summary: dict[str, Any]) -> str:
    """A few lines about a finished (or stopped) run."""
    success = summary.get("final_train_success_rate", summary.get("final_train_solve_rate"))
    last_return = summary.get("final_train_return")
    if success is not None:
        last = f"last training success rate {success:.1%}"
    elif last_return is not None:
        last = f"last training return {last_return:.2f}"
    else:
        last = "no training episode ended"
    lines = [f"{summary['agent']} on {summary['env']}, seed {summary['seed']}: {summary['frames']:,} frames "
             f"in {summary['wall_seconds']:.0f} s ({summary['frames_per_second']:,.0f} frames/s), {last}"]
    for mode, result in summary.get("evaluation", {}).items():
        rate = success_rate(result)
        head = f"held-out test ({mode}): "
        if rate is not None:
            low, high = result["ci95"]
            head += f"success {rate:.1%} [{low:.1%}, {high:.1%}] of {result['episodes']} episodes, "
        else:
            head += f"{result['episodes']} episodes, "
        lines.append(head + f"mean return {result['mean_return']:.2f}, mean length {result['mean_length']:.1f}")
    if summary["interrupted"]:
        lines.append(f"stopped early with a checkpoint; continue with: reverie train --resume {summary['run_dir']}")
    return "\n".join(lines)
