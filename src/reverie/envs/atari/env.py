"""``AtariVecEnv``: an Atari game from pixels through ale-py's own vectorised env, behind reverie's batch API.

ale-py's ``AtariVectorEnv`` steps its games in C++ threads (no Python loop over envs) and does
the standard preprocessing itself: no-op starts (up to 30), frame skip 4 with a max over the
last two frames, 84x84 grey frames, a stack of the last ``stack`` of them, FIRE after a reset.
This class adds what the DQN-style wrappers add on top, in reverie's terms:

- **episodic life**: losing a life ``terminates`` the step for the learner (no bootstrap past
  it) while the game goes on; the game's end is the episode's end (``info["final_index"]``),
  so returns and evaluations are whole games. ale-py's own ``episodic_life`` restarts the game
  at every lost life, which is not the DQN protocol, so it is not used;
- **FIRE after a lost life** where the game needs it (Breakout waits for it): the step after a
  lost life plays FIRE whatever the agent chose, as a reset does;
- **reward clipping** to {-1, 0, 1} for the learner; ``info["episode_return"]`` is the game's
  raw score;
- a frame cap (``max_frames``, 108,000 emulator frames = 27,000 steps: ale-py's default).

Episodes: ``reset_to(ids)`` starts game ``i`` from the emulator seed of episode ``ids[i]`` of the
split (disjoint seed ranges per split), so an evaluation names the held-out games it scores.
Games the env restarts itself take ale-py's next seeds. The emulator's state is not exported,
so a resumed run restarts its games (``get_state`` is absent: the weights, optimiser and frame
count resume exactly, the games do not).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ...core.errors import ReverieError

__all__ = ["AtariVecEnv", "SPLIT_SEEDS", "load_ale"]

#: The first emulator seed of each split's episodes (episode ``i`` of a split: seed offset + i).
SPLIT_SEEDS = {"train": 0, "valid": 1_000_000, "test": 2_000_000}
SPLIT_SIZE = 1_000_000
FIRE = 1  # in the minimal action sets that have it (Breakout: NOOP, FIRE, RIGHT, LEFT)


def load_ale():
    """ale-py's vector env class, or a one-line error saying what to install."""
    try:
        from ale_py.vector_env import AtariVectorEnv
    except ImportError:
        raise ReverieError("Atari worlds need ale-py (ROMs included): pip install 'ale-py==0.12.1' "
                           "or pip install -e \".[atari]\"") from None
    return AtariVectorEnv


class AtariVecEnv:
    """``num_envs`` games of ``game`` on ale-py's threads; observations are uint8 ``[N, stack, 84, 84]``.

    ``step(actions)`` -> ``(obs, reward, terminated, truncated, info)``: ``reward`` clipped
    (``clip_rewards``), ``terminated`` a lost life (``episodic_life``) or the game over,
    ``truncated`` the frame cap. ``info``: ``events`` ``[N, 2]`` (a scoring step, a lost life or
    game over), ``lives``, ``raw_reward``, ``episode_return`` (the
    raw score) / ``episode_length`` (agent steps; valid where a game ended), ``final_index``
    and ``final_obs``.
    """

    def __init__(self, game: str = "breakout", split: str = "train", num_envs: int = 1, seed: int | None = None,
                 device: torch.device | str = "cpu", stack: int = 2, sticky: float = 0.0,
                 episodic_life: bool = True, clip_rewards: bool = True, max_frames: int = 108_000,
                 threads: int = 0) -> None:
        if split not in SPLIT_SEEDS:
            raise ReverieError(f"Atari splits are {', '.join(SPLIT_SEEDS)}, got {split!r}")
        if int(num_envs) < 1 or int(stack) < 1 or int(max_frames) < 4:
            raise ReverieError(f"num_envs and stack must be >= 1 and max_frames >= 4, got {num_envs}, {stack}, "
                               f"{max_frames}")
        if not 0.0 <= float(sticky) < 1.0:
            raise ReverieError(f"sticky must be a probability in [0, 1), got {sticky!r}")
        vector_env = load_ale()
        try:
            self.ale = vector_env(game, int(num_envs), num_threads=int(threads), autoreset_mode="SameStep",
                                  stack_num=int(stack), frameskip=4, maxpool=True, noop_max=30,
                                  episodic_life=False, reward_clipping=False, use_fire_reset=True,
                                  repeat_action_probability=float(sticky), max_num_frames_per_episode=int(max_frames),
                                  img_height=84, img_width=84, grayscale=True)
        except Exception as error:  # ale-py raises plain errors for unknown games or missing ROMs
            raise ReverieError(f"ale-py could not start {game!r}: {str(error).splitlines()[0]}") from None
        self.game, self.split, self.num_envs = game, split, int(num_envs)
        self.episodic_life, self.clip_rewards = bool(episodic_life), bool(clip_rewards)
        self.max_steps = int(max_frames) // 4
        self.device = torch.device(device)
        self.single_observation_space = self.ale.single_observation_space
        self.action_space = self.ale.single_action_space
        self.needs_fire = self.action_space.n > FIRE and "FIRE" in _action_names(self.ale)[FIRE]
        self.generator = np.random.default_rng(seed)
        n = self.num_envs
        self.lives = np.zeros(n, dtype=np.int64)
        self.fire_next = np.zeros(n, dtype=bool)
        self.episode_return = np.zeros(n, dtype=np.float64)
        self.episode_length = np.zeros(n, dtype=np.int64)
        self._started = False

    # -- the batch API -----------------------------------------------------------------

    def reset(self, seed: int | None = None) -> tuple[torch.Tensor, dict[str, Any]]:
        """New games everywhere (episode ids drawn from the env's generator; ``seed`` reseeds it)."""
        if seed is not None:
            self.generator = np.random.default_rng(seed)
        episodes = self.generator.integers(SPLIT_SIZE, size=self.num_envs)
        return self.reset_to(episodes), {"episode": torch.as_tensor(episodes)}

    def reset_to(self, episodes) -> torch.Tensor:
        """Game ``i`` starts held-out episode ``episodes[i]`` of the split (its emulator seed)."""
        episodes = np.asarray(torch.as_tensor(episodes).cpu())
        if episodes.shape != (self.num_envs,) or episodes.dtype.kind not in "iu":
            raise ReverieError(f"episodes must be {self.num_envs} integer ids, got shape {episodes.shape}")
        seeds = (SPLIT_SEEDS[self.split] + episodes % SPLIT_SIZE).astype(np.int64)
        obs, info = self.ale.reset(seed=seeds)
        self.lives[:] = info["lives"]
        self.fire_next[:] = False
        self.episode_return[:] = 0.0
        self.episode_length[:] = 0
        self._started = True
        return self._tensor(obs)

    def step(self, actions) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, dict[str, Any]]:
        if not self._started:
            raise ReverieError("call reset() or reset_to() before step()")
        actions = np.asarray(torch.as_tensor(actions).cpu())
        n = self.action_space.n
        if actions.shape != (self.num_envs,) or actions.dtype.kind not in "iu":
            raise ReverieError(f"actions must be {self.num_envs} integers in 0..{n - 1}, got shape {actions.shape}")
        if actions.size and (actions.min() < 0 or actions.max() >= n):
            raise ReverieError(f"actions must be in 0..{n - 1}")
        actions = np.where(self.fire_next, FIRE, actions).astype(np.int64) if self.needs_fire else actions.astype(np.int64)
        obs, raw, game_over, truncated, info = self.ale.step(actions)
        raw = raw.astype(np.float64)
        lives = info["lives"].astype(np.int64)
        ended = game_over | truncated
        lost = (lives < self.lives) & ~ended
        self.lives = lives  # (a restarted game reports its new lives)
        self.fire_next = lost
        self.episode_return += raw
        self.episode_length += 1
        rows = np.flatnonzero(ended)
        final_obs = info["final_obs"][rows] if len(rows) and "final_obs" in info else np.asarray(obs)[rows]
        out: dict[str, Any] = {
            "lives": torch.as_tensor(lives), "raw_reward": torch.as_tensor(raw, dtype=torch.float32),
            "episode_return": torch.as_tensor(self.episode_return, dtype=torch.float32),
            "episode_length": torch.as_tensor(self.episode_length.copy()),
            "final_index": torch.as_tensor(rows, dtype=torch.long, device=self.device),
            "final_obs": self._tensor(final_obs)}
        self.episode_return[rows] = 0.0
        self.episode_length[rows] = 0
        reward = np.sign(raw) if self.clip_rewards else raw
        terminated = game_over | (lost if self.episodic_life else False)
        # events: a scoring step, and a lost life or the game's end (what a model predicts)
        out["events"] = torch.as_tensor(np.stack((raw > 0, lost | game_over), 1).astype(np.int64))
        return (self._tensor(obs), torch.as_tensor(reward, dtype=torch.float32, device=self.device),
                torch.as_tensor(terminated & ~truncated, device=self.device),
                torch.as_tensor(truncated & ~game_over, device=self.device), out)

    def _tensor(self, array: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(array)).to(self.device)

    def describe(self) -> dict[str, Any]:
        return {"distinct_episodes": None, "game": self.game, "episodic_life": self.episodic_life,
                "clip_rewards": self.clip_rewards}

    def close(self) -> None:
        self.ale.close()

    def __repr__(self) -> str:
        return f"AtariVecEnv({self.game}, {self.split}, {self.num_envs} envs, device={self.device})"


def _action_names(ale_env) -> list[str]:
    """The names of the game's minimal actions (ale-py's ``Action`` members), to find FIRE."""
    return [getattr(action, "name", str(action)) for action in ale_env.ale.get_action_set()]
