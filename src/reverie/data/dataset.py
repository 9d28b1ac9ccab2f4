"""Transitions in memory in their compact form, drawn as ready-to-fit minibatches.

The whole split is held compactly (the env spec codec's form: 100 bytes a 10x10 grid of
cell codes), so a million transitions take ~200 MB and a minibatch is an index plus the
codec's ``decode``: no per-sample Python, no worker processes. Sampling can over-draw rare
events, since random-policy data holds few interesting steps and very few reward events: a
share of each batch comes from the transitions the world's
``extra["interesting_transitions"]`` hook marks (Sokoban: the player walked into a box), and
a share from each rare reward class or, in worlds with events, each rare event (one that
occurs in fewer than half the transitions: MiniPacman's food, pill, ghost, killed).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from ..core.errors import ReverieError
from ..envs.registry import get_spec
from .transitions import DEFAULT_ENV, Policy, SplitSource, collect_split, manifest_spec, read_manifest

FIELDS = ("codes", "next_codes", "action", "reward", "reward_class", "level")
REQUIRED = ("codes", "next_codes", "action", "reward")
#: An event is rare (over-drawn) when it occurs in fewer than this share of the transitions.
RARE_EVENT = 0.5


class TransitionDataset:
    """One split of a transition dataset of the env ``spec``: ``codes``, ``next_codes``
    ``[N, *compact_shape]`` (the codec's compact observations, whatever their kind) and
    per-transition ``action``, ``reward``, ``reward_class`` (among the spec's classes; zeros
    where the spec has none) and ``level`` (the world's episode tag; zeros where it has none),
    and, for worlds with events, ``events`` ``[N, E]`` (the step's event counts)."""

    def __init__(self, codes: torch.Tensor, next_codes: torch.Tensor, action: torch.Tensor,
                 reward: torch.Tensor, reward_class: torch.Tensor | None, level: torch.Tensor | None = None,
                 spec: Any = None, events: torch.Tensor | None = None) -> None:
        n = len(codes)
        self.spec = spec if spec is not None else get_spec(DEFAULT_ENV)
        if level is None:
            level = torch.zeros(n, dtype=torch.int64, device=codes.device)
        if reward_class is None:
            reward_class = torch.zeros(n, dtype=torch.uint8, device=codes.device)
        names = self.spec.rewards.events
        if events is not None and events.shape != (n, len(names)):
            raise ReverieError(f"events has shape {tuple(events.shape)}, expected ({n}, {len(names)}) "
                               f"(the events of {self.spec.id})")
        want = tuple(self.spec.observation.compact_shape)
        if next_codes.shape != codes.shape or (codes.dim() != len(want) + 1):
            raise ReverieError(f"codes and next_codes must both be [N, {', '.join(map(str, want))}] "
                               f"({self.spec.id}); got {tuple(codes.shape)} and {tuple(next_codes.shape)}")
        for name, t in (("action", action), ("reward", reward), ("reward_class", reward_class), ("level", level)):
            if t.shape != (n,):
                raise ReverieError(f"{name} has shape {tuple(t.shape)}, expected ({n},)")
        self.codes, self.next_codes = codes, next_codes
        self.action, self.reward, self.reward_class, self.level = action, reward, reward_class, level
        self.events = events

    @classmethod
    def load(cls, root: str | Path, split: str = "train", limit: int | None = None) -> "TransitionDataset":
        """Read the shards of ``split`` from a dataset folder (at most ``limit`` transitions)."""
        root = Path(root)
        manifest = read_manifest(root)
        spec = manifest_spec(manifest, str(root))
        info = manifest["splits"].get(split)
        if info is None:
            raise ReverieError(f"{root}: no {split!r} split (has {sorted(manifest['splits'])})")
        parts: dict[str, list[np.ndarray]] = {k: [] for k in FIELDS + ("events",)}
        required = REQUIRED + (("reward_class",) if spec.rewards.classes else ()) + \
            (("events",) if spec.rewards.events else ())
        total = 0
        for shard in info["shards"]:
            path = root / shard["file"]
            try:
                with np.load(path, allow_pickle=False) as data:
                    for key in required:
                        parts[key].append(data[key])
                    if "level" in data.files:
                        parts["level"].append(data["level"])
            except (OSError, ValueError, KeyError) as err:
                raise ReverieError(f"{path}: unreadable transition shard ({type(err).__name__}: {err})") from None
            total += len(parts["action"][-1])
            if limit is not None and total >= limit:
                break
        if not parts["action"]:
            raise ReverieError(f"{root}: the {split!r} split has no shards")
        if len(parts["level"]) != len(parts["action"]):
            parts["level"] = [np.zeros(len(a), np.int64) for a in parts["action"]]
        arrays = {k: torch.from_numpy(np.concatenate(v)[:limit]) for k, v in parts.items() if v}
        dataset = cls(*(arrays.get(k) for k in FIELDS), spec=spec, events=arrays.get("events"))
        dataset.check()
        return dataset

    def check(self) -> None:
        """Reject data the model cannot learn from: out-of-range codes, actions or classes."""
        if len(self) == 0:
            raise ReverieError("empty transition dataset")
        spec = self.spec
        codes = spec.observation.num_codes
        if spec.observation.kind == "onehot" and max(int(self.codes.max()), int(self.next_codes.max())) >= codes:
            raise ReverieError(f"transition data holds cell codes outside 0..{codes - 1}")
        if int(self.action.max()) >= spec.num_actions:
            raise ReverieError(f"transition data holds actions outside 0..{spec.num_actions - 1}")
        if spec.rewards.classes and int(self.reward_class.max()) >= len(spec.rewards.classes):
            raise ReverieError(f"transition data holds reward classes outside {spec.id}'s {len(spec.rewards.classes)}")
        if spec.observation.kind == "binary":
            top = max(int(self.codes.max()), int(self.next_codes.max()))
            if top > spec.observation.levels:
                raise ReverieError(f"transition data holds plane values above {spec.observation.levels} "
                                   f"(1.0 in steps of 1/{spec.observation.levels})")
        if spec.rewards.events:
            if self.events is None:
                raise ReverieError(f"transition data of {spec.id} lacks its events; recollect it")
            limit = torch.tensor(spec.rewards.event_max or (255,) * len(spec.rewards.events))
            if bool((self.events.long().cpu() > limit).any()):
                raise ReverieError(f"transition data holds event counts above {spec.id}'s {limit.tolist()}")

    def __len__(self) -> int:
        return len(self.action)

    @property
    def shape(self) -> tuple[int, ...]:
        """The compact shape of one observation (``(H, W)`` for grids of codes)."""
        return tuple(self.codes.shape[1:])

    def _make(self, tensors: list[torch.Tensor], events: torch.Tensor | None) -> "TransitionDataset":
        return TransitionDataset(*tensors, spec=self.spec, events=events)

    def to(self, device: torch.device | str) -> "TransitionDataset":
        return self._make([getattr(self, k).to(device) for k in FIELDS],
                          None if self.events is None else self.events.to(device))

    def subset(self, index: torch.Tensor | slice) -> "TransitionDataset":
        return self._make([getattr(self, k)[index] for k in FIELDS], None if self.events is None else self.events[index])

    def batch(self, index: torch.Tensor, dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
        """The transitions ``index`` as model inputs and targets (``obs`` decoded by the codec;
        ``next_codes`` and ``reward_class`` the grid model's precomputed targets)."""
        codes = self.codes[index]
        batch = {
            "codes": codes,
            "obs": self.spec.observation.decode(codes, dtype),
            "action": self.action[index].long(),
            "next_codes": self.next_codes[index].long(),
            "reward": self.reward[index],
            "reward_class": self.reward_class[index].long(),
        }
        if self.events is not None:
            batch["events"] = self.events[index].long()
        if self.spec.observation.tiles is not None:  # frames stored as tile codes: the model's target is pixels
            batch["next_obs"] = self.spec.observation.decode(self.next_codes[index])
        return batch

    def batches(self, batch_size: int) -> Iterator[dict[str, torch.Tensor]]:
        """Every transition once, in order (for evaluation)."""
        for start in range(0, len(self), batch_size):
            yield self.batch(torch.arange(start, min(start + batch_size, len(self))))

    def interesting(self) -> torch.Tensor | None:
        """The transitions fitting over-draws (bool ``[N]``), by the world's
        ``extra["interesting_transitions"]`` hook; None where it has none."""
        hook = self.spec.extra.get("interesting_transitions")
        return None if hook is None else hook(self.codes, self.next_codes, self.action)

    def class_counts(self) -> torch.Tensor:
        return torch.bincount(self.reward_class.long(), minlength=len(self.spec.rewards.classes))

    def rare_events(self) -> list[torch.Tensor]:
        """Per rare event (nonzero in fewer than half the transitions, but in some), the
        indices of the transitions where it occurs (empty where the data has no events)."""
        if self.events is None:
            return []
        occurs = self.events > 0
        share = occurs.float().mean(0)
        return [occurs[:, e].nonzero().squeeze(1) for e in range(occurs.shape[1])
                if 0 < float(share[e]) < RARE_EVENT]


class Sampler:
    """Draws minibatch indices: uniform, plus fixed shares of interesting transitions and of
    rare reward classes.

    ``push_share`` of each batch comes from the transitions the world marks interesting
    (Sokoban: the player walked into a box, pushes and blocked pushes) and ``rare_share``
    from each reward class other than class 0 that occurs in the data, and from each rare
    event (:meth:`TransitionDataset.rare_events`); the rest is uniform.
    One vectorised draw per batch: pick a pool per sample, then an index within it.
    """

    def __init__(self, dataset: TransitionDataset, batch_size: int, push_share: float = 0.0,
                 rare_share: float = 0.0, seed: int = 0) -> None:
        self.dataset, self.batch_size = dataset, batch_size
        pools = [torch.arange(len(dataset))]
        shares = [1.0]
        if push_share > 0:
            marked = dataset.interesting()
            pushed = marked.nonzero().squeeze(1) if marked is not None else torch.zeros(0, dtype=torch.long)
            if len(pushed):
                pools.append(pushed)
                shares.append(push_share)
        if rare_share > 0:
            for cls in range(1, len(dataset.spec.rewards.classes)):
                members = (dataset.reward_class == cls).nonzero().squeeze(1).cpu()
                if len(members):
                    pools.append(members)
                    shares.append(rare_share)
            for members in dataset.rare_events():
                pools.append(members.cpu())
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


def collect_dataset(levels: Any, frames: int, num_envs: int = 64, max_steps: int | None = None,
                    seed: int = 0, policy: Policy | None = None, env: str | None = None,
                    **world_options: Any) -> TransitionDataset:
    """Collect transitions straight into memory (for tests, benchmarks and quick looks).

    ``levels`` is a split of ``env`` (``"train"``, ``"valid"``), or anything the world's
    ``extra["level_source"]`` hook takes (Sokoban: a LevelBank or LevelSet, with the options
    ``preplaced`` and ``near_solved``); ``env`` defaults to the hook's id for those levels.
    """
    spec = get_spec(env or DEFAULT_ENV)
    if isinstance(levels, str):
        source = SplitSource(spec, levels)
    else:
        hook = spec.extra.get("level_source")
        if hook is None:
            raise ReverieError(f"env {spec.id} collects from its splits only; pass a split name")
        env_id, source = hook(spec, levels, seed, **world_options)
        spec = get_spec(env_id)
    sink = _MemorySink()
    collect_split(spec, source.make_env(num_envs, max_steps, seed, policy is not None), frames, sink, seed,
                  policy, tags=source.tags)
    keys = FIELDS + ("events",)
    arrays = {k: torch.from_numpy(np.concatenate([c[k] for c in sink.chunks])) for k in keys if k in sink.chunks[0]}
    return TransitionDataset(*(arrays.get(k) for k in FIELDS), spec=spec, events=arrays.get("events"))
