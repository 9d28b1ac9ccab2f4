"""The rules as an environment model of the vector id: ``step(obs, action) -> (next_obs, reward, done)``.

Why only for ``pendulum``: a vector observation holds the whole state (the angle from its cos
and sin, the speed), so the rules step it exactly; one frame of ``pendulum-pixels`` holds no
speed, so that id has no perfect model. ``done`` is always False (episodes end by truncation)."""

from __future__ import annotations

import torch

from . import rules
from .env import checked_torques

__all__ = ["PendulumRules"]


class PendulumRules:
    def __init__(self, spec=None) -> None:
        self.spec = spec

    def step(self, obs: torch.Tensor, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``obs [B, 3]``, torques ``[B, 1]`` -> next observations, rewards ``[B]`` float32, done ``[B]`` bool."""
        theta = torch.atan2(obs[:, 1].double(), obs[:, 0].double())
        torque = checked_torques(action, obs.shape[0], obs.device)
        theta, speed, reward = rules.step(theta, obs[:, 2].double(), torque)
        done = torch.zeros(obs.shape[0], dtype=torch.bool, device=obs.device)
        return rules.observe(theta, speed).to(obs.dtype), reward.float(), done
