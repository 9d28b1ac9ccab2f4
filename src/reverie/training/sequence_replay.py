"""A replay of experience as per-env streams, sampled as fixed-length windows (for RSSMs).

Each of the ``num_envs`` envs writes its own stream into a ring of ``capacity`` rows, so a
window of consecutive rows of one stream is a stretch of consecutive steps. A row is Dreamer's
step: the observation, the action that led to it, the reward received on arriving, ``cont``
(0 where the episode terminated there) and ``is_first``. An episode that ends writes its
final observation and then the next episode's first one: two rows in one env step, which is
why every stream keeps its own write position. Windows may cross episode starts; the RSSM
restarts its state where ``is_first``.

Observations are stored in the observation spec's compact form (codes, uint8 planes or
pixels) and decoded when sampled. Everything lives on the device; writes and samples are a
few indexed tensor operations, never a loop over envs or rows. The whole replay is plain
tensors, saved in checkpoints so that a resumed run samples exactly what it would have.
"""

from __future__ import annotations

from typing import Any, Callable

import torch

from ..core.errors import ReverieError

__all__ = ["SequenceReplay"]

FIELDS = ("obs", "action", "reward", "cont", "is_first")


class SequenceReplay:
    """Per-env ring buffers of steps (module docstring)."""

    def __init__(self, capacity: int, num_envs: int, obs_shape: tuple[int, ...], obs_dtype: torch.dtype,
                 action_shape: tuple[int, ...] = (), action_dtype: torch.dtype = torch.long,
                 device: torch.device | str = "cpu",
                 decode: Callable[[torch.Tensor], torch.Tensor] | None = None) -> None:
        if capacity < 2 or num_envs < 1:
            raise ReverieError(f"a sequence replay needs capacity >= 2 and num_envs >= 1, got {capacity}, {num_envs}")
        self.capacity, self.num_envs, self.decode = capacity, num_envs, decode
        self.device = torch.device(device)
        shape = (num_envs, capacity)
        self.data = {
            "obs": torch.zeros(*shape, *obs_shape, dtype=obs_dtype, device=self.device),
            "action": torch.zeros(*shape, *action_shape, dtype=action_dtype, device=self.device),
            "reward": torch.zeros(*shape, device=self.device),
            "cont": torch.ones(*shape, device=self.device),
            "is_first": torch.zeros(*shape, dtype=torch.bool, device=self.device),
        }
        self.written = torch.zeros(num_envs, dtype=torch.long, device=self.device)   # rows ever written per env

    def add(self, rows: dict[str, torch.Tensor], envs: torch.Tensor | None = None) -> None:
        """Append one row to each stream in ``envs`` (all streams when None)."""
        envs = torch.arange(self.num_envs, device=self.device) if envs is None else envs.to(self.device)
        if envs.numel() == 0:
            return
        slot = self.written[envs] % self.capacity
        for key in FIELDS:
            self.data[key][envs, slot] = rows[key].to(self.device, self.data[key].dtype)
        self.written[envs] += 1

    def __len__(self) -> int:
        return int(self.written.clamp(max=self.capacity).sum())

    def can_sample(self, length: int) -> bool:
        return bool((self.written >= length).all())

    def sample(self, batch: int, length: int, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """``batch`` windows of ``length`` consecutive rows ``[batch, length, ...]``, each from a
        uniformly drawn stream and start among those it holds."""
        if length > self.capacity or not self.can_sample(length):
            raise ReverieError(f"the replay holds fewer than {length} rows in some stream")
        envs = torch.randint(0, self.num_envs, (batch,), generator=generator, device=self.device)
        held = self.written[envs].clamp(max=self.capacity)
        oldest = self.written[envs] - held
        offset = (torch.rand(batch, generator=generator, device=self.device) * (held - length + 1)).long()
        slots = (oldest + offset)[:, None] + torch.arange(length, device=self.device)
        slots = slots % self.capacity
        out = {key: value[envs[:, None], slots] for key, value in self.data.items()}
        if self.decode is not None:
            decoded = self.decode(out["obs"].flatten(0, 1))
            out["obs"] = decoded.view(batch, length, *decoded.shape[1:])
        return out

    def state_dict(self) -> dict[str, Any]:
        return {"data": dict(self.data), "written": self.written}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for key in FIELDS:
            if state["data"][key].shape != self.data[key].shape:
                raise ReverieError(f"the checkpoint's replay {key} has shape {tuple(state['data'][key].shape)}, "
                                   f"this run's {tuple(self.data[key].shape)}")
            self.data[key].copy_(state["data"][key])
        self.written.copy_(state["written"])
