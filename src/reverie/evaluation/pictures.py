"""GIFs and PNGs of RGB frames (a world draws its own: ``spec.render``; Sokoban's level
tools pass ``envs.sokoban.render.rgb_image`` grids)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from ..core.atomic import atomic_write


def _atomic_save(image: Image.Image, path: Path, **kwargs) -> None:
    with atomic_write(path) as f:
        image.save(f, **kwargs)


def _scaled(frame: np.ndarray, scale: int) -> np.ndarray:
    """An RGB frame [H, W, 3] uint8, each pixel drawn as a ``scale`` x ``scale`` block."""
    frame = np.asarray(frame)
    if frame.ndim != 3 or frame.shape[-1] != 3:
        raise ValueError(f"pictures are RGB frames [H, W, 3], got shape {frame.shape}")
    return np.ascontiguousarray(frame.astype(np.uint8).repeat(scale, 0).repeat(scale, 1))


def save_gif(frames: Sequence[np.ndarray], path: str | Path, scale: int = 4,
             frame_ms: int = 200, hold_first_ms: int = 600, hold_last_ms: int = 2000) -> Path:
    """An animated GIF of a sequence of RGB frames [H, W, 3] uint8 at a pace one can follow
    (5 frames a second), the start held a little and the end held long, so a short episode
    reads as start, moves, end rather than a flicker."""
    if not len(frames):
        raise ValueError("a GIF needs at least one frame")
    frames = [Image.fromarray(_scaled(f, scale)) for f in frames]
    durations = [frame_ms] * len(frames)
    durations[0] = max(frame_ms, hold_first_ms)
    durations[-1] = hold_last_ms
    path = Path(path)
    _atomic_save(frames[0], path, format="GIF", save_all=True, append_images=frames[1:],
                 duration=durations, loop=0)
    return path


def save_montage(frames: Sequence[np.ndarray], path: str | Path, columns: int = 4,
                 scale: int = 2, gap: int = 4) -> Path:
    """A PNG with several same-size RGB frames [H, W, 3] side by side."""
    if not len(frames):
        raise ValueError("a montage needs at least one picture")
    tiles = [_scaled(f, scale) for f in frames]
    th, tw, _ = tiles[0].shape
    rows = -(-len(tiles) // columns)
    cols = min(columns, len(tiles))
    sheet = np.full((rows * (th + gap) - gap, cols * (tw + gap) - gap, 3), 255, np.uint8)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, columns)
        sheet[r * (th + gap): r * (th + gap) + th, c * (tw + gap): c * (tw + gap) + tw] = tile
    path = Path(path)
    _atomic_save(Image.fromarray(sheet), path, format="PNG")
    return path
