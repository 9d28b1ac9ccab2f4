"""Breakout frames as pictures: one coloured 8x8 square a cell, for GIFs and reports."""

from __future__ import annotations

import torch

__all__ = ["render", "SCALE", "COLOURS"]

SCALE = 8
#: paddle, ball, trail, brick (drawn in reverse order: the ball over the trail over the rest)
COLOURS = ((0.2, 0.6, 1.0), (1.0, 1.0, 1.0), (0.45, 0.45, 0.45), (0.9, 0.35, 0.2))


def render(obs: torch.Tensor) -> torch.Tensor:
    """Observations ``[B, 4, 10, 10]`` (float planes, or the codec's uint8) -> pictures ``[B, 80, 80, 3]`` uint8."""
    if obs.dim() != 4 or obs.shape[1] != len(COLOURS):
        raise ValueError(f"Breakout observations are [B, 4, 10, 10], got {tuple(obs.shape)}")
    planes = obs.detach().float().cpu() > 0
    frame = torch.zeros(obs.shape[0], obs.shape[2], obs.shape[3], 3)
    for plane in (3, 0, 2, 1):  # four planes, not pixels: the draw order is the priority
        frame[planes[:, plane]] = torch.tensor(COLOURS[plane])
    pictures = (frame * 255).round().to(torch.uint8)
    return pictures.repeat_interleave(SCALE, 1).repeat_interleave(SCALE, 2).contiguous()
