"""Named Sokoban setups ("env ids") for training and evaluation runs.

An id fixes the level source, the room size and box count, the step cap and the level
splits. Every id has up to three splits: ``train`` (what agents learn on), ``valid`` (for
choosing settings) and ``test`` (what evaluations report). The run's seed never changes the
levels: every run of an id trains and is evaluated on the same banks.

**Generated ids** (``sokoban-HxW-B``) draw levels from :func:`~.sokoban.generator.generate_levels`
with one fixed generator seed per split, so the splits come from disjoint seeds. Held-out
levels are also **deduplicated against the training bank** (and test against valid): small
rooms repeat levels often (a 5,000-level 6x6 one-box bank holds ~2,750 distinct levels), so
without this a "held-out" level may be one the agent trained on. Generating 50,000 levels
takes ~30 s, so banks are cached as ``.npz`` files under ``$REVERIE_CACHE/levels``
(default ``~/.cache/reverie/levels``); level ``i`` depends only on its seed and index, so a
cached bank is exactly what generating again would give.

**Boxoban ids** read DeepMind's Boxoban level files (a clone of the public
``boxoban-levels`` repository: ``unfiltered/``, ``medium/``, ``hard/``) from, in this order:
the folder the user names (``levels_dir``, the CLI's ``--levels-dir``), the folder in the
``REVERIE_BOXOBAN`` environment variable, or ``$XDG_DATA_HOME/reverie/boxoban-levels``
(default ``~/.local/share/reverie/boxoban-levels``).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ...core.errors import ReverieError
from ...core.limits import check_train_levels
from .bank import LevelBank, load_boxoban
from .env import SokobanVecEnv

__all__ = ["EnvPreset", "PRESETS", "SPLITS", "get_preset", "env_ids", "level_bank", "make_env",
           "resolve_levels", "boxoban_dir", "cache_dir", "level_keys", "overlap"]

SPLITS = ("train", "valid", "test")
#: The environment variable naming the Boxoban folder when no ``levels_dir`` is given.
BOXOBAN_VARIABLE = "REVERIE_BOXOBAN"


def default_boxoban_dir() -> Path:
    """The documented place for the Boxoban levels: ``$XDG_DATA_HOME/reverie/boxoban-levels``."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "reverie" / "boxoban-levels"


@dataclass(frozen=True)
class EnvPreset:
    """One env id: where its levels come from and how long an episode may last."""

    id: str
    description: str
    max_steps: int
    # generated levels
    height: int = 0
    width: int = 0
    boxes: int = 0
    sizes: dict[str, int] = field(default_factory=dict)  # split -> levels
    seeds: dict[str, int] = field(default_factory=dict)  # split -> generator seed
    # Boxoban levels: split -> folder inside the Boxoban directory
    folders: dict[str, str] = field(default_factory=dict)

    @property
    def generated(self) -> bool:
        return not self.folders

    @property
    def splits(self) -> tuple[str, ...]:
        return tuple(s for s in SPLITS if s in (self.folders or self.sizes))


def _generated(height: int, width: int, boxes: int, max_steps: int, train: int, held_out: int,
               description: str) -> EnvPreset:
    # One seed per split; the generator also keys levels on size and box count.
    return EnvPreset(
        id=f"sokoban-{height}x{width}-{boxes}", description=description, max_steps=max_steps,
        height=height, width=width, boxes=boxes,
        sizes={"train": train, "valid": held_out, "test": held_out},
        seeds={"train": 1, "valid": 2, "test": 3},
    )


PRESETS: dict[str, EnvPreset] = {p.id: p for p in (
    _generated(6, 6, 1, 30, 5_000, 500,
               "smoke tests: 4x4 interior, one box; a random policy solves ~15%"),
    _generated(7, 7, 2, 50, 50_000, 1_000,
               "CPU-scale benchmark: 5x5 interior, two boxes, the paper's 120 steps scaled by area"),
    _generated(10, 10, 4, 120, 100_000, 1_000,
               "the I2A paper's setting: 10x10 rooms, four boxes, 120 steps"),
    EnvPreset("boxoban-unfiltered", "DeepMind's Boxoban unfiltered levels (10x10, 4 boxes)", 120,
              folders={"train": "unfiltered/train", "valid": "unfiltered/valid", "test": "unfiltered/test"}),
    EnvPreset("boxoban-medium", "Boxoban medium levels; the test split is medium/valid (no medium test set exists)",
              120, folders={"train": "medium/train", "valid": "medium/valid", "test": "medium/valid"}),
    EnvPreset("boxoban-hard", "Boxoban hard levels (evaluation only: there is no training split)", 120,
              folders={"test": "hard"}),
)}


def env_ids() -> list[str]:
    return list(PRESETS)


def get_preset(env_id: str) -> EnvPreset:
    """The preset of ``env_id``; a :class:`ReverieError` listing the known ids if unknown."""
    if env_id not in PRESETS:
        raise ReverieError(f"unknown env id {env_id!r}; known ids: {', '.join(PRESETS)}")
    return PRESETS[env_id]


def cache_dir() -> Path:
    """Where generated level banks are cached (``$REVERIE_CACHE`` or ``~/.cache/reverie``)."""
    root = os.environ.get("REVERIE_CACHE")
    if root:
        return Path(root)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "reverie"


def boxoban_dir(levels_dir: str | Path | None = None) -> Path:
    """The Boxoban folder: ``levels_dir``, else ``$REVERIE_BOXOBAN``, else the default location."""
    for path, source in ((levels_dir, "--levels-dir"), (os.environ.get(BOXOBAN_VARIABLE) or None, BOXOBAN_VARIABLE)):
        if path is not None:
            if not Path(path).is_dir():
                raise ReverieError(f"{path}: no such Boxoban levels folder (from {source})")
            return Path(path)
    default = default_boxoban_dir()
    if default.is_dir():
        return default
    raise ReverieError(f"boxoban-* env ids need the Boxoban levels (a clone of deepmind/boxoban-levels, holding "
                       f"unfiltered/, medium/, hard/): pass --levels-dir FOLDER, set {BOXOBAN_VARIABLE}=FOLDER, "
                       f"or put them in {default}")


def level_keys(bank: LevelBank) -> set[bytes]:
    """One hashable key per distinct level of ``bank`` (its cell codes)."""
    flat = np.ascontiguousarray(bank.codes.reshape(len(bank), -1))
    return {row.tobytes() for row in flat}


def overlap(bank: LevelBank, keys: set[bytes]) -> int:
    """How many levels of ``bank`` have a key in ``keys``."""
    flat = np.ascontiguousarray(bank.codes.reshape(len(bank), -1))
    return sum(row.tobytes() in keys for row in flat)


#: Banks at least this large say on stderr that they are being generated (the 7x7 ids' 50,000
#: training levels take ~20 s on first use, which would otherwise be silent).
NOTE_FROM_LEVELS = 10_000


def _cached(name: str, make, levels: int = 0, what: str = "") -> LevelBank:
    path = cache_dir() / "levels" / f"{name}.npz"
    if path.is_file():
        try:
            return LevelBank.load(path)
        except (ValueError, OSError):
            pass  # a damaged cache file is regenerated
    if levels >= NOTE_FROM_LEVELS:
        print(f"reverie: generating {levels:,} {what} levels (first use; cached under "
              f"{path.parent})", file=sys.stderr, flush=True)
    bank = make()
    try:
        bank.save(path)
    except OSError:
        pass  # a read-only cache only costs time
    return bank


def _generate(preset: EnvPreset, n: int, seed: int) -> LevelBank:
    from .generator import generate_levels

    return generate_levels(n, preset.height, preset.width, preset.boxes, seed)  # type: ignore[return-value]


def _held_out(preset: EnvPreset, n: int, seed: int, exclude: set[bytes]) -> LevelBank:
    """The first ``n`` distinct levels of generator ``seed`` that are not in ``exclude``."""
    candidates = n + n // 4 + 16
    while True:
        bank = _generate(preset, candidates, seed)
        keep, seen = [], set(exclude)
        for i, row in enumerate(np.ascontiguousarray(bank.codes.reshape(len(bank), -1))):
            key = row.tobytes()
            if key not in seen:
                seen.add(key)
                keep.append(i)
                if len(keep) == n:
                    return LevelBank(bank.codes[keep], [f"{preset.id} seed {seed} level {i}" for i in keep])
        if candidates > 64 * n:
            raise ReverieError(f"{preset.id}: only {len(keep)} distinct held-out levels found in "
                               f"{candidates} generated; the level space is too small for {n}")
        candidates *= 2


def level_bank(env_id: str, split: str = "train", levels_dir: str | Path | None = None,
               train_levels: int | None = None) -> LevelBank:
    """The levels of one split of ``env_id``.

    ``train_levels`` shrinks or grows a generated training bank (held-out splits are then
    deduplicated against that bank).
    """
    preset = get_preset(env_id)
    if split not in preset.splits:
        raise ReverieError(f"{env_id} has no {split!r} split; its splits: {', '.join(preset.splits)}")
    if not preset.generated:
        folder = boxoban_dir(levels_dir) / preset.folders[split]
        if not folder.exists():
            raise ReverieError(f"{folder}: not found; the {env_id} {split} split needs this Boxoban folder")
        return load_boxoban(folder)
    n_train = preset.sizes["train"] if train_levels is None else check_train_levels(train_levels)
    tag = f"{preset.id}-train{n_train}"
    train = _cached(tag, lambda: _generate(preset, n_train, preset.seeds["train"]), n_train, f"{env_id} train")
    if split == "train":
        return train
    exclude = level_keys(train)
    if split == "test":
        exclude |= level_keys(level_bank(env_id, "valid", levels_dir, train_levels))
    n = preset.sizes[split]
    return _cached(f"{tag}-{split}{n}", lambda: _held_out(preset, n, preset.seeds[split], exclude), n, f"{env_id} {split}")


def make_env(env_id: str, num_envs: int, split: str = "train", seed: int | None = None,
             device: torch.device | str = "cpu", observation: str = "symbolic",
             max_steps: int | None = None, levels_dir: str | Path | None = None,
             train_levels: int | None = None, copy_obs: bool = False) -> SokobanVecEnv:
    """A :class:`SokobanVecEnv` on one split of ``env_id`` (the preset's step cap by default)."""
    preset = get_preset(env_id)
    bank = level_bank(env_id, split, levels_dir, train_levels)
    return SokobanVecEnv(bank, num_envs, observation=observation,
                         max_steps=max_steps or preset.max_steps, device=device, seed=seed,
                         copy_obs=copy_obs)


def resolve_levels(spec: str, levels_dir: str | Path | None = None,
                   train_levels: int | None = None) -> tuple[LevelBank, str]:
    """Levels named on a command line: ``ID`` (its test split), ``ID:SPLIT``, or a file/folder
    of Boxoban/XSB levels. Returns the bank and a canonical name for it."""
    name, _, split = spec.partition(":")
    if name in PRESETS:
        split = split or "test"
        return level_bank(name, split, levels_dir, train_levels), f"{name}:{split}"
    path = Path(spec)
    if not path.exists():
        raise ReverieError(f"--levels {spec!r} is neither an env id ({', '.join(PRESETS)}, optionally "
                           f"with :train, :valid or :test) nor a level file or folder")
    return load_boxoban(path), str(path)
