"""``SokobanVecEnv``: many Sokoban games stepped as one batch of tensors, with auto-reset.

Every step is the batched rules of :mod:`.rules`, an incremental redraw of the observations,
then an automatic reset that copies a fresh level from the bank into each finished game. No
Python loop runs over environments or cells; the one host synchronisation a step is the list
of finished games, so the same code runs on CUDA unchanged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import gymnasium as gym
import numpy as np
import torch

from . import cells, rules
from .bank import LevelBank, load_boxoban
from .levels import Level, to_xsb
from .observation import ObservationBuffer
from .render import SPRITE

OBSERVATIONS = ("symbolic", "rgb")
LevelSource = LevelBank | Sequence[Level] | str | Path


def as_bank(levels: LevelSource) -> LevelBank:
    """A level bank from a bank, a list of levels, or a Boxoban file or folder path."""
    if isinstance(levels, LevelBank):
        return levels
    if isinstance(levels, (str, Path)):
        return load_boxoban(levels)
    return LevelBank.from_levels(levels)


class SokobanVecEnv:
    """A batch of ``num_envs`` Sokoban games on one device.

    ``step(actions)`` returns ``(obs, reward, terminated, truncated, info)`` as tensors.
    A game that ends is reset in the same step (Gymnasium's "same-step" auto-reset): the
    returned observation is the first of the new episode, and ``info`` holds the finished
    episodes' ``episode_return`` and ``episode_length`` (valid where done), and
    ``final_obs`` / ``final_index``: the last observations of the games that ended and their
    env indices (to bootstrap truncated episodes from).

    Observations are kept between steps and only the cells a step changed are redrawn.
    With ``copy_obs=False`` ``step`` returns that buffer itself, valid until the next step
    (faster where the caller copies it into its own storage anyway). ``obs_dtype`` is the
    symbolic planes' dtype: ``torch.uint8`` stores the same 0/1 values as the float32
    default in a quarter of the bytes (4x less to copy a step; see docs/benchmarks.md), for
    consumers that convert at a network's input; a learned model that writes soft
    (fractional) planes of the observation's dtype needs the float32 default.
    """

    def __init__(
        self,
        levels: LevelSource,
        num_envs: int = 64,
        observation: str = "symbolic",
        max_steps: int = 120,
        device: torch.device | str = "cpu",
        seed: int | None = None,
        copy_obs: bool = True,
        obs_dtype: torch.dtype = torch.float32,
    ) -> None:
        if observation not in OBSERVATIONS:
            raise ValueError(f"observation must be one of {OBSERVATIONS}, got {observation!r}")
        if num_envs < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        if max_steps < 1:
            raise ValueError(f"max_steps must be >= 1, got {max_steps}")
        self.bank = as_bank(levels)
        self.num_envs, self.observation, self.max_steps = num_envs, observation, max_steps
        self.device = torch.device(device)
        self.copy_obs = copy_obs
        self.height, self.width = self.bank.shape
        self.tables = rules.make_tables(self.width, self.device)
        self.obs_buffer = ObservationBuffer(observation, num_envs, self.height, self.width,
                                            self.device, obs_dtype)
        self._bank_codes = self.bank.tensor(self.device)
        # each bank level's player cell (row 0) and boxes off target (row 1): a reset copies both at once
        self._bank_counts = torch.stack((rules.player_index(self._bank_codes),
                                         rules.unplaced_boxes(self._bank_codes)))
        self._generator = torch.Generator(self.device)
        self._generator.manual_seed(seed if seed is not None else int(torch.seed() % 2**63))
        from .spec import levels_spec  # (spec.py imports this module)

        #: What this env plays (``make_env`` replaces it with the env id's configured spec).
        self.spec = levels_spec(self.height, self.width, max_steps, observation)
        self.action_space = gym.spaces.Discrete(rules.NUM_ACTIONS)
        self.single_observation_space = self._observation_space(obs_dtype)
        n, hw = num_envs, self.height * self.width
        self.codes = torch.zeros(n, hw, dtype=torch.uint8, device=self.device)
        self._counts = torch.zeros(2, n, dtype=torch.long, device=self.device)
        self.player, self.unplaced = self._counts  # (contiguous) views: the player's cell, boxes off target
        self.steps = torch.zeros(n, dtype=torch.long, device=self.device)
        self.level_index = torch.zeros(n, dtype=torch.long, device=self.device)
        self.episode_return = torch.zeros(n, dtype=torch.float32, device=self.device)
        self._started = False

    def _observation_space(self, dtype: torch.dtype) -> gym.spaces.Box:
        if self.observation == "symbolic":
            np_dtype = torch.empty((), dtype=dtype).numpy().dtype
            return gym.spaces.Box(0, 1, (cells.NUM_CODES, self.height, self.width), np_dtype)
        return gym.spaces.Box(0, 255, (3, self.height * SPRITE, self.width * SPRITE), np.uint8)

    # -- the batch API -------------------------------------------------------------------

    def reset(self, seed: int | None = None) -> tuple[torch.Tensor, dict[str, Any]]:
        """Start a new level in every env; ``seed`` reseeds the level sampler."""
        if seed is not None:
            self._generator.manual_seed(seed)
        self._restart(torch.arange(self.num_envs, device=self.device))
        self._started = True
        return self.observe(), {"level_index": self.level_index.clone()}

    def step(self, actions: torch.Tensor | Sequence[int] | np.ndarray):
        """Advance every env one step; finished games restart from a fresh level."""
        if not self._started:
            raise RuntimeError("call reset() before step()")
        actions = torch.as_tensor(actions, device=self.device)
        if actions.shape != (self.num_envs,) or actions.is_floating_point() or actions.is_complex():
            raise ValueError(
                f"actions must be an integer tensor of shape ({self.num_envs},), got "
                f"{tuple(actions.shape)} {actions.dtype}"
            )
        result = rules.step_(self.codes, self.player, actions.long(), self.tables, self.unplaced)
        self.obs_buffer.update(result.cells, result.before, result.after, result.key)
        self.steps += 1
        self.episode_return += result.reward
        terminated = result.solved
        done = torch.logical_or(terminated, self.steps >= self.max_steps)
        truncated = done ^ terminated  # out of time and not solved
        # One host sync a step: which games ended (few), so only those are redrawn.
        ended = done.nonzero().squeeze(1)
        info: dict[str, Any] = {
            "episode_return": self.episode_return.clone(),
            "episode_length": self.steps.clone(),
            "level_index": self.level_index.clone(),
            "final_index": ended,
            "final_obs": self.obs_buffer.tensor().index_select(0, ended),
            "success": terminated,  # an episode terminates only when its level is solved
        }
        self._restart(ended)
        return self.observe(), result.reward, terminated, truncated, info

    def _restart(self, rows: torch.Tensor) -> None:
        """Start a freshly sampled bank level in the envs ``rows``."""
        if rows.numel() == 0:
            return
        fresh = torch.randint(len(self.bank), (rows.numel(),), device=self.device,
                              generator=self._generator)
        # (index_select/index_copy_ rather than tensor[rows]: on CPU, advanced indexing of a
        # 2-d tensor is several times slower, and on a busy machine its threads can stall it)
        codes = self._bank_codes.index_select(0, fresh)
        self.codes.index_copy_(0, rows, codes)
        self._counts.index_copy_(1, rows, self._bank_counts.index_select(1, fresh))
        self.level_index.index_copy_(0, rows, fresh)
        self.steps.index_fill_(0, rows, 0)
        self.episode_return.index_fill_(0, rows, 0.0)
        self.obs_buffer.redraw(rows, codes)

    def reset_to(self, episodes: torch.Tensor) -> torch.Tensor:
        """Start env ``i`` on bank level ``episodes[i] % len(bank)`` from its first step (what
        held-out evaluation plays: each episode names its level); the sampler is untouched."""
        episodes = torch.as_tensor(episodes, device=self.device).long()
        if episodes.shape != (self.num_envs,):
            raise ValueError(f"episodes must have shape ({self.num_envs},), got {tuple(episodes.shape)}")
        index = episodes % len(self.bank)
        self.codes.copy_(self._bank_codes.index_select(0, index))
        self._counts.copy_(self._bank_counts.index_select(1, index))
        self.level_index.copy_(index)
        self.steps.zero_()
        self.episode_return.zero_()
        self.obs_buffer.redraw(torch.arange(self.num_envs, device=self.device), self.codes)
        self._started = True
        return self.observe()

    def observe(self) -> torch.Tensor:
        """The current observation of every env."""
        obs = self.obs_buffer.tensor()
        return obs.clone() if self.copy_obs else obs

    # -- state for search and checkpoints ------------------------------------------------

    def get_state(self) -> dict[str, torch.Tensor]:
        """A copy of everything that decides the future: grids, step counters, sampler."""
        return {
            "codes": self.codes.view(self.num_envs, self.height, self.width).clone(),
            "steps": self.steps.clone(),
            "level_index": self.level_index.clone(),
            "episode_return": self.episode_return.clone(),
            "rng": self._generator.get_state(),
        }

    def set_state(self, state: dict[str, torch.Tensor]) -> None:
        """Restore a state from :meth:`get_state` (checked, so a bad state fails loudly)."""
        codes = torch.as_tensor(state["codes"])
        expected = (self.num_envs, self.height, self.width)
        if tuple(codes.shape) != expected:
            raise ValueError(f"state codes have shape {tuple(codes.shape)}, expected {expected}")
        flat = codes.reshape(self.num_envs, -1).to(self.device, torch.uint8)
        if int(flat.max()) >= cells.NUM_CODES:
            raise ValueError("state codes hold values that are not Sokoban cells")
        if not bool(((flat >= cells.PLAYER).sum(1) == 1).all()):
            raise ValueError("every state grid needs exactly one player")
        grids = flat.view(expected)
        border = torch.cat([grids[:, 0], grids[:, -1], grids[:, :, 0], grids[:, :, -1]], dim=1)
        if bool((border != cells.WALL).any()):
            raise ValueError("every border cell of a state grid must be a wall")
        counters = {}
        for key in ("steps", "level_index", "episode_return"):
            value = torch.as_tensor(state.get(key, getattr(self, key)))
            if tuple(value.shape) != (self.num_envs,):
                raise ValueError(f"state {key!r} has shape {tuple(value.shape)}, expected ({self.num_envs},)")
            counters[key] = value
        self.codes.copy_(flat)
        self.player.copy_(rules.player_index(self.codes))
        self.unplaced.copy_(rules.unplaced_boxes(self.codes))
        self.obs_buffer.redraw(torch.arange(self.num_envs, device=self.device), self.codes)
        for key, value in counters.items():
            getattr(self, key).copy_(value)
        if "rng" in state:
            self._generator.set_state(torch.as_tensor(state["rng"]))
        self._started = True

    def describe(self) -> dict[str, Any]:
        """World details for a run folder's ``config.json`` (the bank and room size; a training
        env's bank is its training levels) and for evaluation (distinct episodes: the bank size)."""
        return {"train_levels": len(self.bank), "level_size": [self.height, self.width],
                "distinct_episodes": len(self.bank)}

    def to_xsb(self) -> list[str]:
        """Each env's current position as XSB text."""
        grids = self.codes.view(self.num_envs, self.height, self.width).cpu().numpy()
        return [to_xsb(grid) for grid in grids]

    def __repr__(self) -> str:
        return (f"SokobanVecEnv({self.num_envs} envs, {self.height}x{self.width}, "
                f"{len(self.bank)} levels, {self.observation}, device={self.device})")
