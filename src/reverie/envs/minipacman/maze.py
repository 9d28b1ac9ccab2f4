"""The one MiniPacman maze (15x19, the paper's) and the cell tables the batched rules gather from.

Cells are flat indices ``r * WIDTH + c``. Actions: 0 stay, 1 right, 2 up, 3 left, 4 down;
ghost headings (directions) 0 right, 1 up, 2 left, 3 down (= action - 1). Tables are built
once per device and cached, so a step only gathers from them.
"""

from __future__ import annotations

from types import SimpleNamespace

import torch

__all__ = ["MAP", "HEIGHT", "WIDTH", "CELLS", "DIR_VECTORS", "REVERSE", "ACTION_NAMES", "FREE_CELLS",
           "tables", "NEXT", "EXITS", "FREE", "ROW", "COL"]

#: The maze: '#' wall, '.' free; 138 free cells, 16 three-way and 8 four-way junctions, no dead end.
MAP = (
    "###################",
    "#...#.........#...#",
    "#.#.#.#######.#.#.#",
    "#.................#",
    "#.#.#.#######.#.#.#",
    "#.#.............#.#",
    "#.####.#####.####.#",
    "#......#####......#",
    "#.####.#####.####.#",
    "#.#.............#.#",
    "#.#.#.#######.#.#.#",
    "#.................#",
    "#.#.#.#######.#.#.#",
    "#...#.........#...#",
    "###################",
)
HEIGHT, WIDTH = len(MAP), len(MAP[0])
CELLS = HEIGHT * WIDTH
ACTION_NAMES = ("stay", "right", "up", "left", "down")
#: (row, col) step of each direction: right, up, left, down.
DIR_VECTORS = ((0, 1), (-1, 0), (0, -1), (1, 0))
REVERSE = (2, 3, 0, 1)
#: Free cells in flat order (the order every "k-th allowed cell" draw counts in).
FREE_CELLS = tuple(r * WIDTH + c for r in range(HEIGHT) for c in range(WIDTH) if MAP[r][c] == ".")


def _free(r: int, c: int) -> bool:
    return 0 <= r < HEIGHT and 0 <= c < WIDTH and MAP[r][c] == "."


def _next_table() -> list[list[int]]:
    """Cell after each action; a wall (or a wall cell itself) keeps the cell."""
    table = []
    for cell in range(CELLS):
        r, c = divmod(cell, WIDTH)
        row = [cell]
        for dr, dc in DIR_VECTORS:
            row.append((r + dr) * WIDTH + c + dc if _free(r, c) and _free(r + dr, c + dc) else cell)
        table.append(row)
    return table


_CACHE: dict[torch.device, SimpleNamespace] = {}


def tables(device: torch.device | str = "cpu") -> SimpleNamespace:
    """The maze tables on ``device`` (cached): ``next [CELLS, 5]`` long, ``exits [CELLS, 4]``
    bool, ``free [CELLS]`` bool, ``row``/``col [CELLS]`` long, ``free_cells [138]`` long."""
    device = torch.device(device)
    if device not in _CACHE:
        nxt = torch.tensor(_next_table(), dtype=torch.long)
        cells = torch.arange(CELLS)
        _CACHE[device] = SimpleNamespace(
            next=nxt.to(device),
            exits=(nxt[:, 1:] != cells[:, None]).to(device),
            free=torch.tensor([MAP[r][c] == "." for r in range(HEIGHT) for c in range(WIDTH)], device=device),
            row=(cells // WIDTH).to(device), col=(cells % WIDTH).to(device),
            free_cells=torch.tensor(FREE_CELLS, dtype=torch.long, device=device),
        )
    return _CACHE[device]


_CPU = tables("cpu")
NEXT, EXITS, FREE, ROW, COL = _CPU.next, _CPU.exits, _CPU.free, _CPU.row, _CPU.col
