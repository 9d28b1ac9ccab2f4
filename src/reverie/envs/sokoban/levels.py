"""Sokoban levels: the XSB text format in both directions, and Boxoban files and folders.

A :class:`Level` is a grid of cell codes (see :mod:`.cells`). Parsing is strict: every
problem raises ``ValueError`` naming the level, the line and the column, because a level
that silently loads wrong poisons every experiment run on it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from . import cells


@dataclass(frozen=True, eq=False)
class Level:
    """One Sokoban level: an [H, W] grid of cell codes and a name for messages."""

    codes: np.ndarray
    name: str = field(default="level")
    line: int | None = field(default=None, compare=False)  # file line of the first row, for messages

    def __post_init__(self) -> None:
        codes = np.asarray(self.codes, dtype=np.uint8)
        if codes.ndim != 2:
            raise ValueError(f"{self.name}: a level grid must be 2-D, got shape {codes.shape}")
        codes.setflags(write=False)
        object.__setattr__(self, "codes", codes)

    @property
    def shape(self) -> tuple[int, int]:
        return self.codes.shape  # type: ignore[return-value]

    @property
    def walls(self) -> np.ndarray:
        return self.codes == cells.WALL

    @property
    def targets(self) -> np.ndarray:
        return cells.IS_TARGET[self.codes]

    @property
    def boxes(self) -> np.ndarray:
        return cells.IS_BOX[self.codes]

    @property
    def player(self) -> tuple[int, int]:
        r, c = np.argwhere(cells.IS_PLAYER[self.codes])[0]
        return int(r), int(c)

    @property
    def num_boxes(self) -> int:
        return int(self.boxes.sum())

    def is_solved(self) -> bool:
        return not bool((self.codes == cells.BOX).any())

    def to_xsb(self) -> str:
        return to_xsb(self.codes)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Level) and np.array_equal(self.codes, other.codes)

    def __hash__(self) -> int:
        return hash((self.codes.shape, self.codes.tobytes()))

    def __repr__(self) -> str:
        return f"Level({self.name!r}, {self.shape[0]}x{self.shape[1]}, {self.num_boxes} boxes)"


def to_xsb(codes: np.ndarray) -> str:
    """The XSB text of a grid of cell codes, one line per row, no trailing newline."""
    chars = np.array(list(cells.CHARS))[np.asarray(codes)]
    return "\n".join("".join(row) for row in chars)


def parse_xsb(text: str, name: str = "level", first_line: int = 1, pad: bool = False) -> Level:
    """Parse one level in XSB text and check that it is playable.

    ``first_line`` is the file line of the level's first row, so messages point into the
    file. Rows must all have the same width unless ``pad`` is set, which pads short rows
    with spaces (standard XSB collections trim them). Floor the player can never reach may
    lie outside the walls; a border the player can walk through is an error.
    """
    lines = text.split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    while lines and not lines[0].strip():
        lines.pop(0)
        first_line += 1
    lines = [line.rstrip("\r") for line in lines]
    if not lines:
        raise ValueError(f"{name}: empty level")

    def where(row: int, col: int) -> str:
        return f"{name}, line {first_line + row}, column {col + 1}"

    whole = f"{name} (lines {first_line}-{first_line + len(lines) - 1})"

    width = max(len(line) for line in lines)
    if pad:
        lines = [line.ljust(width) for line in lines]
    for row, line in enumerate(lines):
        if len(line) != width:
            raise ValueError(
                f"{where(row, len(line))}: ragged row ({len(line)} characters where the "
                f"widest row has {width}); pass pad=True to pad short rows with floor"
            )

    codes = np.empty((len(lines), width), dtype=np.uint8)
    for row, line in enumerate(lines):
        for col, ch in enumerate(line):
            code = cells.CHAR_TO_CODE.get(ch)
            if code is None:
                raise ValueError(f"{where(row, col)}: unknown character {ch!r}")
            codes[row, col] = code

    players = np.argwhere(cells.IS_PLAYER[codes])
    if len(players) == 0:
        raise ValueError(f"{whole}: no player ('@' or '+') in the level")
    if len(players) > 1:
        (r0, c0), (r1, c1) = players[:2]
        raise ValueError(
            f"{where(int(r1), int(c1))}: a second player (the first is at line "
            f"{first_line + int(r0)}, column {int(c0) + 1})"
        )
    num_boxes = int(cells.IS_BOX[codes].sum())
    num_targets = int(cells.IS_TARGET[codes].sum())
    if num_boxes != num_targets:
        raise ValueError(f"{whole}: {num_boxes} boxes but {num_targets} targets")
    if num_boxes == 0:
        raise ValueError(f"{whole}: no boxes")
    if not (codes == cells.BOX).any():
        raise ValueError(f"{whole}: already solved (every box is on a target)")
    escape = _escape_cell(codes, int(players[0][0]), int(players[0][1]))
    if escape is not None:
        raise ValueError(
            f"{where(*escape)}: open border: the player can walk off the map here"
        )
    return Level(codes, name, first_line)


def _escape_cell(codes: np.ndarray, row: int, col: int) -> tuple[int, int] | None:
    """The first border cell the player could reach (walking through boxes), or None.

    Boxes count as passable because pushes move them: anything the player or a box can
    ever occupy lies in this region, so a closed region means no move leaves the grid.
    """
    height, width = codes.shape
    open_cells = codes != cells.WALL
    if not _may_escape(open_cells, row, col):
        return None
    seen = np.zeros_like(open_cells)
    seen[row, col] = True
    stack = [(row, col)]
    while stack:
        r, c = stack.pop()
        if r in (0, height - 1) or c in (0, width - 1):
            return r, c
        for nr, nc in ((r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1)):
            if open_cells[nr, nc] and not seen[nr, nc]:
                seen[nr, nc] = True
                stack.append((nr, nc))
    return None


def _may_escape(open_cells: np.ndarray, row: int, col: int) -> bool:
    """Whether the player's region touches the border: a flood over one int per grid (a
    shift per step for all cells at once), so a 1000x1000 room takes a fraction of a second
    where the cell-by-cell search that names the escape cell takes many. No shift wraps a
    row before the flood reaches the border, which is where it stops."""
    height, width = open_cells.shape

    def board(flags: np.ndarray) -> int:
        return int.from_bytes(np.packbits(flags.reshape(-1), bitorder="little").tobytes(), "little")

    edge = np.zeros_like(open_cells)
    edge[[0, -1], :] = edge[:, [0, -1]] = True
    free, border = board(open_cells), board(edge)
    reach = 1 << (row * width + col)
    while not reach & border:
        grown = (reach | reach << 1 | reach >> 1 | reach << width | reach >> width) & free
        if grown == reach:
            return False
        reach = grown
    return True


_HEADER = re.compile(r"^\s*;")


def parse_level_file(text: str, source: str = "<text>", pad: bool = False) -> list[Level]:
    """Every level in a file of levels separated by ``; N`` headers or blank lines.

    Lines starting with ';' name the next level; other comment-free text between levels
    (titles, authors) is not part of the format and raises through :func:`parse_xsb`.
    """
    levels: list[Level] = []
    rows: list[str] = []
    start = 1
    label: str | None = None
    text = text.removeprefix(BOM)

    def flush() -> None:
        nonlocal label
        if rows:
            level_name = f"{source} level {label if label is not None else len(levels)}"
            levels.append(parse_xsb("\n".join(rows), level_name, start, pad))
            label = None
        rows.clear()

    for number, line in enumerate(text.split("\n"), start=1):
        line = line.rstrip("\r")
        if _HEADER.match(line):
            flush()
            label = line.strip().lstrip(";").strip() or None
        elif not line.strip():
            flush()
        else:
            if not rows:
                start = number
            rows.append(line)
    flush()
    return levels


def level_files(path: str | Path) -> list[Path]:
    """The level files a path names: the file itself, or a folder's ``*.txt`` recursively."""
    path = Path(path)
    if path.is_file():
        return [path]
    if path.is_dir():
        files = sorted(p for p in path.rglob("*.txt") if p.is_file())
        if not files:
            raise ValueError(f"{path}: no level files (*.txt) in this folder")
        return files
    raise FileNotFoundError(f"{path}: no such level file or folder")


#: The byte-order mark some editors put at the start of a UTF-8 file (not part of the level).
BOM = "\ufeff"


def read_level_text(file: str | Path) -> str:
    """A level file's text: UTF-8 (a leading BOM dropped); a file that is not UTF-8 text is a
    one-line ``ValueError`` naming it."""
    data = Path(file).read_bytes()
    try:
        return data.decode("utf-8").removeprefix(BOM)
    except UnicodeDecodeError as err:
        raise ValueError(f"{file}: not a UTF-8 text level file (byte 0x{data[err.start]:02x} at offset "
                         f"{err.start})") from None


def load_levels(path: str | Path, pad: bool = False) -> list[Level]:
    """Every level in a file or folder, parsed one by one (any sizes, strict checks); a path
    that holds no level at all (an empty file) is an error, not an empty list."""
    levels: list[Level] = []
    for file in level_files(path):
        levels.extend(parse_level_file(read_level_text(file), str(file), pad))
    if not levels:
        raise ValueError(f"{path}: no levels found (an empty level file?)")
    return levels


def format_level_file(levels: Sequence[Level]) -> str:
    """Levels as a Boxoban-style file: ``; N`` headers, XSB rows, a blank line after each."""
    return "".join(f"; {i}\n{level.to_xsb()}\n\n" for i, level in enumerate(levels))
