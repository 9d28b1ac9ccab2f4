"""MiniPacman behind Gymnasium: one game (``MiniPacmanEnv``) and a batch (``MiniPacmanGymVectorEnv``).

Both step the batched :class:`~.env.MiniPacmanVecEnv` (the single env on a batch of one, on
the CPU), so a game played here follows exactly the rules, rewards and episodes the agents
train on. Observations are numpy float32 planes ``[3, 15, 19]`` (rgb) or ``[6, 15, 19]``
(symbolic) in [0, 1], channels first like the batched env; ``render()`` gives an
``[120, 152, 3]`` uint8 picture. Options are the spec's (``observation``, ``max_steps``: the
frame cap, ``timer``, ``max_ghosts``) and are checked there: a bad one is a one-line
:class:`~reverie.core.errors.ReverieError`.

Seeding: each reset plays one episode id of the split (``split``, default train), drawn from
the env's ``np_random``, so ``reset(seed=s)`` always starts the same game and the game then
unfolds the same way (its draws are the episode's, counter-based). ``reset(options=
{"episode": i})`` plays episode ``i``. The vector adapter's episodes come from the batched
env's own generator (``reset(seed=s)`` reseeds it); ``options={"episodes": [...]}`` picks them.

The vector adapter auto-resets in Gymnasium's same-step mode (``AutoresetMode.SAME_STEP``):
where a game ended, the observation is already the next game's first and ``info["final_obs"]``
(object array, ``None`` elsewhere) / ``info["final_info"]`` (``episode_return``,
``episode_length``, ``episode``, each with its ``_key`` mask) describe the game that ended.
"""

from __future__ import annotations

import operator
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space

from ...core.errors import ReverieError
from . import rules
from .render import render as render_frames
from .spec import FRAME_CAP, MAX_GHOSTS, minipacman_spec

__all__ = ["MiniPacmanEnv", "MiniPacmanGymVectorEnv", "make_batched_env"]

RENDER_MODES = ["rgb_array"]


def make_batched_env(task: str, split: str, num_envs: int, seed: int, device: torch.device | str,
                     observation: str, max_steps: int, timer: str, max_ghosts: int):
    """The batched env of a task under checked options (a one-line ``ReverieError`` otherwise)."""
    if not isinstance(task, str) or task not in rules.TASKS:
        raise ReverieError(f"MiniPacman task must be one of {', '.join(rules.TASKS)}, got {task!r}")
    spec = minipacman_spec(task)
    options = dict(observation=observation, max_steps=max_steps, timer=timer, max_ghosts=max_ghosts)
    return spec.make_env(split, num_envs, seed, device, **options)


def _check_render_mode(render_mode: str | None) -> None:
    if render_mode is not None and render_mode not in RENDER_MODES:
        raise ReverieError(f"render_mode must be None or one of {', '.join(RENDER_MODES)}, got {render_mode!r}")


def _action(action: Any) -> int:
    """One action as an int 0..4 (a one-line error otherwise)."""
    try:
        if isinstance(action, (bool, np.bool_)):
            raise TypeError
        value = operator.index(action.item() if isinstance(action, (np.ndarray, torch.Tensor)) and action.size
                               else action)
    except (TypeError, ValueError):
        raise ReverieError(f"actions must be integers in 0..4, got {action!r}") from None
    if not 0 <= value < 5:
        raise ReverieError(f"actions must be integers in 0..4, got {value}")
    return value


class MiniPacmanEnv(gym.Env):
    """One MiniPacman game (Gymnasium API).

    Args:
        task: ``regular``, ``avoid``, ``hunt``, ``ambush`` or ``rush``.
        observation: ``rgb`` (``[3, 15, 19]``, the paper's frame) or ``symbolic`` (``[6, 15, 19]``).
        max_steps: the frame cap (the episode is truncated there).
        timer: ``paper`` (hunt/ambush clear a level after 80 steps) or ``released`` (never).
        max_ghosts: ghost slots (the ghosts of levels up to ``2 * max_ghosts - 1``).
        split: whose episodes reset draws (``train``, ``valid``, ``test``).
        render_mode: None or ``rgb_array``.

    ``terminated``: the player was killed; ``truncated``: the frame cap. ``info``: ``events``
    (step, food, pill, ghost, killed counts; reward = events . the task's weights), ``level``,
    ``power`` (steps of power left), ``episode`` (the episode id being played).
    """

    metadata = {"render_modes": RENDER_MODES, "render_fps": 8}

    def __init__(self, task: str = "regular", observation: str = "rgb", max_steps: int = FRAME_CAP,
                 timer: str = "paper", max_ghosts: int = MAX_GHOSTS, split: str = "train",
                 render_mode: str | None = None) -> None:
        _check_render_mode(render_mode)
        self.env = make_batched_env(task, split, 1, 0, "cpu", observation, max_steps, timer, max_ghosts)
        self.task, self.render_mode = task, render_mode
        self.observation_space = self.env.single_observation_space
        self.action_space = gym.spaces.Discrete(5)
        self._frame: torch.Tensor | None = None
        self._over = False

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        options = dict(options or {})
        episode = options.pop("episode", None)
        if options:
            raise ReverieError(f"MiniPacmanEnv.reset takes the option episode, got {', '.join(sorted(options))}")
        if episode is None:
            episode = int(self.np_random.integers(rules.SPLIT_SIZE))
        else:
            try:
                episode = operator.index(episode)
            except TypeError:
                raise ReverieError(f"options['episode'] must be an integer id, got {episode!r}") from None
            if not 0 <= episode < rules.SPLIT_SIZE:
                raise ReverieError(f"options['episode'] must be in 0..{rules.SPLIT_SIZE - 1}, got {episode}")
        self._frame = self.env.reset_to(torch.tensor([episode]))[0].clone()
        self._over = False
        return self._frame.numpy().copy(), self._info(np.zeros(5, np.float32))

    def step(self, action):
        if self._frame is None:
            raise ReverieError("call reset() before step()")
        if self._over:
            raise ReverieError("the episode is over: call reset() before step()")
        obs, reward, terminated, truncated, info = self.env.step(torch.tensor([_action(action)]))
        ended = info["final_index"].numel() > 0
        self._frame = (info["final_obs"] if ended else obs)[0].clone()
        self._over = ended
        events = info["events"][0].numpy().copy()
        return (self._frame.numpy().copy(), float(reward[0]), bool(terminated[0]), bool(truncated[0]),
                self._info(events, int(info["level"][0])))

    def render(self):
        if self.render_mode is None:
            gym.logger.warn("render() was called without a render_mode; pass render_mode='rgb_array'")
            return None
        if self._frame is None:
            raise ReverieError("call reset() before render()")
        return render_frames(self._frame[None])[0].numpy()

    def _info(self, events: np.ndarray, level: int | None = None) -> dict[str, Any]:
        state = self.env.state
        return {"events": events, "level": int(state.level[0]) if level is None else level,
                "power": int(state.power[0]), "episode": int(self.env.episode[0])}

    def __repr__(self) -> str:
        return f"MiniPacmanEnv({self.task}, {self.env.observation})"


class MiniPacmanGymVectorEnv(gym.vector.VectorEnv):
    """``num_envs`` MiniPacman games stepped as one batch (Gymnasium vector API, numpy out).

    Takes :class:`MiniPacmanEnv`'s arguments and ``num_envs``, ``device`` (where the batch
    lives; outputs are numpy anyway), ``seed`` (the episode sampler's) and
    ``max_episode_steps`` (what ``gymnasium.make_vec`` passes; overrides ``max_steps``).
    ``info`` holds ``events [N, 5]`` and ``level [N]`` every step (with ``_events`` / ``_level``).
    """

    metadata = {"render_modes": RENDER_MODES, "render_fps": 8, "autoreset_mode": AutoresetMode.SAME_STEP}

    def __init__(self, num_envs: int = 16, task: str = "regular", observation: str = "rgb",
                 max_steps: int = FRAME_CAP, timer: str = "paper", max_ghosts: int = MAX_GHOSTS,
                 split: str = "train", device: torch.device | str = "cpu", seed: int | None = None,
                 render_mode: str | None = None, max_episode_steps: int | None = None) -> None:
        _check_render_mode(render_mode)
        if max_episode_steps is not None:
            max_steps = max_episode_steps
        self.env = make_batched_env(task, split, num_envs, 0 if seed is None else seed, device, observation,
                                    max_steps, timer, max_ghosts)
        self.num_envs, self.task, self.render_mode = int(num_envs), task, render_mode
        self.metadata = dict(self.metadata)
        self.single_observation_space = self.env.single_observation_space
        self.single_action_space = gym.spaces.Discrete(5)
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
            raise ReverieError(f"MiniPacmanGymVectorEnv.reset takes the option episodes, got "
                               f"{', '.join(sorted(options))}")
        if episodes is not None:
            if seed is not None:
                self.env.generator.manual_seed(int(seed))
            self._obs = self.env.reset_to(torch.as_tensor(np.asarray(episodes)))
        else:
            self._obs, _ = self.env.reset(seed=None if seed is None else int(seed))
        return self._numpy(self._obs), self._every_step({}, torch.zeros(self.num_envs, 5))

    def step(self, actions):
        if isinstance(actions, torch.Tensor):
            actions = actions.to(self.env.device)
        else:
            actions = np.asarray(actions)
            if actions.dtype.kind not in "iu":
                raise ReverieError(f"actions must be integers in 0..4, got an array of {actions.dtype}")
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
                values = env_info[key].cpu().numpy()
                final_info[key] = np.where(mask, values, np.zeros_like(values))
                final_info[f"_{key}"] = mask.copy()
            infos["final_obs"], infos["_final_obs"] = final_obs, mask
            infos["final_info"], infos["_final_info"] = final_info, mask.copy()
        return (self._numpy(obs), reward.cpu().numpy().copy(), terminated.cpu().numpy().copy(),
                truncated.cpu().numpy().copy(), self._every_step(infos, env_info["events"]))

    def render(self):
        if self.render_mode is None:
            gym.logger.warn("render() was called without a render_mode; pass render_mode='rgb_array'")
            return None
        if self._obs is None:
            raise ReverieError("call reset() before render()")
        return tuple(render_frames(self._obs).numpy())

    def get_state(self) -> dict[str, torch.Tensor]:
        """The batch's state (see :meth:`MiniPacmanVecEnv.get_state`)."""
        return self.env.get_state()

    def set_state(self, state: dict[str, torch.Tensor]) -> None:
        self.env.set_state(state)
        self._obs = self.env.observe()

    def _every_step(self, infos: dict[str, Any], events: torch.Tensor) -> dict[str, Any]:
        every = np.ones(self.num_envs, dtype=np.bool_)
        infos["events"], infos["_events"] = events.cpu().numpy().copy(), every
        infos["level"], infos["_level"] = self.env.state.level.cpu().numpy().copy(), every.copy()
        return infos

    @staticmethod
    def _numpy(obs: torch.Tensor) -> np.ndarray:
        return obs.detach().cpu().numpy().copy()

    def __repr__(self) -> str:
        return f"MiniPacmanGymVectorEnv({self.env!r})"
