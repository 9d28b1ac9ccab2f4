"""What an actor-critic policy is to reverie's trainer, and the registry of agent names.

A policy is any ``torch.nn.Module`` whose ``forward(obs)`` returns ``(logits [B, A], value [B])``
for a batch of observations. It may also define

    auxiliary_losses(obs, logits, value[, rollout]) -> dict[str, Tensor]

returning extra scalar losses (already weighted) computed on the same batch the trainer just
scored; the trainer adds them to its total loss and logs each one under its name. I2A's
policy distillation plugs in there, so the trainer never changes for a new agent. A hook
that declares a ``rollout`` parameter also gets the rollout's ``[T, N]`` tensors
(``actions``, ``rewards``, ...); a policy with a true ``needs_next_obs`` attribute finds
there ``next_obs`` too, each step's true next observation (an ended episode's last one,
not the reset that followed): what fine-tuning I2A's environment model learns from.

Agents are built by name for a world's spec: ``build_agent("standard", get_spec("sokoban-7x7-2"))``;
builders read the spec's observation shape and action count (I2A also its perfect model, default
model and rewards). ``build_agent("standard", (7, 7, 7), 5)`` still works for networks that need
no world: the shape and action count become an anonymous spec (:func:`anonymous_spec`). :func:`register_agent` adds names; the model-free
baselines register themselves in :mod:`reverie.agents.networks`, and modules listed in
:data:`AGENT_MODULES` are imported on first use so their names exist before any lookup.
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass
from typing import Any, Callable, Protocol, runtime_checkable

import torch
from torch import nn

from ..core.errors import ReverieError
from ..envs.spec import ActionSpec, EnvSpec, ObsSpec, RewardSpec

__all__ = [
    "ActorCriticPolicy", "AgentSpec", "register_agent", "build_agent", "agent_names", "agent_spec",
    "auxiliary_losses", "sample_actions", "greedy_actions", "count_parameters", "AGENT_MODULES", "anonymous_spec",
]


@runtime_checkable
class ActorCriticPolicy(Protocol):
    """The trainer's view of a policy (any ``nn.Module`` with this ``forward``)."""

    def __call__(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        ...


def auxiliary_losses(policy: nn.Module, obs: torch.Tensor, logits: torch.Tensor, value: torch.Tensor,
                     rollout: dict[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
    """The policy's extra losses on this batch (``{}`` when it defines none), checked.

    ``rollout`` reaches the hook only if the hook has a ``rollout`` parameter."""
    hook = getattr(policy, "auxiliary_losses", None)
    if hook is None:
        return {}
    if rollout is not None and "rollout" in inspect.signature(hook).parameters:
        losses = hook(obs, logits, value, rollout=rollout)
    else:
        losses = hook(obs, logits, value)
    if not isinstance(losses, dict):
        raise TypeError(f"{type(policy).__name__}.auxiliary_losses must return a dict of scalar tensors")
    for name, loss in losses.items():
        if not isinstance(loss, torch.Tensor) or loss.dim() != 0:
            raise TypeError(f"auxiliary loss {name!r} must be a scalar tensor")
    return losses


def sample_actions(logits: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """One action per row, drawn from ``softmax(logits)`` with ``generator`` (reproducible)."""
    probs = torch.softmax(logits.float(), dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(1)


def greedy_actions(logits: torch.Tensor) -> torch.Tensor:
    """The most likely action of each row (the lowest index on ties)."""
    return logits.argmax(dim=-1)


def count_parameters(module: nn.Module) -> int:
    """Trainable parameters of ``module``."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


# -- registry ------------------------------------------------------------------------------

#: Modules that register agents when imported.
AGENT_MODULES: list[str] = ["reverie.agents.networks", "reverie.agents.i2a"]

Builder = Callable[..., nn.Module]


@dataclass(frozen=True)
class AgentSpec:
    """A registered agent: its builder ``(spec: EnvSpec, **options) -> nn.Module``."""

    name: str
    builder: Builder
    description: str

    def options(self) -> list[str]:
        """The keyword options the builder accepts beyond the spec."""
        parameters = list(inspect.signature(self.builder).parameters.values())[1:]
        return [p.name for p in parameters if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)]


_AGENTS: dict[str, AgentSpec] = {}
_loaded = False


def register_agent(name: str, builder: Builder, description: str = "", replace: bool = False) -> None:
    """Make ``build_agent(name, ...)`` call ``builder``; names are unique unless ``replace``."""
    if name in _AGENTS and not replace and _AGENTS[name].builder is not builder:
        raise ValueError(f"agent {name!r} is registered already")
    _AGENTS[name] = AgentSpec(name, builder, description)


def _load_modules() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        for module in AGENT_MODULES:
            importlib.import_module(module)


def agent_names() -> list[str]:
    """Every registered agent name, sorted."""
    _load_modules()
    return sorted(_AGENTS)


def agent_spec(name: str) -> AgentSpec:
    """The spec of agent ``name``; a :class:`ReverieError` listing the known names if unknown."""
    _load_modules()
    if name not in _AGENTS:
        raise ReverieError(f"unknown agent {name!r}; known agents: {', '.join(sorted(_AGENTS))}")
    return _AGENTS[name]


def _no_env(spec: EnvSpec, *args: Any, **options: Any):
    raise ReverieError(f"{spec.id} was made from a shape alone: it has no env to play")


def anonymous_spec(obs_shape: tuple[int, ...], num_actions: int) -> EnvSpec:
    """A world-free spec for building networks from a shape and an action count: ``vector``
    observations for ``[D]``, else ``binary`` planes; no env, perfect model or default model."""
    shape = tuple(int(s) for s in obs_shape)
    return EnvSpec(id=f"shape{list(shape)}", description="observations of a shape, no world",
                   observation=ObsSpec("vector" if len(shape) == 1 else "binary", shape),
                   actions=ActionSpec(int(num_actions)), rewards=RewardSpec(), make=_no_env,
                   extra={"anonymous": True})


def build_agent(name: str, spec: EnvSpec | tuple[int, ...], num_actions: int | None = None,
                **options: Any) -> nn.Module:
    """Build agent ``name`` for the world ``spec`` describes, or for observations of shape
    ``spec`` (a tuple, channels first) and ``num_actions`` (see :func:`anonymous_spec`)."""
    if not isinstance(spec, EnvSpec):
        if num_actions is None:
            raise ReverieError(f"build_agent({name!r}, shape, num_actions): an observation shape needs the "
                               f"number of actions")
        spec = anonymous_spec(tuple(spec), num_actions)
    elif num_actions is not None and int(num_actions) != spec.num_actions:
        raise ReverieError(f"{spec.id} has {spec.num_actions} actions, not {num_actions}")
    agent = agent_spec(name)
    accepted = agent.options()
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ReverieError(
            f"agent {name!r} takes no option {', '.join(map(repr, unknown))}; "
            f"its options: {', '.join(accepted) or 'none'}"
        )
    return agent.builder(spec, **options)
