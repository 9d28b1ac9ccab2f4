"""CarRacing observations as pictures ``[B, H, W, 3]`` uint8 (channels last), for GIFs and reports."""

from __future__ import annotations

import torch

__all__ = ["render"]


def render(obs: torch.Tensor) -> torch.Tensor:
    """Frames ``[B, 3, S, S]`` (uint8, or floats in 0..255 from a model) -> pictures ``[B, S, S, 3]`` uint8."""
    obs = obs.detach()
    if obs.dim() != 4 or obs.shape[1] != 3:
        raise ValueError(f"carracing observations are [B, 3, S, S], got {tuple(obs.shape)}")
    frames = obs.float().clamp(0, 255).round().to(torch.uint8) if obs.is_floating_point() else obs.to(torch.uint8)
    return frames.cpu().permute(0, 2, 3, 1).contiguous()
