"""What every environment model shares: the interface, reward classes and action planes.

An environment model is anything that maps a batch of observations and actions to next
observations and rewards (see DESIGN.md, "The spine"). Agents and planners only ever call
``step``, so the perfect model, the copy model and a learned model are interchangeable.

Rewards in Sokoban take four values, and the learned model predicts them as classes (as the
I2A paper does). The mapping between values and classes lives here, in one place, because a
mapping that differs between fitting and use is a classic silent bug.
"""

from __future__ import annotations

from typing import Protocol, Sequence, runtime_checkable

import torch

from ..envs.sokoban import cells, rules


@runtime_checkable
class EnvironmentModel(Protocol):
    """Batched dynamics: ``obs [B, ...]``, ``action [B]`` -> ``(next_obs [B, ...], reward [B])``.

    Implementations run whole-batch tensor operations (no Python loop over the batch) and
    never synchronise with the host inside ``step``, so imagination stays on the device.
    """

    def step(self, obs: torch.Tensor, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        ...


def _sokoban_reward_values() -> torch.Tensor:
    """The four step rewards, computed with the very float32 arithmetic the rules use.

    ``rules.step_`` adds float32 tensors, and -0.1 + 1.0 in float32 is not the float32
    nearest 0.9; building the table the same way makes value -> class -> value exact.
    """
    on = torch.tensor([0.0, 1.0, 0.0, 1.0])
    off = torch.tensor([0.0, 0.0, 1.0, 0.0])
    finished = torch.tensor([0.0, 0.0, 0.0, 1.0])
    return (rules.STEP_REWARD + rules.BOX_ON_REWARD * on + rules.BOX_OFF_REWARD * off
            + rules.SOLVED_REWARD * finished)


class RewardClasses:
    """A fixed, ordered set of reward values and the class index of each.

    ``to_classes`` maps values to the class of the nearest value and ``to_values`` maps
    classes back to the stored float32 values, so both round trips are exact. Values far
    from every class (more than ``tolerance``) are reported by :meth:`check`.
    """

    def __init__(self, values: Sequence[float] | torch.Tensor, tolerance: float = 1e-4) -> None:
        table = torch.as_tensor(values, dtype=torch.float32).flatten()
        if table.numel() < 1:
            raise ValueError("reward classes need at least one value")
        if table.unique().numel() != table.numel():
            raise ValueError(f"reward values must be distinct, got {table.tolist()}")
        self.values = table
        self.tolerance = tolerance
        self._device_cache: dict[torch.device, torch.Tensor] = {}

    def __len__(self) -> int:
        return self.values.numel()

    def __repr__(self) -> str:
        return f"RewardClasses({[round(v, 4) for v in self.values.tolist()]})"

    def table(self, device: torch.device | str) -> torch.Tensor:
        """The value table on ``device`` (cached, so imagination does not copy it each step)."""
        device = torch.device(device)
        if device not in self._device_cache:
            self._device_cache[device] = self.values.to(device)
        return self._device_cache[device]

    def to_values(self, classes: torch.Tensor) -> torch.Tensor:
        """Class indices (any shape) -> float32 reward values."""
        return self.table(classes.device)[classes.long()]

    def to_classes(self, rewards: torch.Tensor) -> torch.Tensor:
        """Reward values (any shape) -> the index of the nearest class value (int64)."""
        table = self.table(rewards.device)
        return (rewards.float().unsqueeze(-1) - table).abs().argmin(-1)

    def check(self, rewards: torch.Tensor) -> torch.Tensor:
        """``to_classes``, but raise ``ValueError`` for values that match no class.

        This reads the result on the host, so it belongs in data collection, not in a hot loop.
        """
        classes = self.to_classes(rewards)
        error = (self.to_values(classes) - rewards.float()).abs()
        if error.numel() and float(error.max()) > self.tolerance:
            bad = float(rewards.flatten()[error.flatten().argmax()])
            raise ValueError(f"reward {bad} is none of the reward classes {self.values.tolist()}")
        return classes


#: Sokoban's rewards by class: 0 no event (-0.1), 1 box onto a target (+0.9), 2 box off a
#: target (-1.1), 3 last box onto its target (+10.9).
SOKOBAN_REWARDS = RewardClasses(_sokoban_reward_values())


def action_planes(action: torch.Tensor, height: int, width: int,
                  num_actions: int = rules.NUM_ACTIONS, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Actions ``[B]`` broadcast as one-hot planes ``[B, num_actions, H, W]``.

    Plane ``a`` is all ones where the action is ``a`` and zeros elsewhere: the way the I2A
    environment model sees the action, everywhere at once.
    """
    return action_onehot(action, num_actions, dtype)[:, :, None, None].expand(-1, -1, height, width)


def action_onehot(action: torch.Tensor, num_actions: int = rules.NUM_ACTIONS,
                  dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Actions ``[B]`` -> one-hot ``[B, num_actions]``.

    A comparison rather than ``F.one_hot``, which checks the value range on the host (a
    device synchronisation per imagined step on a GPU).
    """
    return (action.long()[:, None] == torch.arange(num_actions, device=action.device)).to(dtype)


def planes_to_codes(obs: torch.Tensor) -> torch.Tensor:
    """Symbolic observations ``[B, 7, H, W]`` (one-hot or probabilities) -> codes ``[B, H, W]`` uint8."""
    if obs.dim() != 4 or obs.shape[1] != cells.NUM_CODES:
        raise ValueError(f"symbolic observations must be [B, {cells.NUM_CODES}, H, W], got {tuple(obs.shape)}")
    return obs.argmax(1).to(torch.uint8)


def codes_to_planes(codes: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Codes ``[B, H, W]`` -> one-hot symbolic observations ``[B, 7, H, W]``."""
    b, h, w = codes.shape
    planes = torch.zeros(b, cells.NUM_CODES, h, w, dtype=dtype, device=codes.device)
    return planes.scatter_(1, codes.long().unsqueeze(1), 1.0)
