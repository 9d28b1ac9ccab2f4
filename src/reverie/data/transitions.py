"""Collect Sokoban transitions from the batched env into compact on-disk shards.

A transition is stored as cell codes, not one-hot planes: one byte per cell for the state
and one for the next state (200 bytes a 10x10 transition, and zlib shrinks that several
fold), plus the action, the reward and its class, and the level it came from. Observations
are rebuilt from codes when a batch is drawn (:mod:`reverie.data.dataset`).

A dataset folder holds ``manifest.json`` and shards ``train-00000.npz``, ``valid-00000.npz``,
...; every file is written to a temporary name and renamed, so an interrupted collection
never leaves a half-written shard behind a manifest that lists it. Train shards come from
train levels and validation shards from disjoint validation levels (:mod:`.levels`).
"""

from __future__ import annotations

import datetime
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from ..core.errors import ReverieError
from ..core.atomic import atomic_write, write_json
from ..core.config import option, parse_size, to_dict
from ..envs.sokoban import rules
from ..envs.sokoban.env import SokobanVecEnv
from ..models.base import SOKOBAN_REWARDS, planes_to_codes
from .levels import LevelSet, drop_overlap, load_split, with_preplaced

FORMAT = "reverie-transitions"
VERSION = 1
MANIFEST = "manifest.json"
SPLITS = ("train", "valid")
#: A policy maps a batch of observations [N, 7, H, W] to actions [N] (integers 0..4).
Policy = Callable[[torch.Tensor], torch.Tensor]


def _size(text: str | tuple[int, int]) -> tuple[int, int]:
    return parse_size(text) if isinstance(text, str) else tuple(text)  # type: ignore[return-value]


@dataclass
class CollectConfig:
    """What ``reverie model collect`` gathers and where it writes it."""

    out: Path = option(Path("runs/transitions"), "output folder (manifest.json and .npz shards)")
    train_levels: Path | None = option(None, "Boxoban file or folder of training levels (default: generated levels)")
    valid_levels: Path | None = option(None, "Boxoban file or folder of validation levels, disjoint from the training ones")
    train_frames: int = option(2_000_000, "training transitions to collect")
    valid_frames: int = option(200_000, "validation transitions to collect")
    level_limit: int | None = option(None, "read at most this many levels from each folder")
    generated_levels: int = option(5000, "levels per split to generate when no folder is given")
    size: tuple[int, int] = option((10, 10), "room size HxW of generated levels", parse=parse_size, metavar="HxW")
    boxes: int = option(4, "boxes per generated level")
    num_envs: int = option(256, "environments stepped as one batch")
    max_steps: int = option(120, "episode length cap (the paper's 120)")
    preplaced: float = option(0.5, "share of episodes that start with some boxes already on targets "
                                   "(makes the rare reward classes common enough to learn)")
    near_solved: float = option(0.4, "share of those preplaced starts that are one push from solved "
                                      "(the last-box reward +10.9 is otherwise almost never seen)")
    shard_frames: int = option(250_000, "transitions per shard file")
    seed: int = option(0, "seed of the level sampler, the random policy and the preplacement")

    def __post_init__(self) -> None:
        self.out = Path(self.out)
        self.size = _size(self.size)
        if (self.train_levels is None) != (self.valid_levels is None):
            raise ReverieError("give both --train-levels and --valid-levels, or neither (generated levels)")
        for name in ("train_frames", "num_envs", "max_steps", "shard_frames", "generated_levels"):
            if getattr(self, name) < 1:
                raise ReverieError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if self.valid_frames < 0:
            raise ReverieError(f"--valid-frames must be >= 0, got {self.valid_frames}")
        if self.level_limit is not None and self.level_limit < 1:
            raise ReverieError(f"--level-limit must be >= 1, got {self.level_limit}")
        if not 0.0 <= self.preplaced < 1.0:
            raise ReverieError(f"--preplaced must be in [0, 1), got {self.preplaced}")
        if not 0.0 <= self.near_solved <= 1.0:
            raise ReverieError(f"--near-solved must be in [0, 1], got {self.near_solved}")


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """``np.savez_compressed``, written atomically."""
    with atomic_write(path) as f:
        np.savez_compressed(f, **arrays)


class _ShardWriter:
    """Buffers transitions in preallocated arrays and writes a shard each time one fills."""

    def __init__(self, root: Path, split: str, size: int, height: int, width: int) -> None:
        self.root, self.split, self.size = root, split, size
        self.shape = (height, width)
        self.shards: list[dict[str, Any]] = []
        self._new_buffer()

    def _new_buffer(self) -> None:
        n, (h, w) = self.size, self.shape
        self.buf = {
            "codes": np.empty((n, h, w), np.uint8), "next_codes": np.empty((n, h, w), np.uint8),
            "action": np.empty(n, np.uint8), "reward": np.empty(n, np.float32),
            "reward_class": np.empty(n, np.uint8), "level": np.empty(n, np.int64),
            "preplaced": np.empty(n, np.uint8),
        }
        self.fill = 0

    def add(self, chunk: dict[str, np.ndarray]) -> None:
        count, start = len(chunk["action"]), 0
        while start < count:
            take = min(count - start, self.size - self.fill)
            for key, array in self.buf.items():
                array[self.fill:self.fill + take] = chunk[key][start:start + take]
            self.fill += take
            start += take
            if self.fill == self.size:
                self.flush()

    def flush(self) -> None:
        if self.fill == 0:
            return
        name = f"{self.split}-{len(self.shards):05d}.npz"
        write_npz(self.root / name, {k: v[:self.fill] for k, v in self.buf.items()})
        counts = np.bincount(self.buf["reward_class"][:self.fill], minlength=len(SOKOBAN_REWARDS))
        self.shards.append({"file": name, "frames": int(self.fill), "reward_class_counts": counts.tolist()})
        self._new_buffer()


def collect_split(levels: LevelSet, frames: int, writer: Any, num_envs: int, max_steps: int,
                  seed: int, policy: Policy | None = None, progress: Any = None) -> dict[str, Any]:
    """Play ``frames`` transitions on ``levels`` with ``policy`` (uniform random by default).

    Chunks of numpy arrays go to ``writer.add`` (a shard writer, or any sink with ``add``
    and ``flush``); ``policy`` gets the env's observations and returns actions.
    """
    env = SokobanVecEnv(levels.bank, num_envs, "symbolic", max_steps, seed=seed, copy_obs=policy is not None)
    h, w = env.height, env.width
    source = torch.from_numpy(levels.source_index)
    preplaced = torch.from_numpy(levels.preplaced)
    generator = torch.Generator().manual_seed(seed + 1)
    obs, _ = env.reset()
    done = episodes = 0
    while done < frames:
        codes = env.codes.clone()
        bank_row = env.level_index.clone()
        if policy is None:
            actions = torch.randint(0, rules.NUM_ACTIONS, (num_envs,), generator=generator)
        else:
            actions = torch.as_tensor(policy(obs)).long().reshape(num_envs)
        obs, reward, _, _, info = env.step(actions)
        next_codes = env.codes.clone()
        ended = info["final_index"]
        if ended.numel():
            # The env has already reset these games; their true next state is the final one.
            next_codes[ended] = planes_to_codes(info["final_obs"]).reshape(len(ended), -1)
            episodes += int(ended.numel())
        take = min(num_envs, frames - done)
        writer.add({
            "codes": codes[:take].reshape(take, h, w).cpu().numpy(),
            "next_codes": next_codes[:take].reshape(take, h, w).cpu().numpy(),
            "action": actions[:take].to(torch.uint8).cpu().numpy(),
            "reward": reward[:take].cpu().numpy(),
            "reward_class": SOKOBAN_REWARDS.check(reward[:take]).to(torch.uint8).cpu().numpy(),
            "level": source[bank_row[:take].cpu()].numpy(),
            "preplaced": preplaced[bank_row[:take].cpu()].numpy(),
        })
        done += take
        if progress is not None:
            progress.update(take)
    writer.flush()
    return {"frames": frames, "episodes_ended": episodes}


def collect(config: CollectConfig, policy: Policy | None = None, policy_name: str = "random",
            progress: bool = True) -> dict[str, Any]:
    """Collect the train and validation splits into ``config.out``; returns the manifest."""
    from tqdm import tqdm

    start = time.perf_counter()
    out = config.out
    if (out / MANIFEST).exists():
        raise ReverieError(f"{out}: already holds a transition dataset; choose another --out")
    h, w = config.size
    train_bank, train_desc = load_split(config.train_levels, config.generated_levels, config.seed,
                                        h, w, config.boxes, config.level_limit)
    valid_bank, valid_desc = load_split(config.valid_levels, config.generated_levels, config.seed + 1_000_003,
                                        h, w, config.boxes, config.level_limit)
    if valid_bank.shape != train_bank.shape:
        raise ReverieError(f"train levels are {train_bank.shape}, validation levels {valid_bank.shape}: "
                           "they must be the same size")
    valid_bank, overlap = drop_overlap(valid_bank, train_bank)
    height, width = train_bank.shape
    out.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, Any] = {
        "format": FORMAT, "version": VERSION, "height": height, "width": width,
        "reward_values": SOKOBAN_REWARDS.values.tolist(), "policy": policy_name,
        "config": to_dict(config), "created": datetime.datetime.now().isoformat(timespec="seconds"),
        "splits": {},
    }
    plan = [("train", train_bank, train_desc, config.train_frames, config.seed),
            ("valid", valid_bank, valid_desc, config.valid_frames, config.seed + 1_000_003)]
    for split, bank, desc, frames, seed in plan:
        if frames == 0:
            continue
        levels = with_preplaced(bank, config.preplaced, seed, desc, config.near_solved)
        writer = _ShardWriter(out, split, config.shard_frames, height, width)
        with tqdm(total=frames, desc=f"collect {split}", unit="frame", disable=not progress,
                  smoothing=0.1) as bar:
            stats = collect_split(levels, frames, writer, config.num_envs, config.max_steps, seed, policy, bar)
        counts = np.sum([s["reward_class_counts"] for s in writer.shards], axis=0)
        manifest["splits"][split] = {
            "levels": levels.description, "num_levels": len(bank), "shards": writer.shards,
            "frames": stats["frames"], "episodes_ended": stats["episodes_ended"],
            "reward_class_counts": counts.tolist(),
        }
    manifest["validation_levels_dropped_as_in_train"] = overlap
    manifest["wall_seconds"] = round(time.perf_counter() - start, 2)
    write_json(out / MANIFEST, manifest)
    return manifest


def read_manifest(root: str | Path) -> dict[str, Any]:
    """The manifest of a dataset folder, checked."""
    root = Path(root)
    path = root / MANIFEST
    if not root.is_dir():
        raise ReverieError(f"{root}: no such dataset folder (collect one with `reverie model collect`)")
    if not path.is_file():
        raise ReverieError(f"{root}: not a transition dataset (no {MANIFEST})")
    try:
        manifest = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ReverieError(f"{path}: unreadable manifest ({err})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ReverieError(f"{path}: not a reverie transition manifest")
    if manifest.get("version") != VERSION:
        raise ReverieError(f"{path}: dataset version {manifest.get('version')} is not supported (expected {VERSION})")
    return manifest
