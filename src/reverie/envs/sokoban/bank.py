"""A level bank: many same-size levels stored as one uint8 array, sampled fast on reset.

One byte per cell (the cell codes of :mod:`.cells`) keeps 100,000 Boxoban levels in 10 MB,
and sampling a batch of levels is one tensor index on whatever device the bank lives.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import torch

from ...core.atomic import atomic_write
from . import cells
from .levels import Level, level_files, parse_level_file, read_level_text


class LevelBank(Sequence[Level]):
    """An [N, H, W] uint8 array of cell codes, with a name for each source."""

    def __init__(self, codes: np.ndarray, names: Sequence[str] | None = None) -> None:
        codes = np.ascontiguousarray(codes, dtype=np.uint8)
        if codes.ndim != 3 or len(codes) == 0:
            raise ValueError(f"a level bank needs an [N, H, W] array with N >= 1, got {codes.shape}")
        if names is not None and len(names) != len(codes):
            raise ValueError(f"{len(names)} names for {len(codes)} levels")
        _check_codes(codes, names)
        self.codes = codes
        self.names = list(names) if names is not None else None
        self._device_cache: dict[str, torch.Tensor] = {}

    @classmethod
    def from_levels(cls, levels: Iterable[Level]) -> "LevelBank":
        levels = list(levels)
        if not levels:
            raise ValueError("a level bank needs at least one level")
        shapes = {level.shape for level in levels}
        if len(shapes) > 1:
            raise ValueError(
                f"a level bank holds levels of one size; got sizes {sorted(shapes)}"
            )
        for level in levels:
            _check_border(level)
        return cls(np.stack([level.codes for level in levels]), [level.name for level in levels])

    @property
    def shape(self) -> tuple[int, int]:
        return self.codes.shape[1], self.codes.shape[2]

    @property
    def num_boxes(self) -> np.ndarray:
        """Boxes per level, [N]."""
        return cells.IS_BOX[self.codes].sum(axis=(1, 2))

    def __len__(self) -> int:
        return len(self.codes)

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            names = self.names[index] if self.names is not None else None
            return LevelBank(self.codes[index], names)
        index = int(index)
        name = self.names[index] if self.names is not None else f"bank level {index}"
        return Level(self.codes[index], name)

    def tensor(self, device: torch.device | str = "cpu") -> torch.Tensor:
        """The codes as an [N, H*W] uint8 tensor on ``device`` (cached per device)."""
        key = str(torch.device(device))
        if key not in self._device_cache:
            flat = torch.from_numpy(self.codes.reshape(len(self.codes), -1))
            self._device_cache[key] = flat.to(device)
        return self._device_cache[key]

    def save(self, path: str | Path) -> None:
        """Write the bank as a compressed ``.npz``, atomically (temp file + rename)."""
        names = np.array(self.names if self.names is not None else [], dtype=str)
        with atomic_write(path) as f:
            np.savez_compressed(f, codes=self.codes, names=names)

    @classmethod
    def load(cls, path: str | Path) -> "LevelBank":
        """Read a bank written by :meth:`save`; never unpickles."""
        try:
            with np.load(path, allow_pickle=False) as data:
                codes, names = data["codes"], data["names"]
        except FileNotFoundError:
            raise
        except Exception as err:  # numpy raises many types for empty, truncated or foreign files
            raise ValueError(f"{path}: not a reverie level bank ({type(err).__name__}: {err})") from None
        return cls(codes, [str(n) for n in names] if len(names) else None)


def _check_border(level: Level) -> None:
    """A one-line error naming the level, its file line and column where its border is not a
    wall (the strict parser allows floor the player cannot reach there; a bank does not)."""
    height, width = level.shape
    rows, cols = np.nonzero(level.codes != cells.WALL)
    on_border = (rows == 0) | (rows == height - 1) | (cols == 0) | (cols == width - 1)
    if on_border.any():
        r, c = int(rows[on_border][0]), int(cols[on_border][0])
        where = f"line {level.line + r}, column {c + 1}" if level.line is not None else f"row {r + 1}, column {c + 1}"
        raise ValueError(f"{level.name}, {where}: a level bank needs a wall on every border cell; "
                         "surround the level with walls")


def _check_codes(codes: np.ndarray, names: Sequence[str] | None = None) -> None:
    """Reject banks whose levels the rules cannot play safely (cheap whole-array checks);
    messages name the level by its ``names`` entry (file and label) where there is one."""

    def level(i: int) -> str:
        return f"level bank: {names[i]}" if names is not None else f"level bank: level {i}"

    if codes.max(initial=0) >= cells.NUM_CODES:
        raise ValueError(f"level bank: cell code {int(codes.max())} is not a Sokoban cell")
    players = cells.IS_PLAYER[codes].sum(axis=(1, 2))
    boxes = cells.IS_BOX[codes].sum(axis=(1, 2))
    targets = cells.IS_TARGET[codes].sum(axis=(1, 2))
    bad = np.flatnonzero((players != 1) | (boxes != targets) | (boxes == 0))
    if len(bad):
        i = int(bad[0])
        raise ValueError(
            f"{level(i)} has {players[i]} players, {boxes[i]} boxes, "
            f"{targets[i]} targets"
        )
    border = np.concatenate(
        [codes[:, 0, :], codes[:, -1, :], codes[:, :, 0], codes[:, :, -1]], axis=1
    )
    open_border = np.flatnonzero((border != cells.WALL).any(axis=1))
    if len(open_border):
        # A bank's rows are played by flat-index moves, so every border cell must be a wall.
        raise ValueError(
            f"{level(int(open_border[0]))} has a non-wall border cell; "
            "surround the level with walls"
        )


def load_boxoban(path: str | Path, limit: int | None = None) -> LevelBank:
    """Load a Boxoban file or folder (``; N`` headers, fixed-size levels) into a bank.

    Files of equal-size levels are parsed in one vectorised pass; a file that does not fit
    that mould is parsed level by level, so every malformed level is reported with its file,
    line and column.
    """
    chunks: list[np.ndarray] = []
    names: list[str] = []
    total = 0
    for file in level_files(path):
        text = read_level_text(file)
        fast = _parse_uniform(text)
        if fast is not None:
            codes, labels = fast
        else:
            levels = parse_level_file(text, str(file))
            if not levels:
                continue
            bank = LevelBank.from_levels(levels)
            codes, labels = bank.codes, [n.rsplit(" level ", 1)[-1] for n in bank.names or []]
        chunks.append(codes)
        names.extend(f"{file} level {label}" for label in labels)
        total += len(codes)
        if limit is not None and total >= limit:
            break
    if not chunks:
        raise ValueError(f"{path}: no levels found")
    shapes = {c.shape[1:] for c in chunks}
    if len(shapes) > 1:
        raise ValueError(f"{path}: levels of several sizes {sorted(shapes)}; load them apart")
    codes = np.concatenate(chunks)
    if limit is not None:
        codes, names = codes[:limit], names[:limit]
    return LevelBank(codes, names)


_LUT = np.full(256, 255, dtype=np.uint8)
for _ch, _code in cells.CHAR_TO_CODE.items():
    _LUT[ord(_ch)] = _code


def _parse_uniform(text: str) -> tuple[np.ndarray, list[str]] | None:
    """Vectorised parse of a Boxoban-style file, or None if any level needs a closer look."""
    text = text.replace("\r", "")
    if not text.lstrip().startswith(";"):
        return None  # no "; N" headers: not Boxoban's layout
    blocks = [b for b in text.split(";") if b.strip()]
    labels, grids = [], []
    for block in blocks:
        header, _, body = block.partition("\n")
        rows = [row for row in body.split("\n") if row.strip()]
        labels.append(header.strip())
        grids.append(rows)
    height = len(grids[0])
    width = len(grids[0][0]) if height else 0
    if height == 0 or any(len(g) != height or any(len(r) != width for r in g) for g in grids):
        return None
    raw = np.frombuffer("".join("".join(g) for g in grids).encode("latin-1", "replace"), np.uint8)
    if len(raw) != len(grids) * height * width:
        return None
    codes = _LUT[raw].reshape(len(grids), height, width)
    try:
        _check_codes(codes)
    except ValueError:
        return None
    if not (codes == cells.BOX).any(axis=(1, 2)).all():
        return None
    return codes, labels
