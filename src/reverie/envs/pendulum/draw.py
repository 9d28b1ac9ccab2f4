"""The pendulum as a picture, drawn for a whole batch at once from each game's angle.

Why tensors and not a canvas library: ``pendulum-pixels`` renders every step of thousands of
games, on the device the agents train on. Each pixel's intensity comes from the distance of
its centre to the rod (a segment from the frame's centre to the bob), anti-aliased over one
pixel; a bob of its own colour at the rod's free end and a dark pivot mark make the picture
say which end is which. The env copies frames from a table of 1024 angles (:func:`frames`)
rather than drawing each one: the picture of an angle never changes, and a copy is far
cheaper than the per-pixel arithmetic. Angle 0 is upright and the angle grows anticlockwise, as Gymnasium
draws Pendulum-v1.
"""

from __future__ import annotations

import functools
import math

import torch

__all__ = ["draw", "frames", "ANGLES", "ROD", "BOB", "PIVOT", "BACKGROUND"]

BACKGROUND = (0.0, 0.0, 0.0)
ROD = (0.8, 0.3, 0.3)
BOB = (1.0, 0.85, 0.3)
PIVOT = (0.3, 0.3, 0.6)
#: rod length, rod half-width, bob and pivot radius, as fractions of the frame's side
ROD_LENGTH, HALF_WIDTH, BOB_RADIUS, PIVOT_RADIUS = 0.4, 0.05, 0.085, 0.05
#: angles in the table :func:`frames` copies from (one every 0.35 degrees)
ANGLES = 1024


@functools.lru_cache(maxsize=8)
def _grid(size: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pixel-centre coordinates ``x, y [1, S*S]`` in pixels relative to the frame's centre (y down),
    and the pivot's coverage ``[1, S*S]`` (the same in every frame)."""
    centres = torch.arange(size, dtype=torch.float32, device=device) + 0.5 - size / 2
    y, x = torch.meshgrid(centres, centres, indexing="ij")
    x, y = x.reshape(1, -1), y.reshape(1, -1)
    return x, y, _coverage(torch.hypot(x, y), PIVOT_RADIUS * size)


def _coverage(distance: torch.Tensor, radius: float) -> torch.Tensor:
    """How much of a pixel a shape covers, from its centre's distance to the shape's core (linear ramp)."""
    return (radius + 0.5 - distance).clamp_(0.0, 1.0)


def draw(theta: torch.Tensor, size: int = 64) -> torch.Tensor:
    """Angles ``[B]`` -> frames ``[B, 3, size, size]`` uint8, drawn exactly at each angle."""
    b, device = theta.shape[0], theta.device
    x, y, pivot = _grid(int(size), device)
    length = ROD_LENGTH * size
    angle = theta.float()[:, None]
    ex, ey = -torch.sin(angle) * length, -torch.cos(angle) * length                 # the bob's centre [B, 1]
    along = ((x * ex + y * ey) / (length * length)).clamp_(0.0, 1.0)                # projection onto the rod
    rod = _coverage(torch.hypot(x - along * ex, y - along * ey), HALF_WIDTH * size)
    bob = _coverage(torch.hypot(x - ex, y - ey), BOB_RADIUS * size)
    # Painting rod, bob, pivot in turn over the background: each layer's share of a pixel.
    weights = torch.stack([(1 - rod) * (1 - bob), rod * (1 - bob), bob], -1) * (1 - pivot)[..., None]
    colours = torch.tensor((BACKGROUND, ROD, BOB), dtype=torch.float32, device=device)        # [3 layers, RGB]
    frame = weights @ colours + pivot[..., None] * torch.tensor(PIVOT, device=device)           # [B, S*S, RGB]
    frame = (frame * 255).round_().to(torch.uint8)
    return frame.transpose(1, 2).reshape(b, 3, size, size)


@functools.lru_cache(maxsize=8)
def _table(size: int, device: torch.device) -> torch.Tensor:
    """:func:`draw` at ``ANGLES`` evenly spaced angles ``[ANGLES, 3, S, S]`` (built once per size and device).

    Only the first quarter turn is drawn: the pixel grid is symmetric under quarter turns about
    its centre, so each further quarter is the previous one turned by 90 degrees, exactly."""
    quarter = torch.arange(ANGLES // 4, dtype=torch.float64, device=device) * (2 * math.pi / ANGLES)
    first = torch.cat([draw(chunk, size) for chunk in quarter.split(128)])
    return torch.cat([torch.rot90(first, turn, dims=(-2, -1)) for turn in range(4)]).contiguous()


def frames(theta: torch.Tensor, size: int = 64) -> torch.Tensor:
    """Angles ``[B]`` -> frames ``[B, 3, size, size]`` uint8, each drawn at the nearest of ``ANGLES``
    angles: a copy from a table, whatever the frame's size, so rendering costs next to nothing
    beside the agents (at 64 pixels the bob lands within 0.08 pixels of where :func:`draw` puts it)."""
    table = _table(int(size), theta.device)
    index = torch.round(torch.remainder(theta.double(), 2 * math.pi) * (ANGLES / (2 * math.pi))).long() % ANGLES
    return table[index]
