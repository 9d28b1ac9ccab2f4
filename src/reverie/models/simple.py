"""The copy model: the I2A paper's baseline showing that gains come from the model's
predictions, not from the extra network capacity. It fits every world."""

from __future__ import annotations

import torch

from .base import no_episode_end

__all__ = ["CopyModel"]


class CopyModel:
    """Returns its input observation unchanged and a constant reward (zero by default).

    The observation is returned as is, not copied: callers that write into it in place
    should copy it themselves.
    """

    def __init__(self, reward: float = 0.0) -> None:
        self.reward = float(reward)

    def __repr__(self) -> str:
        return f"CopyModel(reward={self.reward})"

    def step(self, obs: torch.Tensor, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return (obs, torch.full((obs.shape[0],), self.reward, dtype=torch.float32, device=obs.device),
                no_episode_end(obs.shape[0], obs.device))
