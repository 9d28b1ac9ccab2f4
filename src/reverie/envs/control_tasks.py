"""Continuous-control tasks for the off-policy learners: one Gymnasium env behind a small adapter.

Why an adapter: the learners act in ``[-1, 1]^A`` and read flat float vectors; Gymnasium
envs have their own action bounds and, for goal-conditioned tasks, a dict observation
(``observation`` / ``achieved_goal`` / ``desired_goal``). :class:`ControlTask` rescales
actions, splits dict observations into tensors, and gives the goal reward as a batched torch
function (for hindsight relabelling and imagined rollouts). Named tasks:

- ``pendulum``: ``Pendulum-v1`` (swing up and balance; 200 steps);
- ``parking``: highway-env ``parking-v0`` with walls on, as ``reverie plan`` plays it
  (goal-conditioned; -5 on a crash; the episode ends on success or crash);
- ``mountaincar``: ``MountainCarContinuous-v0`` (a sparse reward behind an exploration
  problem);
- ``halfcheetah``: Gymnasium's MuJoCo ``HalfCheetah-v5`` (17-D state, 6-D action, 1,000 steps,
  no early end), the harder task of the sample-efficiency claim (``pip install -e ".[mujoco]"``);

and any other Gymnasium id with a ``Box`` action space. Discrete action spaces are refused.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np
import torch

from ..core.errors import ReverieError

__all__ = ["ControlTask", "make_task", "TASKS"]

#: Named tasks: name -> (Gymnasium id, make kwargs).
TASKS: dict[str, tuple[str, dict[str, Any]]] = {
    "pendulum": ("Pendulum-v1", {}),
    "parking": ("parking-v0", {"config": {"add_walls": True, "duration": 100}}),
    "mountaincar": ("MountainCarContinuous-v0", {}),
    "halfcheetah": ("HalfCheetah-v5", {}),
}
#: Gymnasium id prefixes of the MuJoCo tasks, which need the ``mujoco`` extra.
MUJOCO_IDS = ("HalfCheetah", "Hopper", "Walker2d", "Ant", "Humanoid", "Swimmer", "Reacher", "InvertedPendulum",
              "InvertedDoublePendulum", "Pusher")
GOAL_KEYS = ("observation", "achieved_goal", "desired_goal")


def _gym_make(env_id: str, kwargs: dict[str, Any]):
    import gymnasium as gym

    if env_id.startswith("parking"):
        for name, value in (("SDL_VIDEODRIVER", "dummy"), ("SDL_AUDIODRIVER", "dummy"),
                            ("PYGAME_HIDE_SUPPORT_PROMPT", "1")):
            os.environ.setdefault(name, value)
        try:
            import highway_env  # noqa: F401  (registers parking-v0)
        except ImportError:
            raise ReverieError('the parking task needs highway-env: pip install -e ".[control]"') from None
    if env_id.startswith(MUJOCO_IDS):
        try:
            import mujoco  # noqa: F401
        except ImportError:
            raise ReverieError(f'{env_id} needs MuJoCo: pip install -e ".[mujoco]"') from None
    try:
        return gym.make(env_id, disable_env_checker=True, **kwargs)
    except gym.error.Error as err:
        raise ReverieError(f"cannot make env {env_id!r}: {str(err).splitlines()[0]}") from None


class ControlTask:
    """One Gymnasium env played by a continuous off-policy learner (see the module docstring)."""

    def __init__(self, name: str, options: dict[str, Any] | None = None) -> None:
        from gymnasium import spaces

        env_id, kwargs = TASKS.get(name, (name, {}))
        kwargs = {**kwargs, **(options or {})}
        if env_id.startswith("parking") and options:  # env options go into highway-env's config
            kwargs = {"config": {**TASKS["parking"][1]["config"], **options}}
        self.name, self.env_id, self.kwargs = name, env_id, kwargs
        self.env = _gym_make(env_id, kwargs)
        space = self.env.action_space
        if not isinstance(space, spaces.Box):
            self.env.close()
            raise ReverieError(f"env {name!r} has {type(space).__name__} actions; the off-policy learners "
                               f"(SAC, NAF) need continuous (Box) actions")
        self.low = torch.as_tensor(space.low, dtype=torch.float32).flatten()
        self.high = torch.as_tensor(space.high, dtype=torch.float32).flatten()
        self.action_dim = int(self.low.numel())
        obs_space = self.env.observation_space
        self.goal_conditioned = isinstance(obs_space, spaces.Dict) and all(k in obs_space.spaces for k in GOAL_KEYS)
        if self.goal_conditioned:
            self.obs_dim = int(np.prod(obs_space["observation"].shape))
            self.goal_dim = int(np.prod(obs_space["desired_goal"].shape))
        elif isinstance(obs_space, spaces.Box):
            self.obs_dim, self.goal_dim = int(np.prod(obs_space.shape)), 0
        else:
            self.env.close()
            raise ReverieError(f"env {name!r} has {type(obs_space).__name__} observations; the off-policy "
                               f"learners read vectors or goal dicts ({', '.join(GOAL_KEYS)})")
        spec = self.env.spec
        self.max_steps = int(spec.max_episode_steps) if spec is not None and spec.max_episode_steps else 0
        base = self.env.unwrapped
        if env_id.startswith("parking"):
            cfg = base.config
            self.max_steps = int(math.ceil(cfg["duration"] * cfg["policy_frequency"]))
            self._weights = torch.tensor(cfg["reward_weights"], dtype=torch.float32)
            self._success = float(cfg["success_goal_reward"])
        elif self.goal_conditioned and not hasattr(base, "compute_reward"):
            raise ReverieError(f"goal env {name!r} has no compute_reward; hindsight relabelling needs one")

    # ------------------------------------------------------------------ goals
    def goal_reward(self, achieved: torch.Tensor, desired: torch.Tensor) -> torch.Tensor:
        """The env's goal reward for batches of goals (parking: ``-(sum w |a - d|)^0.5``)."""
        if hasattr(self, "_weights"):
            return -((achieved - desired).abs() @ self._weights.to(achieved.device)).clamp_min(0).sqrt()
        out = self.env.unwrapped.compute_reward(achieved.cpu().numpy(), desired.cpu().numpy(), {})
        return torch.as_tensor(np.asarray(out), dtype=torch.float32, device=achieved.device).reshape(-1)

    def goal_success(self, achieved: torch.Tensor, desired: torch.Tensor) -> torch.Tensor | None:
        """Whether the goal is reached (parking: reward above ``-success_goal_reward``)."""
        return self.goal_reward(achieved, desired) > -self._success

    def goal_weights(self) -> torch.Tensor:
        """Per goal dimension, its weight in the task's distance (parking's reward weights; else 1)."""
        return self._weights.clone() if hasattr(self, "_weights") else torch.ones(self.goal_dim)

    @property
    def has_success(self) -> bool:
        return hasattr(self, "_success")

    # ------------------------------------------------------------------ stepping
    def split(self, raw: Any) -> dict[str, torch.Tensor]:
        """An env observation -> ``{"obs": [S]}`` (and ``"achieved"``, ``"desired"`` [G] on goal tasks)."""
        if self.goal_conditioned:
            return {"obs": torch.as_tensor(np.asarray(raw["observation"]), dtype=torch.float32).flatten(),
                    "achieved": torch.as_tensor(np.asarray(raw["achieved_goal"]), dtype=torch.float32).flatten(),
                    "desired": torch.as_tensor(np.asarray(raw["desired_goal"]), dtype=torch.float32).flatten()}
        return {"obs": torch.as_tensor(np.asarray(raw), dtype=torch.float32).flatten()}

    def env_action(self, action: torch.Tensor) -> np.ndarray:
        """A learner's action in ``[-1, 1]`` -> the env's bounds."""
        a = action.detach().float().cpu().clamp(-1, 1)
        return (self.low + (a + 1) * 0.5 * (self.high - self.low)).numpy()

    def reset(self, seed: int) -> dict[str, torch.Tensor]:
        raw, _ = self.env.reset(seed=int(seed))
        return self.split(raw)

    def step(self, action: torch.Tensor) -> tuple[dict[str, torch.Tensor], float, bool, bool, dict]:
        raw, reward, terminated, truncated, info = self.env.step(self.env_action(action))
        return self.split(raw), float(reward), bool(terminated), bool(truncated), info

    def close(self) -> None:
        self.env.close()

    def describe(self) -> dict[str, Any]:
        out = {"task": self.name, "gym_id": self.env_id, "obs_dim": self.obs_dim, "goal_dim": self.goal_dim,
               "action_dim": self.action_dim, "max_steps": self.max_steps,
               "action_low": self.low.tolist(), "action_high": self.high.tolist()}
        if self.env_id.startswith("parking"):
            cfg = self.env.unwrapped.config
            out |= {"add_walls": bool(cfg["add_walls"]), "duration": cfg["duration"]}
        return out


def make_task(name: str, options: dict[str, Any] | None = None) -> ControlTask:
    """The task ``name`` (a name of :data:`TASKS` or a Gymnasium id)."""
    return ControlTask(name, options)
