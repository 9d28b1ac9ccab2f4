"""Breakout's perfect model: the rules, on the game state a frame shows.

A frame shows the ball, where it was a step ago (the trail), the paddle and the bricks; the
ball's direction and the ``strike`` flag are hidden. ``encode`` reads them back from the
ball's last move and where it is:

- a diagonal move: the direction is the move;
- a straight move up or down: the ball met a side wall, so it now heads away from it;
- a sideways move (or none) in row 0: it met the ceiling, so it now heads down; in row 8: it
  met the paddle, so it now heads up, sideways as it moved if it was above the paddle (the
  trail is), else back the way it came; in row 3 at a wall with no move: a new episode;
- any other sideways move: it broke a brick (``strike``) and turned. Up into the brick
  (it now heads down) unless the cell above it holds a brick, then down into it from above.
  Two frames are ambiguous and read as the likelier case: a ball that broke a brick from
  above while the cell above it was empty is read as coming from below, and a sideways move
  in row 0 is read as the ceiling's bounce (it may have broken a brick in row 1 from above).
  On a tracking policy's games one imagined step is exact in 99.6% of frames
  (``tests/test_minatar_breakout.py`` pins the rate).

A ball standing on a brick passed through it (``strike`` was set): strike stays set. Sticky
actions are not imagined (the chosen action is played: the frame does not show the last one).
``step`` also takes frames (frames in, frames out), for code that steps observation models.
"""

from __future__ import annotations

import torch

from ...core.errors import ReverieError
from . import breakout
from .breakout import PLANES, SIZE, BreakoutState

__all__ = ["BreakoutRules", "encode_frames"]


def encode_frames(frames: torch.Tensor) -> BreakoutState:
    """Frames ``[B, 4, 10, 10]`` (float planes or uint8) -> the game states they show (see the module)."""
    if frames.dim() != 4 or tuple(frames.shape[1:]) != (len(PLANES), SIZE, SIZE):
        raise ReverieError(f"Breakout frames are [B, 4, 10, 10], got {tuple(frames.shape)}")
    planes = frames.flatten(2) > 0
    paddle = planes[:, 0, (SIZE - 1) * SIZE:].long().argmax(1)
    ball = planes[:, 1].long().argmax(1)
    trail = planes[:, 2].long().argmax(1)
    bricks = planes[:, 3]
    bx, by, tx, ty = ball % SIZE, ball // SIZE, trail % SIZE, trail // SIZE
    dx, dy = bx - tx, by - ty
    away = torch.where(bx == 0, 1, -1)                         # the horizontal heading off a side wall
    sideways = dy == 0
    hx = torch.where(dx == 0, away, dx)
    above = bricks.gather(1, ((by - 1).clamp(min=0) * SIZE + bx)[:, None]).squeeze(1) & (by > 0)
    start = sideways & (dx == 0) & (by == 3) & ((bx == 0) | (bx == SIZE - 1))
    ceiling = sideways & (by == 0)
    paddle_row = sideways & (by == SIZE - 2)
    broke = sideways & ~start & ~ceiling & ~paddle_row
    # vertical heading: the move itself unless the ball turned this step
    vy = torch.where(sideways, torch.where(paddle_row | (broke & above), -1, 1), dy)
    hx = torch.where(paddle_row & (dx != 0) & (tx != paddle), -dx, hx)   # the paddle's corner sent it back
    direction = torch.where(vy < 0, torch.where(hx < 0, 0, 1), torch.where(hx > 0, 2, 3))
    on_brick = bricks.gather(1, ball[:, None]).squeeze(1)
    zeros = torch.zeros_like(ball)
    return BreakoutState(ball_x=bx, ball_y=by, last_x=tx, last_y=ty, direction=direction.long(), paddle=paddle,
                         strike=broke | on_brick, bricks=bricks.clone(), last_action=zeros, frame=zeros.clone())


class BreakoutRules:
    """Breakout's rules as a latent environment model (:mod:`reverie.models.base`).

    ``step(state, action [B])`` -> ``(state', reward [B] = bricks broken, done [B] = ball lost)``;
    a state may also be a batch of frames (then the result is frames).
    """

    def __init__(self, spec=None) -> None:
        self.spec = spec

    def __repr__(self) -> str:
        return "BreakoutRules()"

    def encode(self, obs: torch.Tensor, state: BreakoutState | None = None) -> BreakoutState:
        return encode_frames(obs)

    def decode(self, state: BreakoutState) -> torch.Tensor:
        return breakout.observe(state)

    def step(self, state, action: torch.Tensor):
        if isinstance(state, torch.Tensor):
            nxt, reward, done = self.step(self.encode(state), action)
            frames = breakout.observe(nxt)
            return (frames.to(state.dtype) if state.is_floating_point() else frames.to(torch.uint8)), reward, done
        nxt, events = breakout.step(state, action.to(state.ball_x.device).long())
        return nxt, events[:, 0].float(), events[:, 1] > 0

