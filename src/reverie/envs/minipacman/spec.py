"""MiniPacman's env ids as specs: ``minipacman-regular``, ``-avoid``, ``-hunt``, ``-ambush``, ``-rush``.

The five share the maze, the rules, the observations and the event model; they differ in the
event weights (reward = events . weights) and the level-clear rule. Env options:
``observation`` (``rgb``: the paper's frame; ``symbolic``: six planes), ``max_steps`` (the
frame cap, 3000), ``timer`` (``paper``: hunt/ambush clear after 80 steps; ``released``: never,
as the released code) and ``max_ghosts`` (ghost slots, 8: the ghosts of levels up to 15).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

from ...core.errors import ReverieError
from ..registry import register_spec
from ..spec import ActionSpec, EnvSpec, ObsSpec, RewardSpec, integer_option
from .maze import ACTION_NAMES, HEIGHT, WIDTH
from .observation import OBSERVATIONS, ghost_mask, player_mask, shape
from .render import render
from .rules import EVENTS, POWER_STEPS, TASK_WEIGHTS, TASKS, TIMERS

__all__ = ["minipacman_spec", "ENV_OPTIONS", "TASK_WEIGHTS"]

ENV_OPTIONS = ("observation", "max_steps", "timer", "max_ghosts")
FRAME_CAP, MAX_GHOSTS = 3000, 8


def _observation(kind: str) -> ObsSpec:
    if kind not in OBSERVATIONS:
        raise ReverieError(f"MiniPacman observation must be one of {', '.join(OBSERVATIONS)}, got {kind!r}")
    return ObsSpec("binary", shape(kind), levels=POWER_STEPS)


def _rewards(task: str, max_ghosts: int) -> RewardSpec:
    return RewardSpec(events=EVENTS, tasks=dict(TASK_WEIGHTS), task=task, event_max=(1, 1, 1, max_ghosts, 1),
                      terminal_events=(EVENTS.index("killed"),))


def _configure(spec: EnvSpec, **options: Any) -> EnvSpec:
    unknown = sorted(set(options) - set(ENV_OPTIONS))
    if unknown:
        raise ReverieError(f"env {spec.id} takes no option {', '.join(unknown)}; its options: {', '.join(ENV_OPTIONS)}")
    changes: dict[str, Any] = {}
    if "observation" in options:
        changes["observation"] = _observation(options["observation"])
    if "max_steps" in options:
        changes["max_steps"] = integer_option(options["max_steps"], "max_steps")
    if "timer" in options and options["timer"] not in TIMERS:
        raise ReverieError(f"timer must be one of {', '.join(TIMERS)}, got {options['timer']!r}")
    if "max_ghosts" in options:
        changes["rewards"] = _rewards(spec.rewards.task, integer_option(options["max_ghosts"], "max_ghosts"))
    return dataclasses.replace(spec, **changes)


def _make(spec: EnvSpec, split: str, num_envs: int, seed: int | None, device: torch.device,
          observation: str = "rgb", max_steps: int | None = None, timer: str = "paper",
          max_ghosts: int = MAX_GHOSTS):
    from .env import MiniPacmanVecEnv

    if split not in spec.splits:
        raise ReverieError(f"env {spec.id} has splits {', '.join(spec.splits)}, got {split!r}")
    return MiniPacmanVecEnv(spec.rewards.task, split, num_envs, seed, device, observation=observation,
                            frame_cap=int(max_steps or spec.max_steps), timer=timer, max_ghosts=int(max_ghosts))


def _perfect_model(spec: EnvSpec):
    from .model import MiniPacmanRules

    return MiniPacmanRules(spec)


def minipacman_spec(task: str) -> EnvSpec:
    """The spec of task ``task`` (rgb frames, the paper's timer, 8 ghost slots)."""
    return EnvSpec(
        id=f"minipacman-{task}", description=f"MiniPacman, {task} task (15x19 maze, I2A paper)",
        observation=_observation("rgb"), actions=ActionSpec(len(ACTION_NAMES), ACTION_NAMES),
        rewards=_rewards(task, MAX_GHOSTS), make=_make, splits=("train", "valid", "test"), max_steps=FRAME_CAP,
        success=None, perfect_model=_perfect_model, default_model="minipacman", render=render,
        configure=_configure, extra={"world": "minipacman", "task": task, "size": (HEIGHT, WIDTH),
                                         "entities": {"player": player_mask, "ghost": ghost_mask}},
    )


for _task in TASKS:
    register_spec(minipacman_spec(_task))
