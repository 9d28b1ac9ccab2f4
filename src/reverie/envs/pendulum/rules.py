"""Pendulum-v1's rules on a batch of states, as tensor operations (no loop over games).

Why our own copy: the batched env, its perfect model and the pixel world all step the same
equations, on any device, for thousands of games at once. The constants and the order of
operations are Gymnasium's ``Pendulum-v1`` (g = 10, m = l = 1, dt = 0.05, torque clipped to
[-2, 2], speed clipped to [-8, 8]), and the state is kept in float64 as Gymnasium keeps it, so
the differential test (tests/test_pendulum_env.py) follows Gymnasium's trajectories step for
step rather than drifting apart where the upright position amplifies rounding.
"""

from __future__ import annotations

import math

import torch

__all__ = ["G", "MASS", "LENGTH", "DT", "MAX_SPEED", "MAX_TORQUE", "MAX_STEPS", "INIT_THETA", "INIT_SPEED",
           "angle_normalize", "step", "observe", "initial_state"]

G, MASS, LENGTH, DT = 10.0, 1.0, 1.0, 0.05
MAX_SPEED, MAX_TORQUE = 8.0, 2.0
#: Gymnasium's TimeLimit for Pendulum-v1 (a truncation: the pendulum never terminates).
MAX_STEPS = 200
#: initial theta in [-INIT_THETA, INIT_THETA], thetadot in [-INIT_SPEED, INIT_SPEED]
INIT_THETA, INIT_SPEED = math.pi, 1.0
STATE_DTYPE = torch.float64


def angle_normalize(theta: torch.Tensor) -> torch.Tensor:
    """Angles -> [-pi, pi) (0 is upright)."""
    return torch.remainder(theta + math.pi, 2 * math.pi) - math.pi


def step(theta: torch.Tensor, speed: torch.Tensor, torque: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor,
                                                                                  torch.Tensor]:
    """One step of every game: ``theta, speed [B]`` (float64), ``torque [B]`` -> next theta, next
    speed and the reward ``[B]`` (float64; the reward is of the state the step starts from)."""
    # The torque terms in float32, as Gymnasium computes them (numpy keeps the float32 action float32).
    u = torque.float().clamp(-MAX_TORQUE, MAX_TORQUE)
    cost = angle_normalize(theta) ** 2 + 0.1 * speed ** 2 + (0.001 * u ** 2).to(theta.dtype)
    push = (3.0 / (MASS * LENGTH ** 2) * u).to(theta.dtype)
    speed = speed + (3 * G / (2 * LENGTH) * torch.sin(theta) + push) * DT
    speed = speed.clamp(-MAX_SPEED, MAX_SPEED)
    return theta + speed * DT, speed, -cost


def observe(theta: torch.Tensor, speed: torch.Tensor) -> torch.Tensor:
    """The vector observation ``[B, 3]`` float32: cos theta, sin theta, theta dot (Gymnasium's)."""
    return torch.stack([torch.cos(theta), torch.sin(theta), speed], 1).float()


def initial_state(draws: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Uniform draws ``[B, 2]`` in (0, 1) -> theta in [-pi, pi], theta dot in [-1, 1] (float64)."""
    draws = draws.to(STATE_DTYPE)
    return (2 * draws[:, 0] - 1) * INIT_THETA, (2 * draws[:, 1] - 1) * INIT_SPEED
