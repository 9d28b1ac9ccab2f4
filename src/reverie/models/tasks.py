"""What the models that predict events share: a bound task, and a step's reward and end from counts.

A frame or pixel model predicts per-step event counts; the task it imagines for is a vector of
event weights (reward = counts . weights), bound when the model is checked against an env spec.
"""

from __future__ import annotations

import torch

from ..core.errors import ReverieError

__all__ = ["TaskBinding"]


class TaskBinding:
    """Mixin for ``nn.Module`` models with ``config.events``, a ``weights`` buffer, a ``terminal``
    buffer (the indices of the events that end an episode) and a first parameter on the model's device."""

    task: str | None

    def bind(self, weights, task: str | None = None):
        """Imagine rewards of the task with event ``weights`` ``[E]`` from now on."""
        weights = torch.as_tensor(weights, dtype=torch.float32).flatten()
        if weights.numel() != len(self.config.events):
            raise ReverieError(f"task weights have {weights.numel()} entries for {len(self.config.events)} events")
        self.weights = weights.to(next(self.parameters()).device)
        self.task = task or "custom"
        return self

    def require_task(self) -> None:
        """A one-line error unless a task is bound (imagined rewards would be meaningless)."""
        if self.task is None:
            raise ReverieError(f"this {type(self).__name__} has no task bound: check it against an env spec first "
                               "(model.check_spec(spec), or load/resolve it with spec=...)")

    def reward_and_done(self, counts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Counts ``[B, E]`` -> the bound task's reward ``[B]`` and whether a terminal event happened."""
        self.require_task()
        reward = counts.float() @ self.weights.float()
        if not self.terminal.numel():
            return reward, torch.zeros(len(counts), dtype=torch.bool, device=counts.device)
        return reward, (counts[:, self.terminal] > 0).any(1)
