"""Observations drawn from cell codes with tensor indexing: one-hot planes and RGB sprites.

Both are a single gather over the batch: the symbolic observation indexes an identity
matrix, the RGB image indexes a table of 8x8 sprites (80x80x3 for a 10x10 room, as in the
paper). Nothing here loops over cells or environments.
"""

from __future__ import annotations

import numpy as np
import torch

from . import cells

SPRITE = 8


def _sprites() -> np.ndarray:
    """Seven 8x8 RGB sprites, [7, 8, 8, 3] uint8, indexed by cell code."""
    s = np.zeros((cells.NUM_CODES, SPRITE, SPRITE, 3), dtype=np.uint8)
    # wall: red-brown bricks with dark mortar lines, offset every other course
    wall = s[cells.WALL]
    wall[:] = (153, 76, 51)
    wall[[3, 7], :] = (90, 45, 30)
    wall[0:3, 3] = wall[4:7, 7] = (90, 45, 30)
    # floor: black; target: a red ring on floor
    ring = np.zeros((SPRITE, SPRITE), dtype=bool)
    ring[2:6, 2:6] = True
    ring[3:5, 3:5] = False
    s[cells.TARGET][ring] = (220, 40, 40)
    # box: ochre crate with a darker rim; on a target the crate turns green
    for code, fill, rim in ((cells.BOX, (220, 170, 60), (140, 95, 20)),
                            (cells.BOX_ON_TARGET, (90, 200, 90), (30, 120, 30))):
        s[code, 1:7, 1:7] = rim
        s[code, 2:6, 2:6] = fill
    # player: a light-blue figure; on a target the red ring shows around its feet
    for code in (cells.PLAYER, cells.PLAYER_ON_TARGET):
        if code == cells.PLAYER_ON_TARGET:
            s[code][ring] = (220, 40, 40)
        s[code, 1:3, 3:5] = (240, 220, 180)  # head
        s[code, 3:6, 2:6] = (70, 160, 240)  # body
        s[code, 6:8, 2] = s[code, 6:8, 5] = (40, 60, 160)  # legs
    return s


SPRITES = _sprites()


class Renderer:
    """Turns ``[N, H*W]`` code grids into observations on one device.

    RGB sprites are stored as int64 words of 8 pixels (one sprite row of one channel), so
    drawing moves 24 words per cell instead of 192 bytes.
    """

    def __init__(self, height: int, width: int, device: torch.device | str = "cpu",
                 dtype: torch.dtype = torch.float32) -> None:
        self.height, self.width, self.dtype = height, width, dtype
        self.eye = torch.eye(cells.NUM_CODES, dtype=dtype, device=device)
        channel_major = torch.from_numpy(SPRITES).permute(0, 3, 1, 2).contiguous()  # [7, 3, 8, 8]
        self.sprite_words = channel_major.view(torch.int64).reshape(cells.NUM_CODES, 3 * SPRITE).to(device)

    def symbolic(self, codes: torch.Tensor) -> torch.Tensor:
        """One-hot planes ``[N, 7, H, W]``, one channel per cell code."""
        n = codes.shape[0]
        planes = torch.zeros(n, cells.NUM_CODES, self.height * self.width, dtype=self.dtype,
                             device=codes.device)
        planes.scatter_(1, codes.long().unsqueeze(1), 1.0)
        return planes.view(n, cells.NUM_CODES, self.height, self.width)

    def rgb(self, codes: torch.Tensor) -> torch.Tensor:
        """RGB images ``[N, 3, 8H, 8W]`` uint8 (channels first, as torch convolutions want)."""
        n, h, w = codes.shape[0], self.height, self.width
        words = self.sprite_words.index_select(0, codes.reshape(-1).long()).view(n, h, w, 3, SPRITE)
        image = words.permute(0, 3, 1, 4, 2).contiguous()  # [N, 3, H, 8, W] words of 8 pixels
        return image.view(torch.uint8).view(n, 3, h * SPRITE, w * SPRITE)


def rgb_image(codes: np.ndarray, scale: int = 1) -> np.ndarray:
    """One level's RGB picture ``[8H*scale, 8W*scale, 3]`` uint8 (for GIFs and PNGs)."""
    codes = np.asarray(codes)
    h, w = codes.shape
    img = SPRITES[codes].transpose(0, 2, 1, 3, 4).reshape(h * SPRITE, w * SPRITE, 3)
    if scale > 1:
        img = img.repeat(scale, axis=0).repeat(scale, axis=1)
    return img
