"""MiniPacman's perfect model: the rules as far as a frame shows them.

A frame shows the player, the ghosts, the power left (the edible ghosts' fade), the pills
and the food; it hides the ghosts' headings, the level and the level's timer. So the model is
a *latent* model (:mod:`reverie.models.base`): ``encode`` reads a frame into a
:class:`~.rules.PacmanState` with unknown headings (-1), ``step`` plays :func:`.rules.step`
on it, ``decode`` draws it back. A ghost of unknown heading may take any exit (a corridor:
either way at random; a junction: the chase/flee choice over all exits); once it has moved,
its heading is known and persists through the rest of an imagined rollout. Ghosts move at
the speed of level ``level`` (default 1) and levels are never cleared in imagination.

The draws are counter-based (:mod:`reverie.core.counter_rng`): row ``i`` of a batch has the
key of ``(seed, i)`` and every step advances a counter kept on the device, so nothing is
read back to the host. ``step`` also takes frames (frames in, frames out: encode, step,
decode), for code that steps observation models (search, diagnostics).

In an ``rgb`` frame a pill hides the food under it (there always is some: the player eats
both at once) and a ghost hides the food and the pill under it (the draw priority), which
then read as eaten; the ``symbolic`` planes overlap and hide nothing.
"""

from __future__ import annotations

import torch

from ...core.counter_rng import level_keys
from ...core.errors import ReverieError
from . import observation as obs_mod
from . import rules
from .maze import CELLS, HEIGHT, WIDTH
from .rules import POWER_STEPS, PacmanState, TaskRules

__all__ = ["MiniPacmanRules", "encode_frames"]

#: Imagination never clears a level: levels do not change in a rollout.
IMAGINED = TaskRules("imagined")


def _kind(channels: int) -> str:
    for kind in obs_mod.OBSERVATIONS:
        if obs_mod.shape(kind)[0] == channels:
            return kind
    raise ReverieError(f"MiniPacman frames have 3 (rgb) or 6 (symbolic) channels, got {channels}")


def _first(mask: torch.Tensor, slots: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``slots`` marked cells of each row in flat order ``[B, slots]`` (0 where fewer),
    and which slots hold one."""
    rank = mask.long().cumsum(1) - 1
    slot = torch.where(mask & (rank < slots), rank, slots)     # the rest go to a spare slot, dropped
    cells = torch.arange(mask.shape[1], device=mask.device).expand_as(rank)
    first = torch.zeros(mask.shape[0], slots + 1, dtype=torch.long, device=mask.device).scatter_(1, slot, cells)
    filled = torch.arange(slots, device=mask.device)[None, :] <= rank[:, -1:]
    return torch.where(filled, first[:, :slots], 0), filled


def encode_frames(frames: torch.Tensor, max_ghosts: int, level: int = 1) -> PacmanState:
    """Frames ``[B, 3 or 6, 15, 19]`` (float in [0, 1], or the codec's uint8 ``round(20 x)``) ->
    the states they show: headings -1, ``level``, timer and frame 0, power from the fade of
    the ghosts (0 where no ghost is seen), ghost slots filled in flat cell order."""
    if frames.dim() != 4 or tuple(frames.shape[2:]) != (HEIGHT, WIDTH):
        raise ReverieError(f"MiniPacman frames are [B, 3 or 6, {HEIGHT}, {WIDTH}], got {tuple(frames.shape)}")
    kind = _kind(frames.shape[1])
    b, device = frames.shape[0], frames.device
    v = frames.reshape(b, -1, CELLS)
    v = v.long() if v.dtype == torch.uint8 else (v.float() * POWER_STEPS).round().long()  # 20ths
    full = POWER_STEPS
    if kind == "rgb":
        red, green, blue = v.unbind(1)
        dark = (red == 0)
        player = dark & (green == full) & (blue == 0)
        ghost = (red == full) & (blue == 0)
        pill = dark & (green == full) & (blue == full)
        food = dark & (green == 0) & (blue == full)
        fade = green
    else:
        _, food_plane, player_plane, ghost_plane, edible, pill_plane = v.unbind(1)
        player, ghost = player_plane > 0, (ghost_plane + edible) > 0
        pill, food, fade = pill_plane > 0, food_plane > 0, edible
    food = food | pill  # the player eats a pill and its food at once: food lies under every live pill
    power = torch.where(ghost, fade, 0).amax(1).clamp(0, POWER_STEPS)
    ghost_cell, alive = _first(ghost, max_ghosts)
    pill_cell, pill_alive = _first(pill, 2)
    zeros = torch.zeros(b, dtype=torch.long, device=device)
    return PacmanState(
        player=player.to(torch.uint8).argmax(1), ghost=ghost_cell,
        heading=torch.full((b, max_ghosts), -1, dtype=torch.long, device=device), alive=alive,
        food=food, pill=pill_cell, pill_alive=pill_alive, power=power, level=zeros + level,
        timer=zeros.clone(), frame=zeros.clone())


class MiniPacmanRules:
    """The rules on frames, as a latent model: ``encode`` / ``step`` / ``decode``.

    ``step(state, action [B])`` -> ``(state', reward [B] = events . weights, done [B] = killed)``;
    a state may also be a batch of frames (then the result is frames). ``spec`` gives the
    observation kind (3 planes: rgb, 6: symbolic), the task's weights and the ghost slots.
    """

    def __init__(self, spec=None, level: int = 1, seed: int = 0, task: str | None = None,
                 observation: str | None = None, max_ghosts: int | None = None) -> None:
        if int(level) < 1:
            raise ReverieError(f"level must be >= 1, got {level}")
        self.spec = spec
        self.level, self.seed = int(level), int(seed)
        rewards = spec.rewards if spec is not None else None
        self.task = task or (rewards.task if rewards is not None else "regular")
        if self.task not in rules.TASK_WEIGHTS:
            raise ReverieError(f"MiniPacman task must be one of {', '.join(rules.TASK_WEIGHTS)}, got {self.task!r}")
        self.observation = observation or (_kind(spec.observation.shape[0]) if spec is not None else "rgb")
        if self.observation not in obs_mod.OBSERVATIONS:
            raise ReverieError(f"observation must be one of {', '.join(obs_mod.OBSERVATIONS)}, "
                               f"got {self.observation!r}")
        ghosts = max_ghosts or (rewards.event_max[3] if rewards is not None and rewards.event_max else 8)
        self.max_ghosts = int(ghosts)
        self._weights: dict[torch.device, torch.Tensor] = {}
        self._counters: dict[torch.device, torch.Tensor] = {}
        self._keys: dict[tuple[torch.device, int], torch.Tensor] = {}

    def __repr__(self) -> str:
        return (f"MiniPacmanRules({self.task}, {self.observation}, level={self.level}, "
                f"max_ghosts={self.max_ghosts}, seed={self.seed})")

    # -- the latent model ----------------------------------------------------------------

    def encode(self, obs: torch.Tensor, state: PacmanState | None = None) -> PacmanState:
        """What the frames show (see :func:`encode_frames`)."""
        return encode_frames(obs, self.max_ghosts, self.level)

    def decode(self, state: PacmanState) -> torch.Tensor:
        return obs_mod.observe(state, self.observation)

    def step(self, state, action: torch.Tensor):
        if isinstance(state, torch.Tensor):
            nxt, reward, done = self.step(self.encode(state), action)
            frames = obs_mod.observe(nxt, _kind(state.shape[1]))
            return frames.to(state.dtype) if state.is_floating_point() else frames, reward, done
        draws = rules.draws(self._row_keys(state.batch, state.player.device), self._counter(state.player.device),
                            state.max_ghosts)
        return self.transition(state, action, draws)

    def transition(self, state: PacmanState, action: torch.Tensor, draws: rules.StepDraws
                   ) -> tuple[PacmanState, torch.Tensor, torch.Tensor]:
        """One imagined step with given draws (no level clear): -> (state', reward, killed)."""
        nxt, events, killed, _ = rules.step(state, action.to(state.player.device).long(), draws, IMAGINED)
        return nxt, events @ self._weight(events.device), killed

    # -- device-side bookkeeping ---------------------------------------------------------

    def _weight(self, device: torch.device) -> torch.Tensor:
        if device not in self._weights:
            self._weights[device] = torch.tensor(rules.TASK_WEIGHTS[self.task], dtype=torch.float32, device=device)
        return self._weights[device]

    def _counter(self, device: torch.device) -> torch.Tensor:
        """This step's counter (0-d, on the device) and the next one's, without a host sync."""
        if device not in self._counters:
            self._counters[device] = torch.zeros((), dtype=torch.long, device=device)
        counter = self._counters[device]
        current = counter.clone()
        counter.add_(1)
        return current

    def _row_keys(self, batch: int, device: torch.device) -> torch.Tensor:
        key = (device, batch)
        if key not in self._keys:
            if len(self._keys) > 64:  # search steps many batch sizes: keep the cache small
                self._keys.clear()
            self._keys[key] = level_keys(self.seed, torch.arange(batch, device=device))
        return self._keys[key]
