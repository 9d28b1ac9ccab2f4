"""How well an environment model imagines: one-step accuracy and the compounding-error curve.

One-step accuracy says how often the model gets the very next frame and reward right. It
is not enough: inside I2A and search the model is fed its own predictions, and one wrong
cell early on spoils every later frame. The horizon curve runs the model and the real rules
side by side from the same states under the same actions and reports, per step, how many
imagined frames still equal the real ones. Pictures show real and imagined frames next to
each other with wrong cells marked, and a plot shows the curve.

Everything works through ``EnvironmentModel.step`` and the env spec (its codec, reward
classes, perfect model and renderer), so the perfect, copy and learned models of any world
are measured by the same code.

Worlds whose rules are random (MiniPacman's ghosts) have no perfect model to roll beside:
:func:`compounding_curve` compares imagined frames with the real env's frames under the
actions the env was played with, and, through the world's ``extra["entities"]`` hook
(name -> ``fn(obs [B, C, H, W]) -> bool mask [B, H, W]``), how well each entity's cells
(player, ghosts) are imagined.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from ..core.errors import ReverieError
from ..core.atomic import atomic_write
from ..core.config import option, to_dict
from ..envs.registry import get_spec
from ..envs.spec import RewardClasses
from ..models.base import EnvironmentModel
from ..models.scoring import cells_correct, class_names, one_step
from ..models.scoring import predicted_classes as _predicted_classes


def _spec(spec: Any = None, dataset: Any = None):
    """The env spec to score against: given, the dataset's, or the default data env's."""
    if spec is not None:
        return spec
    if dataset is not None and getattr(dataset, "spec", None) is not None:
        return dataset.spec
    from ..data.transitions import DEFAULT_ENV

    return get_spec(DEFAULT_ENV)


def predicted_classes(reward: torch.Tensor, classes: RewardClasses | None = None) -> torch.Tensor:
    """Imagined rewards -> reward class, or ``K`` ("other") for values that are no class
    (classes: the default data env's where none are given)."""
    return _predicted_classes(reward, classes or _spec().rewards.reward_classes)


def random_actions(steps: int, count: int, seed: int, num_actions: int | None = None) -> torch.Tensor:
    """``[steps, count]`` uniform random actions (the random policy the data came from)."""
    num_actions = num_actions or _spec().num_actions
    return torch.randint(0, num_actions, (steps, count), generator=torch.Generator().manual_seed(seed))


@torch.no_grad()
def side_by_side(model: EnvironmentModel, start: torch.Tensor, actions: torch.Tensor, spec: Any = None
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Roll the world's rules (``spec.make_perfect_model()``) and the model (fed its own
    predictions) from the compact states ``start [N, ...]``.

    Returns real and imagined compact states ``[T + 1, N, ...]`` (step 0 is the start) and
    real and imagined rewards ``[T, N]``.
    """
    spec = _spec(spec)
    codec = spec.observation
    perfect = spec.make_perfect_model()
    fast = getattr(perfect, "step_compact", None)
    real, obs = start, codec.decode(start)
    real_obs = obs
    real_codes, imagined_codes = [start], [start]
    real_rewards, imagined_rewards = [], []
    for action in actions:
        if callable(fast):
            real, real_reward, _ = fast(real, action)
        else:
            real_obs, real_reward, _ = perfect.step(real_obs, action)
            real = codec.encode(real_obs)
        obs, reward, _ = model.step(obs, action)
        real_codes.append(real)
        imagined_codes.append(codec.encode(obs))
        real_rewards.append(real_reward)
        imagined_rewards.append(reward.float())
    return (torch.stack(real_codes), torch.stack(imagined_codes),
            torch.stack(real_rewards), torch.stack(imagined_rewards))


def horizon_curve(model: EnvironmentModel, start: torch.Tensor, horizon: int = 15, seed: int = 0,
                  batch_size: int = 2048, spec: Any = None) -> dict[str, Any]:
    """Accuracy of imagined frames by horizon 1..``horizon`` under random actions.

    ``exact_frame_accuracy[t]`` is the share of rollouts whose imagined frame after t + 1
    steps equals the real one; ``rollout_exact[t]`` the share exact at every step so far;
    ``cell_accuracy[t]`` the share of cells right; ``reward_accuracy[t]`` the share of
    imagined rewards equal to the real ones.
    """
    if horizon < 1:
        raise ValueError(f"horizon must be >= 1, got {horizon}")
    spec = _spec(spec)
    actions = random_actions(horizon, len(start), seed, spec.num_actions)
    sums = {k: torch.zeros(horizon, dtype=torch.float64)
            for k in ("exact", "rollout", "cells", "reward")}
    for lo in range(0, len(start), batch_size):
        real, imagined, real_r, imagined_r = side_by_side(model, start[lo:lo + batch_size],
                                                          actions[:, lo:lo + batch_size], spec)
        correct = (real[1:] == imagined[1:]).flatten(2)
        frame_ok = correct.all(2)  # [T, n]
        sums["exact"] += frame_ok.double().sum(1).cpu()
        sums["rollout"] += frame_ok.cumprod(0).double().sum(1).cpu()
        sums["cells"] += correct.double().mean(2).sum(1).cpu()
        sums["reward"] += ((real_r - imagined_r).abs() < 1e-4).double().sum(1).cpu()
    n = len(start)
    return {
        "horizon": list(range(1, horizon + 1)), "rollouts": n, "seed": seed,
        "exact_frame_accuracy": (sums["exact"] / n).tolist(),
        "rollout_exact": (sums["rollout"] / n).tolist(),
        "cell_accuracy": (sums["cells"] / n).tolist(),
        "reward_accuracy": (sums["reward"] / n).tolist(),
    }


def _pictures(spec: Any, compact: np.ndarray, scale: int) -> np.ndarray:
    """Compact states ``[N, ...]`` drawn by the spec's renderer, ``[N, h, w, 3]`` uint8, scaled."""
    if spec.render is None:
        raise ReverieError(f"env {spec.id} has no renderer; run with --pictures 0")
    frames = np.asarray(spec.render(spec.observation.decode(torch.as_tensor(compact))))
    if scale > 1:
        frames = frames.repeat(scale, axis=1).repeat(scale, axis=2)
    return frames


def _mark(tile: np.ndarray, wrong: np.ndarray) -> np.ndarray:
    """Outline the wrong cells of an RGB tile in magenta (the whole tile where the compact
    state is no grid of cells)."""
    tile = tile.copy()
    if wrong.ndim != 2:
        wrong = np.array([[wrong.any()]])
    rows, cols = tile.shape[0] // wrong.shape[0], tile.shape[1] // wrong.shape[1]
    edge = max(1, min(rows, cols) // 8)
    for r, c in np.argwhere(wrong):
        y, x = r * rows, c * cols
        tile[y:y + rows, x:x + edge] = tile[y:y + rows, x + cols - edge:x + cols] = (255, 0, 255)
        tile[y:y + edge, x:x + cols] = tile[y + rows - edge:y + rows, x:x + cols] = (255, 0, 255)
    return tile


def _save_image(image, path: Path, **kwargs) -> None:
    with atomic_write(path) as f:
        image.save(f, **kwargs)


def rollout_pictures(model: EnvironmentModel, start: torch.Tensor, steps: int, png: str | Path | None,
                     gif: str | Path | None = None, seed: int = 0, scale: int = 2, spec: Any = None) -> dict[str, Any]:
    """Draw a few rollouts, real beside imagined, with wrong imagined cells outlined.

    The PNG is a film strip: per rollout, a row of real frames over a row of imagined ones,
    one column per step. The GIF plays the steps, each frame showing every rollout's real
    (left) and imagined (right) position. Imagined cells that differ from the real ones are
    outlined in magenta. Frames are drawn by the spec's renderer.
    """
    from PIL import Image, ImageDraw

    spec = _spec(spec)
    actions = random_actions(steps, len(start), seed, spec.num_actions)
    real, imagined, _, _ = side_by_side(model, start, actions, spec)
    real_np, imag_np = real.cpu().numpy(), imagined.cpu().numpy()
    gap = 4
    real_pics = [_pictures(spec, real_np[t], scale) for t in range(steps + 1)]
    imag_pics = [_pictures(spec, imag_np[t], scale) for t in range(steps + 1)]
    pairs = []  # [t][n] -> (real tile, imagined tile)
    for t in range(steps + 1):
        pairs.append([(real_pics[t][n], _mark(imag_pics[t][n], real_np[t, n] != imag_np[t, n]))
                      for n in range(len(start))])
    th, tw, _ = pairs[0][0][0].shape
    written: dict[str, Any] = {}
    left, top = 64, 16  # margins for the labels
    if png is not None:
        rows, cols = 2 * len(start), steps + 1
        sheet = np.full((top + rows * (th + gap) + gap * len(start), left + cols * (tw + gap), 3), 255, np.uint8)
        labels = []
        for n in range(len(start)):
            for which in range(2):
                y = top + (2 * n + which) * (th + gap) + n * gap
                labels.append((y + th // 2 - 5, ("real", "imagined")[which]))
                for t in range(cols):
                    x = left + t * (tw + gap)
                    sheet[y:y + th, x:x + tw] = pairs[t][n][which]
        image = Image.fromarray(sheet)
        draw = ImageDraw.Draw(image)
        for t in range(cols):
            draw.text((left + t * (tw + gap) + tw // 2 - 6, 2), f"t={t}" if t == 0 else str(t), fill=(0, 0, 0))
        for y, text in labels:
            draw.text((4, y), text, fill=(0, 0, 0))
        _save_image(image, Path(png), format="PNG")
        written["png"] = str(png)
    if gif is not None:
        frames = []
        for t in range(steps + 1):
            sheet = np.full((top + len(start) * (th + gap), 2 * tw + 3 * gap, 3), 255, np.uint8)
            for n in range(len(start)):
                y = top + n * (th + gap)
                sheet[y:y + th, :tw] = pairs[t][n][0]
                sheet[y:y + th, tw + 3 * gap:] = pairs[t][n][1]
            frame = Image.fromarray(sheet)
            draw = ImageDraw.Draw(frame)
            draw.text((2, 2), f"real  t={t}", fill=(0, 0, 0))
            draw.text((tw + 3 * gap + 2, 2), "imagined", fill=(0, 0, 0))
            frames.append(frame)
        _save_image(frames[0], Path(gif), format="GIF", save_all=True, append_images=frames[1:],
                    duration=[400] * steps + [1500], loop=0)
        written["gif"] = str(gif)
    wrong = (real_np[1:] != imag_np[1:]).reshape(steps, len(start), -1).any(2)
    written["first_wrong_step"] = [int(np.argmax(w)) + 1 if w.any() else None for w in wrong.T]
    return written


def plot_curves(curves: dict[str, dict[str, Any]], path: str | Path, title: str = "") -> Path:
    """Exact-frame and per-cell accuracy by horizon, one line per model (matplotlib, Agg)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for name, curve in curves.items():
        axes[0].plot(curve["horizon"], curve["exact_frame_accuracy"], marker="o", ms=3, label=name)
        axes[1].plot(curve["horizon"], curve["cell_accuracy"], marker="o", ms=3, label=name)
    axes[0].set_ylabel("exact imagined frames")
    axes[1].set_ylabel("cells right")
    for ax in axes:
        ax.set_xlabel("imagined steps")
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    try:
        with atomic_write(path) as f:
            fig.savefig(f, format="png", dpi=110)
    finally:
        plt.close(fig)
    return path


def summarize(one: dict[str, Any], curve: dict[str, Any] | None = None) -> str:
    """A few human lines for the command line."""
    if "reward_class_accuracy" in one:
        lines = [f"one step over {one['frames']} frames: exact frame {one['exact_frame_accuracy']:.4%}, "
                 f"cells {one['cell_accuracy']:.5%}, reward class {one['reward_accuracy']:.4%}"]
        per = ", ".join(f"{name}: {v['accuracy']:.3%} of {v['count']}" if v["accuracy"] is not None
                        else f"{name}: none" for name, v in one["reward_class_accuracy"].items())
        lines.append(f"  reward classes: {per}")
    else:
        lines = [f"one step over {one['frames']} frames: exact frame {one['exact_frame_accuracy']:.4%}, "
                 f"cells {one['cell_accuracy']:.5%}, reward {one['reward_accuracy']:.4%}"]
        if "event_accuracy" in one:
            per = ", ".join(f"{name}: {v['accuracy']:.3%}" + (f" ({v['accuracy_when_occurs']:.1%} of {v['occurs']} "
                                                                 "occurrences)" if v["occurs"] else "")
                            for name, v in one["event_accuracy"].items())
            lines.append(f"  events (all right {one['events_exact']:.3%}): {per}")
            tasks = ", ".join(f"{task}: {v:.3%}" for task, v in one["task_reward_accuracy"].items())
            lines.append(f"  reward by task: {tasks}")
    for key, value in one.items():  # transitions the world scores apart (Sokoban: push)
        if key.endswith("_exact_frame_accuracy") and key != "exact_frame_accuracy" and value is not None:
            name = key[:-len("_exact_frame_accuracy")]
            lines.append(f"  frames with a {name}: {value:.3%} exact of {one[f'{name}_frames']}")
    if curve is not None:
        marks = [h for h in (1, 5, 10, 15) if h <= len(curve["horizon"])]
        shown = ", ".join(f"{h}: {curve['exact_frame_accuracy'][h - 1]:.3%}" for h in marks)
        lines.append(f"  exact imagined frames by horizon ({curve['rollouts']} rollouts): {shown}")
        for key in [k for k in curve if k.endswith("_position_accuracy")]:
            shown = ", ".join(f"{h}: {curve[key][h - 1]:.3%}" for h in marks)
            lines.append(f"  {key[:-len('_position_accuracy')]} position by horizon: {shown}")
    return "\n".join(lines)


@torch.no_grad()
def compounding_curve(spec: Any, model: EnvironmentModel, env: Any = None, horizon: int = 15, rollouts: int = 256,
                      warmup: int = 10, seed: int = 0, split: str = "valid", policy: Any = None,
                      device: torch.device | str = "cpu") -> dict[str, Any]:
    """Accuracy of frames imagined k = 1..``horizon`` steps ahead from real states under the
    real actions, against the real env's frames.

    ``env`` (a batched env of ``spec``; by default ``rollouts`` games of ``split``) is played
    ``warmup`` steps and then ``horizon`` more with ``policy`` (``obs -> actions``; uniform
    random by default); the model starts from the real frame after the warm-up and is fed
    its own predictions. A rollout counts at step k only while its real game goes on: not
    after the episode ended, nor after the world started a new level (an ``info["level"]``
    that changes). Per k: ``cell_accuracy`` (cells whose every plane is right after the
    codec's quantisation), ``exact_frame_accuracy``, ``rollout_exact`` (exact at every step
    so far), ``reward_accuracy`` (the imagined reward equals the real one), and for each
    entity of ``spec.extra["entities"]``: ``<name>_position_accuracy`` (the share of
    rollouts whose imagined mask equals the real one) and ``<name>_cell_accuracy`` (the share
    of the real entity cells the imagined frame also shows).
    """
    if horizon < 1 or rollouts < 1 or warmup < 0:
        raise ReverieError("horizon and rollouts must be >= 1 and warmup >= 0")
    codec = spec.observation
    entities = dict(spec.extra.get("entities") or {})
    if env is None:
        env = spec.make_env(split, rollouts, seed=seed, device=device)
    n = env.num_envs
    generator = torch.Generator().manual_seed(seed + 5)

    def act(obs: torch.Tensor) -> torch.Tensor:
        if policy is not None:
            return torch.as_tensor(policy(obs)).long().reshape(n)
        return torch.randint(0, spec.num_actions, (n,), generator=generator)

    obs, info = env.reset(seed=seed)
    for _ in range(warmup):
        obs, _, _, _, info = env.step(act(obs).to(obs.device))
    level = info.get("level") if isinstance(info, dict) else None
    alive = torch.ones(n, dtype=torch.bool)
    imagined = obs.clone()
    keys = ["cells", "exact", "rollout", "reward", "count"]
    keys += [f"{name}_{part}" for name in entities for part in ("position", "hits", "cells")]
    sums = {k: torch.zeros(horizon, dtype=torch.float64) for k in keys}
    still_exact = torch.ones(n, dtype=torch.bool)
    for k in range(horizon):
        action = act(obs).to(obs.device)
        imagined, imagined_reward, _ = model.step(imagined, action.to(imagined.device))
        obs, reward, _, _, info = env.step(action)
        ended = torch.zeros(n, dtype=torch.bool)
        ended[torch.as_tensor(info["final_index"]).cpu().long()] = True
        real_next = obs.clone()
        if bool(ended.any()):
            real_next[ended.to(obs.device)] = info["final_obs"].to(obs.dtype)  # the step's true next frame
        new_level = info.get("level")
        if level is not None and new_level is not None:
            ended |= (torch.as_tensor(new_level) != torch.as_tensor(level)).cpu()
        level = new_level
        real_c, imag_c = codec.encode(real_next).cpu(), codec.encode(imagined.to(real_next.device)).cpu()
        cells = cells_correct(codec, imag_c, real_c).flatten(1)
        frame_ok = cells.all(1)
        still_exact &= frame_ok
        # a rollout whose game ended (or changed level) counts at this step (its true next frame is
        # known) but not after
        mask = alive.double()
        sums["count"][k] += mask.sum()
        sums["cells"][k] += (cells.double().mean(1) * mask).sum()
        sums["exact"][k] += (frame_ok.double() * mask).sum()
        sums["rollout"][k] += (still_exact.double() * mask).sum()
        sums["reward"][k] += (((reward.float().cpu() - imagined_reward.float().cpu()).abs() < 1e-4).double()
                              * mask).sum()
        if entities:
            real_f, imag_f = codec.decode(real_c), codec.decode(imag_c)
            for name, find in entities.items():
                real_m, imag_m = find(real_f).bool().flatten(1).cpu(), find(imag_f).bool().flatten(1).cpu()
                sums[f"{name}_position"][k] += ((real_m == imag_m).all(1).double() * mask).sum()
                sums[f"{name}_hits"][k] += ((real_m & imag_m).sum(1).double() * mask).sum()
                sums[f"{name}_cells"][k] += (real_m.sum(1).double() * mask).sum()
        alive &= ~ended
    count = sums["count"].clamp(min=1)
    result: dict[str, Any] = {
        "horizon": list(range(1, horizon + 1)), "rollouts": n, "seed": seed, "warmup": warmup,
        "counted": sums["count"].long().tolist(),
        "cell_accuracy": (sums["cells"] / count).tolist(),
        "exact_frame_accuracy": (sums["exact"] / count).tolist(),
        "rollout_exact": (sums["rollout"] / count).tolist(),
        "reward_accuracy": (sums["reward"] / count).tolist(),
    }
    for name in entities:
        result[f"{name}_position_accuracy"] = (sums[f"{name}_position"] / count).tolist()
        hits, total = sums[f"{name}_hits"], sums[f"{name}_cells"]
        result[f"{name}_cell_accuracy"] = [float(h / t) if t > 0 else None for h, t in zip(hits, total)]
    return result


def pick_states(dataset: Any, count: int, seed: int = 0) -> torch.Tensor:
    """``count`` start states drawn at random (seeded, without repeats) from a dataset's states."""
    g = torch.Generator().manual_seed(seed)
    index = torch.randperm(len(dataset), generator=g)[:count]
    return dataset.codes[index]


@dataclass
class EvaluateConfig:
    """What ``reverie model evaluate`` measures and where it writes the report."""

    model: str = option("sokoban-10x10", "a model file or run folder, a pretrained name, 'perfect' or 'copy'")
    data: Path = option(Path("runs/transitions"), "dataset folder written by `reverie model collect`")
    split: str = option("valid", "which split to score (validation levels are never fitted on)")
    frames: int | None = option(None, "score at most this many transitions (default: all)")
    horizon: int = option(15, "longest imagined rollout of the compounding-error curve")
    rollouts: int = option(2000, "rollouts (start states) of the curve")
    pictures: int = option(4, "rollouts drawn real-beside-imagined in the PNG and GIF (0 = none)")
    baseline: bool = option(True, "also draw the copy model's curve in the plot")
    out: Path = option(Path("runs/model-eval"), "report folder: report.json, horizon.png, rollouts.png/gif")
    seed: int = option(0, "seed of start states and actions")
    device: str = option("cpu", "device to run the model on")

    def __post_init__(self) -> None:
        self.data, self.out = Path(self.data), Path(self.out)
        if self.horizon < 1 or self.rollouts < 1 or self.pictures < 0:
            raise ReverieError("--horizon and --rollouts must be >= 1 and --pictures >= 0")
        if self.frames is not None and self.frames < 1:
            raise ReverieError(f"--frames must be >= 1, got {self.frames}")


def evaluate(config: EvaluateConfig) -> dict[str, Any]:
    """One-step accuracy, the horizon curve, pictures and a plot; returns the report."""
    from ..data.dataset import TransitionDataset
    from ..core.atomic import write_json
    from ..models.io import resolve
    from ..models.simple import CopyModel

    device = torch.device(config.device)
    model = None if config.model == "perfect" else resolve(config.model, device)
    dataset = TransitionDataset.load(config.data, config.split, config.frames).to(device)
    spec = dataset.spec
    if model is None:
        model = resolve("perfect", device, spec=spec)
    elif callable(getattr(model, "check_spec", None)):
        model.check_spec(spec)  # refuses a model of other reward classes than the data's
    one = one_step(model, dataset)
    events = bool(spec.rewards.events) and dataset.events is not None
    if events:  # random rules: compare with the real env's frames under the real actions
        split = config.split if config.split in spec.splits else "valid"

        def curve_of(m):
            return compounding_curve(spec, m, horizon=config.horizon, rollouts=config.rollouts, seed=config.seed,
                                     split=split, device=device)
    else:
        start = pick_states(dataset, min(config.rollouts, len(dataset)), config.seed)

        def curve_of(m):
            return horizon_curve(m, start, config.horizon, config.seed, spec=spec)
    curve = curve_of(model)
    curves = {str(config.model): curve}
    if config.baseline:
        curves["copy model"] = curve_of(CopyModel())
    config.out.mkdir(parents=True, exist_ok=True)
    plot_curves(curves, config.out / "horizon.png", f"{config.model} on {config.data} ({config.split})")
    pictures = {}
    if config.pictures and not events:  # the pictures roll the perfect model beside (exact worlds only)
        pictures = rollout_pictures(model, start[:config.pictures], min(config.horizon, 15),
                                    config.out / "rollouts.png", config.out / "rollouts.gif", config.seed,
                                    spec=spec)
    report = {"model": str(config.model), "data": str(config.data), "env": spec.id, "split": config.split,
              "one_step": one, "horizon_curve": curve, "baselines": {k: v for k, v in curves.items()
                                                                     if k != str(config.model)},
              "pictures": pictures, "config": to_dict(config)}
    write_json(config.out / "report.json", report)
    return report


__all__: Sequence[str] = ("one_step", "horizon_curve", "compounding_curve", "side_by_side", "rollout_pictures", "plot_curves",
                          "summarize", "pick_states", "predicted_classes", "random_actions", "class_names",
                          "EvaluateConfig", "evaluate")
