"""Procedural Sokoban levels in the manner of the I2A paper (Boxoban "unfiltered"), batched.

The recipe (Racanière, Weber et al. 2017, appendix) has three stages:

1. **Topology.** A "digger" random-walks over the interior of an all-wall room and carves
   floor with a small brush at every step, turning with some probability. Its path is
   4-connected and every brush holds the digger's own cell, so the room is one region.
2. **Placement.** ``boxes`` targets and the player go on distinct random floor cells, and
   every box starts on its own target (a solved position).
3. **Reverse play.** The player walks backwards from the solved position and may *pull*
   the box behind it. A state scores ``box swaps * total box displacement`` (a swap is a
   pull of a different box than the previous pull, the first pull included; displacement
   is each box's Manhattan distance from its own target), and 0 while any box is on any
   target. The best state over all walks becomes the level.

A level whose best score is 0 (or whose room is too small) is retried from scratch.
Every level is solvable by construction: replaying the pulls forwards, in reverse order,
as pushes walks back to the solved position; ``with_solutions=True`` returns exactly that
replay as environment actions.

Speed comes from running every walk of every level at once as numpy arrays with rows
``[levels * walks]`` over flat cell indices, so the only Python loops are over walk steps
and digger steps. Randomness comes from a counter-based hash (splitmix64's finaliser) of
``(seed, size, boxes, level, attempt, walk, step)``: level ``i`` therefore depends on
nothing but its own key, and is the same whatever ``n`` is or how levels are batched.
"""

from __future__ import annotations

import numpy as np

from . import cells
from .bank import LevelBank

__all__ = ["generate_levels"]

# Environment actions (1 up, 2 down, 3 left, 4 right), indexed by direction 0..3.
_UP, _DOWN, _LEFT, _RIGHT = 1, 2, 3, 4
#: Forward action that undoes a reverse move in direction k (the opposite direction).
_UNDO_ACTION = np.array([_DOWN, _UP, _RIGHT, _LEFT], dtype=np.int8)
#: Row and column steps of directions 0..3 (up, down, left, right).
_DROW = np.array([-1, 1, 0, 0])
_DCOL = np.array([0, 0, -1, 1])

#: Digger brushes as (row, col) offsets; each holds (0, 0) so the carved room stays
#: connected. A mix of bars, elbows and a 2x2 block gives Boxoban's blend of corridors
#: and small open areas.
_BRUSHES = (
    ((0, -1), (0, 0), (0, 1)),
    ((-1, 0), (0, 0), (1, 0)),
    ((0, 0), (0, 1), (1, 0), (1, 1)),
    ((0, 0), (0, 1), (1, 0)),
    ((0, 0), (0, -1), (1, 0)),
)
#: Chance per digger step of turning to a fresh random direction.
_TURN_PROBABILITY = 0.35
#: A reverse step spends 4 random bits (a "nibble"), so one 64-bit hash serves 16 steps:
#: bits 0-1 pick the direction, and bits 2-3 below _PULL_QUARTERS ask for a pull of the
#: box behind the player, when there is one. Always pulling (4/4) makes the hardest
#: levels: on 100 levels of 10x10/4 a push-optimal solver needs 9.8 pushes on average
#: with 4/4, 9.2 with 3/4 and 8.5 with 2/4 (Boxoban's unfiltered levels: 12.0). The
#: player still leaves a box behind by stepping sideways.
_PULL_QUARTERS = 4
_NIBBLE_DIRECTION = np.arange(16) & 3
_NIBBLE_PULLS = (np.arange(16) >> 2) < _PULL_QUARTERS
#: Attempts per level before a configuration is declared impossible.
_MAX_ATTEMPTS = 200
#: Levels worth batching at once: below this many, rejected levels get several attempts
#: in one batch, since a step costs about the same for a few rows as for thousands.
_SPECULATE_LEVELS = 512
#: Walk rows processed at once: large enough to amortise numpy's per-call cost, small
#: enough that the per-row grids stay in cache-friendly tens of megabytes.
_ROWS_PER_CHUNK = 1 << 16

# Purposes of random streams, mixed into the keys so no two uses share numbers.
_TOPOLOGY, _PLACEMENT, _WALK = 1, 2, 3

_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_MASK64 = (1 << 64) - 1


def _mix(z: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: a bijective scramble of uint64s, good enough for dice.

    uint64 multiplication wraps around, which is what the hash wants.
    """
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


def _key(*parts: np.ndarray | int) -> np.ndarray:
    """Hash a tuple of integers (scalars or broadcastable arrays) to one uint64 key each.

    Chaining ``mix(h ^ part + gamma)`` makes keys differing in any one part independent.
    """
    h = np.zeros((), dtype=np.uint64)
    for part in parts:
        if isinstance(part, np.ndarray):
            part = part.astype(np.uint64)
        else:
            part = np.uint64(int(part) & _MASK64)
        h = _mix((h ^ part) + _GAMMA)
    return h


def _stream(base: np.ndarray, step: int) -> np.ndarray:
    """The ``step``-th number of the splitmix64 sequence started at ``base`` (per element)."""
    return _mix(base + np.uint64(step + 1) * _GAMMA)


def _bits(u: np.ndarray, shift: int, count: int) -> np.ndarray:
    """``count`` bits of ``u`` from bit ``shift`` upwards, as int64."""
    return ((u >> np.uint64(shift)) & np.uint64((1 << count) - 1)).astype(np.int64)


def _validate(n, height, width, boxes, seed, walks, walk_length, topology_steps) -> None:
    """Reject bad arguments up front, with messages that say what would work."""
    for name, value in (("n", n), ("height", height), ("width", width), ("boxes", boxes),
                        ("seed", seed), ("walks", walks), ("walk_length", walk_length)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
            raise ValueError(f"{name} must be an integer, got {value!r}")
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    if height < 5 or width < 5:
        raise ValueError(
            f"height and width include the wall border and must be at least 5, "
            f"got {height}x{width}"
        )
    if boxes < 1:
        raise ValueError(f"boxes must be at least 1, got {boxes}")
    interior = (height - 2) * (width - 2)
    if boxes + 3 > interior:
        raise ValueError(
            f"{boxes} boxes do not fit a {height}x{width} room: its {interior} interior "
            f"cells must hold the boxes, the player and at least 2 more floor cells, so "
            f"at most {interior - 3} boxes"
        )
    if walks < 1 or walk_length < 1:
        raise ValueError(f"walks and walk_length must be at least 1, got {walks}, {walk_length}")
    if topology_steps is not None and (
        not isinstance(topology_steps, (int, np.integer)) or topology_steps < 1
    ):
        raise ValueError(
            f"topology_steps must be a positive integer or None, got {topology_steps!r}"
        )


def _dig_rooms(base: np.ndarray, height: int, width: int, steps: int) -> np.ndarray:
    """Carve one room per key in ``base``; returns floor masks [L, H*W] (bool).

    The digger starts on a random interior cell heading a random way; at each step it may
    turn, moves one cell (clamped to the interior) and stamps a random brush. Stamps that
    reach the border are undone at the end, which keeps the border all wall.
    """
    count = len(base)
    cells_per_level = height * width
    floor = np.zeros((count, height, width), dtype=bool)
    start = _stream(base, 0)
    row = 1 + (_bits(start, 0, 32) * (height - 2) >> 32)
    col = 1 + (_bits(start, 32, 31) * (width - 2) >> 31)
    direction = _bits(_mix(start), 0, 2)
    levels = np.arange(count)
    turn_threshold = int(_TURN_PROBABILITY * (1 << 16))
    brush_masks = _brush_masks()
    for step in range(steps):
        u = _stream(base, step + 1)
        turn = _bits(u, 0, 16) < turn_threshold
        direction = np.where(turn, _bits(u, 16, 2), direction)
        row = np.clip(row + _DROW[direction], 1, height - 2)
        col = np.clip(col + _DCOL[direction], 1, width - 2)
        brush = _bits(u, 18, 16) % len(_BRUSHES)
        for (dr, dc), stamps in brush_masks.items():
            hit = stamps[brush]
            floor[levels[hit], row[hit] + dr, col[hit] + dc] = True
    floor[:, 0, :] = floor[:, -1, :] = floor[:, :, 0] = floor[:, :, -1] = False
    return floor.reshape(count, cells_per_level)


def _brush_masks() -> dict[tuple[int, int], np.ndarray]:
    """For each offset, which brushes stamp it: lets a step stamp all levels per offset."""
    offsets = sorted({offset for brush in _BRUSHES for offset in brush})
    return {
        offset: np.array([offset in brush for brush in _BRUSHES]) for offset in offsets
    }


def _place(base: np.ndarray, floor: np.ndarray, boxes: int) -> np.ndarray:
    """Pick ``boxes + 1`` distinct floor cells per room: [L, 1 + boxes] flat indices.

    Column 0 is the player, the rest are the targets (box ``k`` starts on target ``k``).
    Sorting per-cell random keys with walls pushed last draws a uniform random subset;
    the caller only passes rooms with enough floor cells.
    """
    cell_ids = np.arange(floor.shape[1], dtype=np.uint64)
    keys = _mix(base[:, None] + (cell_ids + np.uint64(1)) * _GAMMA)
    keys = np.where(floor, keys >> np.uint64(1), np.uint64(_MASK64))
    return np.argsort(keys, axis=1, kind="stable")[:, : boxes + 1]


class _Walks:
    """The state of ``walks`` reverse walks for each of a batch of levels, as flat arrays.

    Row ``r`` is walk ``r % walks`` of level ``r // walks``. All rows' grids lie end to end
    in one flat array and the player and boxes are kept as indices into it, so a step is
    a handful of whole-array gathers with no per-row offsets. ``grid`` holds -2 for wall,
    -1 for free floor and the box id for a box: one gather answers both "can the player
    step there?" and "which box is behind it?".
    """

    def __init__(self, floor: np.ndarray, spots: np.ndarray, walks: int, width: int,
                 record: bool) -> None:
        levels, cells_per_level = floor.shape
        boxes = spots.shape[1] - 1
        rows = levels * walks
        self.rows, self.boxes = rows, boxes
        self.cell_offset = np.arange(rows) * cells_per_level
        self.box_offset = np.arange(rows) * boxes
        self.cell_row, self.cell_col = np.divmod(np.arange(cells_per_level), width)
        # Per random nibble (see _NIBBLE_*): the step's flat move and its undoing action.
        self.delta = np.array([-width, width, -1, 1])[_NIBBLE_DIRECTION]
        self.undo = _UNDO_ACTION[_NIBBLE_DIRECTION]

        grid = np.where(floor, -1, -2).astype(np.int8 if boxes < 127 else np.int16)
        grid[np.arange(levels)[:, None], spots[:, 1:]] = np.arange(boxes)
        self.grid = np.repeat(grid, walks, axis=0).reshape(-1)
        is_target = np.zeros_like(floor)
        is_target[np.arange(levels)[:, None], spots[:, 1:]] = True
        self.is_target = np.repeat(is_target, walks, axis=0).reshape(-1)
        #: Each box's own target, as a cell index within its level.
        self.targets = np.repeat(spots[:, 1:], walks, axis=0).reshape(-1)

        self.player = np.repeat(spots[:, 0], walks) + self.cell_offset
        self.box_pos = self.targets + np.repeat(self.cell_offset, boxes)
        self.on_target = np.full(rows, boxes)
        self.displacement = np.zeros(rows, dtype=np.int64)
        self.swaps = np.zeros(rows, dtype=np.int64)
        self.last_box = np.full(rows, -1, dtype=np.int64)

        self.best_score = np.zeros(rows, dtype=np.int64)
        self.best_step = np.full(rows, -1)
        self.best_player = self.player.copy()
        self.best_boxes = self.box_pos.reshape(rows, boxes).copy()

        # Solution trace: the forward action undoing each step (0 where the step did not
        # move); the last step after which every box still sat on a target; and that step
        # as of the best state, where the forward replay first reaches a solved position.
        self.record = record
        self.actions: list[np.ndarray] = []
        self.last_solved = np.full(rows, -1)
        self.best_solved = np.full(rows, -1)
        self._trace: np.ndarray | None = None

    def step(self, t: int, nibble: np.ndarray) -> None:
        """One reverse step for every row: move as ``nibble`` says, pulling if it says so."""
        delta = self.delta[nibble]
        here = self.player
        there = here + delta
        moves = self.grid[there] == -1
        behind_box = self.grid[here - delta]
        pulls = np.flatnonzero(moves & (behind_box >= 0) & _NIBBLE_PULLS[nibble])
        self.player = np.where(moves, there, here)
        if self.record:
            self.actions.append(np.where(moves, self.undo[nibble], 0).astype(np.int8))
        if len(pulls):
            self._pull(t, pulls, here[pulls], delta[pulls], behind_box[pulls].astype(np.int64))
            self._keep_best(t, pulls)

    def _pull(self, t: int, rows: np.ndarray, to: np.ndarray, delta: np.ndarray,
              box: np.ndarray) -> None:
        """Move box ``box`` of each row in ``rows`` from ``to - delta`` to ``to``."""
        frm = to - delta
        self.grid[frm] = -1
        self.grid[to] = box
        slot = self.box_offset[rows] + box
        self.box_pos[slot] = to
        offset = self.cell_offset[rows]
        target = self.targets[slot]
        self.displacement[rows] += (self._distance(to - offset, target)
                                    - self._distance(frm - offset, target))
        if self.record:
            # The position before this pull was solved: the forward replay ends there.
            was_solved = rows[self.on_target[rows] == self.boxes]
            self.last_solved[was_solved] = t - 1
        self.on_target[rows] += (self.is_target[to].astype(np.int64)
                                 - self.is_target[frm].astype(np.int64))
        self.swaps[rows] += box != self.last_box[rows]
        self.last_box[rows] = box

    def _distance(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Manhattan distance between cell indices within a level."""
        return (np.abs(self.cell_row[a] - self.cell_row[b])
                + np.abs(self.cell_col[a] - self.cell_col[b]))

    def _keep_best(self, t: int, rows: np.ndarray) -> None:
        """Remember each row's best-scoring state; only pulls change a score."""
        score = self.swaps[rows] * self.displacement[rows] * (self.on_target[rows] == 0)
        better = rows[score > self.best_score[rows]]
        if not len(better):
            return
        self.best_score[better] = self.swaps[better] * self.displacement[better]
        self.best_step[better] = t
        self.best_player[better] = self.player[better]
        self.best_boxes[better] = self.box_pos.reshape(self.rows, self.boxes)[better]
        if self.record:
            self.best_solved[better] = self.last_solved[better]

    def best_state(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The best player cell [len(rows)] and box cells [len(rows), boxes] of ``rows``,
        as cell indices within their levels."""
        offset = self.cell_offset[rows]
        return self.best_player[rows] - offset, self.best_boxes[rows] - offset[:, None]

    def solution(self, row: int) -> tuple[int, ...]:
        """Forward actions solving row ``row``'s best state: its moves undone, last first.

        The replay stops at the first solved position it reaches.
        """
        if self._trace is None:
            self._trace = np.stack(self.actions)  # [steps, rows]
        steps = self._trace[self.best_solved[row] + 1:self.best_step[row] + 1, row]
        return tuple(int(a) for a in steps[::-1] if a)


def _generate_batch(keys: np.ndarray, height: int, width: int, boxes: int, walks: int,
                    walk_length: int, topology_steps: int, record: bool):
    """Try to make one level per key; returns (accepted mask, codes, solutions or None).

    Rooms with too few floor cells are rejected before placement, so the walks only ever
    see rooms where the player and every box stand on interior floor.
    """
    count = len(keys)
    floor = _dig_rooms(_key(keys, _TOPOLOGY), height, width, topology_steps)
    roomy = np.flatnonzero(floor.sum(axis=1) >= boxes + 3)
    accepted = np.zeros(count, dtype=bool)
    codes = np.zeros((count, height * width), dtype=np.uint8)
    solutions: list[tuple[int, ...] | None] | None = [None] * count if record else None
    if not len(roomy):
        return accepted, codes, solutions
    keys, floor = keys[roomy], floor[roomy]
    spots = _place(_key(keys, _PLACEMENT), floor, boxes)

    state = _Walks(floor, spots, walks, width, record)
    walk_keys = _key(np.repeat(keys, walks), np.tile(np.arange(walks), len(keys)), _WALK)
    for t in range(walk_length):
        if t % 16 == 0:
            u = _stream(walk_keys, t // 16)
        state.step(t, ((u >> np.uint64(4 * (t % 16))) & np.uint64(15)).astype(np.intp))

    best_walk = state.best_score.reshape(len(keys), walks).argmax(axis=1)
    best_row = np.arange(len(keys)) * walks + best_walk
    accepted[roomy] = state.best_score[best_row] > 0

    room = floor.astype(np.uint8)
    levels = np.arange(len(keys))[:, None]
    room[levels, spots[:, 1:]] += cells.TARGET - cells.FLOOR
    player, box_cells = state.best_state(best_row)
    room[levels, box_cells] += cells.BOX - cells.FLOOR
    room[levels[:, 0], player] += cells.PLAYER - cells.FLOOR
    codes[roomy] = room
    if solutions is not None:
        for i, row in zip(roomy, best_row):
            if accepted[i]:
                solutions[i] = state.solution(int(row))
    return accepted, codes, solutions


def _try_levels(keys: np.ndarray, allowed: np.ndarray, height: int, width: int, boxes: int,
                walks: int, walk_length: int, topology_steps: int, record: bool):
    """Run one attempt per key, in chunks of bounded memory; attempts not ``allowed``
    (past the attempt cap) count as rejected. Returns (accepted, codes, solutions)."""
    accepted = np.zeros(len(keys), dtype=bool)
    codes = np.zeros((len(keys), height * width), dtype=np.uint8)
    solutions: list[tuple[int, ...] | None] = [None] * len(keys)
    chunk = max(1, _ROWS_PER_CHUNK // walks)
    for start in range(0, len(keys), chunk):
        part = slice(start, start + chunk)
        ok, codes[part], sols = _generate_batch(
            keys[part], height, width, boxes, walks, walk_length, topology_steps, record
        )
        accepted[part] = ok & allowed[part]
        if sols is not None:
            solutions[part] = sols
    return accepted, codes, solutions


def generate_levels(
    n: int,
    height: int = 10,
    width: int = 10,
    boxes: int = 4,
    seed: int = 0,
    *,
    walks: int = 32,
    walk_length: int = 300,
    topology_steps: int | None = None,
    with_solutions: bool = False,
) -> LevelBank | tuple[LevelBank, list[tuple[int, ...]]]:
    """Generate ``n`` Boxoban-style levels of ``height x width`` cells (border included).

    Each level gets ``walks`` reverse walks of ``walk_length`` steps from a room dug in
    ``topology_steps`` digger steps (default ``2 * (height + width)``, which matches the
    floor area of Boxoban's 10x10 rooms: 31 cells on average, against 32). Level ``i``
    depends only on ``(seed, height, width, boxes, walks, walk_length, topology_steps, i)``,
    so any prefix of a bank is the bank of that length. Levels are accepted only when some
    box has been pulled off its target and none is left on a target; a rejected level is
    dug again from scratch with the next attempt number in its key.

    With ``with_solutions`` also returns, per level, a tuple of environment actions
    (1 up, 2 down, 3 left, 4 right) that solves it: every action moves the player, and
    the level is first solved by the last one. Raises ``ValueError`` for arguments that
    cannot make levels.
    """
    _validate(n, height, width, boxes, seed, walks, walk_length, topology_steps)
    height, width, boxes, n = int(height), int(width), int(boxes), int(n)
    if topology_steps is None:
        topology_steps = 2 * (height + width)

    codes = np.zeros((n, height * width), dtype=np.uint8)
    solutions: list[tuple[int, ...]] = [()] * n
    pending = np.arange(n)
    next_attempt = np.zeros(n, dtype=np.int64)
    with np.errstate(over="ignore"):
        while len(pending):
            # Try several attempts per level when few levels are left, so the last
            # rejected levels cost one batch rather than a tail of nearly empty ones. Each
            # level keeps its first accepted attempt, so batching never changes a level.
            tries = int(np.clip(-(-_SPECULATE_LEVELS // len(pending)), 1, 32))
            ids = np.repeat(pending, tries)
            attempts = next_attempt[ids] + np.tile(np.arange(tries), len(pending))
            accepted, batch, sols = _try_levels(
                _key(seed, height, width, boxes, ids, attempts), attempts < _MAX_ATTEMPTS,
                height, width, boxes, walks, walk_length, topology_steps, with_solutions,
            )
            accepted = accepted.reshape(len(pending), tries)
            done = accepted.any(axis=1)
            chosen = np.flatnonzero(done) * tries + accepted[done].argmax(axis=1)
            codes[pending[done]] = batch[chosen]
            if with_solutions:
                for level, i in zip(pending[done], chosen):
                    solutions[level] = sols[i]
            next_attempt[pending] += tries
            pending = pending[~done]
            if len(pending) and next_attempt[pending].max() >= _MAX_ATTEMPTS:
                raise ValueError(
                    f"could not make a {height}x{width} level with {boxes} boxes in "
                    f"{_MAX_ATTEMPTS} attempts; use fewer boxes, a larger room or more "
                    f"topology_steps"
                )

    names = [f"generated {height}x{width}/{boxes} seed {seed} #{i}" for i in range(n)]
    bank = LevelBank(codes.reshape(n, height, width), names)
    return (bank, solutions) if with_solutions else bank
