"""``CarRacingVecEnv``: ``num_envs`` Gymnasium CarRacing-v3 games behind reverie's batch API.

The games are a plain list of unwrapped ``CarRacing`` objects, not Gymnasium's
``SyncVectorEnv``: both step the Box2D games one after another in Python (a Box2D world is one
C++ object per game, so that loop is the simulator's, not reverie's), but the list lets this
class reset a game that ended with the seed of an episode id it chose, so every episode,
auto-reset ones included, is named by ``(split, id)``; ``SyncVectorEnv``'s own auto-reset draws
the next track from the game's generator instead. Without Gymnasium's wrappers the step cap
(``max_steps``, Gymnasium's 1000) and the checks are this class's own, once per batch.

Episodes: episode ``j`` of split ``s`` is the track Gymnasium generates from the seed
``SPLIT_SEEDS[s] + j`` (``j < SPLIT_SIZE``, disjoint ranges per split), so ``reset_to(ids)``
replays exactly the held-out tracks an evaluation scores.

Not restorable: Box2D's world (bodies, contacts, the car's wheels) cannot be exported, so this
env has no ``get_state`` / ``set_state``. A resumed run restarts its games (the latent runs call
``env.reset`` when the env has no ``set_state``): weights, optimisers, replay and step counts
resume exactly, the games in progress do not.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch

from ...core.errors import ReverieError
from .frames import NATIVE, to_frames
from .simulator import load_car_racing

__all__ = ["CarRacingVecEnv", "SPLIT_SEEDS", "SPLIT_SIZE", "LOW", "HIGH", "episode_seeds", "checked_controls"]

SPLIT_SIZE = 1 << 30
#: The seed of each split's episode 0 (episode ``j``: offset + j).
SPLIT_SEEDS = {"train": 0, "valid": SPLIT_SIZE, "test": 2 * SPLIT_SIZE}
#: Action bounds: steer in [-1, 1] (left to right), gas and brake in [0, 1].
LOW = (-1.0, 0.0, 0.0)
HIGH = (1.0, 1.0, 1.0)


def episode_seeds(split: str, episodes: np.ndarray) -> np.ndarray:
    """The Gymnasium seed of each episode id of ``split`` (distinct ids and splits, distinct seeds)."""
    if split not in SPLIT_SEEDS:
        raise ReverieError(f"carracing splits are {', '.join(SPLIT_SEEDS)}, got {split!r}")
    return SPLIT_SEEDS[split] + np.asarray(episodes, dtype=np.int64) % SPLIT_SIZE


def checked_controls(actions, num_envs: int) -> np.ndarray:
    """``actions`` as ``[num_envs, 3]`` float64 controls clipped to the bounds (a one-line error for a
    wrong shape or type, or a non-finite value)."""
    actions = torch.as_tensor(actions)
    if actions.shape != (num_envs, 3) or actions.dtype == torch.bool or actions.is_complex() \
            or not (actions.is_floating_point() or actions.dtype in (torch.int32, torch.int64)):
        raise ReverieError(f"carracing actions must be floats [{num_envs}, 3] (steer in [-1, 1], gas and brake in "
                           f"[0, 1]), got shape {tuple(actions.shape)} {actions.dtype}")
    controls = actions.detach().cpu().double().numpy()
    if not np.isfinite(controls).all():
        raise ReverieError("carracing actions must be finite, got nan or inf")
    return np.clip(controls, LOW, HIGH)


class CarRacingVecEnv:
    """``num_envs`` CarRacing games of one split; observations are uint8 ``[N, 3, size, size]``.

    ``step(actions [N, 3])`` -> ``(obs, reward, terminated, truncated, info)``: ``reward`` as
    Gymnasium gives it (-0.1 a step, +1000/tiles per new tile, -100 for leaving the playfield),
    ``terminated`` a finished lap or leaving the playfield, ``truncated`` the step cap.
    ``info``: ``episode`` (the id each game played this step), ``lap_finished``,
    ``episode_return`` / ``episode_length`` (valid where a game ended), ``final_index`` and
    ``final_obs`` (the games that ended and their last frames).
    """

    def __init__(self, split: str = "train", num_envs: int = 1, seed: int | None = None,
                 device: torch.device | str = "cpu", size: int = 64, max_steps: int = 1000) -> None:
        if split not in SPLIT_SEEDS:
            raise ReverieError(f"carracing splits are {', '.join(SPLIT_SEEDS)}, got {split!r}")
        if int(num_envs) < 1 or int(max_steps) < 1 or not 8 <= int(size) <= NATIVE:
            raise ReverieError(f"num_envs and max_steps must be >= 1 and size in 8..{NATIVE}, got {num_envs}, "
                               f"{max_steps}, {size}")
        car_racing = load_car_racing()
        self.split, self.num_envs, self.max_steps, self.size = split, int(num_envs), int(max_steps), int(size)
        self.device = torch.device(device)
        self.games = [car_racing(continuous=True) for _ in range(self.num_envs)]
        self.single_observation_space = gym.spaces.Box(0, 255, (3, self.size, self.size), np.uint8)
        self.action_space = gym.spaces.Box(np.array(LOW, np.float32), np.array(HIGH, np.float32), dtype=np.float32)
        self.generator = np.random.default_rng(seed)
        n = self.num_envs
        self.pixels = np.zeros((n, NATIVE, NATIVE, 3), dtype=np.uint8)
        self.episode = np.zeros(n, dtype=np.int64)
        self.steps = np.zeros(n, dtype=np.int64)
        self.episode_return = np.zeros(n, dtype=np.float64)
        self._started = False

    # -- the batch API -----------------------------------------------------------------

    def reset(self, seed: int | None = None) -> tuple[torch.Tensor, dict[str, Any]]:
        """New episodes everywhere (ids drawn from the env's generator; ``seed`` reseeds it)."""
        if seed is not None:
            self.generator = np.random.default_rng(seed)
        self._start(np.arange(self.num_envs), self.generator.integers(SPLIT_SIZE, size=self.num_envs))
        return self.observe(), {"episode": self._tensor(self.episode)}

    def reset_to(self, episodes) -> torch.Tensor:
        """Game ``i`` starts held-out episode ``episodes[i]`` of the split (the generator is untouched)."""
        episodes = torch.as_tensor(episodes)
        if episodes.shape != (self.num_envs,) or episodes.is_floating_point() or episodes.dtype == torch.bool:
            raise ReverieError(f"episodes must be {self.num_envs} integer ids, got shape {tuple(episodes.shape)}")
        self._start(np.arange(self.num_envs), episodes.cpu().numpy().astype(np.int64))
        return self.observe()

    def step(self, actions) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, dict[str, Any]]:
        if not self._started:
            raise ReverieError("call reset() or reset_to() before step()")
        controls = checked_controls(actions, self.num_envs)
        n = self.num_envs
        reward = np.zeros(n, dtype=np.float64)
        terminated = np.zeros(n, dtype=bool)
        lap = np.zeros(n, dtype=bool)
        for i, game in enumerate(self.games):  # Box2D steps one world at a time
            self.pixels[i], reward[i], terminated[i], _, info = game.step(controls[i])
            lap[i] = bool(info.get("lap_finished", False))
        self.steps += 1
        self.episode_return += reward
        truncated = (self.steps >= self.max_steps) & ~terminated
        rows = np.flatnonzero(terminated | truncated)
        info_out: dict[str, Any] = {
            "episode": self._tensor(self.episode), "lap_finished": self._tensor(lap),
            "episode_return": self._tensor(self.episode_return, torch.float32),
            "episode_length": self._tensor(self.steps), "final_index": self._tensor(rows, torch.long),
            "final_obs": to_frames(self.pixels[rows], self.size, self.device)}
        if len(rows):
            self._start(rows, self.generator.integers(SPLIT_SIZE, size=len(rows)))
        return (self.observe(), self._tensor(reward, torch.float32), self._tensor(terminated),
                self._tensor(truncated), info_out)

    def _tensor(self, array: np.ndarray, dtype: torch.dtype | None = None) -> torch.Tensor:
        """A copy of ``array`` on the env's device (the arrays are the env's own, reused every step)."""
        return torch.tensor(array, dtype=dtype, device=self.device)

    def observe(self) -> torch.Tensor:
        """The current frame of every game (a fresh tensor)."""
        return to_frames(self.pixels, self.size, self.device)

    # -- episodes ----------------------------------------------------------------------

    def _start(self, rows: np.ndarray, episodes: np.ndarray) -> None:
        seeds = episode_seeds(self.split, episodes)
        for row, seed in zip(rows.tolist(), seeds.tolist()):
            self.pixels[row] = self.games[row].reset(seed=seed)[0]
        self.episode[rows] = episodes % SPLIT_SIZE
        self.steps[rows] = 0
        self.episode_return[rows] = 0.0
        self._started = True

    def describe(self) -> dict[str, Any]:
        return {"distinct_episodes": None, "size": self.size, "restorable": False}

    def close(self) -> None:
        for game in self.games:
            game.close()

    def __repr__(self) -> str:
        return f"CarRacingVecEnv({self.split}, {self.num_envs} envs, {self.size}x{self.size}, device={self.device})"
