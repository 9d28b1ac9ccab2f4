"""Gymnasium's CarRacing-v3 as the env id ``carracing``: World Models' car racing setting.

Observations are RGB frames ``[3, 64, 64]`` uint8 (Gymnasium's 96x96 frames, area-resized),
actions ``[3]`` floats (steer in [-1, 1], gas and brake in [0, 1]; clipped), rewards real
numbers as Gymnasium gives them (no reward classes), 1000-step episodes, no success. Env
options: ``max_steps``, ``size`` (the frame's side, 8..96) and ``observation`` (only
``symbolic`` or ``rgb``, meaning the frames). The spec registers without Box2D; making the env
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

__all__ = ["SPEC", "ACTIONS", "SIZE", "MAX_STEPS", "ENV_OPTIONS"]

ACTIONS = ActionSpec(n=0, names=("steer", "gas", "brake"), low=(-1.0, 0.0, 0.0), high=(1.0, 1.0, 1.0))
SIZE = 64
MAX_STEPS = 1000
ENV_OPTIONS = ("observation", "max_steps", "size")


def _configure(spec: EnvSpec, **options: Any) -> EnvSpec:
    unknown = sorted(set(options) - set(ENV_OPTIONS))
    if unknown:
        raise ReverieError(f"env {spec.id} takes no option {', '.join(unknown)}; its options: {', '.join(ENV_OPTIONS)}")
    if options.get("observation", "symbolic") not in ("symbolic", "rgb"):
        raise ReverieError(f"env {spec.id} has one observation (rgb frames), got {options['observation']!r}")
    changes: dict[str, Any] = {}
    if "max_steps" in options:
        changes["max_steps"] = integer_option(options["max_steps"], "max_steps")
    if "size" in options:
        size = integer_option(options["size"], "size", low=8)
        if size > 96:
            raise ReverieError(f"size must be at most 96 (CarRacing draws 96x96 frames), got {size}")
        changes["observation"] = ObsSpec("rgb", (3, size, size))
    return dataclasses.replace(spec, **changes)


def _make(spec: EnvSpec, split: str, num_envs: int, seed: int | None, device: torch.device, **options: Any):
    from .env import CarRacingVecEnv

    if split not in spec.splits:
        raise ReverieError(f"env {spec.id} has splits {', '.join(spec.splits)}, got {split!r}")
    return CarRacingVecEnv(split, num_envs, seed, device, size=spec.observation.shape[-1], max_steps=spec.max_steps)


SPEC = EnvSpec(
    id="carracing", description="Gymnasium CarRacing-v3 from 64x64 RGB frames; steer, gas, brake (Box2D)",
    observation=ObsSpec("rgb", (3, SIZE, SIZE)), actions=ACTIONS, rewards=RewardSpec(), make=_make,
    splits=("train", "valid", "test"), max_steps=MAX_STEPS, success=None, perfect_model=None,
    default_model=None, render=render, configure=_configure, extra={"world": "carracing"},
)
register_spec(SPEC)
