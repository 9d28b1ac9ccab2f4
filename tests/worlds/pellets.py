"""Pellets: a 6x6 binary-plane world with events, for the frame model's tests.

Planes (player, food, trail) hold multiples of 1/20 like MiniPacman's: the cell the player
leaves gets trail 1, and every trail fades by 5/20 a step. Actions 0 stay, 1 right, 2 up,
3 left, 4 down. Events per step: ``step`` (always 1), ``food`` (the player stepped on food),
``bump`` (it walked into the border, which ends the episode). Two tasks weigh them:
``eat`` (food +1, bump -1) and ``wander`` (+0.1 a step, food -1, bump -5). An episode id
seeds the start; splits use disjoint id ranges.
"""

from __future__ import annotations

import dataclasses

import gymnasium as gym
import numpy as np
import torch

from reverie.envs.registry import register_spec
from reverie.envs.spec import ActionSpec, EnvSpec, ObsSpec, RewardSpec

SIZE, CELLS, LEVELS, FADE, FOOD = 6, 36, 20, 5, 10
MOVES = torch.tensor([(0, 0), (0, 1), (-1, 0), (0, -1), (1, 0)])
TASKS = {"eat": (0.0, 1.0, -1.0), "wander": (0.1, -1.0, -5.0)}
REWARDS = RewardSpec(events=("step", "food", "bump"), tasks=TASKS, task="eat", event_max=(1, 1, 1),
                     terminal_events=(2,))
OFFSETS = {"train": 0, "valid": 1_000_000, "test": 2_000_000}


def _hash(x: torch.Tensor) -> torch.Tensor:
    for _ in range(3):
        x = (x * 1103515245 + 12345) % 2**31
        x = x ^ (x >> 13)
    return x


class PelletsEnv:
    """Batched pellets games with same-step auto-reset and ``info["events"]``."""

    def __init__(self, spec, split: str, num_envs: int, seed: int | None, max_steps: int) -> None:
        self.spec, self.num_envs, self.max_steps, self.offset = spec, num_envs, max_steps, OFFSETS[split]
        self.generator = torch.Generator().manual_seed(0 if seed is None else seed)
        self.single_observation_space = gym.spaces.Box(0, 1, (3, SIZE, SIZE), np.float32)
        self.action_space = gym.spaces.Discrete(5)
        self.player = torch.zeros(num_envs, dtype=torch.long)
        self.food = torch.zeros(num_envs, CELLS, dtype=torch.bool)
        self.trail = torch.zeros(num_envs, CELLS, dtype=torch.long)
        self.steps = torch.zeros(num_envs, dtype=torch.long)
        self.returns = torch.zeros(num_envs)
        self.episode = torch.zeros(num_envs, dtype=torch.long)

    def _start(self, rows: torch.Tensor, episodes: torch.Tensor) -> None:
        key = self.offset + episodes.long()
        scores = _hash(key[:, None] * 64 + torch.arange(CELLS)[None])
        order = scores.argsort(1)
        self.player[rows] = order[:, 0]
        food = torch.zeros(len(rows), CELLS, dtype=torch.bool)
        food.scatter_(1, order[:, 1:1 + FOOD], True)
        self.food[rows], self.trail[rows] = food, 0
        self.steps[rows], self.returns[rows], self.episode[rows] = 0, 0.0, episodes.long()

    def observe(self) -> torch.Tensor:
        obs = torch.zeros(self.num_envs, 3, CELLS)
        obs[torch.arange(self.num_envs), 0, self.player] = 1.0
        obs[:, 1] = self.food.float()
        obs[:, 2] = self.trail.float() / LEVELS
        return obs.view(self.num_envs, 3, SIZE, SIZE)

    def reset(self, seed: int | None = None):
        if seed is not None:
            self.generator.manual_seed(seed)
        self._start(torch.arange(self.num_envs), torch.randint(10**6, (self.num_envs,), generator=self.generator))
        return self.observe(), {"episode": self.episode.clone()}

    def reset_to(self, episodes) -> torch.Tensor:
        self._start(torch.arange(self.num_envs), torch.as_tensor(episodes))
        return self.observe()

    def step(self, actions):
        actions = torch.as_tensor(actions).long()
        rows = torch.arange(self.num_envs)
        move = MOVES[actions]
        r, c = self.player // SIZE + move[:, 0], self.player % SIZE + move[:, 1]
        inside = (r >= 0) & (r < SIZE) & (c >= 0) & (c < SIZE)
        target = torch.where(inside, r * SIZE + c, self.player)
        moved = target != self.player
        self.trail = (self.trail - FADE).clamp(min=0)
        self.trail[rows[moved], self.player[moved]] = LEVELS
        ate = self.food[rows, target]
        self.food[rows, target] = False
        self.player = target
        events = torch.stack((torch.ones(self.num_envs), ate.float(), (~inside).float()), 1)
        reward = self.spec.rewards.event_reward(events)
        terminated = ~inside
        self.steps += 1
        self.returns += reward
        truncated = (self.steps >= self.max_steps) & ~terminated
        ended = (terminated | truncated).nonzero().squeeze(1)
        info = {"events": events, "final_index": ended, "final_obs": self.observe()[ended],
                "episode_return": self.returns.clone(), "episode_length": self.steps.clone(),
                "episode": self.episode.clone()}
        if ended.numel():
            self._start(ended, torch.randint(10**6, (ended.numel(),), generator=self.generator))
        return self.observe(), reward, terminated, truncated, info


def _make(spec, split, num_envs, seed, device, max_steps=None):
    return PelletsEnv(spec, split, num_envs, seed, int(max_steps or spec.max_steps))


def _configure(spec, **options):
    return dataclasses.replace(spec, max_steps=int(options.get("max_steps", spec.max_steps)))


def player(obs: torch.Tensor) -> torch.Tensor:
    return obs[:, 0] > 0.5


def food(obs: torch.Tensor) -> torch.Tensor:
    return obs[:, 1] > 0.5


SPEC = EnvSpec(
    id="pellets-6x6", description="pellets, 6x6 binary planes with events (a world defined in tests/)",
    observation=ObsSpec("binary", (3, SIZE, SIZE), levels=LEVELS),
    actions=ActionSpec(5, ("stay", "right", "up", "left", "down")), rewards=REWARDS, make=_make,
    max_steps=30, success=None, configure=_configure,
    extra={"entities": {"player": player, "food": food}},
)


def with_task(spec: EnvSpec, task: str) -> EnvSpec:
    """The same world scored by another task's weights."""
    return dataclasses.replace(spec, id=f"pellets-6x6-{task}", rewards=dataclasses.replace(spec.rewards, task=task))


def register() -> EnvSpec:
    register_spec(SPEC, replace=True)
    return SPEC
