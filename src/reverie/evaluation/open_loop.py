"""Open-loop imagination beside reality: how far a model's imagined frames drift from the real ones.

A model first filters ``context`` real frames (latent models build their state from them
through ``encode(obs, state, action)``; observation models simply start from the last), then
imagines the rest of the episode from the real actions alone, never seeing another frame. The
PlaNet and Dreamer papers show their models this way. :func:`open_loop` returns the imagined
frames and the per-step error; :func:`save_open_loop_gif` draws real (left) beside imagined
(right) with the world's own renderer.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..models.base import initial_state, observe
from .pictures import save_gif

__all__ = ["open_loop", "save_open_loop_gif"]


@torch.no_grad()
def open_loop(model, obs: torch.Tensor, actions: torch.Tensor, context: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    """Imagined frames ``[T - context, B, ...]`` for real ``obs [T, B, ...]`` (``actions[t]`` taken
    after ``obs[t]``) and the mean absolute error of each imagined step against the real frame
    (in the observation's own units)."""
    steps = obs.shape[0]
    context = max(1, min(context, steps - 1))
    state = initial_state(model, obs[0])
    encode = getattr(model, "encode", None)
    for t in range(1, context):
        state = encode(obs[t], state, actions[t - 1]) if callable(encode) and callable(
            getattr(model, "decode", None)) else obs[t]
    imagined = []
    for t in range(context, steps):
        state, _, _ = model.step(state, actions[t - 1])
        imagined.append(observe(model, state))
    frames = torch.stack(imagined)
    error = (frames.float() - obs[context:].float()).abs().flatten(2).mean(-1).mean(-1)
    return frames, error


def save_open_loop_gif(spec, real: torch.Tensor, imagined: torch.Tensor, path: str | Path,
                       scale: int | None = None) -> Path:
    """Real frames ``[T, ...]`` (one episode) beside the imagined ones, drawn by ``spec.render``
    (scaled to about 192 pixels a side unless ``scale`` says otherwise)."""
    left, right = spec.render(real).cpu().numpy(), spec.render(imagined).cpu().numpy()
    scale = scale or max(1, 192 // max(left.shape[1], left.shape[2]))
    gap = np.full((left.shape[1], 2, 3), 255, np.uint8)
    return save_gif([np.concatenate((a, gap, b), 1) for a, b in zip(left, right)], path, scale=scale)
