"""Transitions in memory as uint8 tensors, drawn as ready-to-fit minibatches.

The whole split is held as codes (100 bytes a 10x10 grid), so a million transitions take
~200 MB and a minibatch is an index plus a one-hot scatter: no per-sample Python, no worker
processes. Sampling can over-draw rare events, since random-policy data holds few box
pushes and very few reward events: a share of each batch comes from transitions where the
player walked into a box, and a share from each rare reward class.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import numpy as np
import torch

from ..core.errors import ReverieError
from ..envs.sokoban import cells, rules
from ..models.base import SOKOBAN_REWARDS, codes_to_planes
from .levels import LevelSet, with_preplaced
from .transitions import Policy, collect_split, read_manifest

if TYPE_CHECKING:
    from ..envs.sokoban.bank import LevelBank

FIELDS = ("codes", "next_codes", "action", "reward", "reward_class", "level")


class TransitionDataset:
    """One split of a transition dataset: ``codes``, ``next_codes`` ``[N, H, W]`` uint8 and
    per-transition ``action``, ``reward``, ``reward_class``, ``level``."""

    def __init__(self, codes: torch.Tensor, next_codes: torch.Tensor, action: torch.Tensor,
                 reward: torch.Tensor, reward_class: torch.Tensor, level: torch.Tensor) -> None:
        n = len(codes)
        if codes.dim() != 3 or next_codes.shape != codes.shape:
            raise ReverieError(f"codes and next_codes must both be [N, H, W]; got {tuple(codes.shape)} "
                               f"and {tuple(next_codes.shape)}")
        for name, t in (("action", action), ("reward", reward), ("reward_class", reward_class), ("level", level)):
            if t.shape != (n,):
                raise ReverieError(f"{name} has shape {tuple(t.shape)}, expected ({n},)")
        self.codes, self.next_codes = codes, next_codes
        self.action, self.reward, self.reward_class, self.level = action, reward, reward_class, level

    @classmethod
    def load(cls, root: str | Path, split: str = "train", limit: int | None = None) -> "TransitionDataset":
        """Read the shards of ``split`` from a dataset folder (at most ``limit`` transitions)."""
        root = Path(root)
        manifest = read_manifest(root)
        info = manifest["splits"].get(split)
        if info is None:
            raise ReverieError(f"{root}: no {split!r} split (has {sorted(manifest['splits'])})")
        parts: dict[str, list[np.ndarray]] = {k: [] for k in FIELDS}
        total = 0
        for shard in info["shards"]:
            path = root / shard["file"]
            try:
                with np.load(path, allow_pickle=False) as data:
                    for key in FIELDS:
                        parts[key].append(data[key])
            except (OSError, ValueError, KeyError) as err:
                raise ReverieError(f"{path}: unreadable transition shard ({type(err).__name__}: {err})") from None
            total += len(parts["action"][-1])
            if limit is not None and total >= limit:
                break
        if not parts["action"]:
            raise ReverieError(f"{root}: the {split!r} split has no shards")
        arrays = {k: np.concatenate(v)[:limit] for k, v in parts.items()}
        dataset = cls(*(torch.from_numpy(arrays[k]) for k in FIELDS))
        dataset.check()
        return dataset

    def check(self) -> None:
        """Reject data the model cannot learn from: out-of-range codes, actions or classes."""
        if len(self) == 0:
            raise ReverieError("empty transition dataset")
        if int(self.codes.max()) >= cells.NUM_CODES or int(self.next_codes.max()) >= cells.NUM_CODES:
            raise ReverieError("transition data holds cell codes outside 0..6")
        if int(self.action.max()) >= 5:
            raise ReverieError("transition data holds actions outside 0..4")
        if int(self.reward_class.max()) >= len(SOKOBAN_REWARDS):
            raise ReverieError("transition data holds reward classes outside the Sokoban rewards")

    def __len__(self) -> int:
        return len(self.action)

    @property
    def shape(self) -> tuple[int, int]:
        return self.codes.shape[1], self.codes.shape[2]

    def to(self, device: torch.device | str) -> "TransitionDataset":
        return TransitionDataset(*(getattr(self, k).to(device) for k in FIELDS))

    def subset(self, index: torch.Tensor | slice) -> "TransitionDataset":
        return TransitionDataset(*(getattr(self, k)[index] for k in FIELDS))

    def batch(self, index: torch.Tensor, dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
        """The transitions ``index`` as model inputs and targets."""
        codes = self.codes[index]
        return {
            "codes": codes,
            "obs": codes_to_planes(codes, dtype),
            "action": self.action[index].long(),
            "next_codes": self.next_codes[index].long(),
            "reward": self.reward[index],
            "reward_class": self.reward_class[index].long(),
        }

    def batches(self, batch_size: int) -> Iterator[dict[str, torch.Tensor]]:
        """Every transition once, in order (for evaluation)."""
        for start in range(0, len(self), batch_size):
            yield self.batch(torch.arange(start, min(start + batch_size, len(self))))

    def pushed(self) -> torch.Tensor:
        """Which transitions moved a box (bool ``[N]``)."""
        box_before = (self.codes == cells.BOX) | (self.codes == cells.BOX_ON_TARGET)
        box_after = (self.next_codes == cells.BOX) | (self.next_codes == cells.BOX_ON_TARGET)
        return (box_before != box_after).flatten(1).any(1)

    def box_ahead(self) -> torch.Tensor:
        """Which transitions walked the player into a box (bool ``[N]``): every push, and
        every push that a wall or another box blocked, the two cases a model must tell apart."""
        n, (h, w) = len(self), self.shape
        flat = self.codes.view(n, h * w)
        player = (flat >= cells.PLAYER).to(torch.uint8).argmax(1)
        offsets = torch.tensor([dr * w + dc for dr, dc in rules.ACTION_DELTAS], device=flat.device)
        ahead = (player + offsets[self.action.long()]).clamp_(0, h * w - 1)
        code = flat.gather(1, ahead.unsqueeze(1)).squeeze(1)
        return (code == cells.BOX) | (code == cells.BOX_ON_TARGET)

    def class_counts(self) -> torch.Tensor:
        return torch.bincount(self.reward_class.long(), minlength=len(SOKOBAN_REWARDS))


class Sampler:
    """Draws minibatch indices: uniform, plus fixed shares of pushes and of rare reward classes.

    ``push_share`` of each batch comes from transitions where the player walked into a box
    (pushes and blocked pushes) and ``rare_share`` from each reward class other than class
    0 that occurs in the data; the rest is uniform.
    One vectorised draw per batch: pick a pool per sample, then an index within it.
    """

    def __init__(self, dataset: TransitionDataset, batch_size: int, push_share: float = 0.0,
                 rare_share: float = 0.0, seed: int = 0) -> None:
        self.dataset, self.batch_size = dataset, batch_size
        pools = [torch.arange(len(dataset))]
        shares = [1.0]
        if push_share > 0:
            pushed = dataset.box_ahead().nonzero().squeeze(1)
            if len(pushed):
                pools.append(pushed)
                shares.append(push_share)
        if rare_share > 0:
            for cls in range(1, len(SOKOBAN_REWARDS)):
                members = (dataset.reward_class == cls).nonzero().squeeze(1)
                if len(members):
                    pools.append(members)
                    shares.append(rare_share)
        extra = sum(shares[1:])
        if extra >= 1.0:
            raise ReverieError(f"push and rare-class shares add up to {extra:.2f}; they must stay below 1")
        shares[0] = 1.0 - extra
        self.pool_index = torch.cat(pools)
        self.pool_start = torch.tensor([0] + [len(p) for p in pools[:-1]]).cumsum(0)
        self.pool_size = torch.tensor([len(p) for p in pools])
        self.shares = torch.tensor(shares)
        self.generator = torch.Generator().manual_seed(seed)

    def indices(self) -> torch.Tensor:
        pool = torch.multinomial(self.shares, self.batch_size, replacement=True, generator=self.generator)
        offset = (torch.rand(self.batch_size, generator=self.generator) * self.pool_size[pool]).long()
        return self.pool_index[self.pool_start[pool] + offset]

    def sample(self, dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
        return self.dataset.batch(self.indices(), dtype)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.generator.set_state(state["generator"])


class _MemorySink:
    """Collects chunks in memory (the in-memory twin of the shard writer)."""

    def __init__(self) -> None:
        self.chunks: list[dict[str, np.ndarray]] = []

    def add(self, chunk: dict[str, np.ndarray]) -> None:
        self.chunks.append(chunk)

    def flush(self) -> None:
        pass


def collect_dataset(levels: "LevelSet | LevelBank", frames: int, num_envs: int = 64, max_steps: int = 120,
                    seed: int = 0, policy: Policy | None = None, preplaced: float = 0.0,
                    near_solved: float = 0.4) -> TransitionDataset:
    """Collect transitions straight into memory (for tests, benchmarks and quick looks)."""
    from ..envs.sokoban.bank import LevelBank

    if isinstance(levels, LevelBank):
        levels = with_preplaced(levels, preplaced, seed, "levels", near_solved)
    sink = _MemorySink()
    collect_split(levels, frames, sink, num_envs, max_steps, seed, policy)
    arrays = {k: np.concatenate([c[k] for c in sink.chunks]) for k in FIELDS}
    return TransitionDataset(*(torch.from_numpy(arrays[k]) for k in FIELDS))
