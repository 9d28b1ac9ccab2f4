"""Atari observations as pictures: the newest grey frame of each stack, twice the size, as RGB."""

from __future__ import annotations

import torch

__all__ = ["render"]


def render(obs: torch.Tensor) -> torch.Tensor:
    """Observations ``[B, stack, 84, 84]`` uint8 -> pictures ``[B, 168, 168, 3]`` uint8."""
    if obs.dim() != 4:
        raise ValueError(f"Atari observations are [B, stack, H, W], got {tuple(obs.shape)}")
    frame = obs[:, -1].detach().cpu()
    if frame.is_floating_point():
        frame = (frame.clamp(0, 255)).round()
    frame = frame.to(torch.uint8)
    return frame[..., None].expand(-1, -1, -1, 3).repeat_interleave(2, 1).repeat_interleave(2, 2).contiguous()
