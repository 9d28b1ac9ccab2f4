"""Atari Breakout from pixels as the env id ``atari-breakout`` (ale-py's vectorised env).

Observations are the DQN preprocessing's 84x84 grey frames, the last ``stack`` of them
(``[stack, 84, 84]`` uint8; 2 as in the I2A Breakout recipe, REFERENCE.md section 4); actions
the game's minimal set (NOOP, FIRE, RIGHT, LEFT). Env options: ``stack``, ``sticky`` (ale-py's
repeat-action probability; 0 = ``BreakoutNoFrameskip-v4``, 0.25 = ``-v5``), ``episodic_life``,
``clip_rewards``, ``max_steps`` (agent steps; 27,000 = 108,000 frames) and ``threads``
(ale-py's worker threads; 0 = its choice). The spec registers without ale-py; making the env
without it is a one-line error saying what to install.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

from ...core.errors import ReverieError
from ..registry import register_spec
from ..spec import ActionSpec, EnvSpec, ObsSpec, RewardSpec, integer_option
from .render import render

__all__ = ["atari_spec", "ENV_OPTIONS"]

ENV_OPTIONS = ("observation", "stack", "sticky", "episodic_life", "clip_rewards", "max_steps", "threads")
ACTIONS = {"breakout": ("noop", "fire", "right", "left")}
MAX_STEPS = 27_000
#: Breakout's clipped reward as events: a step that scores (+1), a lost life (the learner's
#: episode end; the game goes on until the last one).
REWARDS = RewardSpec(events=("point", "life"), tasks={"clipped": (1.0, 0.0)}, task="clipped", event_max=(1, 1),
                     terminal_events=(1,))


def _flag(options: dict[str, Any], name: str) -> bool:
    value = options[name]
    if isinstance(value, str) and value.lower() in ("0", "1", "true", "false"):
        return value.lower() in ("1", "true")
    if not isinstance(value, (bool, int)) or value not in (0, 1):
        raise ReverieError(f"{name} must be true or false, got {value!r}")
    return bool(value)


def _checked(options: dict[str, Any]) -> dict[str, Any]:
    """The options as the env takes them (a one-line error for a bad one)."""
    out: dict[str, Any] = {}
    if options.get("observation", "pixels") not in ("pixels", "symbolic"):
        raise ReverieError(f"Atari ids have one observation (pixels: stacked 84x84 grey frames), "
                           f"got {options['observation']!r}")
    for name, low in (("stack", 1), ("max_steps", 1), ("threads", 0)):
        if name in options:
            out[name] = integer_option(options[name], name, low)
    for name in ("episodic_life", "clip_rewards"):
        if name in options:
            out[name] = _flag(options, name)
    if "sticky" in options:
        try:
            sticky = float(options["sticky"])
        except (TypeError, ValueError):
            sticky = -1.0
        if isinstance(options["sticky"], bool) or not 0.0 <= sticky < 1.0:
            raise ReverieError(f"sticky must be a probability in [0, 1), got {options['sticky']!r}")
        out["sticky"] = sticky
    return out


def _configure(spec: EnvSpec, **options: Any) -> EnvSpec:
    unknown = sorted(set(options) - set(ENV_OPTIONS))
    if unknown:
        raise ReverieError(f"env {spec.id} takes no option {', '.join(unknown)}; its options: {', '.join(ENV_OPTIONS)}")
    checked = _checked(options)
    changes: dict[str, Any] = {}
    if "stack" in checked:
        changes["observation"] = ObsSpec("rgb", (checked["stack"], 84, 84))
    if "max_steps" in checked:
        changes["max_steps"] = checked["max_steps"]
    return dataclasses.replace(spec, **changes)


def _make(spec: EnvSpec, split: str, num_envs: int, seed: int | None, device: torch.device, **options: Any):
    from .env import AtariVecEnv

    if split not in spec.splits:
        raise ReverieError(f"env {spec.id} has splits {', '.join(spec.splits)}, got {split!r}")
    checked = _checked(options)
    return AtariVecEnv(spec.extra["game"], split, num_envs, seed, device, stack=spec.observation.shape[0],
                       sticky=checked.get("sticky", 0.0), episodic_life=checked.get("episodic_life", True),
                       clip_rewards=checked.get("clip_rewards", True), max_frames=4 * spec.max_steps,
                       threads=checked.get("threads", 0))


def atari_spec(game: str) -> EnvSpec:
    return EnvSpec(
        id=f"atari-{game}", description=f"Atari {game.title()} from pixels (ale-py; 84x84 grey, frame skip 4)",
        observation=ObsSpec("rgb", (2, 84, 84)), actions=ActionSpec(len(ACTIONS[game]), ACTIONS[game]),
        rewards=REWARDS, make=_make, splits=("train", "valid", "test"), max_steps=MAX_STEPS, success=None,
        perfect_model=None, default_model=None, render=render, configure=_configure,
        extra={"world": "atari", "game": game},
    )


for _game in ACTIONS:
    register_spec(atari_spec(_game))
