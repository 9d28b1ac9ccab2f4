"""What a trained agent lends a planner: a policy prior and a value (PUCT), or a rollout policy.

Planners search over cell codes (see :mod:`.code_model`); these wrappers turn the codes of
a batch of states into the agent's observations and read its outputs, all rows at once.
A guide never counts as imagination: it scores states, it does not step a model (the I2A
paper's budgets count model steps only, and so do reverie's).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ..core.errors import ReverieError
from ..models.base import codes_to_planes

__all__ = ["AgentGuide", "RolloutGuide", "load_agent_guide", "load_rollout_guide"]


class AgentGuide:
    """``(codes [K, H*W]) -> (log prior [K, A], value [K])`` from an actor-critic policy."""

    def __init__(self, policy: nn.Module, height: int, width: int) -> None:
        self.policy, self.height, self.width = policy.eval(), height, width

    @torch.no_grad()
    def __call__(self, codes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits, value = self.policy(codes_to_planes(codes.view(-1, self.height, self.width)))
        return torch.log_softmax(logits.double(), -1).float(), value.float()


class RolloutGuide:
    """``(codes [K, H*W]) -> action logits [K, A]``: the policy that acts inside imagined rollouts."""

    def __init__(self, policy: nn.Module, height: int, width: int) -> None:
        self.policy, self.height, self.width = policy.eval(), height, width

    @torch.no_grad()
    def __call__(self, codes: torch.Tensor) -> torch.Tensor:
        out = self.policy(codes_to_planes(codes.view(-1, self.height, self.width)))
        return (out[0] if isinstance(out, tuple) else out).float()


def _load(run_dir: str | Path, shape: tuple[int, int]):
    from ..training.runs import load_run

    run = load_run(run_dir, device="cpu")
    obs_shape = tuple(run.env_info["obs_shape"])
    if run.config.observation != "symbolic" or len(obs_shape) != 3:
        raise ReverieError(f"{run_dir}: planners need an agent trained on symbolic observations")
    if tuple(obs_shape[1:]) != tuple(shape):
        raise ReverieError(f"{run_dir}: the agent was trained on {obs_shape[1]}x{obs_shape[2]} levels, "
                           f"these levels are {shape[0]}x{shape[1]}")
    return run


def load_agent_guide(run_dir: str | Path, shape: tuple[int, int]) -> AgentGuide:
    """The prior and value of a run's latest checkpoint, for levels of ``shape`` (H, W)."""
    return AgentGuide(_load(run_dir, shape).policy, *shape)


def load_rollout_guide(run_dir: str | Path, shape: tuple[int, int]) -> RolloutGuide:
    """An I2A run's distilled rollout policy (any other run: the agent's own policy)."""
    policy = _load(run_dir, shape).policy
    return RolloutGuide(getattr(policy, "rollout_policy", policy), *shape)
