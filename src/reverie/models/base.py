"""What every environment model shares: the interface and the action encodings.

An environment model maps a batch of states and actions to next states, rewards and episode
ends (see DESIGN.md, "The spine"). For an observation model (the grid, perfect, copy and
vector models) the state *is* the observation; a latent model (VAE + MDN-RNN, RSSM) keeps a
state of its own, made from observations by ``encode`` and drawn back by ``decode``. Agents
and planners only call ``step`` (and, for latent models, ``encode``/``decode`` through
:func:`initial_state` and :func:`observe`), so every model is interchangeable.

Reward classes, codecs and everything else a model needs to know about its world come from
the world's :class:`~reverie.envs.spec.EnvSpec`; nothing here is specific to one world.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import torch

from ..envs.spec import RewardClasses, codes_to_planes, planes_to_codes

__all__ = ["EnvironmentModel", "LatentModel", "RewardClasses", "initial_state", "step_every_action", "observe", "action_planes",
           "action_onehot", "codes_to_planes", "planes_to_codes", "no_episode_end"]


@runtime_checkable
class EnvironmentModel(Protocol):
    """Batched dynamics: ``state [B, ...]``, ``action [B]`` -> ``(next_state, reward [B], done [B] bool)``.

    Implementations run whole-batch tensor operations (no Python loop over the batch) and
    never synchronise with the host inside ``step``, so imagination stays on the device.
    Optional: ``spec`` (the EnvSpec modelled), ``loss(batch)`` (fitting), and for exact
    models ``step_compact(compact, action)`` on the spec codec's compact states (search's
    fast path).
    """

    def step(self, state: Any, action: torch.Tensor) -> tuple[Any, torch.Tensor, torch.Tensor]:
        ...


@runtime_checkable
class LatentModel(EnvironmentModel, Protocol):
    """A model with a state of its own: ``encode`` observations into it, ``decode`` it back."""

    def encode(self, obs: torch.Tensor, state: Any = None) -> Any:
        ...

    def decode(self, state: Any) -> torch.Tensor:
        ...


def initial_state(model: Any, obs: torch.Tensor) -> Any:
    """The state ``model`` imagines from, given real observations (the observation itself
    for observation models)."""
    encode = getattr(model, "encode", None)
    return encode(obs) if callable(encode) and callable(getattr(model, "decode", None)) else obs


def step_every_action(model: Any, obs: torch.Tensor, num_actions: int) -> tuple[Any, torch.Tensor, torch.Tensor]:
    """One imagined step of every action from each real observation ``[B, ...]``: rows
    ``b * A + a`` take action ``a`` from observation ``b`` (I2A's forced first actions, a
    search's expansion). A model may offer ``step_every_action(obs)`` that shares the work
    the ``A`` rows of one observation have in common; otherwise each observation is
    repeated ``A`` times and stepped."""
    shared = getattr(model, "step_every_action", None)
    if callable(shared) and getattr(model, "num_actions", num_actions) == num_actions:
        return shared(obs)
    state = initial_state(model, obs.repeat_interleave(num_actions, dim=0))
    return model.step(state, torch.arange(num_actions, device=obs.device).repeat(obs.shape[0]))


def observe(model: Any, state: Any) -> torch.Tensor:
    """What an imagined state looks like (the state itself for observation models)."""
    decode = getattr(model, "decode", None)
    return decode(state) if callable(decode) and callable(getattr(model, "encode", None)) else state


def no_episode_end(batch: int, device: torch.device | str) -> torch.Tensor:
    """``done`` for models that never predict an episode end."""
    return torch.zeros(batch, dtype=torch.bool, device=device)


def action_planes(action: torch.Tensor, height: int, width: int, num_actions: int,
                  dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Actions ``[B]`` broadcast as one-hot planes ``[B, num_actions, H, W]``.

    Plane ``a`` is all ones where the action is ``a`` and zeros elsewhere: the way the I2A
    environment model sees the action, everywhere at once.
    """
    return action_onehot(action, num_actions, dtype)[:, :, None, None].expand(-1, -1, height, width)


def action_onehot(action: torch.Tensor, num_actions: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Actions ``[B]`` -> one-hot ``[B, num_actions]``.

    A comparison rather than ``F.one_hot``, which checks the value range on the host (a
    device synchronisation per imagined step on a GPU).
    """
    return (action.long()[:, None] == torch.arange(num_actions, device=action.device)).to(dtype)
