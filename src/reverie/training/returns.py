"""n-step returns and GAE(lambda) advantages for batched rollouts, as pure functions.

A rollout of ``T`` steps over ``N`` envs is a set of ``[T, N]`` tensors: ``rewards[t]`` is the
reward of the step taken from the observation whose value is ``values[t]``; ``terminated[t]``
and ``truncated[t]`` say how that step ended its episode (never both). ``bootstrap`` ``[N]``
is the value of the observation after the last step.

How an episode ended decides what follows its last reward:

- **terminated** (the game is over, e.g. the last box reached its target): nothing follows,
  the return stops at the reward;
- **truncated** (the step cap cut the game short): the game could have gone on, so the return
  bootstraps from the value of the episode's *last* observation, ``final_values[t]``; the env
  has already reset by then (same-step auto-reset), so that value is not ``values[t + 1]``;
- otherwise the next observation in the rollout follows, ``values[t + 1]`` (``bootstrap`` for
  the last step).

Every function loops over the ``T`` time steps only; all envs of a step are one tensor op.
"""

from __future__ import annotations

import torch

__all__ = ["next_values", "n_step_returns", "gae_advantages", "returns_and_advantages"]


def _check(rewards: torch.Tensor, values: torch.Tensor, bootstrap: torch.Tensor,
           terminated: torch.Tensor, truncated: torch.Tensor,
           final_values: torch.Tensor | None) -> None:
    if rewards.dim() != 2:
        raise ValueError(f"rewards must be [T, N], got shape {tuple(rewards.shape)}")
    for name, tensor in (("values", values), ("terminated", terminated), ("truncated", truncated)):
        if tensor.shape != rewards.shape:
            raise ValueError(f"{name} has shape {tuple(tensor.shape)}, expected {tuple(rewards.shape)}")
    if final_values is not None and final_values.shape != rewards.shape:
        raise ValueError(f"final_values has shape {tuple(final_values.shape)}, expected {tuple(rewards.shape)}")
    if bootstrap.shape != rewards.shape[1:]:
        raise ValueError(f"bootstrap has shape {tuple(bootstrap.shape)}, expected {tuple(rewards.shape[1:])}")


def next_values(values: torch.Tensor, bootstrap: torch.Tensor, terminated: torch.Tensor,
                truncated: torch.Tensor, final_values: torch.Tensor | None = None) -> torch.Tensor:
    """``[T, N]``: the value that follows each step's reward (see the module docstring).

    ``final_values`` may be ``None`` when no episode was truncated (then truncation is treated
    like termination, which is only right for envs without a step cap).
    """
    following = torch.cat([values[1:], bootstrap.unsqueeze(0)], dim=0)
    ended = terminated | truncated
    cut = torch.zeros_like(following) if final_values is None else torch.where(
        truncated, final_values, torch.zeros_like(following))
    return torch.where(ended, cut, following)


def n_step_returns(rewards: torch.Tensor, values: torch.Tensor, bootstrap: torch.Tensor,
                   terminated: torch.Tensor, truncated: torch.Tensor,
                   final_values: torch.Tensor | None = None, gamma: float = 0.99) -> torch.Tensor:
    """``[T, N]`` discounted returns, each bootstrapped at the rollout's end or its episode's end.

    ``R[t] = r[t] + gamma * R[t + 1]`` inside an episode; at a terminated step ``R[t] = r[t]``;
    at a truncated step ``R[t] = r[t] + gamma * final_values[t]``; after the last step
    ``R[T] = bootstrap``. ``values`` only matters through its shape here (kept in the
    signature so the n-step and GAE forms are called alike).
    """
    _check(rewards, values, bootstrap, terminated, truncated, final_values)
    ended = terminated | truncated
    cut = torch.zeros_like(rewards) if final_values is None else torch.where(
        truncated, final_values, torch.zeros_like(rewards))
    returns = torch.empty_like(rewards)
    running = bootstrap
    for t in range(rewards.shape[0] - 1, -1, -1):
        running = rewards[t] + gamma * torch.where(ended[t], cut[t], running)
        returns[t] = running
    return returns


def gae_advantages(rewards: torch.Tensor, values: torch.Tensor, bootstrap: torch.Tensor,
                   terminated: torch.Tensor, truncated: torch.Tensor,
                   final_values: torch.Tensor | None = None, gamma: float = 0.99,
                   gae_lambda: float = 0.95) -> torch.Tensor:
    """``[T, N]`` generalised advantage estimates (Schulman et al. 2016).

    ``delta[t] = r[t] + gamma * next_value[t] - values[t]`` and
    ``A[t] = delta[t] + gamma * lambda * A[t + 1]``, where the sum stops at any episode end
    (terminated or truncated). ``lambda = 1`` gives the n-step advantage
    ``n_step_returns(...) - values``; ``lambda = 0`` the one-step TD error.
    """
    _check(rewards, values, bootstrap, terminated, truncated, final_values)
    deltas = rewards + gamma * next_values(values, bootstrap, terminated, truncated, final_values) - values
    carry = (gamma * gae_lambda) * (~(terminated | truncated)).to(rewards.dtype)
    advantages = torch.empty_like(rewards)
    running = torch.zeros_like(bootstrap)
    for t in range(rewards.shape[0] - 1, -1, -1):
        running = deltas[t] + carry[t] * running
        advantages[t] = running
    return advantages


def returns_and_advantages(rewards: torch.Tensor, values: torch.Tensor, bootstrap: torch.Tensor,
                           terminated: torch.Tensor, truncated: torch.Tensor,
                           final_values: torch.Tensor | None = None, gamma: float = 0.99,
                           gae_lambda: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(returns, advantages)``, both ``[T, N]``: the value target and the policy-gradient weight.

    ``gae_lambda=None`` uses plain n-step returns (A2C as in the A3C paper) and advantages
    ``returns - values``; a number uses GAE(lambda) advantages and ``advantages + values`` as
    the value target (the lambda-return).
    """
    if gae_lambda is None:
        returns = n_step_returns(rewards, values, bootstrap, terminated, truncated, final_values, gamma)
        return returns, returns - values
    if not 0.0 <= gae_lambda <= 1.0:
        raise ValueError(f"gae_lambda must be in [0, 1], got {gae_lambda}")
    advantages = gae_advantages(rewards, values, bootstrap, terminated, truncated, final_values,
                                gamma, gae_lambda)
    return advantages + values, advantages
