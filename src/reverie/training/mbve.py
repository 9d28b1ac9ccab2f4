"""Critic targets with H-step model expansion (MVE, Feinberg et al. 2018); H = 0 is the plain target.

Why: a one-step target ``r + gamma V(s')`` leans entirely on the critic's guess at ``s'``.
Rolling a learned model ``H`` steps from ``s'`` with the learner's own policy and only then
bootstrapping puts ``H`` more rewards into the target, where the model is trusted:

    y = r + sum_{i=1..H} gamma^i m_i (r_i + b_i) + gamma^{H+1} m_{H+1} V(s_{H+1})

with ``m_i`` the product of ``(1 - done)`` flags so far and ``b_i`` the policy's bonus at
imagined step ``i`` (SAC's ``-alpha log pi``; 0 for NAF). Every row of the batch is
expanded at once; nothing loops over transitions.
"""

from __future__ import annotations

from typing import Callable

import torch

StepFn = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor, torch.Tensor]]
PolicyFn = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
ValueFn = Callable[[torch.Tensor], torch.Tensor]


@torch.no_grad()
def expanded_target(reward: torch.Tensor, done: torch.Tensor, next_obs: torch.Tensor, gamma: float, horizon: int,
                    step: StepFn | None, policy: PolicyFn, value: ValueFn) -> torch.Tensor:
    """The H-step target of transitions ``(s, a, reward, next_obs, done)`` (see the module docstring).

    ``step(obs, action) -> (next_obs, reward, done)`` is the model; ``policy(obs) -> (action,
    bonus)``; ``value(obs) -> V``. With ``horizon`` 0 the model is not called."""
    target = reward.float().clone()
    discount = gamma * (1.0 - done.float())
    obs = next_obs
    for _ in range(horizon):
        assert step is not None, "a model expansion needs a model"
        action, bonus = policy(obs)
        obs, r, d = step(obs, action)
        target = target + discount * (r + bonus)
        discount = discount * gamma * (1.0 - d.float())
    return target + discount * value(obs)
