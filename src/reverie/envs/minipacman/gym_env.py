"""MiniPacman behind Gymnasium: one game (``MiniPacmanEnv``) and a batch (``MiniPacmanGymVectorEnv``).

Both are the generic adapters of :mod:`reverie.envs.gym_spec` over the task's env id, with
MiniPacman's own arguments: observations are numpy float32 planes ``[3, 15, 19]`` (rgb) or
``[6, 15, 19]`` (symbolic) in [0, 1], channels first like the batched env; ``render()`` gives
an ``[120, 152, 3]`` uint8 picture. Options are the spec's (``observation``, ``max_steps``: the
frame cap, ``timer``, ``max_ghosts``) and are checked there: a bad one is a one-line
:class:`~reverie.core.errors.ReverieError`. Seeding, episode ids and same-step auto-reset are
the generic adapters' (see there).
"""

from __future__ import annotations

from typing import Any

import torch

from ...core.errors import ReverieError
from ..gym_spec import SpecGymEnv, SpecGymVectorEnv
from . import rules
from .spec import FRAME_CAP, MAX_GHOSTS, minipacman_spec

__all__ = ["MiniPacmanEnv", "MiniPacmanGymVectorEnv", "make_batched_env"]


def _env_id(task: str) -> str:
    if not isinstance(task, str) or task not in rules.TASKS:
        raise ReverieError(f"MiniPacman task must be one of {', '.join(rules.TASKS)}, got {task!r}")
    return f"minipacman-{task}"


def make_batched_env(task: str, split: str, num_envs: int, seed: int, device: torch.device | str,
                     observation: str, max_steps: int, timer: str, max_ghosts: int):
    """The batched env of a task under checked options (a one-line ``ReverieError`` otherwise)."""
    _env_id(task)
    spec = minipacman_spec(task)
    options = dict(observation=observation, max_steps=max_steps, timer=timer, max_ghosts=max_ghosts)
    return spec.make_env(split, num_envs, seed, device, **options)


class MiniPacmanEnv(SpecGymEnv):
    """One MiniPacman game (Gymnasium API).

    Args:
        task: ``regular``, ``avoid``, ``hunt``, ``ambush`` or ``rush``.
        observation: ``rgb`` (``[3, 15, 19]``, the paper's frame) or ``symbolic`` (``[6, 15, 19]``).
        max_steps: the frame cap (the episode is truncated there).
        timer: ``paper`` (hunt/ambush clear a level after 80 steps) or ``released`` (never).
        max_ghosts: ghost slots (the ghosts of levels up to ``2 * max_ghosts - 1``).
        split: whose episodes reset draws (``train``, ``valid``, ``test``).
        render_mode: None or ``rgb_array``.

    ``terminated``: the player was killed; ``truncated``: the frame cap. ``info``: ``events``
    (step, food, pill, ghost, killed counts; reward = events . the task's weights), ``level``,
    ``power`` (steps of power left), ``episode`` (the episode id being played).
    """

    def __init__(self, task: str = "regular", observation: str = "rgb", max_steps: int = FRAME_CAP,
                 timer: str = "paper", max_ghosts: int = MAX_GHOSTS, split: str = "train",
                 render_mode: str | None = None) -> None:
        super().__init__(_env_id(task), split, render_mode, observation=observation, max_steps=max_steps,
                         timer=timer, max_ghosts=max_ghosts)
        self.task = task

    def extra_info(self) -> dict[str, Any]:
        state = self.env.state
        return {"level": int(state.level[0]), "power": int(state.power[0])}


class MiniPacmanGymVectorEnv(SpecGymVectorEnv):
    """``num_envs`` MiniPacman games stepped as one batch (Gymnasium vector API, numpy out).

    Takes :class:`MiniPacmanEnv`'s arguments and ``num_envs``, ``device`` (where the batch
    lives; outputs are numpy anyway), ``seed`` (the episode sampler's) and
    ``max_episode_steps`` (what ``gymnasium.make_vec`` passes; overrides ``max_steps``).
    ``info`` holds ``events [N, 5]`` and ``level [N]`` every step (with ``_events`` / ``_level``).
    """

    def __init__(self, num_envs: int = 16, task: str = "regular", observation: str = "rgb",
                 max_steps: int = FRAME_CAP, timer: str = "paper", max_ghosts: int = MAX_GHOSTS,
                 split: str = "train", device: torch.device | str = "cpu", seed: int | None = None,
                 render_mode: str | None = None, max_episode_steps: int | None = None) -> None:
        super().__init__(_env_id(task), num_envs, split, device, seed, render_mode, max_episode_steps,
                         observation=observation, max_steps=max_steps, timer=timer, max_ghosts=max_ghosts)
        self.task = task
