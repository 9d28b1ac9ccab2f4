"""TDM batches: replay rows with relabelled goals and horizons.

Why a separate sampler: TDM's target uses no reward, only the goal the step reached, so a
row stays consistent under *any* goal and *any* horizon. Each sampled row keeps its own
goal, or takes the goal reached at or after its step in the same episode ("future",
share ``future``), or one reached anywhere in the replay ("random", share ``random``); its
horizon ``T`` is drawn uniformly from ``0..T_max``. ``absorbing`` is the stored end that
was not caused by reaching the original goal (a crash; :meth:`GoalReward.split`): a
success under the original goal is no end for another goal, the car just drove on.
"""

from __future__ import annotations

import torch

from ..core.errors import ReverieError
from .hindsight import future_indices
from .replay import ReplayBuffer


def tdm_batch(replay: ReplayBuffer, batch_size: int, generator: torch.Generator, horizon_max: int,
              future: float, random: float) -> dict[str, torch.Tensor]:
    """``{obs, action, next_obs, next_achieved, goal, horizon, absorbing, source}`` for
    ``batch_size`` uniform rows (``source``: 0 own goal, 1 future, 2 random)."""
    if not replay.goal_dim:
        raise ReverieError("TDM batches need a goal-conditioned replay buffer")
    size = len(replay)
    if size == 0:
        raise ReverieError("cannot sample from an empty replay buffer")
    d, dev = replay.data, replay.device
    idx = torch.randint(0, size, (batch_size,), generator=generator, device=dev)
    end = d["episode_end"][idx]
    end = torch.where(end < 0, torch.full_like(end, replay.count - 1), end)
    later = future_indices(d["absolute"][idx], end, generator) % replay.capacity
    anywhere = torch.randint(0, size, (batch_size,), generator=generator, device=dev)
    u = torch.rand((batch_size,), generator=generator, device=dev)
    source = (u < future).long() + 2 * ((u >= future) & (u < future + random)).long()
    goal = d["desired"][idx]
    goal = torch.where((source == 1)[:, None], d["next_achieved"][later], goal)
    goal = torch.where((source == 2)[:, None], d["next_achieved"][anywhere], goal)
    horizon = torch.randint(0, horizon_max + 1, (batch_size,), generator=generator, device=dev)
    return {"obs": d["obs"][idx], "action": d["action"][idx], "next_obs": d["next_obs"][idx],
            "next_achieved": d["next_achieved"][idx], "goal": goal, "horizon": horizon,
            "absorbing": d["hard_terminal"][idx], "source": source, "index": idx}
