"""An optimal Sokoban solver: A* over push states, optimal in the number of pushes.

Why pushes: walking between pushes changes nothing but the player's position, so a state
is (where the boxes are, which region the player can reach) and every edge is one push.
That makes the graph far smaller than the move graph, and its optimum is the classic
"push-optimal" solution; the walks between pushes are filled in afterwards by BFS.

Why bitboards: in pure Python the cost of a node is the number of interpreter operations,
and a set of cells as one int (bit ``r * W + c``) turns "all cells the player can reach"
into a handful of shifts per step of a flood fill instead of a loop over cells. No wrap
across rows can happen: every cell the player or a box can ever occupy lies inside the
walls, away from the border, and every flood is masked by that region.

Pruning and heuristic (both keep the result optimal):

* dead squares: a box on a cell from which no target can be reached by pushes, even with
  every other box gone, can never be solved; pushes onto such cells are never generated.
* 2x2 freeze: four cells in a square that are all walls or boxes can never move again, so
  if one of those boxes is off its target the state is dead.
* heuristic: the minimum-cost assignment of boxes to targets, the cost of a box and a
  target being the pushes needed to bring that box there alone. Each box needs at least
  its own pushes and each target takes one box, so the sum never overestimates. The
  per-box costs know where the player can stand (a pull search over (box, player side)
  states), which is tighter than ignoring the player; the price is that the heuristic is
  admissible but not consistent, so a state found again by a shorter path is re-expanded.
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections import deque
from dataclasses import dataclass

import numpy as np

from . import cells
from .levels import Level, parse_xsb

#: Env actions and their (row, column) steps, index = action; 0 is the no-op.
ACTION_STEPS = ((0, 0), (-1, 0), (1, 0), (0, -1), (0, 1))

# Cost of a box-target pair that can never be matched: larger than any real assignment.
_UNREACHABLE = 1 << 20
# How many expansions pass between two looks at the clock.
_CLOCK_EVERY = 256


class SolverTimeout(TimeoutError):
    """The time or node limit ran out before the search proved an answer either way."""


class _Unsolvable(Exception):
    """Raised while reading a level that is unsolvable before any search."""


@dataclass(frozen=True)
class Solution:
    """A push-optimal solution and what finding it cost."""

    actions: tuple[int, ...]  # env actions: 1 up, 2 down, 3 left, 4 right
    pushes: int  # number of pushes (optimal)
    moves: int  # len(actions)
    expanded: int  # search nodes expanded
    seconds: float  # wall time of the search


def _flood(seed: int, free: int, width: int) -> int:
    """Every cell of ``free`` connected to the cells of ``seed`` (seed must lie in free)."""
    reach = seed
    while True:
        grown = (reach | reach << 1 | reach >> 1 | reach << width | reach >> width) & free
        if grown == reach:
            return reach
        reach = grown


def _bits(board: int) -> list[int]:
    """The cell indices set in a bitboard, lowest first."""
    out = []
    while board:
        low = board & -board
        out.append(low.bit_length() - 1)
        board ^= low
    return out


class _Clock:
    """The deadline of one solve, checked in the preprocessing as well as in the search: on a
    large room the dead-square and push-cost tables alone take minutes (a 120x120 room took
    5.6 s under a 1 s limit before this)."""

    def __init__(self, deadline: float | None, level: Level, time_limit: float | None) -> None:
        self.deadline, self.level, self.time_limit = deadline, level, time_limit

    def check(self) -> None:
        if self.deadline is not None and time.perf_counter() > self.deadline:
            height, width = self.level.shape
            raise SolverTimeout(f"{self.level.name}: time limit of {self.time_limit} s reached while "
                                f"preparing the {height}x{width} room")


def _flood_timed(seed: int, free: int, width: int, clock: _Clock) -> int:
    """:func:`_flood` that looks at the clock every 64 steps (a winding region on a large
    room takes thousands of steps)."""
    reach, steps = seed, 0
    while True:
        grown = (reach | reach << 1 | reach >> 1 | reach << width | reach >> width) & free
        if grown == reach:
            return reach
        reach, steps = grown, steps + 1
        if steps % 64 == 0:
            clock.check()


def _cells_of(board: int, size: int) -> list[int]:
    """:func:`_bits` for a board of ``size`` cells in one pass (``_bits`` costs a pass over
    the whole int per set bit: quadratic on a large region)."""
    data = np.frombuffer(board.to_bytes((size + 7) // 8, "little"), dtype=np.uint8)
    return np.flatnonzero(np.unpackbits(data, bitorder="little")[:size]).tolist()


def _mask_of(flags: np.ndarray) -> int:
    """The bitboard of a flat boolean array (bit i = flags[i]), in one pass however large."""
    return int.from_bytes(np.packbits(np.asarray(flags, dtype=bool), bitorder="little").tobytes(), "little")


class _Board:
    """What never changes during a search: the region, targets, push tables, distances."""

    def __init__(self, level: Level, clock: _Clock | None = None) -> None:
        clock = clock or _Clock(None, level, None)
        self.clock = clock
        codes = level.codes
        height, width = codes.shape
        self.width = width
        flat = codes.reshape(-1)
        self.offsets = (0, -width, width, -1, 1)  # index step of each action

        self.player = level.player[0] * width + level.player[1]
        # Region: every cell the player or a box can ever occupy (boxes are passable here).
        region = _flood_timed(1 << self.player, _mask_of(flat != cells.WALL), width, clock)
        edge = np.zeros((height, width), dtype=bool)
        edge[[0, -1], :] = edge[:, [0, -1]] = True
        border = _mask_of(edge.reshape(-1))
        if region & border:
            raise ValueError(f"{level.name}: the player can reach the border of the grid")
        self.region = region
        self.cells = _cells_of(region, height * width)  # the region's cells, lowest first
        # Boxes sealed off from the player never move: they are walls, and the level is
        # unsolvable unless they sit exactly on the targets sealed off with them.
        boxes = _mask_of(cells.IS_BOX[flat])
        targets = _mask_of(cells.IS_TARGET[flat])
        if (boxes ^ targets) & ~region:
            raise _Unsolvable
        self.boxes, self.targets = boxes & region, targets & region
        self.target_cells = _bits(self.targets)

        self.cost = self._push_costs()  # cost[cell] = pushes to each target, in target order
        # Sets, not bitboards, for these per-cell tests: a bit test shifts the whole int.
        inside = set(self.cells)
        live = {cell for cell, row in self.cost.items() if min(row, default=_UNREACHABLE) < _UNREACHABLE}

        # pushes[cell]: (action, player bit, destination bit, destination) for each push of a
        # box standing on cell whose player cell is in the region and destination is live.
        self.pushes: dict[int, tuple[tuple[int, int, int, int], ...]] = {}
        clock.check()
        for cell in self.cells:
            moves = []
            for action in range(1, 5):
                behind, dest = cell - self.offsets[action], cell + self.offsets[action]
                if behind in inside and dest in live:
                    moves.append((action, 1 << behind, 1 << dest, dest))
            self.pushes[cell] = tuple(moves)

        # squares[cell]: the region part of each 2x2 square containing cell, for the freeze test.
        clock.check()
        self.squares = {
            cell: tuple(_mask(c for c in (top, top + 1, top + width, top + width + 1) if c in inside)
                        for top in (cell - width - 1, cell - width, cell - 1, cell))
            for cell in self.cells
        }
        clock.check()

    def _push_costs(self) -> dict[int, tuple[int, ...]]:
        """Fewest pushes taking a lone box from each cell to each target.

        A reverse search from each target over pulls: the player stands next to the box on
        one side and steps back, dragging the box one cell. The state is the box cell and
        which side of it (connected component of the region without that cell) the player
        is on, because a box against a wall can only be pushed from the side the player
        can walk to. The cost of a cell is the minimum over sides.
        """
        width, region, clock = self.width, self.region, self.clock
        sides: dict[int, list[int]] = {}
        for cell in self.cells:
            clock.check()
            rest, parts = region & ~(1 << cell), []
            while rest:
                part = _flood_timed(rest & -rest, rest, width, clock)
                parts.append(part)
                rest &= ~part
            sides[cell] = parts

        def side_of(box: int, player: int) -> int:
            return next(k for k, part in enumerate(sides[box]) if part >> player & 1)

        columns = []
        for target in self.target_cells:
            best = {target: 0}
            seen = {(target, k) for k in range(len(sides[target]))}
            queue = deque((target, k, 0) for k in range(len(sides[target])))
            popped = 0
            while queue:
                box, side, dist = queue.popleft()
                popped += 1
                if popped % _CLOCK_EVERY == 0:
                    clock.check()
                for step in self.offsets[1:]:
                    player, back = box + step, box + 2 * step
                    if not (sides[box][side] >> player & 1 and region >> back & 1):
                        continue
                    state = (player, side_of(player, back))
                    if state not in seen:
                        seen.add(state)
                        best.setdefault(player, dist + 1)
                        queue.append((*state, dist + 1))
            columns.append(best)
        return {cell: tuple(col.get(cell, _UNREACHABLE) for col in columns)
                for cell in self.cells}

    def heuristic(self, boxes: int) -> int:
        """Minimum-cost assignment of boxes to targets (>= _UNREACHABLE if none exists)."""
        return _assignment([self.cost[cell] for cell in _bits(boxes)])


def _mask(indices) -> int:
    """The bitboard with the given cell indices set."""
    board = 0
    for index in indices:
        board |= 1 << int(index)
    return board


def _assignment(rows: list[tuple[int, ...]]) -> int:
    """Minimum total cost of matching each row to a distinct column (square matrix).

    The Hungarian method with potentials, one row added per round by a shortest
    augmenting path: O(n^3), a few hundred operations for Boxoban's four boxes.
    """
    n = len(rows)
    row_pot = [0] * (n + 1)
    col_pot = [0] * (n + 1)
    owner = [0] * (n + 1)  # owner[j]: the row matched to column j (1-based; 0 = none)
    for i in range(1, n + 1):
        owner[0] = i
        col = 0
        slack = [float("inf")] * (n + 1)
        prev = [0] * (n + 1)
        used = [False] * (n + 1)
        while owner[col]:
            used[col] = True
            row_i = owner[col]
            costs = rows[row_i - 1]
            delta, next_col = float("inf"), 0
            for j in range(1, n + 1):
                if not used[j]:
                    reduced = costs[j - 1] - row_pot[row_i] - col_pot[j]
                    if reduced < slack[j]:
                        slack[j], prev[j] = reduced, col
                    if slack[j] < delta:
                        delta, next_col = slack[j], j
            for j in range(n + 1):
                if used[j]:
                    row_pot[owner[j]] += delta
                    col_pot[j] -= delta
                else:
                    slack[j] -= delta
            col = next_col
        while col:
            owner[col] = owner[prev[col]]
            col = prev[col]
    return -col_pot[0]


def solve(level: Level | str, time_limit: float | None = 10.0,
          max_nodes: int | None = None) -> Solution | None:
    """A push-optimal solution, or None if the level is proved unsolvable.

    Raises :class:`SolverTimeout` when ``time_limit`` seconds pass or ``max_nodes`` states
    have been expanded before the search ends. A str is parsed as XSB text. Only pushes are
    optimal: the walks between pushes are shortest, but fewer moves may exist overall.
    """
    start = time.perf_counter()
    if time_limit is not None and not time_limit >= 0:  # a negative or nan limit times out every level
        raise ValueError(f"time_limit must be >= 0 seconds or None (no limit), got {time_limit}")
    if isinstance(level, str):
        level = parse_xsb(level)
    deadline = None if time_limit is None else start + time_limit
    try:
        board = _Board(level, _Clock(deadline, level, time_limit))
    except _Unsolvable:
        return None
    width, region, targets = board.width, board.region, board.targets
    pushes, squares, loose = board.pushes, board.squares, region & ~targets
    node_cap = max_nodes if max_nodes is not None else float("inf")

    h_cache: dict[int, int] = {}
    h0 = h_cache[board.boxes] = board.heuristic(board.boxes)
    if h0 >= _UNREACHABLE:
        return None
    # closed[boxes]: one entry [reach, g, parent entry, (cell, action)] per player region.
    closed: dict[int, list[list]] = {}
    tie = itertools.count(0, -1)  # among equal (f, h), the newest first: depth-first-ish
    heap = [(h0, h0, 0, 0, board.boxes, 1 << board.player, None, None)]
    expanded = 0
    while heap:
        _, _, _, g, boxes, player, parent, push = heapq.heappop(heap)
        entries = closed.setdefault(boxes, [])
        entry = next((e for e in entries if e[0] & player), None)
        if entry is not None:
            if entry[1] <= g:
                continue
            entry[1:] = [g, parent, push]  # a shorter path to an expanded state: reopen
        else:
            entry = [_flood(player, region & ~boxes, width), g, parent, push]
            entries.append(entry)
        if boxes == targets:
            return _solution(board, entry, expanded, time.perf_counter() - start)
        if expanded >= node_cap:
            raise SolverTimeout(f"{level.name}: node limit of {max_nodes} reached")
        if deadline is not None and expanded % _CLOCK_EVERY == 0 and time.perf_counter() > deadline:
            raise SolverTimeout(f"{level.name}: time limit of {time_limit} s reached")
        expanded += 1

        reach, child_g = entry[0], g + 1
        rest = boxes
        while rest:
            low = rest & -rest
            rest ^= low
            cell = low.bit_length() - 1
            for action, behind, dest_bit, dest in pushes[cell]:
                if not reach & behind or boxes & dest_bit:
                    continue
                child = boxes ^ low ^ dest_bit
                if any((sq & child) == sq and sq & child & loose for sq in squares[dest]):
                    continue
                h = h_cache.get(child)
                if h is None:
                    h = h_cache[child] = board.heuristic(child)
                if h >= _UNREACHABLE:
                    continue
                known = closed.get(child)
                if known and any(e[0] & low and e[1] <= child_g for e in known):
                    continue
                heapq.heappush(heap, (child_g + h, h, next(tie), child_g, child, low,
                                      entry, (cell, action)))
    return None


def _solution(board: _Board, entry: list, expanded: int, seconds: float) -> Solution:
    """Turn the chain of push entries into env actions, walking the player by BFS."""
    pushes = []
    while entry[2] is not None:
        pushes.append(entry[3])
        entry = entry[2]
    pushes.reverse()

    boxes, player = set(_bits(board.boxes)), board.player
    actions: list[int] = []
    for cell, action in pushes:
        actions += _walk(board, boxes, player, cell - board.offsets[action])
        actions.append(action)
        boxes.remove(cell)
        boxes.add(cell + board.offsets[action])
        player = cell
    return Solution(tuple(actions), len(pushes), len(actions), expanded, seconds)


def _walk(board: _Board, boxes: set[int], start: int, goal: int) -> list[int]:
    """The actions of a shortest walk from start to goal that touches no box."""
    came = {start: (start, 0)}
    queue = deque([start])
    while goal not in came:
        cell = queue.popleft()
        for action in range(1, 5):
            nxt = cell + board.offsets[action]
            if nxt not in came and board.region >> nxt & 1 and nxt not in boxes:
                came[nxt] = (cell, action)
                queue.append(nxt)
    path = []
    while goal != start:
        goal, action = came[goal]
        path.append(action)
    return path[::-1]
