"""Any seeded reverie env id behind Gymnasium: one game (``SpecGymEnv``) or a batch (``SpecGymVectorEnv``).

A world registers Gymnasium ids by pointing them here with its env id (``GYM_IDS`` entries
``(ENTRY_POINT, VECTOR_ENTRY_POINT, {"env_id": ...})``) instead of writing adapters of its own.
Both adapters step the world's batched env (the single env on a batch of one, on the CPU), so
a game played here follows exactly the rules and episodes the agents train on. Requirements
on the batched env: ``reset_to(episodes)`` (episode ids of a split, as every seeded reverie
world has), ``single_observation_space``, and per-game tensors in ``info``.

Seeding: each reset of the single env plays one episode id of the split, drawn from the
env's ``np_random``, so ``reset(seed=s)`` always starts the same game; ``reset(options=
{"episode": i})`` plays episode ``i``. The vector adapter's episodes come from the batched
env's own generator (``reset(seed=s)`` reseeds it); ``options={"episodes": [...]}`` picks them.

``info`` carries the world's per-game extras every step (e.g. ``events``; in the vector
adapter each with its ``_key`` mask). The vector adapter auto-resets in Gymnasium's same-step
mode: where a game ended the observation is already the next game's first, and
``info["final_obs"]`` / ``info["final_info"]`` (``episode_return``, ``episode_length``,
``episode``) describe the game that ended.
"""

from __future__ import annotations

import operator
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space

from ..core.errors import ReverieError
from .registry import get_spec

__all__ = ["SpecGymEnv", "SpecGymVectorEnv", "ENTRY_POINT", "VECTOR_ENTRY_POINT"]

ENTRY_POINT = "reverie.envs.gym_spec:SpecGymEnv"
VECTOR_ENTRY_POINT = "reverie.envs.gym_spec:SpecGymVectorEnv"
RENDER_MODES = ["rgb_array"]
EPISODES = 1 << 30  # episode ids a reset draws from (every seeded world's split holds this many)
#: info keys of the batched env that the adapters translate rather than pass on
SPINE_KEYS = frozenset({"final_index", "final_obs", "episode_return", "episode_length"})


def _check_render_mode(render_mode: str | None) -> None:
    if render_mode is not None and render_mode not in RENDER_MODES:
        raise ReverieError(f"render_mode must be None or one of {', '.join(RENDER_MODES)}, got {render_mode!r}")


def _episode(value: Any) -> int:
    try:
        if isinstance(value, (bool, np.bool_)):
            raise TypeError
        episode = operator.index(value)
    except TypeError:
        raise ReverieError(f"options['episode'] must be an integer id, got {value!r}") from None
    if not 0 <= episode < EPISODES:
        raise ReverieError(f"options['episode'] must be in 0..{EPISODES - 1}, got {episode}")
    return episode


def _action(action: Any, n: int) -> int:
    try:
        if isinstance(action, (bool, np.bool_)):
            raise TypeError
        value = operator.index(action.item() if isinstance(action, (np.ndarray, torch.Tensor)) and action.size
                               else action)
    except (TypeError, ValueError):
        raise ReverieError(f"actions must be integers in 0..{n - 1}, got {action!r}") from None
    if not 0 <= value < n:
        raise ReverieError(f"actions must be integers in 0..{n - 1}, got {value}")
    return value


def _action_space(spec) -> gym.Space:
    """Discrete(n), or a float32 Box within the bounds of a continuous-action id."""
    actions = spec.actions
    if actions.continuous:
        return gym.spaces.Box(np.array(actions.low, np.float32), np.array(actions.high, np.float32), dtype=np.float32)
    return gym.spaces.Discrete(spec.num_actions)


def _continuous(actions: Any, batch: tuple[int, ...], dim: int) -> torch.Tensor:
    """Continuous actions as a float32 tensor ``batch + [dim]`` (a one-line error otherwise; the env clips)."""
    try:
        array = np.asarray(actions.detach().cpu() if isinstance(actions, torch.Tensor) else actions)
        ok = array.dtype.kind in "fiu" and array.shape == batch + (dim,)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ReverieError(f"actions must be float arrays of shape {batch + (dim,)}, got {actions!r}")
    return torch.from_numpy(array.astype(np.float32)).reshape(-1, dim)


def _extras(info: dict[str, Any], num_envs: int) -> dict[str, np.ndarray]:
    """The world's per-game info tensors (first dimension ``num_envs``) as numpy arrays."""
    return {key: value.detach().cpu().numpy().copy() for key, value in info.items()
            if key not in SPINE_KEYS and isinstance(value, torch.Tensor) and value.dim() >= 1
            and value.shape[0] == num_envs}


def _no_events(spec, batch: tuple[int, ...]) -> dict[str, np.ndarray]:
    """``events`` all zero (shape ``batch + [E]``) for a world whose steps report events, else nothing:
    the reset's info then has the same keys as a step's."""
    events = spec.rewards.events
    return {"events": np.zeros(batch + (len(events),), dtype=np.int64)} if events else {}


def _can_render(render_mode: str | None) -> bool:
    if render_mode is None:
        gym.logger.warn("render() was called without a render_mode; pass render_mode='rgb_array'")
        return False
    return True


class SpecGymEnv(gym.Env):
    """One game of reverie env ``env_id`` (Gymnasium API); ``options`` are the id's env options.

    ``terminated`` / ``truncated`` are the batched env's (the game's end / the step cap).
    ``info``: the world's per-game extras and ``episode`` (the episode id being played).
    """

    metadata = {"render_modes": RENDER_MODES, "render_fps": 8}

    def __init__(self, env_id: str, split: str = "train", render_mode: str | None = None, **options: Any) -> None:
        _check_render_mode(render_mode)
        self.spec_ = get_spec(env_id, **options)
        self.env = self.spec_.make_env(split, 1, 0, "cpu")
        if not callable(getattr(self.env, "reset_to", None)):
            raise ReverieError(f"env {env_id} has no episode ids (reset_to): it cannot be adapted here")
        self.env_id, self.render_mode = env_id, render_mode
        self.observation_space = self.env.single_observation_space
        self.action_space = _action_space(self.spec_)
        self._frame: torch.Tensor | None = None
        self._over = False

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        options = dict(options or {})
        episode = options.pop("episode", None)
        if options:
            raise ReverieError(f"reset takes the option episode, got {', '.join(sorted(options))}")
        episode = int(self.np_random.integers(EPISODES)) if episode is None else _episode(episode)
        self._frame = self.env.reset_to(torch.tensor([episode]))[0].clone()
        self._over = False
        return self._frame.numpy().copy(), {"episode": episode, **_no_events(self.spec_, ()), **self.extra_info()}

    def step(self, action):
        if self._frame is None:
            raise ReverieError("call reset() before step()")
        if self._over:
            raise ReverieError("the episode is over: call reset() before step()")
        if self.spec_.continuous:
            action = _continuous(action, (), self.spec_.actions.dim)
        else:
            action = torch.tensor([_action(action, self.action_space.n)])
        obs, reward, terminated, truncated, info = self.env.step(action)
        ended = info["final_index"].numel() > 0
        self._frame = (info["final_obs"] if ended else obs)[0].clone()
        self._over = ended
        extras = {key: value[0] for key, value in _extras(info, 1).items()}
        extras = {key: (value.item() if value.ndim == 0 else value) for key, value in extras.items()}
        return (self._frame.numpy().copy(), float(reward[0]), bool(terminated[0]), bool(truncated[0]),
                extras | self.extra_info())

    def extra_info(self) -> dict[str, Any]:
        """What a world adds to every ``info`` from its game's state (none here)."""
        return {}

    def render(self):
        if not _can_render(self.render_mode):
            return None
        if self._frame is None:
            raise ReverieError("call reset() before render()")
        return np.asarray(self.spec_.render(self._frame[None])[0])

    def __repr__(self) -> str:
        return f"SpecGymEnv({self.env_id}, {self.env!r})"


class SpecGymVectorEnv(gym.vector.VectorEnv):
    """``num_envs`` games of reverie env ``env_id`` stepped as one batch (Gymnasium vector API, numpy out).

    ``device`` is where the batch lives (outputs are numpy anyway), ``seed`` seeds the
    episode sampler, ``max_episode_steps`` (what ``gymnasium.make_vec`` passes) sets the env
    option ``max_steps``; other keywords are the id's env options.
    """

    metadata = {"render_modes": RENDER_MODES, "render_fps": 8, "autoreset_mode": AutoresetMode.SAME_STEP}

    def __init__(self, env_id: str, num_envs: int = 16, split: str = "train", device: torch.device | str = "cpu",
                 seed: int | None = None, render_mode: str | None = None, max_episode_steps: int | None = None,
                 **options: Any) -> None:
        _check_render_mode(render_mode)
        if max_episode_steps is not None:
            options["max_steps"] = max_episode_steps
        self.spec_ = get_spec(env_id, **options)
        self.env = self.spec_.make_env(split, int(num_envs), 0 if seed is None else seed, device)
        self.env_id, self.num_envs, self.render_mode = env_id, int(num_envs), render_mode
        self.metadata = dict(self.metadata)
        self.single_observation_space = self.env.single_observation_space
        self.single_action_space = _action_space(self.spec_)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self._obs: torch.Tensor | None = None

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        if seed is not None and (not isinstance(seed, (int, np.integer)) or isinstance(seed, bool)):
            raise ReverieError(f"seed must be one integer (it seeds the batch's episode sampler), got {seed!r}")
        super().reset(seed=seed)
        options = dict(options or {})
        episodes = options.pop("episodes", None)
        if options:
            raise ReverieError(f"reset takes the option episodes, got {', '.join(sorted(options))}")
        if episodes is not None:
            if seed is not None:
                self.env.generator.manual_seed(int(seed))
            self._obs = self.env.reset_to(torch.as_tensor(np.asarray(episodes)))
            info: dict[str, Any] = {}
        else:
            self._obs, info = self.env.reset(seed=None if seed is None else int(seed))
        info = {**{k: torch.as_tensor(v) for k, v in _no_events(self.spec_, (self.num_envs,)).items()}, **info}
        return self._numpy(self._obs), self._every_step({}, info)

    def step(self, actions):
        if self.spec_.continuous:
            actions = _continuous(actions, (self.num_envs,), self.spec_.actions.dim).to(self.env.device)
        elif isinstance(actions, torch.Tensor):
            actions = actions.to(self.env.device)
        else:
            actions = np.asarray(actions)
            if actions.dtype.kind not in "iu":
                raise ReverieError(f"actions must be integers in 0..{self.single_action_space.n - 1}, got an array "
                                   f"of {actions.dtype}")
            actions = torch.from_numpy(actions.astype(np.int64))
        obs, reward, terminated, truncated, env_info = self.env.step(actions)
        self._obs = obs
        infos: dict[str, Any] = {}
        ended = env_info["final_index"].cpu().numpy()
        if len(ended):
            mask = np.zeros(self.num_envs, dtype=np.bool_)
            mask[ended] = True
            final_obs = np.full(self.num_envs, None, dtype=object)
            for row, last in zip(ended, self._numpy(env_info["final_obs"])):
                final_obs[row] = last
            final_info: dict[str, Any] = {}
            for key in ("episode_return", "episode_length", "episode"):
                if key in env_info:
                    values = env_info[key].cpu().numpy()
                    final_info[key] = np.where(mask, values, np.zeros_like(values))
                    final_info[f"_{key}"] = mask.copy()
            infos["final_obs"], infos["_final_obs"] = final_obs, mask
            infos["final_info"], infos["_final_info"] = final_info, mask.copy()
        return (self._numpy(obs), reward.cpu().numpy().copy(), terminated.cpu().numpy().copy(),
                truncated.cpu().numpy().copy(), self._every_step(infos, env_info))

    def render(self):
        if not _can_render(self.render_mode):
            return None
        if self._obs is None:
            raise ReverieError("call reset() before render()")
        return tuple(np.asarray(self.spec_.render(self._obs)))

    def get_state(self) -> dict[str, torch.Tensor]:
        """The batch's state (the batched env's ``get_state``)."""
        return self.env.get_state()

    def set_state(self, state: dict[str, torch.Tensor]) -> None:
        self.env.set_state(state)
        self._obs = self.env.observe()

    def _every_step(self, infos: dict[str, Any], env_info: dict[str, Any]) -> dict[str, Any]:
        every = np.ones(self.num_envs, dtype=np.bool_)
        for key, value in _extras(env_info, self.num_envs).items():
            infos[key], infos[f"_{key}"] = value, every.copy()
        return infos

    @staticmethod
    def _numpy(obs: torch.Tensor) -> np.ndarray:
        return obs.detach().cpu().numpy().copy()

    def __repr__(self) -> str:
        return f"SpecGymVectorEnv({self.env_id}, {self.env!r})"
