"""A batch's observations kept between steps and redrawn only where a step changed them.

A Sokoban step changes at most three cells, so redrawing three cells per env instead of
the whole grid is what makes RGB observations cheap: a 10x10 frame is 19 KB, and drawing it
afresh every step is memory-bound. Only envs that start a new level are drawn in full.
"""

from __future__ import annotations

import torch

from . import cells
from .render import SPRITE, Renderer


class ObservationBuffer:
    """Every env's current observation (``"symbolic"`` planes or ``"rgb"`` frames)."""

    def __init__(self, kind: str, num_envs: int, height: int, width: int,
                 device: torch.device, dtype: torch.dtype = torch.float32) -> None:
        self.kind, self.height, self.width = kind, height, width
        self.renderer = Renderer(height, width, device, dtype)
        cells_per_grid = height * width
        if kind == "symbolic":
            self.flat = torch.zeros(num_envs, cells.NUM_CODES * cells_per_grid, dtype=dtype, device=device)
            self.shape = (num_envs, cells.NUM_CODES, height, width)
        else:
            # int64 words of 8 pixels, laid out [3, H, 8, W]: one word is one sprite row
            self.flat = torch.zeros(num_envs, 3 * cells_per_grid * SPRITE, dtype=torch.int64, device=device)
            self.shape = (num_envs, 3, height * SPRITE, width * SPRITE)
            channel = torch.arange(3, device=device).view(3, 1) * (cells_per_grid * SPRITE)
            sprite_row = torch.arange(SPRITE, device=device).view(1, SPRITE) * width
            self._word_offsets = (channel + sprite_row).view(-1)  # [24]

    def tensor(self) -> torch.Tensor:
        """The buffer in its public shape (a view: it changes with the next update)."""
        if self.kind == "symbolic":
            return self.flat.view(self.shape)
        return self.flat.view(torch.uint8).view(self.shape)

    def redraw(self, rows: torch.Tensor, codes: torch.Tensor) -> None:
        """Draw whole grids ``codes [K, H*W]`` into the envs ``rows [K]``."""
        if self.kind == "symbolic":
            self.flat[rows] = self.renderer.symbolic(codes).view(len(rows), -1)
        else:
            self.flat[rows] = self.renderer.rgb(codes).reshape(len(rows), -1, SPRITE).view(torch.int64).view(len(rows), -1)

    def update(self, changed: torch.Tensor, before: torch.Tensor, after: torch.Tensor) -> None:
        """Redraw the cells ``changed [N, 3]`` whose codes went from ``before`` to ``after``."""
        if self.kind == "symbolic":
            grid = self.height * self.width
            self.flat.scatter_(1, before * grid + changed, 0.0)
            self.flat.scatter_(1, after * grid + changed, 1.0)
        else:
            row, col = changed // self.width, changed % self.width
            base = row * (SPRITE * self.width) + col  # first word of the cell's block
            index = (base.unsqueeze(-1) + self._word_offsets).view(len(changed), -1)
            words = self.renderer.sprite_words[after].view(len(changed), -1)
            self.flat.scatter_(1, index, words)
