"""What a trained agent lends a planner: a policy prior and a value (PUCT), or a rollout policy.

Planners search over compact states (see :mod:`.compact_model`); these wrappers decode a
batch of them into the agent's observations with the spec's codec and read its outputs, all
rows at once.
A guide never counts as imagination: it scores states, it does not step a model (the I2A
paper's budgets count model steps only, and so do reverie's).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ..core.errors import ReverieError
from ..envs.spec import ObsSpec

__all__ = ["AgentGuide", "RolloutGuide", "load_agent_guide", "load_rollout_guide"]


class AgentGuide:
    """``(states [K, N]) -> (log prior [K, A], value [K])`` from an actor-critic policy reading
    observations of ``observation`` (compact states decoded with its codec)."""

    def __init__(self, policy: nn.Module, observation: ObsSpec) -> None:
        self.policy, self.observation = policy.eval(), observation

    @torch.no_grad()
    def __call__(self, states: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits, value = self.policy(self.observation.decode(states.view(-1, *self.observation.compact_shape)))
        return torch.log_softmax(logits.double(), -1).float(), value.float()


class RolloutGuide:
    """``(states [K, N]) -> action logits [K, A]``: the policy that acts inside imagined rollouts."""

    def __init__(self, policy: nn.Module, observation: ObsSpec) -> None:
        self.policy, self.observation = policy.eval(), observation

    @torch.no_grad()
    def __call__(self, states: torch.Tensor) -> torch.Tensor:
        out = self.policy(self.observation.decode(states.view(-1, *self.observation.compact_shape)))
        return (out[0] if isinstance(out, tuple) else out).float()


def _load(run_dir: str | Path, spec):
    """The run's agent, refused (one line) unless it reads the observations ``spec`` searches."""
    from ..envs.registry import get_spec
    from ..training.runs import load_run

    run = load_run(run_dir, device="cpu")
    run_spec = getattr(run, "spec", None)
    if run_spec is None:
        observation = getattr(run.config, "observation", None)
        run_spec = get_spec(run.config.env, **({"observation": observation} if observation else {}))
    if run_spec.observation != spec.observation or run_spec.num_actions != spec.num_actions:
        raise ReverieError(f"{run_dir}: the agent reads {_shape(run_spec)} observations with {run_spec.num_actions} "
                           f"actions, the search has {_shape(spec)} ones with {spec.num_actions}")
    return run


def _shape(spec) -> str:
    return f"{spec.observation.kind} {'x'.join(map(str, spec.observation.shape))}"


def load_agent_guide(run_dir: str | Path, spec) -> AgentGuide:
    """The prior and value of a run's latest checkpoint, for searches in the world of ``spec``."""
    return AgentGuide(_load(run_dir, spec).policy, spec.observation)


def load_rollout_guide(run_dir: str | Path, spec) -> RolloutGuide:
    """An I2A run's distilled rollout policy (any other run: the agent's own policy)."""
    policy = _load(run_dir, spec).policy
    return RolloutGuide(getattr(policy, "rollout_policy", policy), spec.observation)
