"""``PendulumVecEnv``: many Pendulum-v1 games as one batch of tensors, with same-step auto-reset.

Each game plays an episode id of its split; the id's key fixes the episode's initial angle
and speed (the only randomness of the world), with disjoint key ranges per split, so
``reset_to`` names exactly the held-out episodes an evaluation scores. Episodes end by
truncation only (``max_steps``, Gymnasium's 200). Observations are the vector ``[cos, sin,
theta dot]`` or, for ``pendulum-pixels``, RGB frames ``[3, size, size]`` uint8 drawn from the
angle (:mod:`.draw`).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch

from ...core.counter_rng import hash32, uniform
from ...core.errors import ReverieError
from ..spec import checked_episodes
from . import rules
from .draw import frames

__all__ = ["PendulumVecEnv", "episode_keys", "initial_states", "SPLIT_OFFSETS", "SPLIT_SIZE"]

SPLIT_OFFSETS = {"train": 0, "valid": 1 << 30, "test": 2 << 30}
SPLIT_SIZE = 1 << 30


def episode_keys(split: str, episodes: torch.Tensor) -> torch.Tensor:
    """The key of each episode id of a split (distinct ids and splits, distinct keys)."""
    if split not in SPLIT_OFFSETS:
        raise ReverieError(f"pendulum splits are {', '.join(SPLIT_OFFSETS)}, got {split!r}")
    return hash32(SPLIT_OFFSETS[split] + torch.as_tensor(episodes).long() % SPLIT_SIZE)


def initial_states(split: str, episodes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Held-out episode ``episodes[i]`` of ``split`` -> its initial theta and theta dot (float64)."""
    return rules.initial_state(uniform(episode_keys(split, episodes), 0, 2))


def checked_torques(actions, num_envs: int, device: torch.device) -> torch.Tensor:
    """``actions`` as ``[num_envs]`` float64 torques (a one-line error for a wrong shape or a non-finite value).
    Finite torques outside [-2, 2] are clipped by the rules, as Gymnasium clips them."""
    actions = torch.as_tensor(actions, device=device)
    if actions.shape != (num_envs, 1) or not (actions.is_floating_point() or actions.dtype in (torch.int32, torch.int64)):
        raise ReverieError(f"pendulum actions must be torques [{num_envs}, 1] (floats, clipped to [-2, 2]), "
                           f"got shape {tuple(actions.shape)} {actions.dtype}")
    actions = actions[:, 0].to(torch.float32)
    if not bool(torch.isfinite(actions).all()):
        raise ReverieError("pendulum actions must be finite torques, got nan or inf")
    return actions


class PendulumVecEnv:
    """``num_envs`` pendulums of one split on one device.

    ``step(actions [N, 1])`` -> ``(obs, reward, terminated, truncated, info)``; ``terminated``
    is always False, ``truncated`` the step cap. ``info``: ``episode`` (the id each game played
    this step), ``episode_return`` / ``episode_length`` (valid where a game ended),
    ``final_index`` and ``final_obs`` (the games that ended and their last observations).
    ``pixels``: observe frames ``[3, size, size]`` uint8 instead of vectors.
    """

    def __init__(self, split: str = "train", num_envs: int = 1, seed: int | None = None,
                 device: torch.device | str = "cpu", pixels: bool = False, size: int = 64,
                 max_steps: int = rules.MAX_STEPS) -> None:
        if split not in SPLIT_OFFSETS:
            raise ReverieError(f"pendulum splits are {', '.join(SPLIT_OFFSETS)}, got {split!r}")
        if int(num_envs) < 1 or int(max_steps) < 1 or int(size) < 8:
            raise ReverieError(f"num_envs and max_steps must be >= 1 and size >= 8, got {num_envs}, {max_steps}, {size}")
        self.split, self.pixels, self.size = split, bool(pixels), int(size)
        self.num_envs, self.max_steps = int(num_envs), int(max_steps)
        self.device = torch.device(device)
        if self.pixels:
            self.single_observation_space = gym.spaces.Box(0, 255, (3, self.size, self.size), np.uint8)
        else:
            high = np.array([1.0, 1.0, rules.MAX_SPEED], dtype=np.float32)
            self.single_observation_space = gym.spaces.Box(-high, high, dtype=np.float32)
        self.action_space = gym.spaces.Box(-rules.MAX_TORQUE, rules.MAX_TORQUE, (1,), np.float32)
        self.generator = torch.Generator(self.device)
        self.generator.manual_seed(seed if seed is not None else int(torch.seed() % 2**63))
        n = self.num_envs
        self.theta = torch.zeros(n, dtype=rules.STATE_DTYPE, device=self.device)
        self.speed = torch.zeros(n, dtype=rules.STATE_DTYPE, device=self.device)
        self.steps = torch.zeros(n, dtype=torch.long, device=self.device)
        self.episode = torch.zeros(n, dtype=torch.long, device=self.device)
        self.episode_return = torch.zeros(n, dtype=torch.float32, device=self.device)
        self._started = False

    # -- the batch API -----------------------------------------------------------------

    def reset(self, seed: int | None = None) -> tuple[torch.Tensor, dict[str, Any]]:
        """New episodes everywhere (ids drawn from the env's generator; ``seed`` reseeds it)."""
        if seed is not None:
            self.generator.manual_seed(seed)
        self._start(torch.arange(self.num_envs, device=self.device), self._draw(self.num_envs))
        return self.observe(), {"episode": self.episode.clone()}

    def reset_to(self, episodes) -> torch.Tensor:
        """Game ``i`` starts held-out episode ``episodes[i]`` of the split (the generator is untouched)."""
        self._start(torch.arange(self.num_envs, device=self.device),
                    checked_episodes(episodes, self.num_envs, self.device))
        return self.observe()

    def step(self, actions) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, dict[str, Any]]:
        if not self._started:
            raise ReverieError("call reset() or reset_to() before step()")
        torques = checked_torques(actions, self.num_envs, self.device)
        self.theta, self.speed, reward = rules.step(self.theta, self.speed, torques)
        reward = reward.float()
        self.steps += 1
        self.episode_return += reward
        truncated = self.steps >= self.max_steps
        terminated = torch.zeros_like(truncated)
        ended = truncated.nonzero().squeeze(1)
        info: dict[str, Any] = {"episode": self.episode.clone(), "episode_return": self.episode_return.clone(),
                                "episode_length": self.steps.clone(), "final_index": ended,
                                "final_obs": self._observe(self.theta[ended], self.speed[ended])}
        if ended.numel():
            self._start(ended, self._draw(ended.numel()))
        return self.observe(), reward, terminated, truncated, info

    def observe(self) -> torch.Tensor:
        """The current observation of every game (a fresh tensor)."""
        return self._observe(self.theta, self.speed)

    def _observe(self, theta: torch.Tensor, speed: torch.Tensor) -> torch.Tensor:
        return frames(theta, self.size) if self.pixels else rules.observe(theta, speed)

    # -- episodes ----------------------------------------------------------------------

    def _draw(self, count: int) -> torch.Tensor:
        return torch.randint(SPLIT_SIZE, (count,), generator=self.generator, device=self.device)

    def _start(self, rows: torch.Tensor, episodes: torch.Tensor) -> None:
        theta, speed = initial_states(self.split, episodes)
        self.theta[rows], self.speed[rows] = theta, speed
        self.episode[rows] = episodes
        self.steps[rows] = 0
        self.episode_return[rows] = 0.0
        self._started = True

    # -- state for checkpoints ---------------------------------------------------------

    def get_state(self) -> dict[str, torch.Tensor]:
        """Everything that decides the future: angles, speeds, step counts, episode ids and returns, the generator."""
        return {"theta": self.theta.clone(), "speed": self.speed.clone(), "steps": self.steps.clone(),
                "episode": self.episode.clone(), "episode_return": self.episode_return.clone(),
                "rng": self.generator.get_state()}

    def set_state(self, state: dict[str, torch.Tensor]) -> None:
        """Resume exactly from :meth:`get_state`."""
        missing = sorted({"theta", "speed", "steps", "episode", "episode_return", "rng"} - set(state))
        if missing:
            raise ReverieError(f"pendulum state lacks {', '.join(missing)}")
        if torch.as_tensor(state["theta"]).shape != (self.num_envs,):
            raise ReverieError(f"state holds {torch.as_tensor(state['theta']).numel()} games, this env {self.num_envs}")
        for name in ("theta", "speed", "steps", "episode", "episode_return"):
            getattr(self, name).copy_(torch.as_tensor(state[name]))
        self.generator.set_state(torch.as_tensor(state["rng"]))
        self._started = True

    def describe(self) -> dict[str, Any]:
        return {"distinct_episodes": None, "pixels": self.pixels, "size": self.size}

    def __repr__(self) -> str:
        kind = f"pixels {self.size}x{self.size}" if self.pixels else "vector"
        return f"PendulumVecEnv({self.split}, {self.num_envs} envs, {kind}, device={self.device})"
