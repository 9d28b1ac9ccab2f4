"""One-step scores of an environment model on transition data: exact next frames and
reward classes, or, in worlds with events, event counts and every task's reward (what
fitting validates with and ``reverie model evaluate`` reports).

It needs only the model's ``step`` (and, for event scores, ``predict_events``) and the
dataset's spec (codec, reward classes or events and tasks, and the world's
``extra["scored_apart"]`` hook), so any world's models are scored by the same code.
"""

from __future__ import annotations

from typing import Any

import torch

from ..envs.spec import RewardClasses
from .base import EnvironmentModel

__all__ = ["class_names", "predicted_classes", "one_step", "one_step_events", "cells_correct"]


def class_names(spec: Any) -> tuple[str, ...]:
    """The reward classes' names: their values, signed (Sokoban: -0.1, +0.9, -1.1, +10.9)."""
    return tuple(f"{round(v, 4):+g}" for v in spec.rewards.classes)


def predicted_classes(reward: torch.Tensor, classes: RewardClasses) -> torch.Tensor:
    """Imagined rewards -> reward class, or ``K`` ("other") for values that are no class."""
    index = classes.to_classes(reward)
    off = (classes.to_values(index) - reward.float()).abs() > classes.tolerance
    return torch.where(off, torch.full_like(index, len(classes)), index)


@torch.no_grad()
def one_step(model: EnvironmentModel, dataset: Any, batch_size: int = 4096) -> dict[str, Any]:
    """Exact next-frame rate, per-cell accuracy, reward-class accuracy and confusion.

    ``dataset`` is a :class:`~reverie.data.dataset.TransitionDataset`; its spec gives the
    codec and the reward classes. The confusion matrix has true classes as rows and
    predicted classes as columns, plus a last column for imagined rewards that match no
    class (e.g. the no-reward model's 0). Transitions the world's ``extra["scored_apart"]``
    hook names (Sokoban: ``push``, frames where a box moved) are also scored apart, since
    they are the hard, rare cases.
    """
    spec = dataset.spec
    if spec.rewards.events and getattr(dataset, "events", None) is not None:
        return one_step_events(model, dataset, batch_size)
    codec, classes = spec.observation, spec.rewards.reward_classes
    apart_name, apart = spec.extra.get("scored_apart", (None, None))
    k = len(classes)
    frames = exact = pushes = push_exact = 0
    cells_correct = 0.0
    confusion = torch.zeros(k, k + 1, dtype=torch.long)
    for batch in dataset.batches(batch_size):
        next_obs, reward, _ = model.step(batch["obs"], batch["action"])
        correct = codec.encode(next_obs) == batch["next_codes"]
        frame_ok = correct.flatten(1).all(1)
        frames += len(frame_ok)
        exact += int(frame_ok.sum())
        cells_correct += float(correct.flatten(1).float().mean(1).sum())
        if apart is not None:
            moved = apart(batch["codes"], batch["next_codes"], batch["action"])
            pushes += int(moved.sum())
            push_exact += int((frame_ok & moved).sum())
        pair = batch["reward_class"] * (k + 1) + predicted_classes(reward, classes)
        confusion += torch.bincount(pair.cpu(), minlength=k * (k + 1)).view(k, k + 1)
    per_class = {}
    for i, name in enumerate(class_names(spec)):
        total = int(confusion[i].sum())
        per_class[name] = {"count": total, "accuracy": float(confusion[i, i]) / total if total else None}
    result = {
        "frames": frames,
        "exact_frame_accuracy": exact / max(frames, 1),
        "cell_accuracy": cells_correct / max(frames, 1),
        "reward_accuracy": float(confusion.diagonal().sum()) / max(frames, 1),
        "reward_class_accuracy": per_class,
        "reward_confusion": confusion.tolist(),
    }
    if apart is not None:
        result[f"{apart_name}_frames"] = pushes
        result[f"{apart_name}_exact_frame_accuracy"] = push_exact / pushes if pushes else None
    return result


def cells_correct(codec: Any, predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Which cells of compact frames ``[B, ...]`` agree: for plane kinds (``binary``,
    ``rgb``: ``[B, C, H, W]``) a cell is right when every plane is, ``[B, H, W]``; other
    kinds compare element by element."""
    correct = predicted == target
    return correct.all(1) if codec.kind in ("binary", "rgb") else correct


@torch.no_grad()
def one_step_events(model: EnvironmentModel, dataset: Any, batch_size: int = 4096) -> dict[str, Any]:
    """One-step scores in a world with events: per-cell accuracy (the quantised prediction
    equals the target cell in every plane), exact-frame rate, the accuracy of each event's
    count and of all counts at once (``events_exact``), and, for each task of the spec, the
    share of transitions whose predicted events . weights equals the true events . weights.
    ``reward_accuracy`` is the step reward against the stored reward (the data's task).

    Models without ``predict_events`` (copy, perfect) are scored on frames and the data's
    task reward only.
    """
    spec = dataset.spec
    codec, rewards = spec.observation, spec.rewards
    predict = getattr(model, "predict_events", None)
    names = rewards.events
    weights = {task: torch.tensor(w, dtype=torch.float32) for task, w in rewards.tasks.items()}
    frames = exact = reward_ok = all_events = 0
    cells = 0.0
    per_event = torch.zeros(len(names), dtype=torch.long)
    occurs = torch.zeros(len(names), dtype=torch.long)
    occurs_ok = torch.zeros(len(names), dtype=torch.long)
    per_task = {task: 0 for task in weights}
    for batch in dataset.batches(batch_size):
        next_obs, reward, _ = model.step(batch["obs"], batch["action"])
        correct = cells_correct(codec, codec.encode(next_obs), batch["next_codes"].to(torch.uint8))
        frame_ok = correct.flatten(1).all(1)
        frames += len(frame_ok)
        exact += int(frame_ok.sum())
        cells += float(correct.flatten(1).float().mean(1).sum())
        reward_ok += int(((reward.float() - batch["reward"].float()).abs() < 1e-4).sum())
        if callable(predict):
            true = batch["events"].long().cpu()
            guess = predict(batch["obs"], batch["action"]).long().cpu()
            right = guess == true
            per_event += right.sum(0)
            occurs += (true > 0).sum(0)
            occurs_ok += (right & (true > 0)).sum(0)
            all_events += int(right.all(1).sum())
            for task, w in weights.items():
                per_task[task] += int(((guess.float() @ w - true.float() @ w).abs() < 1e-4).sum())
    n = max(frames, 1)
    result: dict[str, Any] = {
        "frames": frames,
        "exact_frame_accuracy": exact / n,
        "cell_accuracy": cells / n,
        "reward_accuracy": reward_ok / n,
    }
    if callable(predict):
        result["events_exact"] = all_events / n
        result["event_accuracy"] = {name: {"accuracy": float(per_event[i]) / n, "occurs": int(occurs[i]),
                                           "accuracy_when_occurs": (float(occurs_ok[i]) / int(occurs[i])
                                                                    if int(occurs[i]) else None)}
                                    for i, name in enumerate(names)}
        result["task_reward_accuracy"] = {task: count / n for task, count in per_task.items()}
    return result
