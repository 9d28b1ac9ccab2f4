"""MiniPacman frames as pictures: one coloured 8x8 square a cell, for GIFs and reports."""

from __future__ import annotations

import torch

from .observation import PLANES

__all__ = ["render", "to_rgb", "SCALE"]

SCALE = 8


def to_rgb(obs: torch.Tensor) -> torch.Tensor:
    """Observations ``[B, 3 or 6, 15, 19]`` -> RGB frames ``[B, 3, 15, 19]`` float in [0, 1].

    Symbolic planes are drawn with the rgb frame's colours and priority (player > ghost >
    pill > food > wall); uint8 input is the data codec's ``round(20 * x)``."""
    if obs.dim() != 4 or obs.shape[1] not in (3, len(PLANES)):
        raise ValueError(f"MiniPacman observations are [B, 3 or 6, 15, 19], got {tuple(obs.shape)}")
    obs = obs.float() / 20 if obs.dtype == torch.uint8 else obs.float()
    if obs.shape[1] == 3:
        return obs
    walls, food, player, ghost, edible, pill = obs.unbind(1)
    zero, one = torch.zeros_like(walls), torch.ones_like(walls)
    frame = torch.stack((walls, walls, walls), 1)
    frame = torch.where((food > 0)[:, None], torch.stack((zero, zero, one), 1), frame)
    frame = torch.where((pill > 0)[:, None], torch.stack((zero, one, one), 1), frame)
    frame = torch.where(((ghost + edible) > 0)[:, None], torch.stack((one, edible, zero), 1), frame)
    return torch.where((player > 0)[:, None], torch.stack((zero, one, zero), 1), frame)


def render(obs: torch.Tensor) -> torch.Tensor:
    """Observations ``[B, 3 or 6, 15, 19]`` -> pictures ``[B, 120, 152, 3]`` uint8 (0..1 -> 0..255)."""
    frame = (to_rgb(obs.detach()).clamp(0, 1) * 255).round().to(torch.uint8).cpu()
    return frame.permute(0, 2, 3, 1).repeat_interleave(SCALE, 1).repeat_interleave(SCALE, 2).contiguous()
