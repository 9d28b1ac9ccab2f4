"""A replay buffer that lives on the learner's device, with optional hindsight goals.

Why this shape: off-policy learners draw a minibatch every gradient update, so the buffer is
a set of preallocated ``[capacity, ...]`` tensors on the device written and read with index
tensors (no Python loop over transitions, no host round trip per batch). It is a ring: row
``count % capacity`` is overwritten next. :meth:`state_dict` holds the filled rows and the
counters, so a checkpoint that carries it resumes the very same sampling.

Goal-conditioned tasks (``goal_dim > 0``) store the observation part, the desired goal, the
goal the step reached (``next_achieved``), the goal-free part of the reward and of the end
flag (:class:`~reverie.data.hindsight.GoalReward.split`), and each row's episode end (the
absolute position of its episode's last stored step; ``-1`` while the episode runs), so
:meth:`sample` can relabel a share of a batch with goals reached later in the same episode.
Batches hand the learner flat inputs: ``obs`` is ``[observation, goal]``.
"""

from __future__ import annotations

from typing import Any

import torch

from ..core.errors import ReverieError
from .hindsight import GoalReward, future_indices

__all__ = ["ReplayBuffer"]


class ReplayBuffer:
    """Ring buffer of ``(obs, action, reward, next_obs, terminated)`` rows (see the module docstring)."""

    def __init__(self, capacity: int, obs_dim: int, action_dim: int, goal_dim: int = 0,
                 device: str | torch.device = "cpu") -> None:
        if capacity < 1:
            raise ReverieError(f"replay capacity must be >= 1, got {capacity}")
        self.capacity, self.obs_dim, self.action_dim, self.goal_dim = capacity, obs_dim, action_dim, goal_dim
        self.device = torch.device(device)
        shapes: dict[str, tuple[tuple[int, ...], torch.dtype]] = {
            "obs": ((obs_dim,), torch.float32), "action": ((action_dim,), torch.float32),
            "reward": ((), torch.float32), "next_obs": ((obs_dim,), torch.float32),
            "terminated": ((), torch.bool), "absolute": ((), torch.long),
        }
        if goal_dim:
            shapes |= {"desired": ((goal_dim,), torch.float32), "next_achieved": ((goal_dim,), torch.float32),
                       "extra_reward": ((), torch.float32), "hard_terminal": ((), torch.bool),
                       "episode_end": ((), torch.long)}
        self.data = {name: torch.zeros((capacity, *shape), dtype=dtype, device=self.device)
                     for name, (shape, dtype) in shapes.items()}
        self.count = 0          # rows ever added
        self.episode_start = 0  # absolute position of the running episode's first row

    def __len__(self) -> int:
        return min(self.count, self.capacity)

    # ------------------------------------------------------------------ writing
    def add(self, obs: torch.Tensor, action: torch.Tensor, reward: torch.Tensor, next_obs: torch.Tensor,
            terminated: torch.Tensor, desired: torch.Tensor | None = None,
            next_achieved: torch.Tensor | None = None, goals: GoalReward | None = None) -> None:
        """Append ``N`` consecutive rows of one stream (all ``[N, ...]``); goal tasks also give the
        desired and reached goals and the task's :class:`GoalReward`."""
        n = obs.shape[0]
        if n > self.capacity:
            raise ReverieError(f"cannot add {n} rows to a replay buffer of capacity {self.capacity}")
        absolute = torch.arange(self.count, self.count + n, device=self.device)
        rows = absolute % self.capacity
        values = {"obs": obs, "action": action, "reward": reward, "next_obs": next_obs,
                  "terminated": terminated, "absolute": absolute}
        if self.goal_dim:
            if desired is None or next_achieved is None or goals is None:
                raise ReverieError("a goal-conditioned replay buffer needs desired, next_achieved and goals")
            extra, hard = goals.split(reward.float(), terminated, next_achieved, desired)
            values |= {"desired": desired, "next_achieved": next_achieved, "extra_reward": extra,
                       "hard_terminal": hard, "episode_end": torch.full_like(absolute, -1)}
        for name, value in values.items():
            self.data[name][rows] = value.to(self.device, self.data[name].dtype)
        self.count += n

    def end_episode(self) -> None:
        """Mark the running episode's rows as ended at the last row added (for "future" goals)."""
        if self.goal_dim and self.count > self.episode_start:
            start = max(self.episode_start, self.count - self.capacity)
            rows = torch.arange(start, self.count, device=self.device) % self.capacity
            self.data["episode_end"][rows] = self.count - 1
        self.episode_start = self.count

    # ------------------------------------------------------------------ reading
    def sample(self, batch_size: int, generator: torch.Generator, her_ratio: float = 0.0,
               goals: GoalReward | None = None) -> dict[str, torch.Tensor]:
        """A uniform minibatch ``{obs, action, reward, next_obs, done}``; on goal tasks a share
        ``her_ratio`` of the rows get a goal reached later in their episode, with reward and end
        recomputed by ``goals`` (the rest keep their stored goal, reward and end)."""
        size = len(self)
        if size == 0:
            raise ReverieError("cannot sample from an empty replay buffer")
        idx = torch.randint(0, size, (batch_size,), generator=generator, device=self.device)
        return self.gather(idx, generator, her_ratio, goals)

    def gather(self, idx: torch.Tensor, generator: torch.Generator | None = None, her_ratio: float = 0.0,
               goals: GoalReward | None = None) -> dict[str, torch.Tensor]:
        """The rows ``idx`` as a learner batch (see :meth:`sample`)."""
        d = self.data
        obs, next_obs = d["obs"][idx], d["next_obs"][idx]
        reward, done = d["reward"][idx], d["terminated"][idx]
        batch = {"action": d["action"][idx]}
        if self.goal_dim:
            goal = d["desired"][idx]
            if her_ratio > 0:
                if goals is None or generator is None:
                    raise ReverieError("hindsight relabelling needs the task's goal reward and a generator")
                end = d["episode_end"][idx]
                end = torch.where(end < 0, torch.full_like(end, self.count - 1), end)
                future = future_indices(d["absolute"][idx], end, generator) % self.capacity
                u = torch.rand(idx.shape, generator=generator, device=self.device)
                relabel = u < her_ratio
                new_goal = d["next_achieved"][future]
                new_reward, new_done = goals.relabel(d["next_achieved"][idx], new_goal,
                                                     d["extra_reward"][idx], d["hard_terminal"][idx])
                goal = torch.where(relabel[:, None], new_goal, goal)
                reward = torch.where(relabel, new_reward, reward)
                done = torch.where(relabel, new_done, done)
                batch["relabelled"] = relabel
            batch["goal"] = goal
            obs, next_obs = torch.cat([obs, goal], -1), torch.cat([next_obs, goal], -1)
        return batch | {"obs": obs, "next_obs": next_obs, "reward": reward, "done": done.float()}

    def rows(self) -> dict[str, torch.Tensor]:
        """Every stored row, oldest first (model fitting reads these)."""
        size = len(self)
        order = (torch.arange(self.count - size, self.count, device=self.device) % self.capacity)
        return {name: value[order] for name, value in self.data.items()}

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        size = len(self)
        return {"count": self.count, "episode_start": self.episode_start, "capacity": self.capacity,
                "data": {name: value[:size].clone() for name, value in self.data.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if int(state["capacity"]) != self.capacity or set(state["data"]) != set(self.data):
            raise ReverieError("the saved replay buffer does not fit this one (capacity or fields differ)")
        self.count, self.episode_start = int(state["count"]), int(state["episode_start"])
        size = len(self)
        for name, value in state["data"].items():
            if value.shape[0] != size or value.shape[1:] != self.data[name].shape[1:]:
                raise ReverieError(f"the saved replay buffer's {name} has shape {tuple(value.shape)}")
            self.data[name][:size] = value.to(self.device)
