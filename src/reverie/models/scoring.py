"""One-step scores of an environment model on transition data: exact next frames and
reward classes (what fitting validates with and ``reverie model evaluate`` reports).

It needs only the model's ``step`` and the dataset's spec (codec, reward classes, and the
world's ``extra["scored_apart"]`` hook), so any world's models are scored by the same code.
"""

from __future__ import annotations

from typing import Any

import torch

from ..envs.spec import RewardClasses
from .base import EnvironmentModel

__all__ = ["class_names", "predicted_classes", "one_step"]


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
