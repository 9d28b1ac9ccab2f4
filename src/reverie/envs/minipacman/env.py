"""``MiniPacmanVecEnv``: many MiniPacman games as one batch of tensors, with same-step auto-reset.

A step is :func:`.rules.step` on the whole batch, the next level for the games that cleared
theirs, a redraw of the cells that changed, then new episodes for the games that ended
(killed, or at the frame cap). Each game plays an episode id of its split; the id's key
decides every random draw (counter-based), so an episode plays the same game whatever the
batch around it, and ``reset_to`` names exactly the held-out episodes an evaluation scores.

Speed: new episodes come from a pool of first frames prepared a block at a time (ids drawn
from the env's generator in order, so the games are the same as one at a time), ghost
draws are made only for the slots some game may use, and the frames are kept between steps.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch

from ...core.errors import ReverieError
from . import observation as obs_mod
from . import rules
from ..spec import checked_actions, checked_episodes
from .maze import ACTION_NAMES
from .rules import TASK_WEIGHTS, PacmanState

ACTIONS = 5
POOL = 256  # fewest new episodes prepared at once


class MiniPacmanVecEnv:
    """``num_envs`` MiniPacman games of one task and split on one device.

    ``step(actions)`` -> ``(obs, reward, terminated, truncated, info)``; ``terminated`` is the
    player killed, ``truncated`` the frame cap. ``info``: ``events [N, 5]`` (step, food, pill,
    ghost, killed; reward = events . weights), ``level``, ``episode`` (the id each game played
    this step), ``episode_return``/``episode_length`` (valid where a game ended),
    ``final_index`` and ``final_obs`` (the games that ended and their last observations). A
    game that clears a level goes on in the next one: the observation returned is the new
    level's first frame.
    """

    def __init__(self, task: str = "regular", split: str = "train", num_envs: int = 1, seed: int | None = None,
                 device: torch.device | str = "cpu", observation: str = "rgb", frame_cap: int = 3000,
                 timer: str = "paper", max_ghosts: int = 8) -> None:
        self.rules = rules.task_rules(task, timer)
        if split not in rules.SPLIT_OFFSETS:
            raise ReverieError(f"MiniPacman splits are {', '.join(rules.SPLIT_OFFSETS)}, got {split!r}")
        if observation not in obs_mod.OBSERVATIONS:
            raise ReverieError(f"observation must be one of {', '.join(obs_mod.OBSERVATIONS)}, got {observation!r}")
        if int(num_envs) < 1 or int(frame_cap) < 1 or int(max_ghosts) < 1:
            raise ReverieError(f"num_envs, frame_cap and max_ghosts must be >= 1, got {num_envs}, {frame_cap}, "
                               f"{max_ghosts}")
        self.task, self.split, self.observation, self.timer = task, split, observation, timer
        self.num_envs, self.max_steps, self.frame_cap = int(num_envs), int(frame_cap), int(frame_cap)
        self.max_ghosts, self.device = int(max_ghosts), torch.device(device)
        self.single_observation_space = gym.spaces.Box(0.0, 1.0, obs_mod.shape(observation), np.float32)
        self.action_space = gym.spaces.Discrete(ACTIONS)
        self.weights = torch.tensor(TASK_WEIGHTS[task], dtype=torch.float32, device=self.device)
        self.generator = torch.Generator(self.device)
        self.generator.manual_seed(seed if seed is not None else int(torch.seed() % 2**63))
        n = self.num_envs
        self.state = PacmanState.empty(n, self.max_ghosts, self.device)
        self.episode = torch.zeros(n, dtype=torch.long, device=self.device)
        self.keys = torch.zeros(n, dtype=torch.long, device=self.device)
        self.episode_return = torch.zeros(n, dtype=torch.float32, device=self.device)
        self.frames = obs_mod.ObservationBuffer(observation, n, self.device)
        self._pool_size = max(POOL, n)
        self._pool: tuple[torch.Tensor, torch.Tensor, PacmanState, torch.Tensor] | None = None
        self._pool_rng = self.generator.get_state()  # the generator before the pool's ids were drawn
        self._pool_pos = 0
        self._slots = self.max_ghosts  # ghost slots some game may use (the draws skip the others)
        self._started = False

    # -- the batch API -----------------------------------------------------------------

    def reset(self, seed: int | None = None) -> tuple[torch.Tensor, dict[str, Any]]:
        """New episodes everywhere (ids drawn from the env's generator; ``seed`` reseeds it)."""
        if seed is not None:
            self.generator.manual_seed(seed)
        self._pool = None
        self._start(torch.arange(self.num_envs, device=self.device), self._draw(self.num_envs))
        return self.observe(), {"episode": self.episode.clone(), "level": self.state.level.clone()}

    def reset_to(self, episodes) -> torch.Tensor:
        """Game ``i`` starts held-out episode ``episodes[i]`` of the split (the generator is untouched)."""
        self._start(torch.arange(self.num_envs, device=self.device),
                    checked_episodes(episodes, self.num_envs, self.device))
        return self.observe()

    def step(self, actions) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, dict[str, Any]]:
        if not self._started:
            raise ReverieError("call reset() or reset_to() before step()")
        actions = checked_actions(actions, self.num_envs, ACTION_NAMES, self.device)
        before = self.state
        draws = rules.draws(self.keys, before.frame, self.max_ghosts, self._slots)
        state, events, killed, cleared = rules.step(before, actions.long(), draws, self.rules)
        self.state = state
        self.frames.update(before, state)
        reward = events @ self.weights
        self.episode_return += reward
        truncated = (state.frame >= self.frame_cap) & ~killed
        ended_mask = killed | truncated
        # one host sync for the (few) games that change level or episode
        changed = (cleared | ended_mask).nonzero().squeeze(1)
        ended, next_level = changed, changed
        if changed.numel():
            # a level cleared on the frame-cap step still starts: the final frame is the game's real state
            ended, next_level = changed[ended_mask[changed]], changed[cleared[changed]]
            if next_level.numel():
                level = state.level[next_level] + 1
                rules.new_level(state, next_level, rules.spawn_draws(self.keys[next_level], level, self.max_ghosts),
                                level)
                self.frames.redraw(state, next_level)
        info: dict[str, Any] = {"events": events, "level": state.level.clone(), "episode": self.episode.clone(),
                                "episode_return": self.episode_return.clone(),
                                "episode_length": state.frame.clone(), "final_index": ended,
                                "final_obs": self.frames.frames[ended]}
        if ended.numel():
            self._renew(ended)
        if changed.numel():
            self._slots = int(rules.ghost_count(state.level.max(), self.max_ghosts))
        return self.observe(), reward, killed, truncated, info

    def observe(self) -> torch.Tensor:
        """The current observation of every game (a fresh tensor)."""
        return self.frames.frames.clone()

    # -- episodes ----------------------------------------------------------------------

    def _draw(self, count: int) -> torch.Tensor:
        return torch.randint(rules.SPLIT_SIZE, (count,), generator=self.generator, device=self.device)

    def _start(self, rows: torch.Tensor, episodes: torch.Tensor) -> None:
        """Start ``episodes`` in the games ``rows`` (computed directly)."""
        keys = rules.episode_keys(self.split, episodes)
        one = torch.ones_like(rows)
        self.episode[rows] = episodes
        self.keys[rows] = keys
        self.episode_return[rows] = 0.0
        self.state.frame[rows] = 0
        rules.new_level(self.state, rows, rules.spawn_draws(keys, one, self.max_ghosts), one)
        self.frames.redraw(self.state, rows)
        self._slots = int(rules.ghost_count(self.state.level.max(), self.max_ghosts))
        self._started = True

    def _fill_pool(self, rng: torch.Tensor | None = None) -> None:
        """Draw the next block of episode ids and prepare their first frames."""
        if rng is not None:
            self.generator.set_state(rng)
        self._pool_rng = self.generator.get_state()
        episodes = self._draw(self._pool_size)
        keys = rules.episode_keys(self.split, episodes)
        games = rules.initial_state(keys, self.max_ghosts)
        self._pool = (episodes, keys, games, obs_mod.observe(games, self.observation))
        self._pool_pos = 0

    def _renew(self, rows: torch.Tensor) -> None:
        """New episodes in the games ``rows``: the next ids of the generator, from the pool."""
        count = rows.numel()
        if self._pool is None or self._pool_pos + count > self._pool_size:
            self._fill_pool()
        episodes, keys, games, frames = self._pool
        take = slice(self._pool_pos, self._pool_pos + count)
        self._pool_pos += count
        self.episode[rows] = episodes[take]
        self.keys[rows] = keys[take]
        self.episode_return[rows] = 0.0
        self.state.assign(rows, games.index(take))
        self.frames.frames[rows] = frames[take]

    # -- state for checkpoints ---------------------------------------------------------

    def get_state(self) -> dict[str, torch.Tensor]:
        """Everything that decides the future: the games, their episode ids and returns, the
        generator (and where the pool of prepared episodes stands)."""
        state = {f"state.{k}": v for k, v in self.state.to_dict().items()}
        pool = -1 if self._pool is None else self._pool_pos
        return {**state, "episode": self.episode.clone(), "episode_return": self.episode_return.clone(),
                "rng": self.generator.get_state(), "pool_rng": self._pool_rng.clone(),
                "pool_pos": torch.tensor(pool)}

    def set_state(self, state: dict[str, torch.Tensor]) -> None:
        """Resume exactly from :meth:`get_state`."""
        games = PacmanState.from_dict({k[6:]: v for k, v in state.items() if k.startswith("state.")}, self.device)
        if games.batch != self.num_envs or games.max_ghosts != self.max_ghosts:
            raise ReverieError(f"state holds {games.batch} games with {games.max_ghosts} ghost slots, this env "
                               f"{self.num_envs} with {self.max_ghosts}")
        self.state = games
        self.episode.copy_(torch.as_tensor(state["episode"]))
        self.keys.copy_(rules.episode_keys(self.split, self.episode))
        self.episode_return.copy_(torch.as_tensor(state["episode_return"]))
        pool = int(state.get("pool_pos", -1))
        self._pool = None
        if pool >= 0:
            self._fill_pool(torch.as_tensor(state["pool_rng"]))
            self._pool_pos = pool
        self.generator.set_state(torch.as_tensor(state["rng"]))
        self.frames.redraw(self.state)
        self._slots = int(rules.ghost_count(self.state.level.max(), self.max_ghosts))
        self._started = True

    def describe(self) -> dict[str, Any]:
        return {"distinct_episodes": None, "task": self.task, "timer": self.timer, "max_ghosts": self.max_ghosts}

    def __repr__(self) -> str:
        return (f"MiniPacmanVecEnv({self.task}, {self.split}, {self.num_envs} envs, {self.observation}, "
                f"device={self.device})")
