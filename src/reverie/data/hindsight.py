"""Hindsight goal relabelling for goal-conditioned tasks (HER, "future" strategy).

Why a separate piece: relabelling must keep a transition consistent with its new goal. The
reward is recomputed from the step's achieved goal and the new goal with the task's goal
reward (the env's ``compute_reward`` as a batched torch function), plus the part of the
stored reward that does not depend on the goal (parking's -5 for a crash), which the buffer
keeps as ``extra_reward``. The end flag is recomputed the same way: the stored end that was
not caused by reaching the goal (a crash: ``hard_terminal``) or success under the new goal.
For a row that keeps its own goal the stored reward and end are returned untouched.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

GoalFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class GoalReward:
    """A task's goal reward ``reward(achieved [N, G], desired [N, G]) -> [N]`` and, where the
    episode ends on reaching the goal, ``success(achieved, desired) -> bool [N]``."""

    reward: GoalFn
    success: GoalFn | None = None

    def split(self, reward: torch.Tensor, terminated: torch.Tensor, achieved: torch.Tensor,
              desired: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The goal-free parts of stored steps: ``(extra_reward, hard_terminal)``."""
        extra = reward - self.reward(achieved, desired)
        hard = terminated.bool()
        if self.success is not None:
            hard = hard & ~self.success(achieved, desired).bool()
        return extra, hard

    def relabel(self, achieved: torch.Tensor, goal: torch.Tensor, extra: torch.Tensor,
                hard: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Reward and end flag of steps that reached ``achieved`` when the goal is ``goal``."""
        reward = self.reward(achieved, goal) + extra
        done = hard.bool()
        if self.success is not None:
            done = done | self.success(achieved, goal).bool()
        return reward, done


def future_indices(absolute: torch.Tensor, episode_end: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """For steps at absolute positions ``absolute``, a uniformly drawn absolute position of the
    same episode at or after them (up to ``episode_end``, inclusive): the "future" strategy."""
    span = (episode_end - absolute + 1).clamp_min(1)
    u = torch.rand(absolute.shape, generator=generator, device=generator.device)
    offset = (u * span).long().clamp_max(span - 1)
    return absolute + offset
