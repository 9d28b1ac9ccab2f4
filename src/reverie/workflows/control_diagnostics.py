"""Pictures and numbers that show how far a vector model can be trusted.

- :func:`command_trajectories` / :func:`plot_command_trajectories`: from one real state, hold
  several constant (acceleration, steering) commands in the real env and in each model, and
  draw the predicted paths beside the real ones (the seed's picture, with the truth added);
- :func:`compounding_error`: open-loop error of each model against held-out real random
  trajectories, by imagined step (the compounding-error curve), and :func:`plot_error_curves`;
- :func:`save_episode_gif`: a GIF of an episode's rendered frames.

Matplotlib runs on the Agg backend (no display needed).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from ..core.atomic import atomic_write
from .control import Task

#: The seed's commands: steering right, centre, left at two accelerations.
COMMANDS = tuple((acc, steer) for steer in (-0.5, 0.0, 0.5) for acc in (0.8, 0.4))


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str | Path) -> Path:
    path = Path(path)
    with atomic_write(path) as f:
        fig.savefig(f, format=path.suffix.lstrip(".") or "png", dpi=110, bbox_inches="tight")
    return path


@torch.inference_mode()
def rollout(model, obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """Open-loop states ``[T + 1, N, S]`` from ``obs [N, S]`` under ``actions [T, N, A]``."""
    states = [obs]
    for t in range(actions.shape[0]):
        obs = model.step(obs, actions[t])[0]
        states.append(obs)
    return torch.stack(states)


def command_trajectories(task: Task, env, models: dict[str, Any], steps: int = 15, seed: int = 3,
                         commands: Sequence[tuple[float, ...]] = COMMANDS) -> dict[str, Any]:
    """Real and predicted states ``[commands, steps + 1, S]`` under constant commands.

    The env is reset with ``seed``; the real paths come from deep copies of it, so each
    command starts from exactly the same state.
    """
    raw, _ = env.reset(seed=seed)
    start, _ = task.split(raw)
    real = []
    for command in commands:
        sim = copy.deepcopy(env)
        path, r = [start], raw
        for _ in range(steps):
            r, _, terminated, truncated, _ = sim.step(np.asarray(command, dtype=np.float32))
            path.append(task.split(r)[0])
        real.append(np.stack(path))
        sim.close()
    acts = torch.tensor(commands, dtype=torch.float32)[None].expand(steps, -1, -1)
    obs0 = torch.from_numpy(start)[None].expand(len(commands), -1).contiguous()
    predicted = {name: rollout(m, obs0, acts).transpose(0, 1).numpy() for name, m in models.items()}
    return {"commands": [list(c) for c in commands], "real": np.stack(real), "predicted": predicted}


def plot_command_trajectories(result: dict[str, Any], path: str | Path, scale: float = 100.0,
                              title: str = "constant commands: real (solid) vs predicted (dashed)") -> Path:
    """One panel per model: x-y paths (metres) of the real env and the model."""
    plt = _pyplot()
    names = list(result["predicted"])
    fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 4.2), squeeze=False)
    colors = plt.get_cmap("tab10").colors
    for ax, name in zip(axes[0], names):
        for i, command in enumerate(result["commands"]):
            real = result["real"][i] * scale
            pred = np.clip(result["predicted"][name][i] * scale, -100, 100)
            label = f"acc {command[0]:+.1f}, steer {command[1]:+.1f}"
            ax.plot(real[:, 0], real[:, 1], "-", color=colors[i % 10], label=label)
            ax.plot(pred[:, 0], pred[:, 1], "--", color=colors[i % 10])
        ax.plot(result["real"][0, 0, 0] * scale, result["real"][0, 0, 1] * scale, "ko")
        ax.set_title(name)
        ax.set_xlabel("x (m)")
        ax.set_ylabel("y (m)")
        ax.set_aspect("equal", "datalim")
    axes[0][0].legend(fontsize=7, loc="best")
    fig.suptitle(title)
    out = _save(fig, path)
    plt.close(fig)
    return out


def real_segments(task: Task, env, count: int, length: int, seed: int = 777,
                  action_repeat: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """Held-out real trajectories under random actions: states ``[T + 1, N, S]``, actions ``[T, N, A]``.

    Segments that end (crash, success, time limit) before ``length`` steps are dropped.
    """
    rng = np.random.default_rng(seed)
    low, high = np.array(task.low), np.array(task.high)
    states, actions = [], []
    attempt = 0
    while len(states) < count and attempt < 20 * count:
        raw, _ = env.reset(seed=seed + attempt)
        attempt += 1
        # A few random steps first, so segments start from moving states too.
        ok = True
        for _ in range(int(rng.integers(0, 10))):
            raw, _, terminated, truncated, _ = env.step(rng.uniform(low, high).astype(np.float32))
            ok = ok and not (terminated or truncated)
        path, acts = [task.split(raw)[0]], []
        for t in range(length):
            if t % action_repeat == 0:
                action = rng.uniform(low, high).astype(np.float32)
            raw, _, terminated, truncated, info = env.step(action)
            path.append(task.split(raw)[0])
            acts.append(action)
            if (terminated or truncated) and t < length - 1:
                ok = False
                break
            if info.get("crashed", False):
                ok = False
                break
        if ok:
            states.append(np.stack(path))
            actions.append(np.stack(acts))
    if not states:
        raise RuntimeError("no complete held-out segment could be collected")
    return (torch.from_numpy(np.stack(states, 1)).float(), torch.from_numpy(np.stack(actions, 1)).float())


def compounding_error(models: dict[str, Any], states: torch.Tensor, actions: torch.Tensor,
                      position_dims: Sequence[int] = (), position_scale: float = 1.0) -> dict[str, Any]:
    """Each model's open-loop error by imagined step against real ``states`` under ``actions``.

    ``rmse``: root mean squared error over features, each divided by the real states' std;
    ``position_error``: mean Euclidean error of ``position_dims`` times ``position_scale``.
    """
    std = states.reshape(-1, states.shape[-1]).std(0).clamp_min(1e-6)
    out: dict[str, Any] = {"steps": list(range(1, actions.shape[0] + 1)), "segments": states.shape[1], "models": {}}
    for name, model in models.items():
        pred = rollout(model, states[0], actions)[1:]
        err = (pred - states[1:]) / std
        row = {"rmse": err.pow(2).mean((1, 2)).sqrt().tolist()}
        if position_dims:
            d = (pred[..., list(position_dims)] - states[1:, :, list(position_dims)]) * position_scale
            row["position_error"] = d.norm(dim=-1).mean(1).tolist()
        out["models"][name] = row
    return out


def plot_error_curves(curves: dict[str, Any], path: str | Path, key: str = "position_error",
                      ylabel: str = "mean position error (m)") -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for name, row in curves["models"].items():
        values = row.get(key, row["rmse"])
        ax.plot(curves["steps"], values, marker=".", label=name)
    ax.set_xlabel("imagined steps (open loop)")
    ax.set_ylabel(ylabel if key in next(iter(curves["models"].values())) else "normalised RMSE")
    ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title(f"compounding error over {curves['segments']} held-out random segments")
    out = _save(fig, path)
    plt.close(fig)
    return out


def save_episode_gif(frames: Sequence[np.ndarray], path: str | Path, frame_ms: int = 100,
                     hold_last_ms: int = 1000, every: int = 1, max_side: int = 400) -> Path:
    """A GIF of rendered RGB frames (every ``every``-th, the last one held)."""
    from PIL import Image

    if not frames:
        raise ValueError("a GIF needs at least one frame")
    picked = list(frames[::every])
    if len(frames) > 1 and (len(frames) - 1) % every:
        picked.append(frames[-1])
    images = []
    for frame in picked:
        image = Image.fromarray(np.asarray(frame, dtype=np.uint8))
        ratio = max_side / max(image.size)
        if ratio < 1:
            image = image.resize((int(image.size[0] * ratio), int(image.size[1] * ratio)))
        images.append(image.convert("P", palette=Image.Palette.ADAPTIVE))
    durations = [frame_ms] * (len(images) - 1) + [hold_last_ms]
    path = Path(path)
    with atomic_write(path) as f:
        images[0].save(f, format="GIF", save_all=True, append_images=images[1:], duration=durations, loop=0)
    return path
