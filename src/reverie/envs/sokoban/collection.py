"""Sokoban's model data: level sets for collection, and which transitions are the hard ones.

Generic data collection (:mod:`reverie.data.transitions`) and sampling
(:mod:`reverie.data.dataset`) know no Sokoban; they ask the spec's ``extra`` hooks this
module provides (see :func:`collection_sources`, :func:`walked_into_box`, :func:`box_moved`).

Validation levels must never be seen in fitting, or the accuracy measured on them says
nothing about new levels; so train and validation transitions come from disjoint level
sets (Boxoban's train and valid folders, or generated levels from different seeds, checked
for overlap).

A random policy almost never pushes a box onto a target, let alone the last one, so the
rare reward classes would hardly appear in random-policy data. ``with_preplaced`` adds a
variant of each level in which some boxes already stand on targets: random play from there
pushes boxes on and off targets far more often. The last-box reward (+10.9) needs every
other box placed, so a share of the variants start one push from solved: all boxes but
one on targets, the last one beside its target with the player behind it. The positions
stay legal Sokoban positions of the same rooms, so the dynamics learned are the real ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from typing import Any

import torch

from ...core.errors import ReverieError
from . import cells, rules
from .bank import LevelBank, load_boxoban


@dataclass
class LevelSet:
    """A bank of levels plus, per bank row, the source level and how many boxes were preplaced."""

    bank: LevelBank
    source_index: np.ndarray  # [N] int64: the level this row was made from
    preplaced: np.ndarray  # [N] uint8: boxes moved onto targets before the episode
    description: str


def load_split(path: str | Path | None, generated: int, seed: int, height: int = 10, width: int = 10,
               boxes: int = 4, limit: int | None = None) -> tuple[LevelBank, str]:
    """Levels from a Boxoban file/folder, or ``generated`` fresh levels from ``seed``."""
    if path is not None:
        path = Path(path)
        if not path.exists():
            raise ReverieError(f"{path}: no such level file or folder")
        try:
            bank = load_boxoban(path, limit=limit)
        except ValueError as err:
            raise ReverieError(str(err)) from None
        return bank, f"{path} ({len(bank)} levels)"
    from .generator import generate_levels

    try:
        bank = generate_levels(generated, height, width, boxes, seed)
    except ValueError as err:
        raise ReverieError(str(err)) from None
    return bank, f"generated {height}x{width}, {boxes} boxes, seed {seed} ({generated} levels)"


def drop_overlap(valid: LevelBank, train: LevelBank) -> tuple[LevelBank, int]:
    """``valid`` without the levels that also occur in ``train`` (and how many were dropped)."""
    seen = {row.tobytes() for row in train.codes.reshape(len(train), -1)}
    keep = np.array([row.tobytes() not in seen for row in valid.codes.reshape(len(valid), -1)])
    dropped = int((~keep).sum())
    if dropped == len(valid):
        raise ReverieError("every validation level also occurs in the training levels")
    if dropped == 0:
        return valid, 0
    names = [n for n, k in zip(valid.names, keep) if k] if valid.names is not None else None
    return LevelBank(valid.codes[keep], names), dropped


def preplace_boxes(codes: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Move 1..n-1 random boxes of each level onto random free targets (vectorised).

    Returns the new ``[N, H, W]`` codes and the count moved per level (0 for one-box levels,
    which are left alone: placing their only box would solve them).
    """
    n = len(codes)
    flat = codes.reshape(n, -1)
    is_box = flat == cells.BOX
    free_target = flat == cells.TARGET
    boxes = is_box.sum(1)
    k = np.where(boxes >= 2, rng.integers(1, np.maximum(boxes, 2)), 0)
    k = np.minimum(k, free_target.sum(1))
    # Rank cells by random keys; the k lowest-ranked boxes and free targets are chosen.
    box_rank = np.where(is_box, rng.random(flat.shape), np.inf).argsort(1).argsort(1)
    target_rank = np.where(free_target, rng.random(flat.shape), np.inf).argsort(1).argsort(1)
    take_box = is_box & (box_rank < k[:, None])
    take_target = free_target & (target_rank < k[:, None])
    out = flat.copy()
    out[take_box] = cells.FLOOR
    out[take_target] = cells.BOX_ON_TARGET
    return out.reshape(codes.shape), k.astype(np.uint8)


def one_push_from_solved(codes: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Rebuild each level's room with every box but one on a target, the last box one push
    from its target and the player behind it (vectorised over levels and candidates).

    Returns the new ``[N, H, W]`` codes and which levels had room for it (others unchanged).
    """
    n, h, w = codes.shape
    flat = codes.reshape(n, -1)
    target = cells.IS_TARGET[flat]
    plain = (flat != cells.WALL) & ~target  # where the last box and the player may stand
    cell = np.arange(h * w)
    pushes = np.array([-w, w, -1, 1])  # the push direction: the box moves by +push onto the target
    box_at = np.clip(cell[:, None] - pushes, 0, h * w - 1)  # [HW, 4]
    player_at = np.clip(cell[:, None] - 2 * pushes, 0, h * w - 1)
    valid = target[:, :, None] & plain[:, box_at] & plain[:, player_at]  # [N, HW, 4]
    ok = valid.reshape(n, -1).any(1)
    choice = np.where(valid, rng.random(valid.shape), -1.0).reshape(n, -1).argmax(1)
    t, d = np.divmod(choice, len(pushes))
    rows = np.flatnonzero(ok)
    out = np.where(flat == cells.WALL, cells.WALL, np.where(target, cells.BOX_ON_TARGET, cells.FLOOR)).astype(np.uint8)
    out[rows, t[rows]] = cells.TARGET
    out[rows, box_at[t[rows], d[rows]]] = cells.BOX
    out[rows, player_at[t[rows], d[rows]]] = cells.PLAYER
    out[~ok] = flat[~ok]
    return out.reshape(codes.shape), ok


def with_preplaced(bank: LevelBank, fraction: float, seed: int, description: str,
                   near_solved: float = 0.4) -> LevelSet:
    """The bank plus variants with preplaced boxes, so that ``fraction`` of starts are variants;
    ``near_solved`` of the variants start one push from solved."""
    if not 0.0 <= fraction < 1.0:
        raise ReverieError(f"preplaced fraction must be in [0, 1), got {fraction}")
    if not 0.0 <= near_solved <= 1.0:
        raise ReverieError(f"near-solved share must be in [0, 1], got {near_solved}")
    n = len(bank)
    index = np.arange(n)
    preplaced = np.zeros(n, dtype=np.uint8)
    if fraction == 0.0:
        return LevelSet(bank, index, preplaced, description)
    rng = np.random.default_rng([seed, 7919])
    extra = max(1, round(n * fraction / (1.0 - fraction)))
    source = rng.integers(0, n, extra) if extra != n else index.copy()
    variants, moved = preplace_boxes(bank.codes[source], rng)
    near = rng.random(extra) < near_solved
    if near.any():
        rebuilt, ok = one_push_from_solved(bank.codes[source[near]], rng)
        rows = np.flatnonzero(near)[ok]
        variants[rows] = rebuilt[ok]
        moved[rows] = bank.num_boxes[source[rows]] - 1
    codes = np.concatenate([bank.codes, variants])
    text = f", {fraction:.0%} of starts with preplaced boxes"
    if near_solved:
        text += f" ({near_solved:.0%} of those one push from solved)"
    return LevelSet(LevelBank(codes), np.concatenate([index, source]), np.concatenate([preplaced, moved]),
                    description + text)


# -- the hooks the generic data code calls (through the spec's ``extra``) -------------------

class LevelSource:
    """One split's levels as collection plays them: an env over the level set's bank, and
    per env the source level and the preplaced-box count of the bank row it plays."""

    def __init__(self, levels: LevelSet, observation: str = "symbolic") -> None:
        self.levels, self.observation = levels, observation
        self.description = levels.description
        self._source = torch.from_numpy(levels.source_index)
        self._preplaced = torch.from_numpy(levels.preplaced)

    def make_env(self, num_envs: int, max_steps: int | None, seed: int, copy_obs: bool):
        from .env import SokobanVecEnv

        return SokobanVecEnv(self.levels.bank, num_envs, self.observation, max_steps or 120, seed=seed,
                             copy_obs=copy_obs)

    def tags(self, env) -> dict[str, torch.Tensor]:
        """Read before a step: which level each env plays (``level``) and its preplaced boxes."""
        row = env.level_index.clone().cpu()
        return {"level": self._source[row], "preplaced": self._preplaced[row]}


def _id_of_size(spec, height: int, width: int) -> str:
    """The registered Sokoban id playing ``height x width`` rooms (``spec``'s own if none)."""
    from ..registry import env_ids, get_spec

    if tuple(spec.extra.get("size", ())) == (height, width):
        return spec.id
    for env_id in env_ids():
        other = get_spec(env_id)
        if other.extra.get("world") == "sokoban" and tuple(other.extra.get("size", ())) == (height, width):
            return env_id
    return spec.id


def collection_sources(spec, seeds: dict[str, int], train_levels=None, valid_levels=None,
                       level_limit: int | None = None, generated_levels: int = 5000,
                       size: tuple[int, int] | None = None, boxes: int = 4, preplaced: float = 0.5,
                       near_solved: float = 0.4, **unknown: Any) -> dict[str, Any]:
    """The train and valid level sources of a Sokoban transition dataset (``extra["collection_sources"]``).

    Levels come from Boxoban files/folders or are generated (``generated_levels`` per split,
    ``size`` default: the id's room size); validation levels found in the training ones are
    dropped; ``preplaced`` of the starts are variants with boxes on targets. Returns
    ``{"env": id, "sources": {split: LevelSource}, "manifest": {...}}``.
    """
    if unknown:
        raise ReverieError(f"Sokoban collection takes no option {', '.join(sorted(unknown))}")
    if (train_levels is None) != (valid_levels is None):
        raise ReverieError("give both --train-levels and --valid-levels, or neither (generated levels)")
    h, w = size or spec.extra["size"]
    train_bank, train_desc = load_split(train_levels, generated_levels, seeds["train"], h, w, boxes, level_limit)
    valid_bank, valid_desc = load_split(valid_levels, generated_levels, seeds["valid"], h, w, boxes, level_limit)
    if valid_bank.shape != train_bank.shape:
        raise ReverieError(f"train levels are {train_bank.shape}, validation levels {valid_bank.shape}: "
                           "they must be the same size")
    valid_bank, overlap = drop_overlap(valid_bank, train_bank)
    observation = "rgb" if spec.observation.kind == "rgb" else "symbolic"
    sources = {split: LevelSource(with_preplaced(bank, preplaced, seeds[split], desc, near_solved), observation)
               for split, bank, desc in (("train", train_bank, train_desc), ("valid", valid_bank, valid_desc))}
    return {"env": _id_of_size(spec, *train_bank.shape), "sources": sources,
            "num_levels": {"train": len(train_bank), "valid": len(valid_bank)},
            "manifest": {"validation_levels_dropped_as_in_train": overlap}}


def _is_box(codes: torch.Tensor) -> torch.Tensor:
    return (codes == cells.BOX) | (codes == cells.BOX_ON_TARGET)


def box_moved(codes: torch.Tensor, next_codes: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
    """Which transitions moved a box (bool ``[N]``): the pushes, scored apart by diagnostics."""
    return (_is_box(codes) != _is_box(next_codes)).flatten(1).any(1)


def walked_into_box(codes: torch.Tensor, next_codes: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
    """Which transitions walked the player into a box (bool ``[N]``): every push, and every
    push that a wall or another box blocked, the two cases a model must tell apart (fitting
    over-draws them)."""
    n, h, w = codes.shape
    flat = codes.reshape(n, h * w)
    player = (flat >= cells.PLAYER).to(torch.uint8).argmax(1)
    offsets = torch.tensor([dr * w + dc for dr, dc in rules.ACTION_DELTAS], device=flat.device)
    ahead = (player + offsets[action.long()]).clamp_(0, h * w - 1)
    return _is_box(flat.gather(1, ahead.unsqueeze(1)).squeeze(1))


def level_source(spec, levels, seed: int, preplaced: float = 0.0, near_solved: float = 0.4):
    """``extra["level_source"]``: a LevelBank (with ``preplaced`` starts) or a LevelSet as a
    collection source, and the Sokoban id of its room size."""
    if isinstance(levels, LevelBank):
        levels = with_preplaced(levels, preplaced, seed, "levels", near_solved)
    if not isinstance(levels, LevelSet):
        raise ReverieError(f"Sokoban collects from a LevelBank or LevelSet, got {type(levels).__name__}")
    return _id_of_size(spec, *levels.bank.shape), LevelSource(levels)
