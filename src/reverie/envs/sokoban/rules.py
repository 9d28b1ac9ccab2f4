"""The rules of Sokoban as a batched function on tensors.

State is a batch of flattened grids of cell codes ``codes [N, H*W] uint8`` and the player's
flat index ``player [N]``. One step is a handful of whole-batch tensor operations: gather the
player's cell, the cell it moves into and the cell beyond, decide, scatter the three cells
back. The same function steps the real environment and serves as the perfect model.

Actions: 0 no-op, 1 up, 2 down, 3 left, 4 right. Moving into a box pushes it when the cell
beyond is floor or target; otherwise nothing moves. Rewards follow the paper: -0.1 a step,
+1 for a box pushed onto a target, -1 for a box pushed off one, +10 when the last box lands.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from . import cells

NUM_ACTIONS = 5
ACTION_NAMES = ("noop", "up", "down", "left", "right")
#: (row, column) step of each action.
ACTION_DELTAS = ((0, 0), (-1, 0), (1, 0), (0, -1), (0, 1))

STEP_REWARD = -0.1
BOX_ON_REWARD = 1.0
BOX_OFF_REWARD = -1.0
SOLVED_REWARD = 10.0


class Tables(NamedTuple):
    """Per-device lookup tables the step gathers from (built once per env)."""

    offsets: torch.Tensor  # [5] flat-index step of each action for this width
    is_box: torch.Tensor  # [7] bool by code
    is_free: torch.Tensor  # [7] bool by code
    is_target: torch.Tensor  # [7] bool by code


def make_tables(width: int, device: torch.device | str = "cpu") -> Tables:
    offsets = torch.tensor([dr * width + dc for dr, dc in ACTION_DELTAS], device=device)
    as_tensor = lambda table: torch.as_tensor(table, device=device)  # noqa: E731
    return Tables(offsets, as_tensor(cells.IS_BOX), as_tensor(cells.IS_FREE), as_tensor(cells.IS_TARGET))


class StepResult(NamedTuple):
    reward: torch.Tensor  # [N] float32
    solved: torch.Tensor  # [N] bool: no box is left off a target
    pushed: torch.Tensor  # [N] bool: a box moved this step
    cells: torch.Tensor  # [N, 3] flat indices of the player's cell, the next and the one beyond
    before: torch.Tensor  # [N, 3] their codes before the step (long)
    after: torch.Tensor  # [N, 3] and after it, for incremental redraws


def player_index(codes: torch.Tensor) -> torch.Tensor:
    """The flat index of the player in each grid of a batch ``[N, H*W]``."""
    return (codes >= cells.PLAYER).to(torch.uint8).argmax(dim=1)


def unplaced_boxes(codes: torch.Tensor) -> torch.Tensor:
    """How many boxes of each grid ``[N, H*W]`` are off a target (0 means solved)."""
    return (codes == cells.BOX).sum(dim=1)


def step_(codes: torch.Tensor, player: torch.Tensor, actions: torch.Tensor, tables: Tables,
          unplaced: torch.Tensor | None = None) -> StepResult:
    """Apply one action per grid, in place on ``codes``, ``player`` and ``unplaced``.

    ``unplaced`` (boxes off target per grid) is kept up to date when given, which spares a
    reduction over every cell; without it the grids are scanned. Levels must be closed by
    walls (the player never stands on the border), so every index stays in its own row.
    """
    if actions.numel():
        low, high = torch.aminmax(actions)
        if low < 0 or high >= NUM_ACTIONS:
            raise ValueError(
                f"actions must be integers in 0..{NUM_ACTIONS - 1}; got values {int(low)}..{int(high)}"
            )
    delta = tables.offsets[actions]
    ahead = player + delta
    beyond = (ahead + delta).clamp_(0, codes.shape[1] - 1)
    index = torch.stack((player, ahead, beyond), dim=1)
    before = codes.gather(1, index).long()
    here, next_cell, far_cell = before.unbind(1)

    box_ahead = tables.is_box[next_cell]
    push = box_ahead & tables.is_free[far_cell]
    move = tables.is_free[next_cell] | push

    # Codes are 1 + target + 2*box + 4*player, so moves are additions (see cells.py).
    after = torch.stack((here - 4 * move, next_cell + move * (4 - 2 * box_ahead), far_cell + 2 * push), dim=1)
    codes.scatter_(1, index, after.to(codes.dtype))
    torch.where(move, ahead, player, out=player)

    on = push & tables.is_target[far_cell]
    off = push & tables.is_target[next_cell]
    if unplaced is None:
        solved = unplaced_boxes(codes) == 0
    else:
        unplaced -= on.long() - off.long()
        solved = unplaced == 0
    # The bonus is for landing the last box, not for standing in a solved position (which the
    # perfect model may be asked to step from).
    finished = on & ~off & solved
    reward = STEP_REWARD + BOX_ON_REWARD * on.float() + BOX_OFF_REWARD * off.float() + SOLVED_REWARD * finished.float()
    return StepResult(reward, solved, push, index, before, after)


def step(codes: torch.Tensor, actions: torch.Tensor, tables: Tables) -> tuple[torch.Tensor, StepResult]:
    """Pure form of :func:`step_`: returns the next grids and leaves ``codes`` untouched."""
    next_codes = codes.clone()
    result = step_(next_codes, player_index(codes), actions, tables)
    return next_codes, result
