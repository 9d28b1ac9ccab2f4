"""MiniPacman's rules as batched tensor functions: the state, its random draws, a step, a new level.

One function steps the env and the perfect model. Every random number is a counter-based
draw (:mod:`reverie.core.counter_rng`) of the game's episode key, so the same episode plays
the same game whatever the batch layout. The rules are reverie's reading of the paper, with
the released code's defects avoided (see ``../shared/REFERENCE.md`` section 3 of the
project notes): every live ghost moves even after another is eaten, swaps collide, a level
is cleared only at the end of a step, hunt/ambush clear after 80 steps unless ``timer="released"``.

The ghosts' choices are precomputed: for every (ghost cell, heading, player cell, powered)
one table entry holds the chase/flee or corridor choice, so a step gathers instead of scoring.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from types import SimpleNamespace
from typing import NamedTuple

import torch

from ...core.counter_rng import hash32, uniform
from ...core.errors import ReverieError
from . import maze
from .maze import CELLS

__all__ = ["PacmanState", "StepDraws", "SpawnDraws", "TaskRules", "TASKS", "task_rules", "draws", "spawn_draws",
           "step", "new_level", "initial_state", "episode_keys", "SPLIT_OFFSETS", "SPLIT_SIZE", "POWER_STEPS",
           "NOISE", "ghost_count", "EVENTS", "TASK_WEIGHTS", "TIMERS"]

POWER_STEPS = 20          # a pill powers the player for the step it is eaten and the 19 after
NOISE = 0.05              # chance of a random exit at a junction (unpowered only)
SAFE = 5                  # ghosts spawn outside the box of +-5 rows and columns around the player
EVENTS = ("step", "food", "pill", "ghost", "killed")
SPLIT_OFFSETS = {"train": 0, "valid": 1 << 30, "test": 2 << 30}
SPLIT_SIZE = 1 << 30
_MAX_SPEED_LEVEL = 16     # from here on every ghost moves every step, powered or not


@dataclass(frozen=True)
class TaskRules:
    """When a task clears a level: all food eaten, all ghosts eaten, all pills eaten, or after
    ``timer`` steps in the level (0: never)."""

    name: str
    clear_on_food: bool = False
    clear_on_ghosts: bool = False
    clear_on_pills: bool = False
    timer: int = 0


TASKS = {
    "regular": TaskRules("regular", clear_on_food=True),
    "avoid": TaskRules("avoid", clear_on_food=True, timer=128),
    "hunt": TaskRules("hunt", clear_on_ghosts=True, timer=80),
    "ambush": TaskRules("ambush", clear_on_ghosts=True, timer=80),
    "rush": TaskRules("rush", clear_on_pills=True),
}
TIMERS = ("paper", "released")
#: Reward weights of the events (step, food, pill, ghost, killed), per task (the paper's table).
TASK_WEIGHTS = {
    "regular": (0.0, 1.0, 2.0, 5.0, 0.0),
    "avoid": (0.1, -0.1, -5.0, -10.0, -20.0),
    "hunt": (0.0, 0.0, 1.0, 10.0, -20.0),
    "ambush": (0.0, -0.1, 0.0, 10.0, -20.0),
    "rush": (0.0, -0.1, 10.0, 0.0, 0.0),
}


def task_rules(name: str, timer: str = "paper") -> TaskRules:
    """The rules of task ``name``; ``timer="released"`` drops hunt/ambush's 80-step timer as the
    released code does (the paper's text has it)."""
    if name not in TASKS:
        raise ReverieError(f"MiniPacman task must be one of {', '.join(TASKS)}, got {name!r}")
    if timer not in TIMERS:
        raise ReverieError(f"timer must be one of {', '.join(TIMERS)}, got {timer!r}")
    rules = TASKS[name]
    return dataclasses.replace(rules, timer=0) if timer == "released" and rules.clear_on_ghosts else rules


def ghost_count(level: torch.Tensor, max_ghosts: int) -> torch.Tensor:
    """Ghosts of a level: 1 + (level - 1) // 2, capped at ``max_ghosts``."""
    return (1 + (level - 1) // 2).clamp(max=max_ghosts)


# -- the state ------------------------------------------------------------------------------

@dataclass
class PacmanState:
    """A batch of games (see the contract's table): cells are flat indices, G ghost slots."""

    player: torch.Tensor      # long [B]
    ghost: torch.Tensor       # long [B, G]
    heading: torch.Tensor     # long [B, G], 0..3 (-1: unknown, the perfect model's)
    alive: torch.Tensor       # bool [B, G]
    food: torch.Tensor        # bool [B, CELLS]
    pill: torch.Tensor        # long [B, 2]
    pill_alive: torch.Tensor  # bool [B, 2]
    power: torch.Tensor       # long [B], 0..20
    level: torch.Tensor       # long [B], 1-based
    timer: torch.Tensor       # long [B], steps played in this level
    frame: torch.Tensor       # long [B], steps played in this episode

    @property
    def batch(self) -> int:
        return self.player.shape[0]

    @property
    def max_ghosts(self) -> int:
        return self.ghost.shape[1]

    def _map(self, fn) -> "PacmanState":
        return PacmanState(**{f.name: fn(getattr(self, f.name)) for f in dataclasses.fields(self)})

    def clone(self) -> "PacmanState":
        return self._map(torch.clone)

    def index(self, rows: torch.Tensor) -> "PacmanState":
        """The sub-batch ``rows`` (a copy)."""
        return self._map(lambda t: t[rows])

    def assign(self, rows: torch.Tensor, other: "PacmanState") -> None:
        """Write ``other`` into the rows ``rows`` of this batch."""
        for f in dataclasses.fields(self):
            getattr(self, f.name)[rows] = getattr(other, f.name)

    def to(self, device: torch.device | str) -> "PacmanState":
        return self._map(lambda t: t.to(device))

    def to_dict(self) -> dict[str, torch.Tensor]:
        return {f.name: getattr(self, f.name).clone() for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, state: dict[str, torch.Tensor], device: torch.device | str | None = None) -> "PacmanState":
        missing = [f.name for f in dataclasses.fields(cls) if f.name not in state]
        if missing:
            raise ReverieError(f"a MiniPacman state needs {', '.join(missing)}")
        out = {}
        for f in dataclasses.fields(cls):
            t = torch.as_tensor(state[f.name], device=device)
            out[f.name] = t.bool() if f.name in ("alive", "food", "pill_alive") else t.long()
        return cls(**out).clone()

    @classmethod
    def empty(cls, batch: int, max_ghosts: int, device: torch.device | str = "cpu") -> "PacmanState":
        z = lambda *shape: torch.zeros(*shape, dtype=torch.long, device=device)  # noqa: E731
        b = lambda *shape: torch.zeros(*shape, dtype=torch.bool, device=device)  # noqa: E731
        return cls(z(batch), z(batch, max_ghosts), z(batch, max_ghosts), b(batch, max_ghosts), b(batch, CELLS),
                   z(batch, 2), b(batch, 2), z(batch), z(batch) + 1, z(batch), z(batch))


# -- randomness -----------------------------------------------------------------------------

class StepDraws(NamedTuple):
    """One step's draws, float64 in (0, 1), ``[B, G]`` each."""

    move: torch.Tensor   # a ghost moves when move < speed
    noise: torch.Tensor  # a junction exit is random when noise < 0.05 (unpowered)
    pick: torch.Tensor   # which random exit: floor(pick * candidates)


class SpawnDraws(NamedTuple):
    """A level start's draws, float64 in (0, 1)."""

    pill: torch.Tensor     # [B, 2]
    player: torch.Tensor   # [B]
    ghost: torch.Tensor    # [B, G]
    heading: torch.Tensor  # [B, G]


def episode_keys(split: str, episodes: torch.Tensor) -> torch.Tensor:
    """The key of each episode id of a split (int64 holding 32 bits; distinct ids, distinct keys)."""
    if split not in SPLIT_OFFSETS:
        raise ReverieError(f"MiniPacman splits are {', '.join(SPLIT_OFFSETS)}, got {split!r}")
    return hash32(SPLIT_OFFSETS[split] + torch.as_tensor(episodes).long() % SPLIT_SIZE)


def draws(key: torch.Tensor, frame: torch.Tensor, max_ghosts: int, slots: int | None = None) -> StepDraws:
    """The draws of the step played from ``frame`` (even counters; lanes 3g, 3g+1, 3g+2 are
    ghost g's move, noise and pick, so a ghost's draws do not depend on the slot count).

    ``slots``: only the first ``slots`` ghosts' lanes are drawn, the others hold 1.0 (for a
    caller that knows those slots are dead in every game: they are never read then)."""
    slots = max_ghosts if slots is None else min(int(slots), max_ghosts)
    u = uniform(key, frame * 2, 3 * slots)
    if slots < max_ghosts:
        u = torch.nn.functional.pad(u, (0, 3 * (max_ghosts - slots)), value=1.0)
    return StepDraws(u[:, 0::3], u[:, 1::3], u[:, 2::3])


def spawn_draws(key: torch.Tensor, level: torch.Tensor, max_ghosts: int) -> SpawnDraws:
    """The draws that start ``level`` (odd counters, so never a step's)."""
    u = uniform(key, torch.as_tensor(level, device=key.device) * 2 + 1, 3 + 2 * max_ghosts)
    return SpawnDraws(u[:, 0:2], u[:, 2], u[:, 3::2], u[:, 4::2])


# -- tables ---------------------------------------------------------------------------------

_CACHE: dict[torch.device, SimpleNamespace] = {}


def _ghost_tables() -> SimpleNamespace:
    """The ghosts' movement, tabulated on the CPU over free cells (``F = 138``).

    ``choice [F player, 2 powered, F ghost, 5 heading + 1]`` holds ``8 * kind + heading' + 1``:
    ``heading'`` the deterministic new heading (the one exit; the corridor continuation; the
    chase/flee exit, ties to the first; the kept heading of a ghost on the player's cell),
    ``kind`` 1 where the exit is random anyway (a corridor, heading unknown) and 2 where it is
    random on noise < 0.05 (an unpowered junction). ``random [F, 5, 4]``: the k-th candidate
    exit; ``candidates [F, 5]``: how many.
    """
    t = maze.tables("cpu")
    exits = t.exits                                              # [C, 4]
    n_exits = exits.sum(1)                                       # [C]
    heading = torch.arange(-1, 4)                                # [5] heading + 1 = index
    reverse = torch.tensor((-1,) + maze.REVERSE)                 # reverse of each heading (-1: none)
    dirs = torch.arange(4)
    not_reverse = dirs[None, :] != reverse[:, None]              # [5, 4]
    cand = exits[:, None, :] & not_reverse[None]                 # [C, 5, 4]
    two = (n_exits == 2)[:, None]
    cand = torch.where(two[..., None] & (heading[None, :, None] < 0), exits[:, None, :], cand)
    one = (n_exits == 1)[:, None, None]
    cand = torch.where(one, exits[:, None, :], cand)             # a dead end: its one exit
    n_cand = cand.sum(2)                                         # [C, 5]
    order = torch.sort((~cand).to(torch.uint8), dim=2, stable=True).indices  # candidates first
    random = torch.where(torch.arange(4)[None, None] < n_cand[..., None], order, order[..., :1])

    # deterministic part without the player: one exit, or a corridor with a known heading
    keeps = (heading[None] >= 0) & exits.gather(1, heading.clamp(min=0)[None].expand(CELLS, 5))
    first_cand = order[..., 0]                                   # first exit not the reverse
    corridor = torch.where(keeps, heading[None].expand(CELLS, 5), first_cand)
    base = torch.where((n_exits == 1)[:, None], first_cand, corridor)
    base = torch.where((n_exits == 0)[:, None], heading[None].expand(CELLS, 5), base)

    # junctions: chase (unpowered) or flee (powered) the player, ties to the first candidate
    drow = t.row[None, :] - t.row[:, None]                       # [ghost C, player C]
    dcol = t.col[None, :] - t.col[:, None]
    vec = torch.tensor(maze.DIR_VECTORS)                         # [4, 2]
    score = drow[..., None] * vec[:, 0] + dcol[..., None] * vec[:, 1]     # [C, C, 4]
    score = torch.stack((score, -score), 2)                      # [C, P, 2, 4]
    masked = torch.where(cand[:, :, None, None, :], score[:, None], torch.full((), -1000))  # [C, 5, P, 2, 4]
    greedy = masked.argmax(-1)                                   # first maximum
    junction = (n_exits >= 3)[:, None, None, None]
    on_player = (torch.arange(CELLS)[:, None] == torch.arange(CELLS)[None, :])[:, None, :, None]
    new = torch.where(junction, torch.where(on_player, heading[None, :, None, None], greedy),
                      base[:, :, None, None])
    kind = torch.zeros_like(new)
    kind = torch.where(two[..., None, None] & (heading[None, :, None, None] < 0), 1, kind)
    powered = torch.tensor([False, True])[None, None, None, :]
    kind = torch.where(junction & ~on_player & ~powered, 2, kind)
    free = t.free_cells
    choice = (kind * 8 + new + 1)[free][:, :, free]              # [F ghost, 5, F player, 2]
    return SimpleNamespace(choice=choice.permute(2, 3, 0, 1).contiguous(), random=random[free], candidates=n_cand[free])


def _spawn_tables() -> SimpleNamespace:
    """For each player cell: the free cells outside the spawn box in flat order, and how many."""
    t = maze.tables("cpu")
    near = ((t.row[:, None] - t.row[None, :]).abs() <= SAFE) & ((t.col[:, None] - t.col[None, :]).abs() <= SAFE)
    allowed = t.free[None, :] & ~near                            # [player C, cell C]
    order = torch.sort((~allowed).to(torch.uint8), dim=1, stable=True).indices
    return SimpleNamespace(ghost_cells=order[:, : len(maze.FREE_CELLS)].contiguous(), ghost_cells_count=allowed.sum(1))


def tables(device: torch.device | str = "cpu") -> SimpleNamespace:
    """Every table the rules gather from, on ``device`` (built once, cached; flat, for ``take``).

    The ghost tables are indexed by free-cell number (``free_index[cell]``; walls map to 0,
    only dead ghosts stand there); ``choice`` is widened to int64 (``code & 7`` the
    deterministic heading + 1, ``code >> 3`` the kind, ``thresh[kind]`` the noise below which
    the exit is random), ``random`` holds heading + 1."""
    device = torch.device(device)
    if device not in _CACHE:
        ghosts, spawn, m = _ghost_tables(), _spawn_tables(), maze.tables("cpu")
        speed = torch.tensor([0.5 + 0.1 * (lv - 1) for lv in range(_MAX_SPEED_LEVEL + 1)], dtype=torch.float64)
        free_index = torch.zeros(CELLS, dtype=torch.long)
        free_index[m.free_cells] = torch.arange(m.free_cells.numel())
        table = SimpleNamespace(
            next=m.next.reshape(-1), free=m.free, free_cells=m.free_cells, free_index=free_index,
            choice=ghosts.choice.reshape(-1).long(), random=ghosts.random.reshape(-1) + 1,
            candidates=ghosts.candidates.reshape(-1),
            thresh=torch.tensor([0.0, 2.0, NOISE], dtype=torch.float64),
            ghost_cells=spawn.ghost_cells.reshape(-1), ghost_cells_count=spawn.ghost_cells_count,
            speed=torch.stack((speed, speed * 0.5), 1).reshape(-1),   # [level * 2 + powered]
            power=torch.tensor(POWER_STEPS), one=torch.ones(1, 1, dtype=torch.float32),
        )
        _CACHE[device] = SimpleNamespace(**{k: v.to(device) for k, v in vars(table).items()})
    return _CACHE[device]


def _any(mask: torch.Tensor) -> torch.Tensor:
    """``mask.any(1)`` for bool ``[B, N]`` (a max over the bytes: much faster on the CPU)."""
    return mask.view(torch.uint8).amax(1).view(torch.bool)


# -- a step ---------------------------------------------------------------------------------

def step(state: PacmanState, action: torch.Tensor, draws: StepDraws, task: TaskRules
         ) -> tuple[PacmanState, torch.Tensor, torch.Tensor, torch.Tensor]:
    """One step of every game: -> (next state, events ``[B, 5]`` float32 (step, food, pill,
    ghost, killed counts), killed ``[B]`` bool, cleared ``[B]`` bool).

    The state is not changed (a new one is returned). A level is cleared at the end of the
    step only, never for a killed player; the caller starts the next level (:func:`new_level`).
    Whole-batch tensor code with table lookups; about fifty small kernels a step.
    """
    t = tables(state.player.device)
    # the player moves, eats food there, then a live pill there (power back to 20)
    player = t.next.take(state.player * 5 + action)
    col = player[:, None]
    food_ev = state.food.gather(1, col)
    food = state.food.scatter(1, col, False)
    pill_hit = state.pill_alive & (state.pill == col)
    pill_ev = _any(pill_hit)
    pill_alive = state.pill_alive ^ pill_hit
    power = torch.where(pill_ev, t.power, (state.power - 1).clamp_(min=0))
    powered = power > 0
    pw = powered[:, None]

    # ghosts, all at once: collide, move, collide again (an eaten ghost stops only itself)
    ghost, heading = state.ghost, state.heading
    on_before = state.alive & (ghost == col)
    eaten = on_before & pw
    alive = state.alive ^ eaten
    speed = t.speed.take(state.level.clamp(max=_MAX_SPEED_LEVEL) * 2 + powered)
    moving = alive & (draws.move < speed[:, None])
    n_free = t.free_cells.shape[0]
    at = (heading + 1).add_(t.free_index.take(ghost), alpha=5)   # (free cell, heading) index
    code = t.choice.take(at + ((t.free_index.take(player) * 2 + powered) * (n_free * 5))[:, None])
    use_random = draws.noise < t.thresh.take(code >> 3)
    rand = t.random.take((at * 4).add_((draws.pick * t.candidates.take(at)).long()))
    turn = torch.where(use_random, rand, code & 7)               # new heading + 1
    ghost = torch.where(moving, t.next.take((ghost * 5).add_(turn)), ghost)
    heading = torch.where(moving, turn - 1, heading)
    on_after = alive & (ghost == col)
    eaten_after = on_after & pw
    alive = alive ^ eaten_after
    killed = _any(on_before | on_after) & ~powered

    ghost_ev = (eaten | eaten_after).sum(1, keepdim=True)
    events = torch.cat((t.one.expand(player.shape[0], 1), food_ev, pill_ev[:, None], ghost_ev, killed[:, None]), 1)
    timer = state.timer + 1
    cleared = killed.logical_not()
    if task.clear_on_food or task.clear_on_ghosts or task.clear_on_pills or task.timer:
        rule = torch.zeros_like(killed)
        if task.clear_on_food:
            rule |= ~_any(food)
        if task.clear_on_ghosts:
            rule |= ~_any(alive)
        if task.clear_on_pills:
            rule |= ~_any(pill_alive)
        if task.timer:
            rule |= timer >= task.timer
        cleared &= rule
    else:
        cleared.zero_()
    nxt = PacmanState(player=player, ghost=ghost, heading=heading, alive=alive, food=food, pill=state.pill.clone(),
                      pill_alive=pill_alive, power=power, level=state.level.clone(), timer=timer, frame=state.frame + 1)
    return nxt, events, killed, cleared


# -- a new level ----------------------------------------------------------------------------

def new_level(state: PacmanState, rows: torch.Tensor, spawn: SpawnDraws, level: torch.Tensor | None = None) -> None:
    """Start a level in the games ``rows`` (in place): ``level`` (default: the next one), food
    everywhere, two pills, the player on a pill-free cell, the level's ghosts away from it;
    power and timer 0 (the frame counter is the caller's: 0 for a new episode).

    ``spawn`` must be :func:`spawn_draws` of the rows' keys for that level."""
    t = tables(state.player.device)
    n_free = t.free_cells.numel()
    level = state.level[rows] + 1 if level is None else torch.as_tensor(level, device=rows.device).long()
    i0 = (spawn.pill[:, 0] * n_free).long()
    i1 = (spawn.pill[:, 1] * (n_free - 1)).long()
    i1 = i1 + (i1 >= i0)
    lo, hi = torch.minimum(i0, i1), torch.maximum(i0, i1)
    k = (spawn.player * (n_free - 2)).long()
    k = k + (k >= lo)
    k = k + (k >= hi)
    player = t.free_cells[k]
    count = t.ghost_cells_count[player]
    g = state.max_ghosts
    ghost = t.ghost_cells[player[:, None] * n_free + (spawn.ghost * count[:, None]).long()]
    slots = torch.arange(g, device=rows.device)
    state.player[rows] = player
    state.ghost[rows] = ghost
    state.heading[rows] = (spawn.heading * 4).long()
    state.alive[rows] = slots[None, :] < ghost_count(level, g)[:, None]
    state.food[rows] = t.free
    state.pill[rows] = t.free_cells[torch.stack((i0, i1), 1)]
    state.pill_alive[rows] = True
    state.power[rows] = 0
    state.level[rows] = level
    state.timer[rows] = 0


def initial_state(keys: torch.Tensor, max_ghosts: int = 8) -> PacmanState:
    """New episodes (level 1, frame 0) of the episode ``keys``."""
    state = PacmanState.empty(keys.shape[0], max_ghosts, keys.device)
    rows = torch.arange(keys.shape[0], device=keys.device)
    one = torch.ones_like(rows)
    new_level(state, rows, spawn_draws(keys, one, max_ghosts), one)
    return state
