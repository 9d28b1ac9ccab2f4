"""Any environment model, seen by search as a step on the spec's compact states.

Search trees hold one state per node, so the state must be small: a 10x10 Sokoban grid of
cell codes is 100 bytes, its one-hot planes 2.8 KB. Planners therefore keep compact states
(``spec.observation.encode(obs)``, flattened to one row each) and turn them into the model's
observations only for the rows a model call steps. A model with ``step_compact`` (an exact
model: the world's rules on compact states) is stepped on them directly, the fast path;
every other model sees decoded observations and its prediction is encoded back.

Every call counts imagined steps per level: a call on ``K`` rows is ``K`` imagined steps,
charged to the level each row belongs to. Only rows that need a step are ever passed, so
the count is what the model computed, not an estimate.
"""

from __future__ import annotations

import math

import torch

from ..envs.spec import ObsSpec

__all__ = ["CompactModel", "check_states"]


class CompactModel:
    """``step(states [K, N], actions [K], levels [K]) -> (next states [K, N], reward [K], done [K])``.

    ``N`` is the size of one compact state; ``done`` is the model's own episode end (the world's
    success or failure as the model predicts it). ``imagined`` holds the steps charged to each
    of ``num_levels`` levels.
    """

    def __init__(self, model, observation: ObsSpec, num_levels: int, device: torch.device | str = "cpu") -> None:
        self.model, self.observation = model, observation
        self.shape = tuple(observation.compact_shape)
        self.device = torch.device(device)
        self.fast = callable(getattr(model, "step_compact", None))
        self.imagined = torch.zeros(num_levels, dtype=torch.long, device=self.device)
        self.calls = 0

    def __repr__(self) -> str:
        return f"CompactModel({self.model!r})"

    @torch.no_grad()
    def step(self, states: torch.Tensor, actions: torch.Tensor,
             levels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        k = states.shape[0]
        if k == 0:
            return (states.new_empty(states.shape), torch.zeros(0, device=states.device),
                    torch.zeros(0, dtype=torch.bool, device=states.device))
        self.imagined.index_add_(0, levels, torch.ones_like(levels))
        self.calls += 1
        compact = states.view(k, *self.shape)
        if self.fast:
            nxt, reward, done = self.model.step_compact(compact, actions.long())
        else:
            predicted, reward, done = self.model.step(self.observation.decode(compact), actions.long())
            nxt = self.observation.encode(predicted)
        return nxt.reshape(k, -1).to(states.dtype), reward.float(), done.bool()

    def observe(self, states: torch.Tensor) -> torch.Tensor:
        """Compact states ``[K, N]`` -> observations ``[K, *obs shape]`` (what agents read)."""
        return self.observation.decode(states.view(-1, *self.shape))


def state_size(observation: ObsSpec) -> int:
    """Elements of one compact state (one row of a search tree)."""
    return math.prod(observation.compact_shape)


def check_states(states: torch.Tensor, observation: ObsSpec) -> torch.Tensor:
    """Search states: ``[B, *compact shape]`` compact observations of ``observation`` (their
    encoded form, e.g. uint8 cell codes for one-hot grids); ``ValueError`` for anything else."""
    states = torch.as_tensor(states)
    shape, dtype = tuple(observation.compact_shape), observation.encode(torch.zeros(0, *observation.shape)).dtype
    if states.dim() != len(shape) + 1 or tuple(states.shape[1:]) != shape or states.dtype != dtype:
        what = "cell codes" if observation.kind == "onehot" else f"compact {observation.kind} observations"
        raise ValueError(f"search states must be {what} [B, {', '.join(map(str, shape))}] {dtype}, "
                         f"got {tuple(states.shape)} {states.dtype}")
    if observation.kind == "onehot" and states.numel() and int(states.max()) >= observation.num_codes:
        raise ValueError(f"search states hold values that are not cell codes (< {observation.num_codes})")
    return states
