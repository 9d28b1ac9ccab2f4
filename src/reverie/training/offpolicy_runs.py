"""Off-policy runs (``reverie offpolicy`` and :func:`train_offpolicy`): folders, resume, summaries.

A run folder holds, as the A2C runs' do (:mod:`reverie.training.runs`):

- ``config.json``: the run, learner and model configs, the task, versions;
- ``metrics.jsonl`` / ``metrics.csv`` / ``tensorboard/``: per ``log_every`` env steps the
  episodes that ended (return, length, success on goal tasks), the mean losses, alpha, Q,
  model fit and rollout figures, real steps/s and updates/s, and the greedy evaluations;
- ``checkpoint.pt``: written atomically every ``checkpoint_every`` steps, on Ctrl-C and at the
  end: weights, optimisers, target networks, the replay and model buffers, every generator
  and the global RNG states, and the running episode's actions (the env is restored by
  replaying them), so a run stopped and resumed ends bit for bit where an unbroken one does
  (on the CPU);
- ``summary.json``: steps, updates, wall time, speeds, the final greedy evaluation.
"""

from __future__ import annotations

import dataclasses
import platform
import time
from pathlib import Path
from typing import Any

import torch

from ..agents.offpolicy_nets import LearnerConfig
from ..core.atomic import remove_stale_temps, write_json
from ..core.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from ..core.config import to_dict
from ..core.errors import ReverieError
from ..core.limits import check_limits
from ..core.lock import locked_run_folder
from ..core.metrics import MetricsLogger
from ..core.version import __version__
from .branched import ModelAugmentConfig
from ..envs.control_tasks import make_task
from .offpolicy import OffPolicyConfig, OffPolicyTrainer, check_task, mean_finite
from .runs import CHECKPOINT, _StopRequest, check_fresh

RUN_KIND = "off-policy-run"
PARTS = (("run", OffPolicyConfig), ("learner", LearnerConfig), ("model", ModelAugmentConfig))


def method_name(learner: LearnerConfig, model: ModelAugmentConfig, her: bool = False) -> str:
    """What the configuration amounts to, in the literature's names (e.g. "sac+mbpo+her")."""
    name = learner.agent
    if name == "tdm" and learner.tdm_mpc_grid:
        name += "+mpc"
    if model.rollout_batch:
        name += "+imagination" if learner.agent == "naf" else "+mbpo"
    if model.mbve_horizon:
        name += f"+mbve{model.mbve_horizon}"
    return name + ("+her" if her else "")


def _configs(state: dict[str, Any], run_dir: Path) -> tuple[OffPolicyConfig, LearnerConfig, ModelAugmentConfig]:
    path = run_dir / CHECKPOINT
    built = []
    for part, cls in PARTS:
        values = state["config"].get(part)
        if not isinstance(values, dict):
            raise ReverieError(f"{path}: incomplete checkpoint (no {part!r} config)")
        unknown = sorted(set(values) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ReverieError(f"{path}: its {part} config has settings unknown to reverie {__version__}: "
                               f"{', '.join(unknown)}")
        try:
            built.append(cls(**(values | ({"run_dir": run_dir} if cls is OffPolicyConfig else {}))))
        except (ReverieError, ValueError, TypeError) as err:
            raise ReverieError(f"{path}: its {part} config is invalid ({err})") from None
    return built[0], built[1], built[2]


def _log_record(trainer: OffPolicyTrainer, sums: dict[str, float], counts: dict[str, int]) -> dict[str, Any]:
    finished, trainer.finished = trainer.finished, []
    record: dict[str, Any] = {"steps": trainer.steps, "updates": trainer.updates, "episodes": len(finished),
                              "episode_return": mean_finite([e["return"] for e in finished]),
                              "episode_length": mean_finite([e["length"] for e in finished])}
    if trainer.task.has_success:
        record["success_rate"] = mean_finite([e["success"] for e in finished])
    return record | {k: v / max(counts[k], 1) for k, v in sums.items()}


def _run(config: OffPolicyConfig, learner: LearnerConfig, model: ModelAugmentConfig, state: dict[str, Any] | None,
         progress: bool, stop_after: int | None = None, task: Any = None) -> dict[str, Any]:
    from tqdm import tqdm

    run_dir = config.run_dir
    if config.threads:
        torch.set_num_threads(config.threads)
    trainer = OffPolicyTrainer(config, learner, model, task)
    if state is not None:
        try:
            trainer.load_state_dict(state["trainer"])
        except KeyError as err:
            raise ReverieError(f"{run_dir / CHECKPOINT}: incomplete checkpoint (no {err.args[0]!r})") from None
        except (RuntimeError, ValueError, TypeError, IndexError) as err:
            raise ReverieError(f"{run_dir / CHECKPOINT}: does not fit the run's config "
                               f"({str(err).splitlines()[0][:200]})") from None
        set_rng_state(state["rng"])
    remove_stale_temps(run_dir)
    method = method_name(learner, model, config.her)
    params = sum(p.numel() for p in trainer.learner.parameters())
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json(run_dir / "config.json", {
        "run": to_dict(config), "learner": to_dict(learner), "model": to_dict(model), "method": method,
        "task": trainer.task.describe(), "learner_parameters": params,
        "versions": {"reverie": __version__, "torch": torch.__version__, "python": platform.python_version()},
        "threads": torch.get_num_threads()})
    metrics = MetricsLogger(run_dir, tensorboard=config.tensorboard,
                            resume_step=trainer.steps if state is not None else None)
    window = state.get("window") if state is not None else None
    sums: dict[str, float] = dict(window["sums"]) if window else {}
    counts: dict[str, int] = dict(window["counts"]) if window else {}
    last_eval: dict[str, Any] | None = state.get("last_eval") if state is not None else None
    elapsed0 = float(state["elapsed"]) if state is not None else 0.0
    start = time.perf_counter() - elapsed0
    win_start, win_steps, win_updates = time.perf_counter(), trainer.steps, trainer.updates

    def save() -> float:
        now = time.perf_counter() - start
        save_checkpoint(run_dir / CHECKPOINT, {
            "trainer": trainer.state_dict(), "rng": rng_state(), "elapsed": now,
            "config": {part: to_dict(c) for (part, _), c in zip(PARTS, (config, learner, model))},
            "window": {"sums": dict(sums), "counts": dict(counts)}, "last_eval": last_eval,
        }, kind=RUN_KIND)
        return now

    bar = tqdm(total=config.steps, initial=trainer.steps, unit="step", disable=not progress, desc=f"{method} {config.task}",
               mininterval=0.5)
    interrupted = False
    note = ""
    with _StopRequest() as stop:
        while trainer.steps < config.steps:
            if stop.requested or (stop_after is not None and trainer.steps >= stop_after):
                interrupted = True
                break
            stats = trainer.train_step()
            for key, value in stats.items():
                sums[key] = sums.get(key, 0.0) + float(value)
                counts[key] = counts.get(key, 0) + 1
            bar.update(1)
            step, done = trainer.steps, trainer.steps >= config.steps
            evaluate = config.eval_episodes and (done or (config.eval_every and step % config.eval_every == 0))
            if step % config.log_every == 0 or done or evaluate:
                now = time.perf_counter()
                record = _log_record(trainer, sums, counts)
                span = max(now - win_start, 1e-9)
                record |= {"steps_per_second": (trainer.steps - win_steps) / span,
                           "updates_per_second": (trainer.updates - win_updates) / span,
                           "elapsed_seconds": now - start}
                if evaluate:
                    last_eval = trainer.evaluate(config.eval_episodes) | {"steps": step}
                    record |= {"eval_return": last_eval["mean_return"]}
                    if "success_rate" in last_eval:
                        record["eval_success_rate"] = last_eval["success_rate"]
                metrics.log(step, record)
                note = f"return {record['episode_return']:.1f}" if record["episodes"] else note
                if evaluate:
                    note += f", eval {last_eval['mean_return']:.1f}"
                bar.set_postfix_str(note, refresh=False)
                sums, counts = {}, {}
                win_start, win_steps, win_updates = time.perf_counter(), trainer.steps, trainer.updates
            if step % config.checkpoint_every == 0 and not done:
                save()
        elapsed = save()
    bar.close()
    metrics.close()
    trainer.task.close()
    summary = {"run_dir": str(run_dir), "task": config.task, "method": method, "seed": config.seed,
               "steps": trainer.steps, "updates": trainer.updates, "target_steps": config.steps,
               "completed": trainer.steps >= config.steps, "interrupted": interrupted,
               "wall_seconds": round(elapsed, 2), "steps_per_second": round(trainer.steps / max(elapsed, 1e-9), 1),
               "updates_per_second": round(trainer.updates / max(elapsed, 1e-9), 1),
               "learner_parameters": params, "evaluation": last_eval}
    write_json(run_dir / "summary.json", summary)
    return summary


def train_offpolicy(config: OffPolicyConfig, learner: LearnerConfig | None = None,
                    model: ModelAugmentConfig | None = None, progress: bool = True,
                    stop_after: int | None = None) -> dict[str, Any]:
    """Start an off-policy run in ``config.run_dir`` (which must not hold one); its summary.

    ``stop_after``: stop at that env step with a checkpoint, as Ctrl-C would (time-boxed jobs
    continue with :func:`resume_offpolicy`)."""
    learner, model = learner or LearnerConfig(), model or ModelAugmentConfig()
    check_limits(config)
    if not config.run_dir.is_dir() or not (config.run_dir / CHECKPOINT).exists():
        # an unknown or unfit task is refused before the run folder exists
        task = make_task(config.task, config.env_kwargs())
        try:
            check_task(task, config, model, learner)
        except ReverieError:
            task.close()
            raise
    else:
        task = None
    with locked_run_folder(config.run_dir):
        check_fresh(config.run_dir, "reverie offpolicy --resume")
        return _run(config, learner, model, None, progress, stop_after, task)


def resume_offpolicy(run_dir: str | Path, progress: bool = True, stop_after: int | None = None) -> dict[str, Any]:
    """Continue the run in ``run_dir`` from its checkpoint, with its saved configs."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ReverieError(f"{run_dir}: no such run folder")
    with locked_run_folder(run_dir):
        path = run_dir / CHECKPOINT
        if not path.is_file():
            raise ReverieError(f"{run_dir}: no {CHECKPOINT} in this folder, so there is no run to resume")
        state = load_checkpoint(path, kind=RUN_KIND)
        for key in ("trainer", "rng", "config"):
            if key not in state:
                raise ReverieError(f"{path}: incomplete checkpoint (no {key!r})")
        config, learner, model = _configs(state, run_dir)
        return _run(config, learner, model, state, progress, stop_after)


def describe(summary: dict[str, Any]) -> str:
    """A few lines about a finished (or stopped) off-policy run."""
    lines = [f"{summary['method']} on {summary['task']}, seed {summary['seed']}: {summary['steps']:,} steps, "
             f"{summary['updates']:,} updates in {summary['wall_seconds']:.0f} s "
             f"({summary['steps_per_second']:.0f} steps/s, {summary['updates_per_second']:.0f} updates/s)"]
    ev = summary.get("evaluation")
    if ev:
        line = f"greedy evaluation at step {ev['steps']:,}: mean return {ev['mean_return']:.1f} over {ev['episodes']} episodes"
        if "success_rate" in ev:
            line += f", success {ev['success_rate']:.0%}"
        lines.append(line)
    if summary["interrupted"]:
        lines.append(f"stopped early with a checkpoint; continue with: reverie offpolicy --resume {summary['run_dir']}")
    return "\n".join(lines)
