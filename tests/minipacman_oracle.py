"""A slow, single-game, plain-Python MiniPacman: the yardstick for reverie's batched rules.

It follows the order of the released PillEater step one game at a time (power decrement, player
move, food, pill, each ghost in turn with a collision check before and after its move, level
clear, frame cap), but takes every random number from outside, in the mapping reverie's rules
use, so a test can feed it exactly the draws ``rules.draws`` / ``rules.spawn_draws`` made and
compare the two step for step:

* a step: per ghost slot ``move`` (it moves when ``move < speed``), ``noise`` (a random exit at
  a junction when ``noise < 0.05``, unpowered only) and ``pick`` (which candidate:
  ``floor(pick * n)``);
* a new level: ``pill[2]``, ``player``, ``ghost[G]``, ``heading[G]``; a cell draw ``u`` picks
  the ``floor(u * count)``-th allowed cell in flat order ``r * 19 + c`` (the second pill: among
  the cells but the first pill's; the player: among the cells without a pill; a ghost: among
  the cells outside the box around the player), a heading ``floor(u * 4)``. Every slot gets a
  cell and heading; slots beyond the level's ghost count are dead.

With every switch of :class:`Defects` off it plays the contract's rules (the paper's game with
the released code's defects avoided). Each switch puts back one behaviour of the released code
(see ``tests/test_minipacman_oracle.py`` for the list and the tests that pin each one). No torch
here: ints, lists and numpy for the observation only.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

#: The fixed map ('#' wall, '.' free), 15 rows x 19 columns.
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
FREE = [MAP[i // WIDTH][i % WIDTH] == "." for i in range(CELLS)]
FREE_CELLS = [i for i in range(CELLS) if FREE[i]]
#: Ghost headings 0 right, 1 up, 2 left, 3 down as (row, col) steps; action = heading + 1.
DIRS = ((0, 1), (-1, 0), (0, -1), (1, 0))
REVERSE = (2, 3, 0, 1)
PILL_DURATION = 20
NOISE = 0.05
SAFE_DISTANCE = 5  # the half-width of the no-ghost box around the player at a level start


def step_cell(cell: int, action: int) -> int:
    """The cell after an action (0 stay, 1 right, 2 up, 3 left, 4 down); a wall keeps the cell."""
    if action == 0:
        return cell
    dr, dc = DIRS[action - 1]
    nxt = (cell // WIDTH + dr) * WIDTH + cell % WIDTH + dc
    return nxt if FREE[nxt] else cell


def exits(cell: int) -> list[int]:
    """The headings that lead from ``cell`` to a free cell, in order 0..3."""
    return [d for d in range(4) if step_cell(cell, d + 1) != cell]


@dataclass(frozen=True)
class Task:
    """One task: event weights (step, food, pill, ghost, killed) and what clears a level."""

    name: str
    weights: tuple[float, float, float, float, float]
    clear_on_food: bool = False
    clear_on_ghosts: bool = False
    clear_on_pills: bool = False
    timer: int = 0


TASKS = {
    "regular": Task("regular", (0, 1, 2, 5, 0), clear_on_food=True),
    "avoid": Task("avoid", (0.1, -0.1, -5, -10, -20), clear_on_food=True, timer=128),
    "hunt": Task("hunt", (0, 0, 1, 10, -20), clear_on_ghosts=True, timer=80),
    "ambush": Task("ambush", (0, -0.1, 0, 10, -20), clear_on_ghosts=True, timer=80),
    "rush": Task("rush", (0, -0.1, 10, 0, 0), clear_on_pills=True),
}


@dataclass(frozen=True)
class Defects:
    """Switches that put back one behaviour of the released code each (all off: the contract)."""

    released_timer: bool = False      # hunt/ambush have no 80-step level timer
    skip_after_eat: bool = False      # once a ghost is eaten, the ghosts after it skip the step
    midstep_restart: bool = False     # a food/pill clear restarts the level mid-step; the step goes on
    double_death: bool = False        # every deadly collision counts (killed event > 1)
    old_frame_on_timer: bool = False  # a level ended by the timer shows the old level's frame
    pills_may_share: bool = False     # the second pill may land on the first one's cell
    asymmetric_box: bool = False      # the no-ghost box is rows/cols -5..+4 around the player
    player_on_pill: bool = False      # the player may spawn on a pill (released; not in the contract)

    @classmethod
    def released(cls) -> "Defects":
        """Every switch on: the released PillEater's behaviour."""
        return cls(**{f.name: True for f in dataclasses.fields(cls)})


def _get(draws: Any, name: str) -> Any:
    """A draw field from a mapping or an object (tensors become plain floats/lists)."""
    value = draws[name] if isinstance(draws, Mapping) else getattr(draws, name)
    return value.tolist() if hasattr(value, "tolist") else value


def _kth(cells: Sequence[int], u: float) -> int:
    """The ``floor(u * len)``-th cell of an allowed list in flat order."""
    return cells[min(int(math.floor(u * len(cells))), len(cells) - 1)]


@dataclass
class StepResult:
    """What one oracle step gives: the state at the end of the rules (before a new level), the
    events (step, food, pill, ghost, killed), the flags, the reward and the returned frame."""

    end_state: dict
    events: list[float]
    killed: bool
    cleared: bool
    reward: float
    truncated: bool
    obs: np.ndarray
    restarted: bool = False  # a mid-step restart happened (midstep_restart only)


@dataclass
class Game:
    """One game in the contract's ``PacmanState`` fields (plain ints and lists)."""

    task: Task
    max_ghosts: int = 8
    observation: str = "rgb"
    frame_cap: int = 3000
    defects: Defects = field(default_factory=Defects)
    player: int = 0
    ghost: list = field(default_factory=list)
    heading: list = field(default_factory=list)
    alive: list = field(default_factory=list)
    food: list = field(default_factory=list)
    pill: list = field(default_factory=lambda: [0, 0])
    pill_alive: list = field(default_factory=lambda: [False, False])
    power: int = 0
    level: int = 1
    timer: int = 0
    frame: int = 0

    FIELDS = ("player", "ghost", "heading", "alive", "food", "pill", "pill_alive", "power", "level", "timer", "frame")

    # -- state in and out --------------------------------------------------------------------

    def state(self) -> dict:
        """A deep copy of the state fields (lists and ints)."""
        return {k: (list(v) if isinstance(v, list) else v) for k, v in ((k, getattr(self, k)) for k in self.FIELDS)}

    def load(self, state: Mapping[str, Any]) -> "Game":
        """Set the state from plain values, numpy arrays or (one row of) tensors."""
        for k in self.FIELDS:
            v = state[k]
            v = v.tolist() if hasattr(v, "tolist") else v
            if k in ("ghost", "heading", "pill"):
                v = [int(x) for x in v]
            elif k in ("alive", "pill_alive", "food"):
                v = [bool(x) for x in v]
            else:
                v = int(v)
            setattr(self, k, v)
        return self

    # -- levels ------------------------------------------------------------------------------

    def new_level(self, level: int, spawn: Any) -> None:
        """Start ``level``: food everywhere, pills, player, ghosts from the spawn draws."""
        d = self.defects
        pu, pl, gu, hu = (_get(spawn, k) for k in ("pill", "player", "ghost", "heading"))
        self.level = level
        self.food = list(FREE)
        first = _kth(FREE_CELLS, pu[0])
        second = _kth(FREE_CELLS if d.pills_may_share else [c for c in FREE_CELLS if c != first], pu[1])
        self.pill, self.pill_alive = [first, second], [True, True]
        spots = FREE_CELLS if d.player_on_pill else [c for c in FREE_CELLS if c not in self.pill]
        self.player = _kth(spots, pl)
        pr, pc = divmod(self.player, WIDTH)
        hi = SAFE_DISTANCE - 1 if d.asymmetric_box else SAFE_DISTANCE
        away = [c for c in FREE_CELLS
                if not (-SAFE_DISTANCE <= c // WIDTH - pr <= hi and -SAFE_DISTANCE <= c % WIDTH - pc <= hi)]
        count = min(1 + (level - 1) // 2, self.max_ghosts)
        self.ghost = [_kth(away, gu[i]) for i in range(self.max_ghosts)]
        self.heading = [min(int(math.floor(hu[i] * 4)), 3) for i in range(self.max_ghosts)]
        self.alive = [i < count for i in range(self.max_ghosts)]
        self.power, self.timer = 0, 0

    def start(self, spawn: Any, level: int = 1) -> np.ndarray:
        """A new episode at ``level`` (frame 0); returns its first frame."""
        self.frame = 0
        self.new_level(level, spawn)
        return self.render()

    # -- the step ----------------------------------------------------------------------------

    def _speed(self) -> float:
        speed = 0.5 + 0.1 * (self.level - 1)
        return speed * 0.5 if self.power > 0 else speed

    def _choose(self, slot: int, noise: float, pick: float) -> int:
        """The heading ghost ``slot`` leaves its cell by (contract 3b; -1 = unknown heading)."""
        cell, heading = self.ghost[slot], self.heading[slot]
        ways = exits(cell)
        if len(ways) == 1:
            return ways[0]
        if len(ways) == 2:
            if heading < 0:
                return ways[min(int(math.floor(pick * 2)), 1)]
            if heading in ways:
                return heading
            return ways[1] if REVERSE[heading] == ways[0] else ways[0]
        candidates = ways if heading < 0 else [w for w in ways if w != REVERSE[heading]]
        if cell == self.player:  # a killer moving on: no direction to the player
            return heading
        if self.power == 0 and noise < NOISE:
            return candidates[min(int(math.floor(pick * len(candidates))), len(candidates) - 1)]
        dr = self.player // WIDTH - cell // WIDTH
        dc = self.player % WIDTH - cell % WIDTH
        score = [dr * DIRS[w][0] + dc * DIRS[w][1] for w in candidates]
        best = max(score) if self.power == 0 else min(score)
        return candidates[score.index(best)]

    def _collide(self, slot: int, ev: list) -> str:
        """A ghost on the player's cell: eaten ('eaten') or the player killed ('killed')."""
        if self.ghost[slot] != self.player:
            return ""
        if self.power > 0:
            self.alive[slot] = False
            ev[3] += 1
            return "eaten"
        ev[4] = ev[4] + 1 if self.defects.double_death else 1
        return "killed"

    def _eat(self, ev: list, spawn_for: Callable[[int], Any] | None) -> bool:
        """The player's cell: food, then a pill; returns whether the level restarted mid-step."""
        restarted = False
        if self.food[self.player]:
            self.food[self.player] = False
            ev[1] += 1
            if self.defects.midstep_restart and self.task.clear_on_food and not any(self.food):
                self.new_level(self.level + 1, spawn_for(self.level + 1))
                restarted = True
        for i in range(2):
            if self.pill_alive[i] and self.pill[i] == self.player:
                self.pill_alive[i] = False
                ev[2] += 1
                self.power = PILL_DURATION
                if self.defects.midstep_restart and self.task.clear_on_pills and not any(self.pill_alive):
                    self.new_level(self.level + 1, spawn_for(self.level + 1))
                    restarted = True
                break  # one pill a step (two only ever meet with pills_may_share)
        return restarted

    def _cleared(self, killed: bool) -> tuple[bool, bool]:
        """(cleared, cleared by the timer alone) at the end of a step (contract 4)."""
        if killed:
            return False, False
        t = self.task
        rule = ((t.clear_on_food and not any(self.food))
                or (t.clear_on_ghosts and not any(self.alive))
                or (t.clear_on_pills and not any(self.pill_alive)))
        timer = t.timer
        if self.defects.released_timer and t.clear_on_ghosts:
            timer = 0
        by_timer = timer > 0 and self.timer >= timer
        return bool(rule or by_timer), bool(by_timer and not rule)

    def step(self, action: int, draws: Any, spawn_for: Callable[[int], Any] | None = None) -> StepResult:
        """One step with the given step draws; ``spawn_for(level)`` gives a new level's draws."""
        move, noise, pick = (_get(draws, k) for k in ("move", "noise", "pick"))
        ev = [1.0, 0.0, 0.0, 0.0, 0.0]
        # 1. clocks
        self.frame += 1
        self.timer += 1
        self.power = max(self.power - 1, 0)
        # 2. the player, then food and a pill on its cell
        self.player = step_cell(self.player, int(action))
        restarted = self._eat(ev, spawn_for)
        # 3. each live ghost in turn: check, move, check
        killed = False
        for g in range(self.max_ghosts):
            if not self.alive[g]:
                continue
            hit = self._collide(g, ev)
            killed |= hit == "killed"
            if hit == "eaten":
                if self.defects.skip_after_eat:
                    break
                continue
            if move[g] < self._speed():
                self.heading[g] = self._choose(g, noise[g], pick[g])
                self.ghost[g] = step_cell(self.ghost[g], self.heading[g] + 1)
                hit = self._collide(g, ev)
                killed |= hit == "killed"
                if hit == "eaten" and self.defects.skip_after_eat:
                    break
        # 4. level clear at the end of the step, frame cap
        end_state = self.state()
        cleared, by_timer = self._cleared(killed)
        old_frame = self.render() if cleared and by_timer and self.defects.old_frame_on_timer else None
        if cleared:
            self.new_level(self.level + 1, spawn_for(self.level + 1))
        obs = old_frame if old_frame is not None else self.render()
        reward = float(sum(e * w for e, w in zip(ev, self.task.weights)))
        truncated = self.frame_cap > 0 and self.frame >= self.frame_cap
        return StepResult(end_state, ev, killed, cleared or restarted, reward, truncated, obs, restarted)

    # -- observation -------------------------------------------------------------------------

    def render(self) -> np.ndarray:
        """The frame: ``rgb`` [3, 15, 19] (priority player > ghost > pill > food > wall) or
        ``symbolic`` [6, 15, 19] (walls, food, player, ghost, edible, pill), float32."""
        # the float32 nearest each multiple of 1/20 (so 1 - e is 0.4, not 1 - 0.6 rounded)
        edible = np.float32(self.power / PILL_DURATION)
        danger = np.float32((PILL_DURATION - self.power) / PILL_DURATION)
        ghosts = [self.ghost[g] for g in range(self.max_ghosts) if self.alive[g]]
        pills = [self.pill[i] for i in range(2) if self.pill_alive[i]]
        food = np.array(self.food, dtype=bool)
        if self.observation == "symbolic":
            out = np.zeros((6, CELLS), dtype=np.float32)
            out[0] = ~_FREE
            out[1] = food
            out[2, self.player] = 1
            out[3, ghosts] = danger
            out[4, ghosts] = edible
            out[5, pills] = 1
            return out.reshape(6, HEIGHT, WIDTH)
        out = np.zeros((CELLS, 3), dtype=np.float32)  # painted from the lowest priority up
        out[~_FREE] = (1, 1, 1)
        out[food] = (0, 0, 1)
        out[pills] = (0, 1, 1)
        out[ghosts] = (1, edible, 0)
        out[self.player] = (0, 1, 0)
        return out.T.reshape(3, HEIGHT, WIDTH).copy()


_FREE = np.array(FREE, dtype=bool)
