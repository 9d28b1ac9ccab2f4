"""A batch's observations kept between steps and redrawn only where a step changed them.

A Sokoban step changes at most three cells, so redrawing three cells per env instead of
the whole grid is what makes RGB observations cheap: a 10x10 frame is 19 KB, and drawing it
afresh every step is memory-bound. Only envs that start a new level are drawn in full.

Symbolic planes may be stored as float32 (the default) or as uint8/bool bytes: the same 0/1
values in a quarter of the memory, which is what a copied observation costs at large batch
(16,384 float32 10x10 observations are 46 MB a step). Networks convert at their input
(``obs.float()``, as every agent in :mod:`reverie.agents` does).
"""

from __future__ import annotations

import torch

from . import cells, rules
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
            self._plane_offsets, self._plane_values = _symbolic_writes(cells_per_grid, dtype, device)
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
            planes = self.renderer.symbolic(codes).view(len(rows), -1)
            if planes.dtype.itemsize == 1 and planes.shape[1] % 4 == 0:
                # index_copy_ costs about the same per element whatever its size: move 4 bytes at a time
                self.flat.view(torch.int32).index_copy_(0, rows, planes.view(torch.int32))
            else:
                self.flat.index_copy_(0, rows, planes)
        else:
            self.flat.index_copy_(0, rows, self.renderer.rgb(codes).reshape(len(rows), -1, SPRITE).view(torch.int64).view(len(rows), -1))

    def update(self, changed: torch.Tensor, before: torch.Tensor, after: torch.Tensor,
               key: torch.Tensor | None = None) -> None:
        """Redraw the cells ``changed [N, 3]`` whose codes went from ``before`` to ``after``.

        ``key`` (a step's case, :class:`.rules.Tables`) lets the symbolic planes be redrawn
        with one scatter whose positions and values are looked up, instead of two."""
        if self.kind == "symbolic":
            if key is not None:
                index = torch.cat((changed, changed), dim=1).add_(self._plane_offsets.index_select(0, key))
                self.flat.scatter_(1, index, self._plane_values.index_select(0, key))
                return
            grid = self.height * self.width
            self.flat.scatter_(1, before.long() * grid + changed, 0.0)
            self.flat.scatter_(1, after.long() * grid + changed, 1.0)
        else:
            row, col = changed // self.width, changed % self.width
            base = row * (SPRITE * self.width) + col  # first word of the cell's block
            index = (base.unsqueeze(-1) + self._word_offsets).view(len(changed), -1)
            words = self.renderer.sprite_words.index_select(0, after.reshape(-1).long()).view(len(changed), -1)
            self.flat.scatter_(1, index, words)


def _symbolic_writes(grid: int, dtype: torch.dtype, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """For each step case (key, see :class:`.rules.Tables`): where in the flat one-hot planes
    a step writes, ``[686, 6]`` (the three cells' old planes, then their new ones, as offsets
    to add to the cell indices), and what, ``[686, 6]`` in ``dtype``.

    A cell that changes gets 0 in its old plane and 1 in its new one; a cell that does not
    gets 1 written twice at the same place, so no position is ever written two different
    values and the scatter's result does not depend on its order."""
    tables = rules.make_tables(1)
    triples = torch.cartesian_prod(*[torch.arange(cells.NUM_CODES)] * 3).repeat_interleave(2, dim=0)
    after = tables.after_by_key.long()
    offsets = torch.cat((triples, after), dim=1) * grid
    values = torch.cat(((triples == after).to(dtype), torch.ones(len(after), 3, dtype=dtype)), dim=1)
    return offsets.to(device), values.to(device)
