"""Pendulum swing-up as the env ids ``pendulum`` (vector observations) and ``pendulum-pixels`` (RGB frames).

Gymnasium's ``Pendulum-v1`` rules (:mod:`.rules`), continuous torques in [-2, 2]
(``ActionSpec(n=0, low=(-2.0,), high=(2.0,))``), real-valued rewards (no reward classes),
200-step episodes ending by truncation, no success. Env options: ``max_steps`` for both;
``size`` (the frame's side, default 64) for ``pendulum-pixels``; ``observation`` may only name
the id's own kind (``symbolic``, or ``vector`` / ``rgb``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

from ...core.errors import ReverieError
from ..registry import register_spec
from ..spec import ActionSpec, EnvSpec, ObsSpec, RewardSpec, integer_option
from . import rules
from .render import render

__all__ = ["pendulum_spec", "ACTIONS", "SIZE", "VECTOR_SPEC", "PIXELS_SPEC"]

ACTIONS = ActionSpec(n=0, names=("torque",), low=(-rules.MAX_TORQUE,), high=(rules.MAX_TORQUE,))
SIZE = 64


def _configure(spec: EnvSpec, **options: Any) -> EnvSpec:
    pixels = spec.extra["pixels"]
    known = ("observation", "max_steps", "size") if pixels else ("observation", "max_steps")
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise ReverieError(f"env {spec.id} takes no option {', '.join(unknown)}; its options: {', '.join(known)}")
    kind = spec.observation.kind
    if options.get("observation", "symbolic") not in ("symbolic", kind):
        raise ReverieError(f"env {spec.id} has one observation ({kind}), got {options['observation']!r}")
    changes: dict[str, Any] = {}
    if "max_steps" in options:
        changes["max_steps"] = integer_option(options["max_steps"], "max_steps")
    if "size" in options:
        size = integer_option(options["size"], "size", low=8)
        changes["observation"] = ObsSpec("rgb", (3, size, size))
    return dataclasses.replace(spec, **changes)


def _make(spec: EnvSpec, split: str, num_envs: int, seed: int | None, device: torch.device,
          observation: str = "symbolic", max_steps: int | None = None, size: int | None = None):
    from .env import PendulumVecEnv

    if split not in spec.splits:
        raise ReverieError(f"env {spec.id} has splits {', '.join(spec.splits)}, got {split!r}")
    pixels = spec.extra["pixels"]
    return PendulumVecEnv(split, num_envs, seed, device, pixels=pixels,
                          size=spec.observation.shape[-1] if pixels else SIZE,
                          max_steps=integer_option(max_steps or spec.max_steps, "max_steps"))


def _perfect_model(spec: EnvSpec):
    from .model import PendulumRules

    return PendulumRules(spec)


def pendulum_spec(pixels: bool) -> EnvSpec:
    observation = ObsSpec("rgb", (3, SIZE, SIZE)) if pixels else ObsSpec("vector", (3,))
    return EnvSpec(
        id="pendulum-pixels" if pixels else "pendulum",
        description=("Pendulum-v1 swing-up from 64x64 RGB frames, torque in [-2, 2]" if pixels
                     else "Pendulum-v1 swing-up, [cos, sin, theta dot], torque in [-2, 2]"),
        observation=observation, actions=ACTIONS, rewards=RewardSpec(), make=_make,
        splits=("train", "valid", "test"), max_steps=rules.MAX_STEPS, success=None,
        perfect_model=None if pixels else _perfect_model, default_model=None, render=render,
        configure=_configure, extra={"world": "pendulum", "pixels": pixels},
    )


VECTOR_SPEC = pendulum_spec(pixels=False)
PIXELS_SPEC = pendulum_spec(pixels=True)
register_spec(VECTOR_SPEC)
register_spec(PIXELS_SPEC)
