"""Any environment model, seen by the search code as a step on Sokoban cell codes.

Search trees hold one state per node, so the state must be small: a 10x10 grid of cell
codes is 100 bytes, its one-hot planes 2.8 KB. Planners therefore keep codes and turn them
into the model's observations only for the rows a model call steps. The perfect model gets
a fast path (the rules on codes, no planes at all); every other model (a learned
:class:`~reverie.models.GridModel`, the copy model, anything with ``step``) sees one-hot
planes and its predicted frame is read back as codes by an argmax.

Every call counts imagined steps per level: a call on ``K`` rows is ``K`` imagined steps,
charged to the level each row belongs to. Only rows that need a step are ever passed, so
the count is what the model computed, not an estimate.
"""

from __future__ import annotations

import torch

from ..envs.sokoban import cells, rules
from ..models.base import codes_to_planes, planes_to_codes
from ..models.simple import PerfectModel

__all__ = ["CodeModel"]


class CodeModel:
    """``step(codes [K, H*W] uint8, actions [K], levels [K]) -> (next codes, reward, terminal)``.

    ``terminal`` means no box is left off a target in the predicted grid (the episode would
    end there). ``imagined`` holds the steps charged to each of ``num_levels`` levels.
    """

    def __init__(self, model, height: int, width: int, num_levels: int,
                 device: torch.device | str = "cpu") -> None:
        self.model, self.height, self.width = model, height, width
        self.device = torch.device(device)
        self.exact = isinstance(model, PerfectModel)
        self.tables = rules.make_tables(width, self.device)
        self.imagined = torch.zeros(num_levels, dtype=torch.long, device=self.device)
        self.calls = 0

    def __repr__(self) -> str:
        return f"CodeModel({self.model!r})"

    @torch.no_grad()
    def step(self, codes: torch.Tensor, actions: torch.Tensor,
             levels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        k = codes.shape[0]
        if k == 0:
            empty = codes.new_empty(codes.shape)
            return empty, torch.zeros(0, device=codes.device), torch.zeros(0, dtype=torch.bool, device=codes.device)
        self.imagined.index_add_(0, levels, torch.ones_like(levels))
        self.calls += 1
        if self.exact:
            nxt = codes.clone()
            result = rules.step_(nxt, rules.player_index(nxt), actions.long(), self.tables)
            return nxt, result.reward, result.solved
        planes = codes_to_planes(codes.view(k, self.height, self.width))
        next_planes, reward, _ = self.model.step(planes, actions.long())
        nxt = planes_to_codes(next_planes).reshape(k, -1)
        return nxt, reward.float(), rules.unplaced_boxes(nxt) == 0

    def observe(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes ``[K, H*W]`` -> one-hot planes ``[K, 7, H, W]`` (what agents read)."""
        return codes_to_planes(codes.view(-1, self.height, self.width))


def check_codes(codes: torch.Tensor) -> torch.Tensor:
    """States as ``[B, H, W]`` uint8 cell codes (raises ``ValueError`` for anything else)."""
    codes = torch.as_tensor(codes)
    if codes.dim() != 3 or codes.dtype != torch.uint8:
        raise ValueError(f"search states must be uint8 cell codes [B, H, W], got {tuple(codes.shape)} {codes.dtype}")
    if codes.numel() and int(codes.max()) >= cells.NUM_CODES:
        raise ValueError("search states hold values that are not Sokoban cell codes")
    return codes
