"""How agents read an image-like observation: small grids cell by cell, pixel frames scaled and strided.

One rule for every network that looks at observations (the standard agent's trunk, I2A's
model-free path, its rollout policy and its rollout encoder): an observation whose sides are
at least :data:`PIXEL_SIDE` is a frame of pixels (Sokoban's 80x80 RGB, Atari's 84x84 grey), read
as values scaled to [0, 1] through convolutions that stride over several pixels at once; a
smaller one is a grid of cells (one-hot Sokoban planes, MiniPacman, MinAtar), read as it is.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

__all__ = ["PIXEL_SIDE", "is_pixels", "input_scale", "small_reader"]

#: Observation sides from which a frame is read as pixels.
PIXEL_SIDE = 36


def is_pixels(obs_shape: Sequence[int]) -> bool:
    """Whether ``[C, H, W]`` observations are pixel frames (both sides >= :data:`PIXEL_SIDE`)."""
    return min(int(s) for s in obs_shape[1:]) >= PIXEL_SIDE


def input_scale(obs_shape: Sequence[int]) -> float:
    """What an observation is multiplied by on the way in: 1/255 for pixel frames (uint8 grey levels)."""
    return 1 / 255 if is_pixels(obs_shape) else 1.0


def scaled(obs: torch.Tensor, scale: float) -> torch.Tensor:
    """``obs`` as floats times ``scale``, without a pass over the tensor where there is nothing
    to do (float grids at scale 1: I2A reads ``A x L`` imagined frames per real frame, twice)."""
    obs = obs if obs.is_floating_point() else obs.float()
    return obs if scale == 1.0 else obs * scale


def small_reader(obs_shape: Sequence[int], channels: int) -> tuple[nn.Conv2d, int]:
    """The one convolution of the networks that run on every imagined frame (I2A's rollout
    policy and encoder) and the size of its flattened output: 3x3 of stride 2 on grids (every
    cell still falls in some window), 8x8 of stride 4 on pixels (the first layer of the pixel
    trunk, which also reads an 8x8 Sokoban sprite whole)."""
    kernel, stride, padding = (8, 4, 0) if is_pixels(obs_shape) else (3, 2, 1)
    conv = nn.Conv2d(int(obs_shape[0]), channels, kernel, stride, padding)
    with torch.no_grad():
        size = conv(torch.zeros(1, *(int(s) for s in obs_shape))).numel()
    return conv, size
