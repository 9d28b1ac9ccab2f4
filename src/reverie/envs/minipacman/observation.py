"""What a MiniPacman game looks like: the paper's RGB frame, or six symbolic planes.

Both are float32 planes in [0, 1] whose values are multiples of 1/20 (the edible ghost fades
with the power left), so the data codec stores them exactly as ``round(20 * x)``.

- ``rgb`` ``[3, 15, 19]``: player (0,1,0), ghost (1,e,0) with e = power/20, pill (0,1,1),
  food (0,0,1), wall (1,1,1), empty black; one colour a cell, drawn with the priority
  player > ghost > pill > food > wall.
- ``symbolic`` ``[6, 15, 19]``: walls, food, player, ghost (1 - e where a ghost is), edible
  (e where a ghost is), pill; planes overlap (food under a ghost stays visible).

The env keeps its frames between steps and redraws only the cells a step may have changed
(:class:`ObservationBuffer`: the player's and the ghosts' old and new cells, the pills), then
hands out a copy; :func:`rgb` and :func:`symbolic` draw whole frames (new levels, the perfect
model). A dead ghost or eaten pill is drawn at cell 0, a wall none can stand on, with what is
there anyway, so no mask splits the batch.
"""

from __future__ import annotations

from types import SimpleNamespace

import torch

from . import maze
from .maze import CELLS, HEIGHT, WIDTH
from .rules import POWER_STEPS, PacmanState

__all__ = ["OBSERVATIONS", "observe", "rgb", "symbolic", "PLANES", "COLOURS", "shape", "ObservationBuffer"]

OBSERVATIONS = ("rgb", "symbolic")
PLANES = ("walls", "food", "player", "ghost", "edible", "pill")
#: RGB of each thing (a ghost's green is its fade e = power / 20).
COLOURS = {"empty": (0, 0, 0), "wall": (1, 1, 1), "food": (0, 0, 1), "pill": (0, 1, 1), "player": (0, 1, 0),
           "ghost": (1, 0, 0), "edible": (1, 1, 0)}
EMPTY, WALL, FOOD, PILL, PLAYER, GHOST = range(6)  # cell codes; GHOST + power for a ghost
NUM_CODES = GHOST + POWER_STEPS + 1


def shape(kind: str) -> tuple[int, int, int]:
    return (3 if kind == "rgb" else len(PLANES), HEIGHT, WIDTH)


_CACHE: dict[torch.device, SimpleNamespace] = {}


def _tables(device: torch.device) -> SimpleNamespace:
    if device not in _CACHE:
        free = maze.tables("cpu").free
        palette = torch.zeros(NUM_CODES, 3)
        for code, name in ((WALL, "wall"), (FOOD, "food"), (PILL, "pill"), (PLAYER, "player")):
            palette[code] = torch.tensor(COLOURS[name], dtype=torch.float32)
        fade = torch.arange(POWER_STEPS + 1, dtype=torch.float64) / POWER_STEPS
        palette[GHOST:, 0] = 1.0
        palette[GHOST:, 1] = fade.float()
        table = SimpleNamespace(
            wall=~free, walls=(~free).float(), walls_rgb=(~free).float().expand(3, CELLS).contiguous(),
            # [3 * NUM_CODES]: channel c of code k at c * NUM_CODES + k
            palette=palette.t().contiguous().reshape(-1),
            edible=fade.float(), ghost=(1 - fade).float(),
            plane=torch.arange(6) * CELLS, planes3=(torch.arange(3) * CELLS).reshape(1, 3, 1),
            pill_rgb=torch.tensor([0.0, 1.0, 1.0]).reshape(1, 3, 1), player_rgb=torch.tensor([[0.0, 1.0, 0.0]]),
            white=torch.ones(()), one=torch.ones(1, 1),
        )
        tables = SimpleNamespace(**{k: v.to(device) for k, v in vars(table).items()})
        rows: dict = {}

        def plane_row(first: int, count: int, k: int, stride: int = CELLS) -> torch.Tensor:
            """``[1, count * k]``: offsets (first .. first + count - 1) * stride, each k times."""
            if (first, count, k, stride) not in rows:
                rows[first, count, k, stride] = (torch.arange(first, first + count, device=device) * stride
                                                 ).repeat_interleave(k)[None]
            return rows[first, count, k, stride]

        tables.plane_row = plane_row
        tables.channel_row = lambda k: plane_row(0, 3, k, NUM_CODES)
        _CACHE[device] = tables
    return _CACHE[device]


def rgb(state: PacmanState) -> torch.Tensor:
    """The paper's frames ``[B, 3, 15, 19]`` float32: walls, then food, pills, ghosts, the player."""
    t = _tables(state.player.device)
    b = state.batch
    out = t.walls_rgb.expand(b, 3, CELLS).clone()
    out[:, 2] = state.food | t.wall
    flat = out.view(b, -1)
    pill = torch.where(state.pill_alive, state.pill, 0)[:, None, :] + t.planes3             # [B, 3, 2]
    flat.scatter_(1, pill.view(b, -1), torch.where(state.pill_alive[:, None, :], t.pill_rgb, t.white).view(b, -1))
    ghost = torch.where(state.alive, state.ghost, 0)[:, None, :] + t.planes3                # [B, 3, G]
    e = t.edible.take(state.power)
    colour = torch.stack((torch.ones_like(e), e, torch.zeros_like(e)), 1)[:, :, None]       # [B, 3, 1]
    flat.scatter_(1, ghost.reshape(b, -1), torch.where(state.alive[:, None, :], colour, t.white).reshape(b, -1))
    flat.scatter_(1, state.player[:, None] + t.planes3.view(1, 3), t.player_rgb.expand(b, 3))
    return out.view(b, 3, HEIGHT, WIDTH)


def symbolic(state: PacmanState) -> torch.Tensor:
    """Six planes ``[B, 6, 15, 19]`` float32 (see the module docstring)."""
    t = _tables(state.player.device)
    b = state.batch
    out = torch.zeros(b, 6, CELLS, dtype=torch.float32, device=state.player.device)
    out[:, 0] = t.walls
    out[:, 1] = state.food
    ghost_cell = torch.where(state.alive, state.ghost, 0)
    pill_cell = torch.where(state.pill_alive, state.pill, 0)
    index = torch.cat((state.player[:, None] + t.plane[2], ghost_cell + t.plane[3], ghost_cell + t.plane[4],
                       pill_cell + t.plane[5]), 1)
    alive = state.alive.float()
    value = torch.cat((t.one.expand(b, 1), alive * t.ghost.take(state.power)[:, None],
                       alive * t.edible.take(state.power)[:, None], state.pill_alive.float()), 1)
    out.view(b, -1).scatter_(1, index, value)
    return out.view(b, 6, HEIGHT, WIDTH)


def observe(state: PacmanState, kind: str = "rgb") -> torch.Tensor:
    return rgb(state) if kind == "rgb" else symbolic(state)


def _cells(state: PacmanState, cells: torch.Tensor, t: SimpleNamespace):
    """What stands on ``cells [B, K]``: player, ghost, pill, food, wall masks ``[B, K]``.

    Ghosts and pills are counted on a byte board (16 a ghost, 1 a pill; dead ones add 0),
    then read at the cells: a scatter and a gather instead of comparing every pair."""
    b = state.batch
    board = torch.zeros(b, CELLS, dtype=torch.uint8, device=cells.device)
    board.scatter_add_(1, torch.cat((state.ghost, state.pill), 1),
                       torch.cat((state.alive.to(torch.uint8) * 16, state.pill_alive.to(torch.uint8)), 1))
    seen = board.gather(1, cells)
    return cells == state.player[:, None], seen >= 16, (seen & 1).view(torch.bool), \
        state.food.gather(1, cells), t.wall.take(cells)


class ObservationBuffer:
    """The env's frames ``[N, C, 15, 19]``, kept between steps.

    :meth:`update` redraws the cells a step may have changed (where the player and the ghosts
    were and are, the pills: a ghost's fade changes with the power, and it is redrawn where it
    stands), about 20 cells a game instead of 285; :meth:`redraw` draws whole games (new levels
    and episodes). ``frames`` is the buffer itself; the env hands out copies."""

    def __init__(self, kind: str, num_envs: int, device: torch.device) -> None:
        self.kind = kind
        self.frames = torch.zeros(num_envs, *shape(kind), device=device)

    def redraw(self, state: PacmanState, rows: torch.Tensor | None = None) -> None:
        if rows is None:
            self.frames.copy_(observe(state, self.kind))
        elif rows.numel():
            self.frames[rows] = observe(state.index(rows), self.kind)

    def update(self, before: PacmanState, after: PacmanState) -> None:
        t = _tables(after.player.device)
        b = after.batch
        cells = torch.cat((before.player[:, None], after.player[:, None], before.ghost, after.ghost, after.pill), 1)
        player, ghost, pill, food, wall = _cells(after, cells, t)
        flat = self.frames.view(b, -1)
        if self.kind == "rgb":
            code = torch.where(wall, WALL, EMPTY).to(torch.long)
            code.masked_fill_(food, FOOD).masked_fill_(pill, PILL)
            code = torch.where(ghost, (after.power + GHOST)[:, None], code).masked_fill_(player, PLAYER)
            value = t.palette.take(code.repeat(1, 3).add_(t.channel_row(cells.shape[1])))    # [B, 3K]
            flat.scatter_(1, cells.repeat(1, 3).add_(t.plane_row(0, 3, cells.shape[1])), value)
        else:
            ghost_f = ghost.float()
            food, player, pill = food.float(), player.float(), pill.float()
            value = torch.cat((food, player, ghost_f * t.ghost.take(after.power)[:, None],
                               ghost_f * t.edible.take(after.power)[:, None], pill), 1)       # [B, 5K]
            flat.scatter_(1, cells.repeat(1, 5).add_(t.plane_row(1, 5, cells.shape[1])), value)

    def tensor(self) -> torch.Tensor:
        return self.frames


# -- what a frame shows where: model diagnostics score positions with these ---------------

def player_mask(obs: torch.Tensor) -> torch.Tensor:
    """Frames ``[B, 3 | 6, H, W]`` -> where the player is drawn ``[B, H, W]`` bool."""
    if obs.shape[1] == len(PLANES):
        return obs[:, PLANES.index("player")] > 0.5
    return (obs[:, 0] < 0.5) & (obs[:, 1] > 0.5) & (obs[:, 2] < 0.5)


def ghost_mask(obs: torch.Tensor) -> torch.Tensor:
    """Frames -> where a ghost (dangerous or edible) is drawn ``[B, H, W]`` bool."""
    if obs.shape[1] == len(PLANES):
        return (obs[:, PLANES.index("ghost")] + obs[:, PLANES.index("edible")]) > 0.5 / POWER_STEPS
    return (obs[:, 0] > 0.5) & (obs[:, 2] < 0.5)
