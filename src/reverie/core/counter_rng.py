"""Random numbers that depend only on (key, counter), never on how a batch is laid out.

Search and seeded envs run many games as one batch, and a level must make the same random choices
whether it is searched alone or beside 500 others (that is what makes batched and
one-at-a-time search agree, and a result reproducible from its seed). A stateful generator
cannot give that: the draws a row gets depend on the rows before it. A counter-based
generator can: every number is a hash of the level's key, a draw counter and a lane.
The hash is a 32-bit integer mixer (multiply, xor-shift), all products kept below 2**63
so int64 arithmetic never overflows.
"""

from __future__ import annotations

import torch

__all__ = ["hash32", "uniform", "level_keys"]

_MASK = 0xFFFFFFFF
_M1, _M2, _M3 = 0x7FEB352D, 0x2C1B3C6D, 0x297A2D39


def hash32(x: torch.Tensor) -> torch.Tensor:
    """Mix int64 values holding 32-bit words into well-spread 32-bit words."""
    x = x & _MASK
    x = ((x ^ (x >> 16)) * _M1) & _MASK
    x = ((x ^ (x >> 15)) * _M2) & _MASK
    x = ((x ^ (x >> 16)) * _M3) & _MASK
    return x ^ (x >> 15)


def uniform(keys: torch.Tensor, counter: int | torch.Tensor, lanes: int) -> torch.Tensor:
    """``[len(keys), lanes]`` float64 in (0, 1): draw ``counter`` (one, or one per key) of each key."""
    lane = torch.arange(lanes, device=keys.device, dtype=torch.int64)
    counter = torch.as_tensor(counter, dtype=torch.int64, device=keys.device)
    if counter.dim() == 1:
        counter = counter[:, None]
    x = hash32(keys.long()[:, None] * 0x9E37 + hash32(counter + 0x5BD1E995))
    x = hash32(x ^ hash32(lane * 0x632B + 0x1B873593))
    return (x.double() + 0.5) / 4294967296.0


def level_keys(seed: int, levels: torch.Tensor) -> torch.Tensor:
    """One key per level from the run's seed and each level's index (int64)."""
    return hash32(hash32(torch.tensor(int(seed) & _MASK, dtype=torch.int64)) ^ levels.long())
