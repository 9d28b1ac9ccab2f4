"""Fit an environment model to collected transitions: a :class:`~reverie.models.GridModel`
for worlds with one-hot grids, a :class:`~reverie.models.FrameModel` for worlds with binary
planes and events (one model for every task of the world; picked by the data's spec, see
:func:`model_kind`). Both are fitted by the same loop over ``model.loss``.

The model is built for the env spec the dataset's manifest names
(``for_spec``), so the reward classes (or events) it imagines are the very ones the
data was labelled with: one table from collection through fitting to imagination. A
``--reward-values`` that is not that table in its order is refused, and so is a model file
whose table disagrees (at resume and when the best model is read back).

The loop is plain supervised learning with the run infrastructure every reverie loop has:
a progress bar with frames/s and the key metric, validation on held-out levels every N
steps, early stopping when validation stops improving, atomic resumable checkpoints
(weights, optimizer, counters, RNG states), and metrics to JSONL/CSV/TensorBoard. The best
validated model is written to ``model.pt`` in the run folder, ready for
:func:`reverie.models.load`.

Random-policy data is dominated by steps where nothing but the player moves, so minibatches
over-draw the transitions the world marks interesting (Sokoban: the player walked into a
box) and each rare reward class (see
:class:`~reverie.data.dataset.Sampler`). The learning rate warms up, then follows a cosine
to zero over the step budget or the time budget, whichever runs out first.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..core.errors import ReverieError
from ..core.limits import check_limits
from ..core.config import option, to_dict
from ..data.dataset import Sampler, TransitionDataset
from ..core.atomic import write_json
from ..data.transitions import manifest_spec, read_manifest
from ..models.scoring import one_step
from ..models.frame import SIZES as FRAME_SIZES
from ..models.frame import FrameModel, FrameModelConfig
from ..models.pixel import PixelModel, PixelModelConfig
from ..models.palette import SIZES as PALETTE_SIZES
from ..models.palette import PaletteModelConfig
from ..models.grid import SIZES as GRID_SIZES
from ..models.grid import GridModel, GridModelConfig
from ..models.io import RUN_KIND, TYPES, model_record, save_model
from ..core.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from ..core.metrics import MetricsLogger


@dataclass
class FitConfig:
    """How ``reverie model fit`` fits a model (the model's own shape is a GridModelConfig, turned
    into a FrameModelConfig for worlds with binary planes and events)."""

    data: Path = option(Path("runs/transitions"), "dataset folder written by `reverie model collect`")
    out: Path = option(Path("runs/model-fit"), "run folder: config, metrics, checkpoint.pt, model.pt")
    steps: int = option(20_000, "optimizer steps at most")
    time_limit: float = option(0.0, "minutes of fitting at most; 0 = no limit (the LR schedule follows whichever ends first)")
    batch_size: int = option(256, "transitions per optimizer step")
    lr: float = option(3e-3, "peak learning rate (Adam)")
    weight_decay: float = option(0.0, "AdamW weight decay")
    warmup: int = option(200, "steps of linear learning-rate warm-up")
    reward_weight: float = option(1.0, "weight of the reward (or event) loss beside the per-frame cell loss")
    push_share: float = option(0.25, "share of each batch drawn from the transitions the world marks interesting "
                                     "(Sokoban: the player walked into a box: pushes and blocked pushes)")
    rare_share: float = option(0.02, "share of each batch drawn from each rare reward class (or rare event)")
    train_limit: int | None = option(None, "use at most this many training transitions")
    val_every: int = option(500, "validate every N steps")
    val_frames: int = option(50_000, "validation transitions scored at each validation (all at the end)")
    patience: int = option(8, "stop after this many validations without improvement; 0 = never")
    checkpoint_every: int = option(1000, "write the resumable checkpoint every N steps")
    log_every: int = option(50, "log training metrics every N steps")
    seed: int = option(0, "seed of weights and minibatch sampling")
    threads: int = option(1, "torch CPU threads while fitting; 0 = torch's default. One is the default: these "
                             "small convolutions gain little from a second thread, and two threads stall "
                             "whenever other work holds a core")
    bf16: bool = option(False, "fit under bfloat16 autocast (fast on CPUs with AMX or AVX512-BF16)")
    device: str = option("cpu", "device to fit on")
    resume: bool = option(False, "continue the run in --out from its checkpoint")
    tensorboard: bool = option(True, "also write TensorBoard events")

    def __post_init__(self) -> None:
        self.data, self.out = Path(self.data), Path(self.out)
        for name in ("steps", "batch_size", "val_every", "val_frames", "checkpoint_every", "log_every"):
            if getattr(self, name) < 1:
                raise ReverieError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        for name in ("time_limit", "weight_decay", "warmup", "reward_weight", "patience", "threads"):
            if not 0 <= getattr(self, name) < math.inf:  # nan and inf pass "< 0" and poison the fit
                raise ReverieError(f"--{name.replace('_', '-')} must be a finite number >= 0, got {getattr(self, name)}")
        if not 0 < self.lr < math.inf:
            raise ReverieError(f"--lr must be a finite number > 0, got {self.lr}")
        if not (self.push_share >= 0 and self.rare_share >= 0 and self.push_share + self.rare_share < 1):
            raise ReverieError("--push-share and --rare-share must be >= 0 and add up to less than 1 "
                               "(with --rare-share counted once per rare reward class)")
        check_limits(self)  # seed, threads, device (a CUDA device on a CPU-only torch: one line, now)


def learning_rate(config: FitConfig, step: int, elapsed: float) -> float:
    """Warm-up, then a cosine to zero over the step or time budget (whichever is nearer its end)."""
    if step < config.warmup:
        return config.lr * (step + 1) / config.warmup
    done = (step - config.warmup) / max(1, config.steps - config.warmup)
    if config.time_limit > 0:
        done = max(done, elapsed / (60.0 * config.time_limit))
    return config.lr * 0.5 * (1.0 + math.cos(math.pi * min(done, 1.0)))


class _Averages:
    """Running means of the training metrics between two log lines."""

    def __init__(self) -> None:
        self.sums: dict[str, float] = {}
        self.count = 0

    def add(self, values: dict[str, torch.Tensor]) -> None:
        for key, value in values.items():
            self.sums[key] = self.sums.get(key, 0.0) + float(value)
        self.count += 1

    def pop(self) -> dict[str, float]:
        means = {f"train/{k}": v / max(self.count, 1) for k, v in self.sums.items()}
        self.sums, self.count = {}, 0
        return means


@torch.no_grad()
def validate(model: GridModel | FrameModel, valid: TransitionDataset, loss_frames: int = 8192) -> dict[str, Any]:
    """One-step accuracy on ``valid`` plus the fitting loss on its first ``loss_frames``."""
    was_training = model.training
    model.eval()
    result = one_step(model, valid)
    head = valid.subset(slice(0, loss_frames))
    total = sum(float(model.loss(b)["loss"]) * len(b["action"]) for b in head.batches(4096))
    result["loss"] = total / len(head)
    model.train(was_training)
    return result


def _score(result: dict[str, Any]) -> tuple[float, float]:
    """Lower is better: (frame errors + reward errors, loss); with events, the errors of
    the event counts (which every task's reward is made of) stand for reward errors."""
    rewards = result["events_exact"] if "events_exact" in result else result["reward_accuracy"]
    errors = (1 - result["exact_frame_accuracy"]) + (1 - rewards)
    return errors, result["loss"]


def _improved(new: tuple[float, float], best: list[float] | None) -> bool:
    if best is None:
        return True
    if new[0] < best[0] - 1e-9:
        return True
    return abs(new[0] - best[0]) <= 1e-9 and new[1] < 0.98 * best[1]


def _flat_validation(result: dict[str, Any]) -> dict[str, float]:
    flat = {f"valid/{k}": v for k, v in result.items() if isinstance(v, (int, float))}
    for name, value in result.get("reward_class_accuracy", {}).items():
        if value["accuracy"] is not None:
            flat[f"valid/reward_accuracy[{name}]"] = value["accuracy"]
    for name, value in result.get("event_accuracy", {}).items():
        flat[f"valid/event_accuracy[{name}]"] = value["accuracy"]
        if value["accuracy_when_occurs"] is not None:
            flat[f"valid/event_recall[{name}]"] = value["accuracy_when_occurs"]
    for task, value in result.get("task_reward_accuracy", {}).items():
        flat[f"valid/task_reward_accuracy[{task}]"] = value
    return flat


def fit(config: FitConfig, model_config: GridModelConfig | FrameModelConfig | None = None,
        progress: bool = True) -> dict[str, Any]:
    """Fit a model; returns the run summary (also written to ``out/summary.json``)."""
    threads = torch.get_num_threads()
    try:
        if config.threads:
            torch.set_num_threads(config.threads)
        return _fit(config, model_config or GridModelConfig(), progress)
    finally:
        torch.set_num_threads(threads)


def model_kind(spec) -> str:
    """The model type a world's data fits: ``frame`` for binary planes with events, ``pixel`` for
    pixel frames with events, ``palette`` for RGB frames with reward classes, else ``grid``."""
    if spec.rewards.events and spec.observation.kind in ("binary", "rgb"):
        return "frame" if spec.observation.kind == "binary" else "pixel"
    if spec.observation.kind == "rgb":
        return "palette"
    return "grid"


def frame_config(model_config: GridModelConfig | FrameModelConfig) -> FrameModelConfig:
    """A frame model's config from the command line's grid-model flags: ``--size`` (the frame
    model's own sizes), ``--channels`` where given, ``--feed``, ``--reward-head`` (the event
    head), ``--reward-hidden`` (its width) and ``--channels-last``."""
    if isinstance(model_config, FrameModelConfig):
        return model_config
    grid = model_config
    if grid.size not in FRAME_SIZES:
        raise ReverieError(f"unknown model size {grid.size!r}; choose one of {sorted(FRAME_SIZES)}")
    explicit = tuple(grid.channels or ()) != GRID_SIZES.get(grid.size)
    defaults = FrameModelConfig()
    return FrameModelConfig(size=grid.size, channels=grid.channels if explicit else None, feed=grid.feed,
                            event_head=grid.reward_head, channels_last=grid.channels_last,
                            event_hidden=grid.reward_hidden if grid.reward_hidden != GridModelConfig().reward_hidden
                            else defaults.event_hidden)


def model_for_data(spec, model_config: GridModelConfig | FrameModelConfig,
                   source: str = "--reward-values") -> GridModelConfig | FrameModelConfig:
    """``model_config`` for the data's env ``spec``: reward values given by hand must be the
    spec's classes in the spec's order (refused in one line otherwise: a model fitted to
    class indices but imagining other values would swap rewards silently). Data of a world
    with binary planes and events gets a frame model's config (see :func:`frame_config`)."""
    if model_kind(spec) == "pixel":
        if isinstance(model_config, PixelModelConfig):
            return model_config.for_spec(spec)
        channels = tuple(getattr(model_config, "channels", None) or ())
        explicit = isinstance(model_config, GridModelConfig) and channels != GRID_SIZES.get(model_config.size)
        return PixelModelConfig(channels=channels[0] if explicit and channels else PixelModelConfig().channels
                                ).for_spec(spec)
    if model_kind(spec) == "palette":
        if isinstance(model_config, PaletteModelConfig):
            return model_config.for_spec(spec)
        if not isinstance(model_config, GridModelConfig) or model_config.size not in PALETTE_SIZES:
            raise ReverieError(f"{spec.id} has RGB frames: fit a palette model (sizes {sorted(PALETTE_SIZES)})")
        explicit = tuple(model_config.channels or ()) != GRID_SIZES.get(model_config.size)
        return PaletteModelConfig(size=model_config.size, channels=model_config.channels if explicit else None,
                                  reward_head=model_config.reward_head, reward_hidden=model_config.reward_hidden,
                                  ).for_spec(spec)
    if model_kind(spec) == "frame":
        if isinstance(model_config, GridModelConfig) and model_config.reward_values:
            raise ReverieError(f"{source}: {spec.id} scores rewards by events and task weights, not reward "
                               "classes; drop the flag")
        return frame_config(model_config).for_spec(spec)
    if isinstance(model_config, FrameModelConfig):
        raise ReverieError(f"a frame model fits binary planes with events; {spec.id} has "
                           f"{spec.observation.kind} observations and reward classes (fit a grid model)")
    given = tuple(model_config.reward_values)
    if given:
        classes = spec.rewards.classes
        if len(given) != len(classes) or any(abs(a - b) > 1e-4 for a, b in zip(given, classes)):
            raise ReverieError(f"{source} {','.join(f'{v:g}' for v in given)} are not the data's reward classes "
                               f"({spec.id}: {','.join(f'{v:g}' for v in classes)}, in this order); drop the flag")
        model_config = GridModelConfig.from_dict(model_config.to_dict() | {"reward_values": list(classes)})
    return model_config


def _fit(config: FitConfig, model_config: GridModelConfig, progress: bool) -> dict[str, Any]:
    from tqdm import tqdm

    out = config.out
    checkpoint_path = out / "checkpoint.pt"
    if config.resume and not checkpoint_path.is_file():
        raise ReverieError(f"{out}: nothing to resume (no checkpoint.pt)")
    if not config.resume and checkpoint_path.exists():
        raise ReverieError(f"{out}: holds a run already; pass --resume to continue it or choose another --out")
    device = torch.device(config.device)
    manifest = read_manifest(config.data)
    spec = manifest_spec(manifest, str(config.data))
    model_config = model_for_data(spec, model_config)
    train = TransitionDataset.load(config.data, "train", config.train_limit).to(device)
    if "valid" not in manifest["splits"]:
        raise ReverieError(f"{config.data}: has no validation split; collect with --valid-frames > 0")
    valid_all = TransitionDataset.load(config.data, "valid")
    order = torch.randperm(len(valid_all), generator=torch.Generator().manual_seed(config.seed + 17))
    valid = valid_all.subset(order[:config.val_frames]).to(device)

    torch.manual_seed(config.seed)
    model_cls = next(cls for cls, config_cls in TYPES.values() if isinstance(model_config, config_cls))
    model = model_cls.for_spec(spec, model_config).to(device)
    model.check_spec(spec)
    model_config = model.config
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    sampler = Sampler(train, config.batch_size, config.push_share, config.rare_share, seed=config.seed)
    step, elapsed, best, bad = 0, 0.0, None, 0
    if config.resume:
        state = load_checkpoint(checkpoint_path, kind=RUN_KIND)
        saved_cls, saved_config_cls = TYPES.get(state["model"].get("type"), (GridModel, GridModelConfig))
        saved = saved_config_cls.from_dict(state["model"]["config"])
        saved_cls(saved).check_spec(spec)
        if saved.to_dict() != model_config.to_dict():
            raise ReverieError(f"{checkpoint_path}: the run was started with model config {saved.to_dict()}; "
                               "resume it with the same model flags")
        model.load_state_dict(state["model"]["weights"])
        optimizer.load_state_dict(state["optimizer"])
        sampler.load_state_dict(state["sampler"])
        set_rng_state(state["rng"])
        step, elapsed, best, bad = state["step"], state["elapsed"], state["best"], state["bad_validations"]

    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "config.json", {"fit": to_dict(config), "env": spec.id, "model": model_config.to_dict(),
                                     "train_frames": len(train), "valid_frames": len(valid_all)})
    metrics = MetricsLogger(out, tensorboard=config.tensorboard, resume_step=step if config.resume else None)
    autocast = (torch.autocast(device.type, dtype=torch.bfloat16) if config.bf16 else contextlib.nullcontext())

    def save_run() -> None:
        save_checkpoint(checkpoint_path, {
            "model": model_record(model), "optimizer": optimizer.state_dict(), "sampler": sampler.state_dict(),
            "rng": rng_state(), "step": step, "elapsed": elapsed, "best": best, "bad_validations": bad,
            "fit_config": to_dict(config),
        }, kind=RUN_KIND)

    averages = _Averages()
    stop_reason = "steps"
    last_val: dict[str, Any] = {}
    start = time.perf_counter() - elapsed
    bar = tqdm(total=config.steps, initial=step, desc="fit", unit="step", disable=not progress, smoothing=0.05)
    model.train()
    try:
        while step < config.steps:
            elapsed = time.perf_counter() - start
            if config.time_limit and elapsed >= 60 * config.time_limit:
                stop_reason = "time limit"
                break
            lr = learning_rate(config, step, elapsed)
            for group in optimizer.param_groups:
                group["lr"] = lr
            batch = {k: v.to(device, non_blocking=True) for k, v in sampler.sample().items()}
            with autocast:
                parts = model.loss(batch, config.reward_weight)
            optimizer.zero_grad(set_to_none=True)
            parts["loss"].backward()
            optimizer.step()
            step += 1
            averages.add({k: v.detach() for k, v in parts.items()})
            bar.update(1)
            if step % config.log_every == 0:
                means = averages.pop()
                elapsed = time.perf_counter() - start
                metrics.log(step, means | {"lr": lr, "frames": step * config.batch_size,
                                           "frames_per_second": step * config.batch_size / max(elapsed, 1e-9),
                                           "elapsed_seconds": elapsed})
                bar.set_postfix(loss=f"{means['train/loss']:.3f}",
                                frame=f"{means['train/frame_accuracy']:.3f}",
                                val=f"{last_val.get('exact_frame_accuracy', float('nan')):.4f}")
            if step % config.val_every == 0 or step == config.steps:
                last_val = validate(model, valid)
                score = _score(last_val)
                if _improved(score, best):
                    best, bad = list(score), 0
                    save_model(model, out / "model.pt", {"step": step, "env": spec.id,
                                                         "validation": _brief(last_val)})
                else:
                    bad += 1
                elapsed = time.perf_counter() - start
                metrics.log(step, _flat_validation(last_val) | {"valid/best_errors": best[0] if best else None,
                                                                "elapsed_seconds": elapsed})
                if config.patience and bad >= config.patience:
                    stop_reason = "early stopping"
                    break
            if step % config.checkpoint_every == 0:
                elapsed = time.perf_counter() - start
                save_run()
    except KeyboardInterrupt:
        elapsed = time.perf_counter() - start
        save_run()
        bar.close()
        metrics.close()
        raise
    bar.close()
    elapsed = time.perf_counter() - start
    if not (out / "model.pt").is_file():  # stopped before the first validation
        save_model(model, out / "model.pt", {"step": step, "env": spec.id})
    save_run()
    metrics.close()
    return finish(config, out, step, elapsed, stop_reason, valid_all, len(train), device)


def _brief(result: dict[str, Any]) -> dict[str, Any]:
    keys = ("frames", "exact_frame_accuracy", "cell_accuracy", "reward_accuracy", "loss",
            "push_exact_frame_accuracy", "events_exact", "task_reward_accuracy")
    return {k: result[k] for k in keys if k in result}


def finish(config: FitConfig, out: Path, step: int, elapsed: float, stop_reason: str,
           valid_all: TransitionDataset, train_frames: int, device: torch.device) -> dict[str, Any]:
    """Score the best model on the whole validation split and write ``summary.json``."""
    from ..models.io import load

    best = load(out / "model.pt", device)
    best.check_spec(valid_all.spec)
    final = validate(best, valid_all.to(device))
    summary = {
        "steps": step, "frames_seen": step * config.batch_size, "train_transitions": train_frames,
        "wall_seconds": round(elapsed, 1), "stopped_by": stop_reason,
        "best_step": best.metadata.get("step"),  # type: ignore[attr-defined]
        "validation": final,
    }
    write_json(out / "summary.json", summary)
    save_model(best, out / "model.pt", {"step": summary["best_step"], "env": valid_all.spec.id,
                                        "validation": _brief(final),
                                        "fit": to_dict(config), "summary": {k: v for k, v in summary.items()
                                                                            if k != "validation"}})
    return summary


def describe(summary: dict[str, Any]) -> str:
    v = summary["validation"]
    head = (f"fitted {summary['steps']} steps ({summary['frames_seen']:,} frames) in "
            f"{summary['wall_seconds']:.0f} s, stopped by {summary['stopped_by']}; best step "
            f"{summary['best_step']}: validation exact frame {v['exact_frame_accuracy']:.4%}, ")
    if "events_exact" in v:
        tasks = ", ".join(f"{task} {value:.3%}" for task, value in v["task_reward_accuracy"].items())
        return (head + f"cells {v['cell_accuracy']:.4%}, all events {v['events_exact']:.4%} over "
                f"{v['frames']:,} frames; reward by task: {tasks}")
    return head + f"reward class {v['reward_accuracy']:.4%} over {v['frames']:,} frames"


__all__ = ["FitConfig", "fit", "validate", "learning_rate", "describe", "model_for_data", "model_kind",
           "frame_config"]
