"""``SokobanGymVectorEnv``: :class:`~.env.SokobanVecEnv` behind ``gymnasium.vector.VectorEnv``.

The batch runs as tensors on any device; this adapter only converts at the boundary:
actions in (numpy, lists or tensors), numpy arrays out. RGB frames are returned as
``[N, 8H, 8W, 3]`` (height, width, channels), the layout of :class:`~.gym_env.SokobanEnv`,
while the symbolic planes stay ``[N, 7, H, W]``.

Auto-reset is Gymnasium's same-step mode (``metadata["autoreset_mode"]`` is
``AutoresetMode.SAME_STEP``), reported the way Gymnasium's own ``SyncVectorEnv`` reports it:
where a game ended, the returned observation is already the first of the next game and

- ``info["final_obs"]`` is an object array of length ``num_envs`` holding the last
  observation of each game that ended (``None`` elsewhere), ``info["_final_obs"]`` the mask
  of those envs;
- ``info["final_info"]`` is the finished games' last step info, batched (each key an array
  over envs, with its ``_key`` mask): ``solved``, ``episode_return``, ``episode_length`` and
  ``level_index``; ``info["_final_info"]`` is the same mask.

``info["level_index"]`` (with mask ``_level_index``) is the bank level each env is playing
now, after any reset.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space

from . import rules
from .bank import LevelBank
from .env import SokobanVecEnv
from .generator import generate_levels
from .gym_env import observation_space
from .levels import Level, to_xsb
from .render import rgb_image

__all__ = ["SokobanGymVectorEnv", "BoxobanGymVectorEnv"]


class SokobanGymVectorEnv(gym.vector.VectorEnv):
    """``num_envs`` Sokoban games stepped as one batch (Gymnasium vector API, numpy out).

    Args:
        num_envs: games in the batch.
        levels: a :class:`LevelBank`, a list of levels or a Boxoban file or folder; ``None``
            generates a bank of ``num_levels`` levels of ``height x width`` with ``boxes``
            boxes from generator seed ``level_seed`` (the same bank for the same arguments).
        observation: ``"symbolic"`` or ``"rgb"``.
        max_steps: episodes are truncated after this many steps. ``max_episode_steps``
            (what ``gymnasium.make_vec`` passes) overrides it when given.
        device: where the batch lives (``"cpu"``, ``"cuda"``); outputs are numpy anyway.
        seed: seeds the level sampler (``reset(seed=...)`` reseeds it).
        render_mode: ``None``, ``"rgb_array"`` or ``"ansi"``: ``render()`` returns one
            frame or XSB text per env.
    """

    metadata = {
        "render_modes": ["rgb_array", "ansi"],
        "render_fps": 8,
        "autoreset_mode": AutoresetMode.SAME_STEP,
    }

    def __init__(
        self,
        num_envs: int = 16,
        levels: LevelBank | Sequence[Level] | str | Path | None = None,
        height: int = 10,
        width: int = 10,
        boxes: int = 4,
        num_levels: int = 10_000,
        level_seed: int = 0,
        observation: str = "symbolic",
        max_steps: int = 120,
        device: torch.device | str = "cpu",
        seed: int | None = None,
        render_mode: str | None = None,
        max_episode_steps: int | None = None,
    ) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode must be None or one of {self.metadata['render_modes']}, got {render_mode!r}"
            )
        if levels is None:
            levels = generate_levels(num_levels, height, width, boxes, seed=level_seed)
        if max_episode_steps is not None:
            max_steps = max_episode_steps
        self.env = SokobanVecEnv(levels, num_envs=num_envs, observation=observation,
                                 max_steps=max_steps, device=device, seed=seed, copy_obs=False)
        self.num_envs = num_envs
        self.observation = observation
        self.render_mode = render_mode
        self.metadata = dict(self.metadata)
        height, width = self.env.height, self.env.width
        self.single_observation_space = observation_space(observation, height, width)
        self.single_action_space = gym.spaces.Discrete(rules.NUM_ACTIONS)
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)

    @property
    def bank(self) -> LevelBank:
        return self.env.bank

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        if seed is not None and (not isinstance(seed, (int, np.integer)) or isinstance(seed, bool)):
            raise TypeError(
                f"seed must be one integer (it seeds the whole batch's level sampler), got {seed!r}"
            )
        super().reset(seed=seed)
        if options:
            raise ValueError(f"SokobanGymVectorEnv.reset takes no options, got {sorted(options)}")
        obs, info = self.env.reset(seed=None if seed is None else int(seed))
        level_index = info["level_index"].cpu().numpy()
        return self._numpy_obs(obs), {"level_index": level_index, "_level_index": self._all()}

    def step(self, actions):
        if isinstance(actions, torch.Tensor):
            actions = actions.to(self.env.device)
        else:
            actions = np.asarray(actions)
            if actions.dtype.kind not in "iu":
                raise ValueError(f"actions must be integers in 0..{rules.NUM_ACTIONS - 1}, "
                                 f"got an array of {actions.dtype}")
            actions = torch.from_numpy(actions.astype(np.int64, copy=False))
        obs, reward, terminated, truncated, env_info = self.env.step(actions)
        infos: dict[str, Any] = {}
        ended = env_info["final_index"].cpu().numpy()
        if len(ended):
            mask = np.zeros(self.num_envs, dtype=np.bool_)
            mask[ended] = True
            final_obs = np.full(self.num_envs, None, dtype=object)
            for row, last in zip(ended, self._numpy_obs(env_info["final_obs"])):
                final_obs[row] = last
            final_info: dict[str, Any] = {}
            for key, value in (
                ("solved", terminated),
                ("episode_return", env_info["episode_return"]),
                ("episode_length", env_info["episode_length"]),
                ("level_index", env_info["level_index"]),
            ):
                values = value.cpu().numpy()
                batched = np.zeros_like(values)
                batched[mask] = values[mask]
                final_info[key], final_info[f"_{key}"] = batched, mask.copy()
            infos["final_obs"], infos["_final_obs"] = final_obs, mask
            infos["final_info"], infos["_final_info"] = final_info, mask.copy()
        infos["level_index"] = self.env.level_index.cpu().numpy()
        infos["_level_index"] = self._all()
        return (
            self._numpy_obs(obs),
            reward.cpu().numpy().copy(),
            terminated.cpu().numpy().copy(),
            truncated.cpu().numpy().copy(),
            infos,
        )

    def render(self):
        if self.render_mode is None:
            gym.logger.warn("render() was called without a render_mode; pass render_mode="
                            "'rgb_array' or 'ansi'")
            return None
        grids = self.env.codes.view(self.num_envs, self.env.height, self.env.width).cpu().numpy()
        if self.render_mode == "rgb_array":
            return tuple(rgb_image(grid, 1) for grid in grids)
        return tuple(to_xsb(grid) for grid in grids)

    def get_state(self) -> dict[str, torch.Tensor]:
        """The batch's state (see :meth:`SokobanVecEnv.get_state`)."""
        return self.env.get_state()

    def set_state(self, state: dict[str, torch.Tensor]) -> None:
        self.env.set_state(state)

    def to_xsb(self) -> list[str]:
        return self.env.to_xsb()

    # -- internals -----------------------------------------------------------------------

    def _numpy_obs(self, obs: torch.Tensor) -> np.ndarray:
        """A fresh numpy array of a batch of observations, in the single env's layout."""
        if self.observation == "rgb":
            return obs.permute(0, 2, 3, 1).contiguous().cpu().numpy()
        if obs.device.type == "cpu":
            return obs.numpy().copy()
        return obs.cpu().numpy()

    def _all(self) -> np.ndarray:
        return np.ones(self.num_envs, dtype=np.bool_)

    def __repr__(self) -> str:
        return f"SokobanGymVectorEnv({self.env!r})"


class BoxobanGymVectorEnv(SokobanGymVectorEnv):
    """:class:`SokobanGymVectorEnv` on Boxoban levels, which the user must supply as ``levels``."""

    def __init__(self, num_envs: int = 16, levels: LevelBank | Sequence[Level] | str | Path | None = None,
                 **kwargs: Any) -> None:
        if levels is None:
            raise ValueError(
                "reverie/Boxoban-v0 needs levels=<a Boxoban file or folder>, e.g. "
                "gymnasium.make_vec('reverie/Boxoban-v0', num_envs=16, "
                "levels='boxoban-levels/unfiltered/train'); for generated levels use reverie/Sokoban-v0"
            )
        super().__init__(num_envs=num_envs, levels=levels, **kwargs)
