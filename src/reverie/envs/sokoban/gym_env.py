"""``SokobanEnv``: one Sokoban game behind the standard ``gymnasium.Env`` interface.

It steps with the same batched rules as :class:`~.env.SokobanVecEnv` (on a batch of one, on
the CPU), so a game played here and one played in the vector env follow identical rules and
rewards. Observations are numpy arrays in Gymnasium's conventions: the symbolic one-hot
planes are channels first ``[7, H, W]`` float32 (like the vector env), and RGB frames are
``[8H, 8W, 3]`` uint8 (height, width, channels: the image layout Gymnasium and
Stable-Baselines3's ``CnnPolicy`` expect).

Levels come from a bank (a :class:`~.bank.LevelBank`, a list of levels, or a Boxoban file or
folder), sampled uniformly at every reset, or with ``levels=None`` from the generator: every
reset digs a fresh level whose generator seed is drawn from the env's ``np_random``, so
``reset(seed=s)`` always gives the same level.
"""

from __future__ import annotations

import copy
import operator
from pathlib import Path
from typing import Any, Sequence

import gymnasium as gym
import numpy as np
import torch

from . import cells, rules
from .bank import LevelBank
from .env import OBSERVATIONS, as_bank
from .generator import generate_levels
from .levels import Level, parse_xsb, to_xsb
from .render import SPRITE, Renderer, rgb_image

__all__ = ["SokobanEnv", "BoxobanEnv", "observation_space"]


def observation_space(kind: str, height: int, width: int) -> gym.spaces.Box:
    """The observation space of one game: symbolic ``[7, H, W]`` or RGB ``[8H, 8W, 3]``."""
    if kind == "symbolic":
        return gym.spaces.Box(0.0, 1.0, (cells.NUM_CODES, height, width), np.float32)
    if kind == "rgb":
        return gym.spaces.Box(0, 255, (height * SPRITE, width * SPRITE, 3), np.uint8)
    raise ValueError(f"observation must be one of {OBSERVATIONS}, got {kind!r}")


def _check_room(height: Any, width: Any, boxes: Any) -> None:
    """Reject room settings the generator cannot fill (it would raise at the first reset)."""
    for name, value in (("height", height), ("width", width), ("boxes", boxes)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
            raise ValueError(f"{name} must be an integer, got {value!r}")
    if height < 5 or width < 5:
        raise ValueError(f"height and width include the wall border and must be at least 5, "
                         f"got {height}x{width}")
    if boxes < 1:
        raise ValueError(f"boxes must be at least 1, got {boxes}")
    if boxes + 3 > (height - 2) * (width - 2):
        raise ValueError(f"{boxes} boxes do not fit a {height}x{width} room")


class SokobanEnv(gym.Env):
    """A single Sokoban game (Gymnasium API).

    Args:
        levels: where levels come from. ``None``: a freshly generated ``height x width``
            level with ``boxes`` boxes at every reset. Otherwise a :class:`LevelBank`, a
            list of :class:`Level` (all one size) or a Boxoban file or folder path, sampled
            uniformly at each reset; the bank's size then sets the room size and
            ``height``, ``width`` and ``boxes`` are ignored.
        height, width, boxes: the generated rooms' size (border included) and box count.
        observation: ``"symbolic"`` (``[7, H, W]`` float32 one-hot planes) or ``"rgb"``
            (``[8H, 8W, 3]`` uint8).
        max_steps: the episode is truncated after this many steps.
        render_mode: ``None``, ``"rgb_array"`` (an ``[8H, 8W, 3]`` uint8 frame) or
            ``"ansi"`` (the position as XSB text).

    Actions are 0 no-op, 1 up, 2 down, 3 left, 4 right. Rewards: -0.1 a step, +1 for a box
    pushed onto a target, -1 for a box pushed off one, +10 when the level is solved, which
    ends the episode (``terminated``). ``info`` holds ``solved``, ``pushed`` (a box moved
    this step) and ``level`` (the level's name). ``reset(options=...)`` accepts
    ``{"level_index": i}`` (bank level ``i``) or ``{"level": Level or XSB text}``.
    """

    metadata = {"render_modes": ["rgb_array", "ansi"], "render_fps": 8}

    def __init__(
        self,
        levels: LevelBank | Sequence[Level] | Level | str | Path | None = None,
        height: int = 10,
        width: int = 10,
        boxes: int = 4,
        observation: str = "symbolic",
        max_steps: int = 120,
        render_mode: str | None = None,
    ) -> None:
        if observation not in OBSERVATIONS:
            raise ValueError(f"observation must be one of {OBSERVATIONS}, got {observation!r}")
        if not isinstance(max_steps, (int, np.integer)) or isinstance(max_steps, bool) or max_steps < 1:
            raise ValueError(f"max_steps must be a positive integer, got {max_steps!r}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode must be None or one of {self.metadata['render_modes']}, got {render_mode!r}"
            )
        if levels is None:
            _check_room(height, width, boxes)
            self.bank: LevelBank | None = None
            self.height, self.width, self.boxes = int(height), int(width), int(boxes)
        else:
            self.bank = as_bank([levels] if isinstance(levels, Level) else levels)
            self.height, self.width = self.bank.shape
            self.boxes = None  # banks may mix box counts
        self.observation, self.max_steps, self.render_mode = observation, int(max_steps), render_mode
        self.observation_space = observation_space(observation, self.height, self.width)
        self.action_space = gym.spaces.Discrete(rules.NUM_ACTIONS)

        self._tables = rules.make_tables(self.width, "cpu")
        self._renderer = Renderer(self.height, self.width, "cpu")
        self._codes = torch.zeros(1, self.height * self.width, dtype=torch.uint8)
        self._player = torch.zeros(1, dtype=torch.long)
        self._unplaced = torch.zeros(1, dtype=torch.long)
        self._action = torch.zeros(1, dtype=torch.long)
        self._started = False
        self.steps = 0
        self.level_name = ""
        self.level_index: int | None = None

    # -- the Gymnasium API ---------------------------------------------------------------

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        options = options or {}
        if "level" in options:
            level = options["level"]
            if isinstance(level, str):
                level = parse_xsb(level, "options['level']")
            if not isinstance(level, Level):
                raise TypeError(f"options['level'] must be a Level or XSB text, got {type(level).__name__}")
            self._load(self._checked_grid(level.codes, "options['level']"), level.name, None)
        elif self.bank is not None:
            if "level_index" in options:
                index = operator.index(options["level_index"])
                if not 0 <= index < len(self.bank):
                    raise ValueError(f"level_index {index} is outside the bank of {len(self.bank)} levels")
            else:
                index = int(self.np_random.integers(len(self.bank)))
            level = self.bank[index]
            self._load(level.codes, level.name, index)
        else:
            if "level_index" in options:
                raise ValueError("options['level_index'] needs a level bank (this env generates levels)")
            level_seed = int(self.np_random.integers(2**63 - 1))
            level = generate_levels(1, self.height, self.width, self.boxes, seed=level_seed)[0]
            self._load(level.codes, level.name, None)
        return self._observe(), self._reset_info()

    def step(self, action):
        if not self._started:
            raise RuntimeError("call reset() before step()")
        self._action[0] = self._check_action(action)
        result = rules.step_(self._codes, self._player, self._action, self._tables, self._unplaced)
        self.steps += 1
        solved = bool(result.solved[0])
        truncated = self.steps >= self.max_steps and not solved
        info = {"solved": solved, "pushed": bool(result.pushed[0]), "level": self.level_name}
        return self._observe(), float(result.reward[0]), solved, truncated, info

    def render(self):
        if self.render_mode is None:
            gym.logger.warn("render() was called without a render_mode; pass render_mode="
                            "'rgb_array' or 'ansi' to SokobanEnv (or gymnasium.make)")
            return None
        if not self._started:
            raise RuntimeError("call reset() before render()")
        if self.render_mode == "rgb_array":
            return rgb_image(self._grid(), 1)
        return self.to_xsb()

    # -- state for search and checkpoints ------------------------------------------------

    def get_state(self) -> dict[str, Any]:
        """A copy of everything that decides the future: the grid, step count, level, RNG."""
        if not self._started:
            raise RuntimeError("call reset() before get_state()")
        return {
            "codes": self._grid().copy(),
            "steps": self.steps,
            "level": self.level_name,
            "level_index": self.level_index,
            "np_random": copy.deepcopy(self.np_random.bit_generator.state),
        }

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore a state from :meth:`get_state` (checked, so a bad state fails loudly)."""
        codes = self._checked_grid(state["codes"], "state codes")
        steps = operator.index(state["steps"])
        if steps < 0:
            raise ValueError(f"state steps must be >= 0, got {steps}")
        self._load(codes, str(state.get("level", "state")), state.get("level_index"))
        self.steps = steps
        if state.get("np_random") is not None:
            self.np_random.bit_generator.state = copy.deepcopy(state["np_random"])

    def to_xsb(self) -> str:
        """The current position as XSB text."""
        if not self._started:
            raise RuntimeError("call reset() before to_xsb()")
        return to_xsb(self._grid())

    # -- internals -----------------------------------------------------------------------

    def _load(self, codes: np.ndarray, name: str, index: int | None) -> None:
        self._grid()[...] = codes  # writes through to the tensor (shared memory)
        self._player.copy_(rules.player_index(self._codes))
        self._unplaced.copy_(rules.unplaced_boxes(self._codes))
        self.steps, self.level_name, self.level_index = 0, name, index
        self._started = True

    def _checked_grid(self, codes: Any, what: str) -> np.ndarray:
        """``codes`` as an [H, W] uint8 grid the rules can play, or a ValueError saying why."""
        codes = np.asarray(codes)
        if codes.shape != (self.height, self.width):
            raise ValueError(f"{what} have shape {codes.shape}; this env plays "
                             f"{self.height}x{self.width} grids")
        if codes.dtype.kind not in "iu" or codes.min() < 0 or codes.max() >= cells.NUM_CODES:
            raise ValueError(f"{what} hold values that are not Sokoban cells")
        codes = codes.astype(np.uint8)
        if int(cells.IS_PLAYER[codes].sum()) != 1:
            raise ValueError(f"{what} need exactly one player")
        border = np.concatenate([codes[0], codes[-1], codes[:, 0], codes[:, -1]])
        if (border != cells.WALL).any():
            raise ValueError(f"{what} need a border of walls all round")
        return codes

    def _grid(self) -> np.ndarray:
        """The current grid of cell codes, ``[H, W]`` uint8 (a view: copy to keep it)."""
        return self._codes.view(self.height, self.width).numpy()

    def _observe(self) -> np.ndarray:
        if self.observation == "symbolic":
            return self._renderer.symbolic(self._codes)[0].numpy()
        return rgb_image(self._grid(), 1)

    def _reset_info(self) -> dict[str, Any]:
        info: dict[str, Any] = {"level": self.level_name}
        if self.level_index is not None:
            info["level_index"] = self.level_index
        return info

    @staticmethod
    def _check_action(action: Any) -> int:
        if isinstance(action, (bool, np.bool_)):
            raise ValueError(f"actions must be integers in 0..{rules.NUM_ACTIONS - 1}, got {action!r}")
        try:
            value = operator.index(action)
        except TypeError:
            raise ValueError(
                f"actions must be integers in 0..{rules.NUM_ACTIONS - 1}, got {action!r}"
            ) from None
        if not 0 <= value < rules.NUM_ACTIONS:
            raise ValueError(f"actions must be integers in 0..{rules.NUM_ACTIONS - 1}, got {value}")
        return value

    def __repr__(self) -> str:
        source = f"{len(self.bank)} levels" if self.bank is not None else f"generated, {self.boxes} boxes"
        return f"SokobanEnv({self.height}x{self.width}, {source}, {self.observation})"


class BoxobanEnv(SokobanEnv):
    """:class:`SokobanEnv` on Boxoban levels, which the user must supply as ``levels``."""

    def __init__(self, levels: LevelBank | Sequence[Level] | str | Path | None = None, **kwargs: Any) -> None:
        if levels is None:
            raise ValueError(
                "reverie/Boxoban-v0 needs levels=<a Boxoban file or folder>, e.g. "
                "gymnasium.make('reverie/Boxoban-v0', levels='boxoban-levels/unfiltered/train') "
                "(levels from https://github.com/google-deepmind/boxoban-levels); for generated "
                "levels use reverie/Sokoban-v0"
            )
        super().__init__(levels=levels, **kwargs)
