"""The rules of Sokoban as a batched function on tensors.

State is a batch of flattened grids of cell codes ``codes [N, H*W] uint8`` and the player's
flat index ``player [N]``. One step is a handful of whole-batch tensor operations: gather the
player's cell, the cell it moves into and the cell beyond, look their outcome up by their
three codes (343 cases, tabulated once from the formulas in :func:`_outcomes`), scatter the
three cells back. On CPU a step's cost at the batch sizes training uses is mostly the number
of tensor operations, so the lookups (one gather each) replace a chain of elementwise ones.
The same function steps the real environment and serves as the perfect model.

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
    """Per-device lookup tables the step gathers from (built once per env).

    A step only ever looks at three cells (the player's, the one ahead, the one beyond), so
    everything it decides is a function of their three codes: with 7 codes that is 343
    cases, numbered ``key = 2 * (49 * here + 7 * ahead + beyond)`` (doubled so that adding
    ``solved`` picks the reward row). The ``*_by_key`` tables hold each case's outcome,
    computed once from the rules' own formulas (:func:`_outcomes`), so a step is a few
    gathers instead of a chain of elementwise decisions.
    """

    offsets: torch.Tensor  # [5] flat-index step of each action for this width
    is_box: torch.Tensor  # [7] bool by code
    is_free: torch.Tensor  # [7] bool by code
    is_target: torch.Tensor  # [7] bool by code
    cell_steps: torch.Tensor  # [5, 3] long: 0, step, 2*step of each action (the three cells)
    key_weights: torch.Tensor  # [3] long: 98, 14, 2
    after_by_key: torch.Tensor  # [686, 3] uint8: the three codes after the step
    moved_by_key: torch.Tensor  # [686] bool: the player moved
    pushed_by_key: torch.Tensor  # [686] bool: a box moved
    placed_by_key: torch.Tensor  # [686] long: boxes put on a target minus boxes taken off
    reward_by_key: torch.Tensor  # [686] float32, at key + solved


#: Number of distinct (here, ahead, beyond) code triples; keys run over twice as many.
CASES = cells.NUM_CODES ** 3


def _outcomes() -> dict[str, torch.Tensor]:
    """Every case's outcome from the rules' elementwise formulas, indexed by key (CPU).

    The reward is computed with the float32 tensor arithmetic the rules always used
    (``STEP + ON * on + OFF * off + SOLVED * finished``), so each value is bit-identical."""
    triples = torch.cartesian_prod(*[torch.arange(cells.NUM_CODES)] * 3)  # [343, 3] in key order
    here, next_cell, far_cell = triples.unbind(1)
    is_box, is_free, is_target = (torch.as_tensor(t) for t in (cells.IS_BOX, cells.IS_FREE, cells.IS_TARGET))
    box_ahead = is_box[next_cell]
    push = box_ahead & is_free[far_cell]
    move = is_free[next_cell] | push
    # Codes are 1 + target + 2*box + 4*player, so moves are additions (see cells.py).
    after = torch.stack((here - 4 * move.long(), next_cell + move.long() * (4 - 2 * box_ahead.long()),
                         far_cell + 2 * push.long()), dim=1)
    on = push & is_target[far_cell]
    off = push & is_target[next_cell]
    twice = lambda t: t.repeat_interleave(2, dim=0)  # noqa: E731  (rows for solved = 0, 1)
    solved = torch.tensor([False, True]).repeat(CASES)
    on2, off2 = twice(on), twice(off)
    # The bonus is for landing the last box, not for standing in a solved position (which the
    # perfect model may be asked to step from).
    finished = on2 & ~off2 & solved
    reward = (STEP_REWARD + BOX_ON_REWARD * on2.float() + BOX_OFF_REWARD * off2.float()
              + SOLVED_REWARD * finished.float())
    # Triples that cannot occur (no player in the first cell) only need codes that fit uint8.
    return {"after_by_key": twice(after.clamp(0, cells.NUM_CODES - 1).to(torch.uint8)),
            "moved_by_key": twice(move), "pushed_by_key": twice(push),
            "placed_by_key": twice(on.long() - off.long()), "reward_by_key": reward}


def make_tables(width: int, device: torch.device | str = "cpu") -> Tables:
    offsets = torch.tensor([dr * width + dc for dr, dc in ACTION_DELTAS], device=device)
    as_tensor = lambda table: torch.as_tensor(table, device=device)  # noqa: E731
    cell_steps = offsets.unsqueeze(1) * torch.arange(3, device=device)
    key_weights = torch.tensor([2 * cells.NUM_CODES ** 2, 2 * cells.NUM_CODES, 2], device=device)
    outcomes = {name: table.to(device) for name, table in _outcomes().items()}
    return Tables(offsets, as_tensor(cells.IS_BOX), as_tensor(cells.IS_FREE), as_tensor(cells.IS_TARGET),
                  cell_steps, key_weights, **outcomes)


class StepResult(NamedTuple):
    reward: torch.Tensor  # [N] float32
    solved: torch.Tensor  # [N] bool: no box is left off a target
    pushed: torch.Tensor  # [N] bool: a box moved this step
    cells: torch.Tensor  # [N, 3] flat indices of the player's cell, the next and the one beyond
    before: torch.Tensor  # [N, 3] their codes before the step (uint8)
    after: torch.Tensor  # [N, 3] and after it (uint8), for incremental redraws
    key: torch.Tensor  # [N] long: the step's case (see Tables), what redraws can be looked up by


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
    # The three cells as flat indices. The one beyond is clamped into the grid: it can only
    # leave it when the cell ahead is on the border, a wall, and then nothing moves.
    if actions.device.type == "cpu":  # index_select checks the range itself on CPU
        try:
            index = tables.cell_steps.index_select(0, actions)
        except IndexError:
            _bad_actions(actions)
            raise
    else:
        _bad_actions(actions)
        index = tables.cell_steps.index_select(0, actions)
    index = index.add_(player.unsqueeze(1)).clamp_(0, codes.shape[1] - 1)
    before = codes.gather(1, index)
    key = (before.long() * tables.key_weights).sum(1)
    after = tables.after_by_key.index_select(0, key)
    codes.scatter_(1, index, after)
    torch.where(tables.moved_by_key.index_select(0, key), index[:, 1], player, out=player)
    if unplaced is None:
        solved = unplaced_boxes(codes) == 0
    else:
        unplaced -= tables.placed_by_key.index_select(0, key)
        solved = unplaced == 0
    reward = tables.reward_by_key.index_select(0, key + solved)
    return StepResult(reward, solved, tables.pushed_by_key.index_select(0, key), index, before, after, key)


def _bad_actions(actions: torch.Tensor) -> None:
    """Raise ValueError if some action is not in 0..NUM_ACTIONS-1."""
    if actions.numel():
        low, high = torch.aminmax(actions)
        if low.item() < 0 or high.item() >= NUM_ACTIONS:
            raise ValueError(
                f"actions must be integers in 0..{NUM_ACTIONS - 1}; got values {int(low)}..{int(high)}"
            )


def step(codes: torch.Tensor, actions: torch.Tensor, tables: Tables) -> tuple[torch.Tensor, StepResult]:
    """Pure form of :func:`step_`: returns the next grids and leaves ``codes`` untouched."""
    next_codes = codes.clone()
    result = step_(next_codes, player_index(codes), actions, tables)
    return next_codes, result
