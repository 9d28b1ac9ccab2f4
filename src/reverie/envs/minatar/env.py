"""``BreakoutVecEnv``: many MinAtar Breakout games as one batch of tensors, with same-step auto-reset.

Each game plays an episode id of its split. The id's key decides the episode's random draws
(which side the ball starts from; which steps repeat the last action when actions are
sticky) through the counter-based generator, so an episode plays the same way whatever the
batch around it and ``reset_to`` names exactly the held-out episodes an evaluation scores.
Unlike the ``minatar`` package, a new episode starts with no previous action to repeat (the
package carries the last episode's action over, docs/minatar.md).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch

from ...core.counter_rng import hash32, uniform
from ...core.errors import ReverieError
from ..spec import checked_actions, checked_episodes
from . import breakout
from .breakout import ACTION_NAMES, PLANES, SIZE, BreakoutState

__all__ = ["BreakoutVecEnv", "episode_keys", "SPLIT_SIZE", "STICKY", "FRAME_CAP"]

SPLIT_OFFSETS = {"train": 0, "valid": 1 << 30, "test": 2 << 30}
SPLIT_SIZE = 1 << 30
#: MinAtar's default chance that the last action repeats instead of the chosen one.
STICKY = 0.1
#: The frame cap (MinAtar has none; a game a policy never loses must still end somewhere).
FRAME_CAP = 10_000
ACTIONS = len(ACTION_NAMES)


def episode_keys(split: str, episodes: torch.Tensor) -> torch.Tensor:
    """The key of each episode id of a split (distinct ids, distinct keys)."""
    if split not in SPLIT_OFFSETS:
        raise ReverieError(f"MinAtar Breakout splits are {', '.join(SPLIT_OFFSETS)}, got {split!r}")
    return hash32(SPLIT_OFFSETS[split] + torch.as_tensor(episodes).long() % SPLIT_SIZE)


def start_side(keys: torch.Tensor) -> torch.Tensor:
    """Whether each episode's ball starts at the right wall (draw 0 of its key)."""
    return uniform(keys, 0, 1)[:, 0] < 0.5


class BreakoutVecEnv:
    """``num_envs`` Breakout games of one split on one device.

    ``step(actions)`` -> ``(obs, reward, terminated, truncated, info)``: ``terminated`` is the
    ball lost, ``truncated`` the frame cap. ``info``: ``events [N, 2]`` (bricks broken, ball
    lost; reward = bricks), ``episode`` (the id each game played this step),
    ``episode_return``/``episode_length`` (valid where a game ended), ``final_index`` and
    ``final_obs`` (the games that ended and their last observations).
    """

    def __init__(self, split: str = "train", num_envs: int = 1, seed: int | None = None,
                 device: torch.device | str = "cpu", sticky: float = STICKY, frame_cap: int = FRAME_CAP) -> None:
        if split not in SPLIT_OFFSETS:
            raise ReverieError(f"MinAtar Breakout splits are {', '.join(SPLIT_OFFSETS)}, got {split!r}")
        if int(num_envs) < 1 or int(frame_cap) < 1:
            raise ReverieError(f"num_envs and frame_cap must be >= 1, got {num_envs}, {frame_cap}")
        if not 0.0 <= float(sticky) < 1.0:
            raise ReverieError(f"sticky must be a probability in [0, 1), got {sticky!r}")
        self.split, self.sticky = split, float(sticky)
        self.num_envs, self.max_steps, self.frame_cap = int(num_envs), int(frame_cap), int(frame_cap)
        self.device = torch.device(device)
        self.single_observation_space = gym.spaces.Box(0.0, 1.0, (len(PLANES), SIZE, SIZE), np.float32)
        self.action_space = gym.spaces.Discrete(ACTIONS)
        self.generator = torch.Generator(self.device)
        self.generator.manual_seed(seed if seed is not None else int(torch.seed() % 2**63))
        n = self.num_envs
        self.state = breakout.initial_state(torch.zeros(n, dtype=torch.bool, device=self.device))
        self.episode = torch.zeros(n, dtype=torch.long, device=self.device)
        self.keys = torch.zeros(n, dtype=torch.long, device=self.device)
        self.episode_return = torch.zeros(n, dtype=torch.float32, device=self.device)
        self._obs = torch.empty(n, len(PLANES), SIZE, SIZE, dtype=torch.float32, device=self.device)
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
        actions = checked_actions(actions, self.num_envs, ACTION_NAMES, self.device)
        sticky = None
        if self.sticky > 0:
            sticky = uniform(self.keys, self.state.frame + 1, 1)[:, 0] < self.sticky
        self.state, events = breakout.step(self.state, actions, sticky)
        reward = events[:, 0].float()
        self.episode_return += reward
        lost = events[:, 1] > 0
        truncated = (self.state.frame >= self.frame_cap) & ~lost
        ended = (lost | truncated).nonzero().squeeze(1)
        info: dict[str, Any] = {"events": events, "episode": self.episode.clone(),
                                "episode_return": self.episode_return.clone(),
                                "episode_length": self.state.frame.clone(), "final_index": ended,
                                "final_obs": breakout.observe(self.state.index(ended))}
        if ended.numel():
            self._start(ended, self._draw(ended.numel()), observe=False)
        breakout.observe(self.state, self._obs)
        return self.observe(), reward, lost, truncated, info

    def observe(self) -> torch.Tensor:
        """The current observation of every game (a fresh tensor)."""
        return self._obs.clone()

    # -- episodes ----------------------------------------------------------------------

    def _draw(self, count: int) -> torch.Tensor:
        return torch.randint(SPLIT_SIZE, (count,), generator=self.generator, device=self.device)

    def _start(self, rows: torch.Tensor, episodes: torch.Tensor, observe: bool = True) -> None:
        keys = episode_keys(self.split, episodes)
        self.episode[rows] = episodes
        self.keys[rows] = keys
        self.episode_return[rows] = 0.0
        self.state.assign(rows, breakout.initial_state(start_side(keys)))
        if observe:
            breakout.observe(self.state, self._obs)
        self._started = True

    # -- state for checkpoints ---------------------------------------------------------

    def get_state(self) -> dict[str, torch.Tensor]:
        """Everything that decides the future: the games, their episode ids and returns, the generator."""
        state = {f"state.{k}": v for k, v in self.state.to_dict().items()}
        return {**state, "episode": self.episode.clone(), "episode_return": self.episode_return.clone(),
                "rng": self.generator.get_state()}

    def set_state(self, state: dict[str, torch.Tensor]) -> None:
        """Resume exactly from :meth:`get_state`."""
        games = BreakoutState.from_dict({k[6:]: v for k, v in state.items() if k.startswith("state.")}, self.device)
        if games.batch != self.num_envs:
            raise ReverieError(f"state holds {games.batch} games, this env {self.num_envs}")
        self.state = games
        self.episode.copy_(torch.as_tensor(state["episode"]))
        self.keys.copy_(episode_keys(self.split, self.episode))
        self.episode_return.copy_(torch.as_tensor(state["episode_return"]))
        self.generator.set_state(torch.as_tensor(state["rng"]))
        breakout.observe(self.state, self._obs)
        self._started = True

    def describe(self) -> dict[str, Any]:
        return {"distinct_episodes": None, "sticky": self.sticky}

    def __repr__(self) -> str:
        return f"BreakoutVecEnv({self.split}, {self.num_envs} envs, sticky={self.sticky}, device={self.device})"
