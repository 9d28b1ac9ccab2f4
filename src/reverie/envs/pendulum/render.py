"""Pendulum observations as pictures ``[B, H, W, 3]`` uint8, for GIFs and reports.

Pixel observations are already pictures (channels moved last); vector observations
``[cos, sin, theta dot]`` are drawn from their angle at 64x64, so both ids make the same GIFs."""

from __future__ import annotations

import torch

from .draw import draw

__all__ = ["render", "VECTOR_PICTURE"]

VECTOR_PICTURE = 64


def render(obs: torch.Tensor) -> torch.Tensor:
    """Observations ``[B, 3]`` (vectors) or ``[B, 3, S, S]`` (frames) -> pictures ``[B, H, W, 3]`` uint8."""
    obs = obs.detach()
    if obs.dim() == 2 and obs.shape[1] == 3:
        frames = draw(torch.atan2(obs[:, 1].float(), obs[:, 0].float()), VECTOR_PICTURE)
    elif obs.dim() == 4 and obs.shape[1] == 3:
        frames = obs.float().clamp(0, 255).round().to(torch.uint8) if obs.is_floating_point() else obs.to(torch.uint8)
    else:
        raise ValueError(f"pendulum observations are [B, 3] or [B, 3, S, S], got {tuple(obs.shape)}")
    return frames.cpu().permute(0, 2, 3, 1).contiguous()
