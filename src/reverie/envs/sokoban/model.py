"""Sokoban's rules as environment models: the perfect model, and RGB frames for any model.

The perfect model is the upper bound any learned model is measured against, and what
search with a perfect simulator uses. Others get it from the spec
(``get_spec(id).make_perfect_model()``), never from this module.
"""

from __future__ import annotations

import torch

from ..spec import codes_to_planes, planes_to_codes
from . import cells, rules
from .render import SPRITE, SPRITES, Renderer

__all__ = ["PerfectModel", "RGBAdapter"]


class PerfectModel:
    """Sokoban's rules applied to observations: decode to cell codes, step, re-render.

    Symbolic observations ``[B, 7, H, W]`` are decoded with an argmax over the planes (so a
    predicted distribution also works); RGB observations ``[B, 3, 8H, 8W]`` uint8 are decoded
    by matching every 8x8 block to the nearest sprite, all cells of the batch at once. The
    step is the same ``rules.step_`` the environment runs. Note the rules check the action
    range, which reads one number back from the device.
    """

    def __init__(self, observation: str = "symbolic") -> None:
        if observation not in ("symbolic", "rgb"):
            raise ValueError(f"observation must be 'symbolic' or 'rgb', got {observation!r}")
        self.observation = observation
        if observation == "symbolic":
            self.step_compact = self.step_codes
        self._tables: dict[tuple[int, torch.device], rules.Tables] = {}
        self._renderers: dict[tuple[int, int, torch.device], Renderer] = {}
        self._sprites: dict[torch.device, torch.Tensor] = {}

    def __repr__(self) -> str:
        return f"PerfectModel({self.observation!r})"

    def _table(self, width: int, device: torch.device) -> rules.Tables:
        key = (width, device)
        if key not in self._tables:
            self._tables[key] = rules.make_tables(width, device)
        return self._tables[key]

    def to_codes(self, obs: torch.Tensor) -> torch.Tensor:
        """Observations -> cell codes ``[B, H, W]`` uint8."""
        if self.observation == "symbolic":
            if obs.dim() != 4 or obs.shape[1] != cells.NUM_CODES:
                raise ValueError(f"symbolic observations must be [B, {cells.NUM_CODES}, H, W], got {tuple(obs.shape)}")
            return planes_to_codes(obs)
        if obs.dim() != 4 or obs.shape[1] != 3 or obs.shape[2] % SPRITE or obs.shape[3] % SPRITE:
            raise ValueError(f"RGB observations must be [B, 3, 8H, 8W], got {tuple(obs.shape)}")
        b, _, ph, pw = obs.shape
        h, w = ph // SPRITE, pw // SPRITE
        blocks = obs.reshape(b, 3, h, SPRITE, w, SPRITE).permute(0, 2, 4, 1, 3, 5).reshape(b, h, w, -1)
        if obs.device not in self._sprites:
            self._sprites[obs.device] = (torch.from_numpy(SPRITES).permute(0, 3, 1, 2)
                                         .reshape(cells.NUM_CODES, -1).float().to(obs.device))
        sprites = self._sprites[obs.device]
        blocks = blocks.float()
        # squared distance to each sprite, dropping the |block|^2 term every sprite shares
        score = blocks @ sprites.T * 2 - (sprites * sprites).sum(1)
        return score.argmax(-1).to(torch.uint8)

    def from_codes(self, codes: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """Cell codes ``[B, H, W]`` -> observations of the same kind and dtype as ``like``."""
        if self.observation == "symbolic":
            return codes_to_planes(codes, cells.NUM_CODES, like.dtype)
        b, h, w = codes.shape
        key = (h, w, codes.device)
        if key not in self._renderers:
            self._renderers[key] = Renderer(h, w, codes.device)
        return self._renderers[key].rgb(codes.reshape(b, h * w))

    def step_codes(self, codes: torch.Tensor, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The rules on codes ``[B, H, W]``: -> (next codes ``[B, H, W]``, reward ``[B]``, solved ``[B]``).

        For symbolic observations the codes are the spec's compact states, so this is also
        ``step_compact``, search's fast path; RGB frames' compact form is the frames themselves,
        so an RGB perfect model offers no ``step_compact`` (search then steps frames)."""
        b, h, w = codes.shape
        next_codes, result = rules.step(codes.reshape(b, h * w), action.long(), self._table(w, codes.device))
        return next_codes.view(b, h, w), result.reward, result.solved

    def step(self, obs: torch.Tensor, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        next_codes, reward, done = self.step_codes(self.to_codes(obs), action)
        return self.from_codes(next_codes, obs), reward, done


class RGBAdapter:
    """Any symbolic model, seen through RGB frames: decode sprites, step, draw sprites.

    The environment's RGB frames are its sprites drawn from cell codes, so decoding them is
    exact and the learned symbolic model imagines RGB frames at the cost of a decode and a
    draw. (A model that learns pixels directly is not offered.)
    """

    def __init__(self, model) -> None:
        self.model = model
        self._codec = PerfectModel("rgb")

    def __repr__(self) -> str:
        return f"RGBAdapter({self.model!r})"

    def step(self, obs: torch.Tensor, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        planes = codes_to_planes(self._codec.to_codes(obs), cells.NUM_CODES)
        next_planes, reward, done = self.model.step(planes, action)
        return self._codec.from_codes(planes_to_codes(next_planes), obs), reward, done
