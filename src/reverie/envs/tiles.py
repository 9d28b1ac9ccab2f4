"""Frames drawn from a world's tiles, stored as the tiles' codes.

Sokoban's RGB frame is an 8x8 sprite per cell: 19 KB per 10x10 frame, 100 bytes as cell codes.
A :class:`TileCodec` is the world telling the data layer so: transition data of such frames is
stored as codes (``encode``) and drawn back exactly (``decode``), so a dataset of RGB frames
takes no more room than a symbolic one. ``encode`` is also how a model's imagined frame is
scored: a block that is no tile pixel for pixel gets :data:`NO_TILE`, so equal codes mean
equal frames.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

__all__ = ["TileCodec", "NO_TILE"]

#: The code of a block that matches no tile exactly.
NO_TILE = 255


@dataclass(frozen=True)
class TileCodec:
    """``count`` tiles of ``size`` x ``size`` pixels and ``channels`` uint8 channels, as raw bytes
    (so specs holding one stay hashable and compare by value)."""

    tiles: bytes
    count: int
    size: int
    channels: int = 3

    def __post_init__(self) -> None:
        if not 1 <= self.count < NO_TILE or self.size < 1 or len(self.tiles) != self.count * self.channels * self.size ** 2:
            raise ValueError(f"{len(self.tiles)} bytes are not {self.count} tiles of {self.channels}x{self.size}x{self.size}")

    @classmethod
    def from_array(cls, tiles: np.ndarray) -> "TileCodec":
        """From tiles ``[K, size, size, channels]`` uint8 (the way pictures are drawn)."""
        tiles = np.ascontiguousarray(np.asarray(tiles, dtype=np.uint8).transpose(0, 3, 1, 2))
        return cls(tiles.tobytes(), tiles.shape[0], tiles.shape[2], tiles.shape[1])

    def table(self, device: torch.device | str = "cpu") -> torch.Tensor:
        """The tiles ``[K, channels, size, size]`` uint8 on ``device``."""
        return _table(self.tiles, self.count, self.channels, self.size, str(device))

    def colours(self) -> list[tuple[int, ...]]:
        """Every distinct pixel value the tiles use, sorted: the frames' palette."""
        pixels = self.table().permute(0, 2, 3, 1).reshape(-1, self.channels)
        return [tuple(int(v) for v in row) for row in torch.unique(pixels, dim=0)]

    def encode(self, frames: torch.Tensor) -> torch.Tensor:
        """Frames ``[B, channels, H*size, W*size]`` -> tile codes ``[B, H, W]`` uint8
        (:data:`NO_TILE` where a block matches no tile exactly)."""
        b, c, height, width = frames.shape
        s = self.size
        if c != self.channels or height % s or width % s:
            raise ValueError(f"frames [B, {self.channels}, H*{s}, W*{s}] expected, got {tuple(frames.shape)}")
        h, w = height // s, width // s
        blocks = frames.to(torch.uint8).reshape(b, c, h, s, w, s).permute(0, 2, 4, 1, 3, 5).reshape(b, h, w, -1)
        table = self.table(frames.device).reshape(self.count, -1)
        if blocks.shape[-1] % 8 == 0:  # compare 8 bytes at a time
            blocks, table = blocks.contiguous().view(torch.int64), table.view(torch.int64)
        match = (blocks.unsqueeze(-2) == table).all(-1)  # [B, h, w, K]
        codes = match.to(torch.uint8).argmax(-1).to(torch.uint8)
        return torch.where(match.any(-1), codes, torch.full_like(codes, NO_TILE))

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Tile codes ``[B, H, W]`` -> frames ``[B, channels, H*size, W*size]`` uint8."""
        b, h, w = codes.shape
        s = self.size
        tiles = self.table(codes.device).index_select(0, codes.reshape(-1).long().clamp(max=self.count - 1))
        return tiles.view(b, h, w, self.channels, s, s).permute(0, 3, 1, 4, 2, 5).reshape(b, self.channels, h * s, w * s)


@lru_cache(maxsize=16)
def _table(tiles: bytes, count: int, channels: int, size: int, device: str) -> torch.Tensor:
    array = np.frombuffer(tiles, dtype=np.uint8).reshape(count, channels, size, size).copy()
    return torch.from_numpy(array).to(device)
