"""MinAtar Breakout's rules as batched tensor code (Young & Tian 2019, PyPI ``minatar``).

A 10x10 grid: the paddle on the bottom row, three rows of bricks (rows 1-3), and a ball that
moves one cell diagonally a step. The ball bounces off the side walls, the ceiling, bricks (one
brick and +1 a hit) and the paddle; it is lost (the episode ends) when it reaches the bottom
row beside the paddle. When every brick is gone, the next time the ball reaches the bottom
row the three rows come back. The observation's trail plane shows where the ball was a step
ago, which is how an agent sees its direction.

The step below follows the released game's order of checks exactly (the differential test
in ``tests/test_minatar_oracle.py`` replays it against the ``minatar`` package); its quirks
are the game's and are kept (docs/minatar.md lists them):

- a wall bounce clamps the column and flips the horizontal direction *before* the row is
  checked, so a ball in a side column moves straight up or down for a step;
- a brick hit keeps the ball in its row (it moves sideways) and sets a ``strike`` flag: a
  brick met on the very next step is passed through (no bounce, no reward, the brick stays);
- the paddle bounces the ball straight back when the ball was above the paddle's cell, and
  back the way it came (both directions flipped) when it lands on the paddle's cell from the
  side; the paddle has already moved this step.

There is no Python loop over games: every rule is a ``torch.where`` over the batch.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

from ...core.errors import ReverieError

__all__ = ["BreakoutState", "ACTION_NAMES", "MINATAR_ACTIONS", "SIZE", "EVENTS", "step", "observe",
           "initial_state", "PLANES"]

SIZE = 10
CELLS = SIZE * SIZE
BRICK_ROWS = (1, 2, 3)
#: reverie's actions are MinAtar's minimal set: no-op, left, right (MinAtar's 0, 1, 3).
ACTION_NAMES = ("noop", "left", "right")
MINATAR_ACTIONS = (0, 1, 3)
PLANES = ("paddle", "ball", "trail", "brick")
#: per-step events: bricks broken (reward +1 each) and the ball lost (the episode's end).
EVENTS = ("brick", "lost")

# directions: 0 up-left, 1 up-right, 2 down-right, 3 down-left (MinAtar's numbering)
_DX = (-1, 1, 1, -1)
_DY = (-1, -1, 1, 1)
_FLIP_X = (1, 0, 3, 2)
_FLIP_Y = (3, 2, 1, 0)
_REVERSE = (2, 3, 0, 1)
_MOVE = (0, -1, 1)  # paddle move of each action


@dataclass
class BreakoutState:
    """A batch of games (``B`` rows): the ball, where it was, its direction, the paddle, the bricks."""

    ball_x: torch.Tensor   # long [B], column 0..9
    ball_y: torch.Tensor   # long [B], row 0..9
    last_x: torch.Tensor   # long [B], the ball a step ago (the trail)
    last_y: torch.Tensor   # long [B]
    direction: torch.Tensor  # long [B], 0..3
    paddle: torch.Tensor   # long [B], column of the paddle (row 9)
    strike: torch.Tensor   # bool [B], the last step met a brick
    bricks: torch.Tensor   # bool [B, 100], row-major cells
    last_action: torch.Tensor  # long [B], the action played last (sticky actions repeat it)
    frame: torch.Tensor    # long [B], steps played in this episode

    @property
    def batch(self) -> int:
        return self.ball_x.shape[0]

    def _map(self, fn) -> "BreakoutState":
        return BreakoutState(**{f.name: fn(getattr(self, f.name)) for f in dataclasses.fields(self)})

    def clone(self) -> "BreakoutState":
        return self._map(torch.clone)

    def index(self, rows: torch.Tensor) -> "BreakoutState":
        return self._map(lambda t: t[rows])

    def assign(self, rows: torch.Tensor, other: "BreakoutState") -> None:
        for f in dataclasses.fields(self):
            getattr(self, f.name)[rows] = getattr(other, f.name)

    def to_dict(self) -> dict[str, torch.Tensor]:
        return {f.name: getattr(self, f.name).clone() for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, state: dict[str, torch.Tensor], device: torch.device | str | None = None) -> "BreakoutState":
        missing = [f.name for f in dataclasses.fields(cls) if f.name not in state]
        if missing:
            raise ReverieError(f"a Breakout state needs {', '.join(missing)}")
        out = {}
        for f in dataclasses.fields(cls):
            t = torch.as_tensor(state[f.name], device=device)
            out[f.name] = t.bool() if f.name in ("strike", "bricks") else t.long()
        batch = out["ball_x"].shape
        if len(batch) != 1 or any(out[k].shape != batch for k in out if k != "bricks") or \
                out["bricks"].shape != (batch[0], CELLS):
            raise ReverieError("a Breakout state's fields must share one batch size (bricks [B, 100])")
        return cls(**out).clone()


_TABLES: dict[torch.device, torch.Tensor] = {}


def _tables(device: torch.device) -> torch.Tensor:
    """``[6, 4]`` long on ``device`` (built once): dx, dy, flip-x, flip-y and reverse of each
    direction, and the paddle move of each action (padded)."""
    if device not in _TABLES:
        _TABLES[device] = torch.tensor((_DX, _DY, _FLIP_X, _FLIP_Y, _REVERSE, _MOVE + (0,)), dtype=torch.long,
                                       device=device)
    return _TABLES[device]


def initial_state(right: torch.Tensor) -> BreakoutState:
    """New games: the ball in row 3 at the left wall heading down-right (``right`` False) or at
    the right wall heading down-left (True); paddle in column 4; three full rows of bricks."""
    device = right.device
    b = right.shape[0]
    x = torch.where(right, SIZE - 1, 0).long()
    bricks = torch.zeros(b, SIZE, SIZE, dtype=torch.bool, device=device)
    bricks[:, BRICK_ROWS[0]:BRICK_ROWS[-1] + 1] = True
    zeros = torch.zeros(b, dtype=torch.long, device=device)
    return BreakoutState(ball_x=x, ball_y=zeros + 3, last_x=x.clone(), last_y=zeros + 3,
                         direction=torch.where(right, 3, 2).long(), paddle=zeros + 4,
                         strike=torch.zeros(b, dtype=torch.bool, device=device), bricks=bricks.view(b, CELLS),
                         last_action=zeros.clone(), frame=zeros.clone())


def step(state: BreakoutState, action: torch.Tensor, sticky: torch.Tensor | None = None
         ) -> tuple[BreakoutState, torch.Tensor]:
    """One step of every game: ``action [B]`` in 0..2 (noop, left, right); ``sticky [B]`` bool
    marks the games whose last action repeats instead (MinAtar's sticky actions). Returns the
    next state and the events ``[B, 2]`` (bricks broken, ball lost; int64)."""
    dx, dy, flip_x, flip_y, reverse, move = _tables(action.device)
    if sticky is not None:
        action = torch.where(sticky, state.last_action, action)
    paddle = (state.paddle + move[action]).clamp_(0, SIZE - 1)
    d = state.direction
    x = state.ball_x + dx[d]
    y = state.ball_y + dy[d]
    # side walls: clamp the column, flip the horizontal direction (before the row checks)
    wall = (x < 0) | (x >= SIZE)
    x = x.clamp_(0, SIZE - 1)
    d = torch.where(wall, flip_x[d], d)
    # the ceiling, else a brick, else the bottom row (the checks exclude each other)
    top = y < 0
    y = y.clamp_(0, SIZE - 1)  # (a lost ball stepped again stays on the grid)
    cell = (y * SIZE + x)[:, None]
    brick = state.bricks.gather(1, cell).squeeze(1) & ~top
    hit = brick & ~state.strike
    bottom = (y == SIZE - 1) & ~top & ~brick
    straight = bottom & (state.ball_x == paddle)
    corner = bottom & ~straight & (x == paddle)
    lost = bottom & ~straight & ~corner
    d = torch.where(top | hit | straight, flip_y[d], d)
    d = torch.where(corner, reverse[d], d)
    y = torch.where(hit | straight | corner, state.ball_y, y)
    bricks = state.bricks.scatter(1, cell, brick[:, None] & ~hit[:, None])
    # bricks only ever stand in rows 1-3: an empty wall is an empty slice of those rows
    wall_cells = bricks[:, BRICK_ROWS[0] * SIZE:(BRICK_ROWS[-1] + 1) * SIZE]
    wall_cells |= (bottom & ~wall_cells.any(1))[:, None]
    after = BreakoutState(ball_x=x, ball_y=y, last_x=state.ball_x, last_y=state.ball_y, direction=d,
                          paddle=paddle, strike=brick, bricks=bricks, last_action=action, frame=state.frame + 1)
    return after, torch.stack((hit.long(), lost.long()), 1)


def observe(state: BreakoutState, out: torch.Tensor | None = None) -> torch.Tensor:
    """The observation ``[B, 4, 10, 10]`` float32 in {0, 1}: paddle, ball, trail, bricks
    (MinAtar's channels, channels first)."""
    b = state.batch
    if out is None:
        out = torch.empty(b, len(PLANES), CELLS, dtype=torch.float32, device=state.ball_x.device)
    planes = out.view(b, len(PLANES), CELLS)
    planes[:, :3].zero_()
    planes[:, 3].copy_(state.bricks)
    ones = torch.ones(b, 1, dtype=planes.dtype, device=planes.device)
    planes[:, 0].scatter_(1, ((SIZE - 1) * SIZE + state.paddle)[:, None], ones)
    planes[:, 1].scatter_(1, (state.ball_y * SIZE + state.ball_x)[:, None], ones)
    planes[:, 2].scatter_(1, (state.last_y * SIZE + state.last_x)[:, None], ones)
    return out.view(b, len(PLANES), SIZE, SIZE)
