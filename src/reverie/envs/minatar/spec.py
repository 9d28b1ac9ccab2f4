"""MinAtar Breakout as the env id ``minatar-breakout``.

Observations are MinAtar's four binary planes (paddle, ball, trail, bricks), channels first
``[4, 10, 10]``; actions its minimal set (noop, left, right). Rewards are events (bricks
broken, ball lost) with weights (1, 0), so a frame model that predicts the events predicts the
reward and the episode's end at once. Env options: ``sticky`` (the chance the last action
repeats, MinAtar's default 0.1; 0 makes the game deterministic) and ``max_steps`` (the frame
cap, 10,000).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

from ...core.errors import ReverieError
from ..registry import register_spec
from ..spec import ActionSpec, EnvSpec, ObsSpec, RewardSpec, integer_option
from .breakout import ACTION_NAMES, EVENTS, PLANES, SIZE
from .env import FRAME_CAP, STICKY
from .render import render

__all__ = ["breakout_spec", "ENV_OPTIONS", "SPEC"]

ENV_OPTIONS = ("observation", "sticky", "max_steps")
REWARDS = RewardSpec(events=EVENTS, tasks={"breakout": (1.0, 0.0)}, task="breakout", event_max=(1, 1),
                     terminal_events=(EVENTS.index("lost"),))


def _sticky(value: Any) -> float:
    try:
        sticky = float(value)
    except (TypeError, ValueError):
        sticky = -1.0
    if isinstance(value, bool) or not 0.0 <= sticky < 1.0:
        raise ReverieError(f"sticky must be a probability in [0, 1), got {value!r}")
    return sticky


def _configure(spec: EnvSpec, **options: Any) -> EnvSpec:
    unknown = sorted(set(options) - set(ENV_OPTIONS))
    if unknown:
        raise ReverieError(f"env {spec.id} takes no option {', '.join(unknown)}; its options: {', '.join(ENV_OPTIONS)}")
    if options.get("observation", "symbolic") != "symbolic":
        raise ReverieError(f"env {spec.id} has one observation (symbolic: MinAtar's 4 planes), "
                           f"got {options['observation']!r}")
    changes: dict[str, Any] = {}
    if "sticky" in options:
        _sticky(options["sticky"])
    if "max_steps" in options:
        changes["max_steps"] = integer_option(options["max_steps"], "max_steps")
    return dataclasses.replace(spec, **changes)


def _make(spec: EnvSpec, split: str, num_envs: int, seed: int | None, device: torch.device,
          observation: str = "symbolic", sticky: float = STICKY, max_steps: int | None = None):
    from .env import BreakoutVecEnv

    if split not in spec.splits:
        raise ReverieError(f"env {spec.id} has splits {', '.join(spec.splits)}, got {split!r}")
    return BreakoutVecEnv(split, num_envs, seed, device, sticky=_sticky(sticky),
                          frame_cap=integer_option(max_steps or spec.max_steps, "max_steps"))


def _plane(index: int):
    """``obs [B, 4, 10, 10]`` -> where plane ``index`` is on, bool ``[B, 10, 10]`` (model diagnostics)."""
    def mask(obs: torch.Tensor) -> torch.Tensor:
        return obs[:, index] > 0
    mask.__name__ = f"{PLANES[index]}_mask"
    return mask


def _perfect_model(spec: EnvSpec):
    from .model import BreakoutRules

    return BreakoutRules(spec)


def breakout_spec() -> EnvSpec:
    return EnvSpec(
        id="minatar-breakout", description="MinAtar Breakout (10x10, 4 planes, 3 actions)",
        observation=ObsSpec("binary", (len(PLANES), SIZE, SIZE)), actions=ActionSpec(len(ACTION_NAMES), ACTION_NAMES),
        rewards=REWARDS, make=_make, splits=("train", "valid", "test"), max_steps=FRAME_CAP, success=None,
        perfect_model=_perfect_model, default_model="minatar-breakout", render=render, configure=_configure,
        extra={"world": "minatar", "game": "breakout", "size": (SIZE, SIZE),
               "entities": {"ball": _plane(PLANES.index("ball")), "paddle": _plane(PLANES.index("paddle"))}},
    )


SPEC = breakout_spec()
register_spec(SPEC)
