"""Key and door: a 5x5 world that plugs into reverie from outside ``src/``, through its spec.

A wall splits the room at column 2 (mirrored at random); the agent starts on one side with
a key, the goal lies beyond a locked door. Stepping on the key picks it up, stepping into
the door with the key opens it, stepping on the goal ends the episode (success). Rewards are
classes: -0.1 a step, +1 for the key or the door, +10 at the goal (terminal). An episode
id seeds its layout; the splits use disjoint seed ranges. Cell codes are the state, one-hot
planes of them the observation, and the rules (:func:`step_codes`, batched) are both the
env and the perfect model.
"""

from __future__ import annotations

import dataclasses

import gymnasium as gym
import numpy as np
import torch

from reverie.core.errors import ReverieError
from reverie.envs.registry import register_spec
from reverie.envs.spec import ActionSpec, EnvSpec, ObsSpec, RewardSpec, codes_to_planes, planes_to_codes

FLOOR, WALL, KEY, DOOR, GOAL, AGENT, AGENT_WITH_KEY = range(7)
NUM_CODES, SIZE = 7, 5
MOVES = ((-1, 0), (1, 0), (0, -1), (0, 1))  # up, down, left, right
REWARDS = RewardSpec(classes=(-0.1, 1.0, 10.0), terminal=(2,))
SPLIT_OFFSETS = {"train": 0, "valid": 1_000_000, "test": 2_000_000}
SPLIT_SIZE = 1_000_000
PALETTE = torch.tensor([[230, 230, 230], [60, 60, 60], [240, 200, 0], [150, 80, 20], [0, 180, 0],
                        [30, 90, 230], [200, 0, 200]], dtype=torch.uint8)


def _hash(x: torch.Tensor) -> torch.Tensor:
    """A small integer hash (int64, values < 2**31): episode seeds -> independent draws."""
    for _ in range(3):
        x = (x * 1103515245 + 12345) % 2**31
        x = x ^ (x >> 13)
    return x


def layouts(seeds: torch.Tensor) -> torch.Tensor:
    """Episode seeds ``[N]`` -> start grids ``[N, 5, 5]`` uint8, the same grid for the same seed.

    The door is in a random row of the wall, the key just before it; the agent starts in the
    outer column of its side (random row), the goal lies anywhere beyond the door; mirrored
    at random."""
    n, rows = seeds.numel(), torch.arange(seeds.numel(), device=seeds.device)
    door, agent, goal, flip = (_hash(seeds * 8 + j) % k for j, k in enumerate((SIZE, SIZE, 10, 2)))
    codes = torch.full((n, SIZE, SIZE), FLOOR, dtype=torch.uint8, device=seeds.device)
    codes[:, :, 2] = WALL
    codes[rows, door, 2] = DOOR
    codes[rows, door, 1] = KEY
    codes[rows, agent, 0] = AGENT
    codes[rows, goal // 2, 3 + goal % 2] = GOAL
    return torch.where(flip.bool()[:, None, None], codes.flip(2), codes)


def step_codes(codes: torch.Tensor, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The rules on grids ``[B, H, W]``: -> (next grids, reward ``[B]``, reached the goal ``[B]``)."""
    b, h, w = codes.shape
    flat = codes.reshape(b, h * w)
    pos = (flat >= AGENT).to(torch.uint8).argmax(1)
    has_key = (flat == AGENT_WITH_KEY).any(1)
    move = torch.tensor(MOVES, device=codes.device)[action.long()]
    row, col = pos // w + move[:, 0], pos % w + move[:, 1]
    inside = (row >= 0) & (row < h) & (col >= 0) & (col < w)
    target = torch.where(inside, row * w + col, pos)
    seen = flat.gather(1, target[:, None]).squeeze(1)
    moved = inside & (seen != WALL) & ((seen != DOOR) | has_key)
    agent = torch.where(has_key | (seen == KEY), AGENT_WITH_KEY, AGENT).to(flat.dtype)
    after = flat.clone()
    after.scatter_(1, pos[:, None], torch.where(moved, FLOOR, flat.gather(1, pos[:, None]).squeeze(1))[:, None])
    after.scatter_(1, target[:, None], torch.where(moved, agent, after.gather(1, target[:, None]).squeeze(1))[:, None])
    done = moved & (seen == GOAL)
    event = torch.where(done, 2, (moved & ((seen == KEY) | (seen == DOOR))).long())
    return after.view(b, h, w), REWARDS.reward_classes.to_values(event), done


class KeyDoorModel:
    """The rules as an observation model (one-hot planes in and out), with search's fast path."""

    def __init__(self, spec: EnvSpec | None = None) -> None:
        self.spec = spec

    def step_compact(self, codes: torch.Tensor, action: torch.Tensor):
        return step_codes(codes, action)

    def step(self, obs: torch.Tensor, action: torch.Tensor):
        codes, reward, done = step_codes(planes_to_codes(obs), action)
        return codes_to_planes(codes, NUM_CODES, obs.dtype), reward, done


class KeyDoorEnv:
    """``num_envs`` key-and-door games of one split as tensors, with same-step auto-reset."""

    def __init__(self, split: str, num_envs: int, seed: int | None, device: torch.device, max_steps: int) -> None:
        if split not in SPLIT_OFFSETS:
            raise ReverieError(f"keydoor has splits {', '.join(SPLIT_OFFSETS)}, got {split!r}")
        self.num_envs, self.max_steps, self.device, self.offset = num_envs, max_steps, device, SPLIT_OFFSETS[split]
        self.generator = torch.Generator(device)
        self.generator.manual_seed(seed if seed is not None else int(torch.seed() % 2**63))
        self.single_observation_space = gym.spaces.Box(0, 1, (NUM_CODES, SIZE, SIZE), np.float32)
        self.action_space = gym.spaces.Discrete(len(MOVES))
        self.codes = torch.zeros(num_envs, SIZE, SIZE, dtype=torch.uint8, device=device)
        self.episode = torch.zeros(num_envs, dtype=torch.long, device=device)
        self.steps = torch.zeros(num_envs, dtype=torch.long, device=device)
        self.episode_return = torch.zeros(num_envs, device=device)

    def observe(self) -> torch.Tensor:
        return codes_to_planes(self.codes, NUM_CODES)

    def _start(self, rows: torch.Tensor, episodes: torch.Tensor) -> None:
        self.codes[rows] = layouts(self.offset + episodes.to(self.device).long() % SPLIT_SIZE)
        self.episode[rows], self.steps[rows], self.episode_return[rows] = episodes.to(self.device), 0, 0.0

    def _draw(self, count: int) -> torch.Tensor:
        return torch.randint(SPLIT_SIZE, (count,), generator=self.generator, device=self.device)

    def reset(self, seed: int | None = None):
        if seed is not None:
            self.generator.manual_seed(seed)
        self._start(torch.arange(self.num_envs, device=self.device), self._draw(self.num_envs))
        return self.observe(), {"episode": self.episode.clone()}

    def reset_to(self, episodes: torch.Tensor) -> torch.Tensor:
        """Env ``i`` starts held-out episode ``episodes[i]`` of its split (its seeded layout)."""
        episodes = torch.as_tensor(episodes)
        if episodes.shape != (self.num_envs,):
            raise ValueError(f"episodes must have shape ({self.num_envs},), got {tuple(episodes.shape)}")
        self._start(torch.arange(self.num_envs, device=self.device), episodes)
        return self.observe()

    def step(self, actions):
        self.codes, reward, terminated = step_codes(self.codes, torch.as_tensor(actions, device=self.device))
        self.steps += 1
        self.episode_return += reward
        truncated = (self.steps >= self.max_steps) & ~terminated
        ended = (terminated | truncated).nonzero().squeeze(1)
        info = {"episode_return": self.episode_return.clone(), "episode_length": self.steps.clone(),
                "episode": self.episode.clone(), "final_index": ended, "final_obs": self.observe()[ended],
                "success": terminated.clone()}
        if ended.numel():
            self._start(ended, self._draw(ended.numel()))
        return self.observe(), reward, terminated, truncated, info

    def get_state(self) -> dict[str, torch.Tensor]:
        return {"codes": self.codes.clone(), "episode": self.episode.clone(), "steps": self.steps.clone(),
                "episode_return": self.episode_return.clone(), "rng": self.generator.get_state()}

    def set_state(self, state: dict[str, torch.Tensor]) -> None:
        for key in ("codes", "episode", "steps", "episode_return"):
            getattr(self, key).copy_(torch.as_tensor(state[key]))
        self.generator.set_state(torch.as_tensor(state["rng"]))


def render(obs: torch.Tensor) -> torch.Tensor:
    """One-hot planes ``[B, 7, 5, 5]`` (or codes ``[B, 5, 5]``) -> RGB ``[B, 40, 40, 3]`` uint8."""
    codes = planes_to_codes(obs) if obs.dim() == 4 else obs
    return PALETTE[codes.long().cpu()].repeat_interleave(8, 1).repeat_interleave(8, 2)


def _make(spec: EnvSpec, split: str, num_envs: int, seed: int | None, device: torch.device,
          max_steps: int | None = None, observation: str = "symbolic") -> KeyDoorEnv:
    return KeyDoorEnv(split, num_envs, seed, device, int(max_steps or spec.max_steps))


def _configure(spec: EnvSpec, **options) -> EnvSpec:
    """Options: ``max_steps``; ``observation`` is only ``symbolic`` (the world's own planes)."""
    if set(options) - {"max_steps", "observation"} or options.get("observation", "symbolic") != "symbolic":
        raise ReverieError(f"env {spec.id} takes max_steps and observation=symbolic, got {options}")
    return dataclasses.replace(spec, max_steps=int(options.get("max_steps", spec.max_steps)))


SPEC = EnvSpec(
    id="keydoor-5x5", description="key and door, 5x5 (a world defined in tests/)",
    observation=ObsSpec("onehot", (NUM_CODES, SIZE, SIZE), NUM_CODES),
    actions=ActionSpec(len(MOVES), ("up", "down", "left", "right")), rewards=REWARDS, make=_make,
    max_steps=20, success="goal", perfect_model=KeyDoorModel, default_model=None, render=render,
    configure=_configure,
)


def register() -> EnvSpec:
    """Make ``keydoor-5x5`` known to reverie (:func:`reverie.envs.registry.unregister_spec` undoes it)."""
    register_spec(SPEC, replace=True)
    return SPEC
