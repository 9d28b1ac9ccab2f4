"""Agents: actor-critic policies built by name (``standard``, ``large``, ``i2a`` and its variants)."""

from .actor_critic import (
    ActorCriticPolicy,
    agent_names,
    agent_spec,
    auxiliary_losses,
    build_agent,
    count_parameters,
    greedy_actions,
    register_agent,
    sample_actions,
)

__all__ = [
    "ActorCriticPolicy", "agent_names", "agent_spec", "auxiliary_losses", "build_agent",
    "count_parameters", "greedy_actions", "register_agent", "sample_actions",
]
