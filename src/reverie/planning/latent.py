"""Planning in a latent model's state space (PlaNet): the CEM planner over an RSSM's prior.

:class:`~reverie.planning.cem.CEMPlanner` plans from plain ``[N, S]`` state tensors. A latent
model's state is a :class:`~reverie.models.latent.LatentState` (``deter`` and ``stoch``), whose
features ``[deter, stoch]`` hold it whole, so :class:`FeatureModel` lets the planner search in
latent space unchanged: its state is the features, split back into ``deter`` and ``stoch`` at
each step. Rewards are the model's own (the reward head), as PlaNet plans.
"""

from __future__ import annotations

import torch

from ..models.latent.rssm import LatentState

__all__ = ["FeatureModel"]


class FeatureModel:
    """``step(features [B, D + S], action) -> (next features, reward, done)`` over a latent model
    whose ``step`` takes and returns :class:`LatentState` (``deter``: the first ``deter_size``
    features). ``sample``: draw the prior's latents (PlaNet) instead of taking their mode."""

    def __init__(self, model, deter_size: int, sample: bool = False) -> None:
        self.model, self.deter_size, self.sample = model, deter_size, sample

    def state(self, features: torch.Tensor) -> LatentState:
        return LatentState(features[:, :self.deter_size], features[:, self.deter_size:])

    @torch.no_grad()
    def step(self, features: torch.Tensor, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        nxt, reward, done = self.model.step(self.state(features), action, sample=self.sample)
        return nxt.features, reward, done
