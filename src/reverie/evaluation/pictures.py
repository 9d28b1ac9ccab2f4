"""GIFs and PNGs of Sokoban positions, drawn with the environment's own sprites."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from ..core.atomic import atomic_write
from ..envs.sokoban.render import rgb_image


def _atomic_save(image: Image.Image, path: Path, **kwargs) -> None:
    with atomic_write(path) as f:
        image.save(f, **kwargs)


def save_gif(grids: Sequence[np.ndarray], path: str | Path, scale: int = 4,
             frame_ms: int = 120, hold_last_ms: int = 1200) -> Path:
    """An animated GIF of a sequence of [H, W] code grids (the last frame held longer)."""
    if not grids:
        raise ValueError("a GIF needs at least one frame")
    frames = [Image.fromarray(rgb_image(g, scale)) for g in grids]
    durations = [frame_ms] * (len(frames) - 1) + [hold_last_ms]
    path = Path(path)
    _atomic_save(frames[0], path, format="GIF", save_all=True, append_images=frames[1:],
                 duration=durations, loop=0)
    return path


def save_montage(grids: Sequence[np.ndarray], path: str | Path, columns: int = 4,
                 scale: int = 2, gap: int = 4) -> Path:
    """A PNG with several same-size levels side by side."""
    if not grids:
        raise ValueError("a montage needs at least one level")
    tiles = [rgb_image(g, scale) for g in grids]
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
