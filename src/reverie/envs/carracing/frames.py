"""CarRacing's 96x96 frames as reverie observations: ``[N, 3, size, size]`` uint8, resized with torch.

World Models reads 64x64 frames; area interpolation averages every source pixel that falls in
a target pixel (no aliasing of the thin track edges and the indicator bar), for the whole
batch at once.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["to_frames", "NATIVE"]

#: The side of the frames Gymnasium's CarRacing draws (``STATE_W`` = ``STATE_H`` = 96).
NATIVE = 96


def to_frames(pixels: np.ndarray, size: int, device: torch.device) -> torch.Tensor:
    """Frames ``[N, H, W, 3]`` uint8 (numpy) -> ``[N, 3, size, size]`` uint8 on ``device``."""
    frames = torch.from_numpy(np.ascontiguousarray(pixels)).to(device).permute(0, 3, 1, 2)
    if frames.shape[-2:] == (size, size):
        return frames.contiguous()
    if frames.shape[0] == 0:
        return torch.zeros(0, 3, size, size, dtype=torch.uint8, device=device)
    small = F.interpolate(frames.float(), size=(size, size), mode="area")
    return small.round_().clamp_(0, 255).to(torch.uint8)
