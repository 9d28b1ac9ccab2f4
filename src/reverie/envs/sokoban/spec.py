"""Sokoban's env ids as specs: what the rest of reverie knows of Sokoban.

Importing this module registers ``sokoban-6x6-1``, ``sokoban-7x7-2``, ``sokoban-10x10-4``
and the Boxoban ids (see :mod:`.presets` for their levels and splits). Env options:
``observation`` (``symbolic``: one-hot planes of the 7 cell codes; ``rgb``: 8x8 sprites per
cell), ``max_steps``, ``levels_dir`` (the Boxoban folder), ``train_levels`` (size of a
generated training bank) and ``copy_obs``. A split is ``train``, ``valid``, ``test``, or a
Boxoban/XSB level file or folder.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ...core.errors import ReverieError
from ..registry import register_spec
from ..spec import ActionSpec, EnvSpec, ObsSpec, RewardSpec
from . import cells, collection, rules
from .presets import PRESETS, level_bank, level_keys, overlap, resolve_levels
from .optimal import REFERENCE as OPTIMAL_REFERENCE, optimal_moves
from ..tiles import TileCodec
from .render import SPRITE, SPRITES

__all__ = ["SOKOBAN_REWARDS", "sokoban_spec", "OBSERVATIONS", "ENV_OPTIONS"]

OBSERVATIONS = ("symbolic", "rgb")
#: RGB frames are drawn from the cells' sprites, so their data is stored as cell codes.
TILES = TileCodec.from_array(SPRITES)
ENV_OPTIONS = ("observation", "max_steps", "levels_dir", "train_levels", "copy_obs")


def _reward_values() -> tuple[float, ...]:
    """The four step rewards, computed with the very float32 arithmetic the rules use.

    ``rules.step_`` adds float32 tensors, and -0.1 + 1.0 in float32 is not the float32
    nearest 0.9; building the table the same way makes value -> class -> value exact.
    """
    on = torch.tensor([0.0, 1.0, 0.0, 1.0])
    off = torch.tensor([0.0, 0.0, 1.0, 0.0])
    finished = torch.tensor([0.0, 0.0, 0.0, 1.0])
    values = rules.STEP_REWARD + rules.BOX_ON_REWARD * on + rules.BOX_OFF_REWARD * off + rules.SOLVED_REWARD * finished
    return tuple(values.tolist())


#: Sokoban's rewards by class: 0 no event (-0.1), 1 box onto a target (+0.9), 2 box off a
#: target (-1.1), 3 last box onto its target (+10.9, which ends the episode).
SOKOBAN_REWARDS = RewardSpec(classes=_reward_values(), terminal=(3,))


def _observation(kind: str, height: int, width: int) -> ObsSpec:
    if kind == "symbolic":
        return ObsSpec("onehot", (cells.NUM_CODES, height, width), cells.NUM_CODES)
    if kind == "rgb":
        return ObsSpec("rgb", (3, height * SPRITE, width * SPRITE), tiles=TILES)
    raise ReverieError(f"observation must be one of {', '.join(OBSERVATIONS)}, got {kind!r}")


def _configure(spec: EnvSpec, **options: Any) -> EnvSpec:
    unknown = sorted(set(options) - set(ENV_OPTIONS))
    if unknown:
        raise ReverieError(f"env {spec.id} takes no option {', '.join(unknown)}; its options: {', '.join(ENV_OPTIONS)}")
    height, width = spec.extra["size"]
    changes: dict[str, Any] = {}
    if "observation" in options:
        changes["observation"] = _observation(options["observation"], height, width)
    if "max_steps" in options:
        if int(options["max_steps"]) < 1:
            raise ReverieError(f"max_steps must be >= 1, got {options['max_steps']}")
        changes["max_steps"] = int(options["max_steps"])
    return dataclasses.replace(spec, **changes)


def _make(spec: EnvSpec, split: str, num_envs: int, seed: int | None, device: torch.device,
          observation: str = "symbolic", max_steps: int | None = None, levels_dir: str | Path | None = None,
          train_levels: int | None = None, copy_obs: bool = False):
    from .env import SokobanVecEnv

    bank = _levels(spec, split, levels_dir, train_levels)
    if bank.shape != spec.extra["size"]:
        raise ReverieError(f"{split}: levels are {bank.shape[0]}x{bank.shape[1]}, but {spec.id} plays "
                           f"{spec.extra['size'][0]}x{spec.extra['size'][1]} rooms")
    return SokobanVecEnv(bank, num_envs, observation=observation, max_steps=max_steps or spec.max_steps,
                         device=device, seed=seed, copy_obs=copy_obs)


def _levels(spec: EnvSpec, split: str, levels_dir=None, train_levels=None):
    if split in spec.splits:
        return level_bank(spec.id, split, levels_dir, train_levels)
    bank, _ = resolve_levels(split, levels_dir, train_levels)
    return bank


def _overlap(spec: EnvSpec, source: str, levels_dir=None, train_levels=None, **_: Any) -> int:
    """Levels of ``source`` (a split or a level file/folder) that the id's training bank holds."""
    if "train" not in spec.splits:
        return 0
    train = level_bank(spec.id, "train", levels_dir, train_levels)
    return overlap(_levels(spec, source, levels_dir, train_levels), level_keys(train))


def _perfect_model(spec: EnvSpec):
    from .model import PerfectModel

    return PerfectModel("rgb" if spec.observation.kind == "rgb" else "symbolic")


def _render(obs: torch.Tensor) -> torch.Tensor:
    """Observations ``[B, ...]`` -> RGB frames ``[B, H, W, 3]`` uint8 (one-hot planes drawn as sprites)."""
    from .render import rgb_image

    if obs.dim() == 4 and obs.shape[1] == 3 and obs.dtype == torch.uint8:
        return obs.permute(0, 2, 3, 1).cpu()
    codes = obs.argmax(1).to(torch.uint8).cpu().numpy()
    return torch.from_numpy(np.stack([rgb_image(c) for c in codes]))


#: Hooks of model data (see :mod:`.collection`): the level sources of ``reverie model collect``,
#: the transitions fitting over-draws, and the ones diagnostics score apart.
_DATA_HOOKS = {"collection_sources": collection.collection_sources, "level_source": collection.level_source,
               "interesting_transitions": collection.walked_into_box,
               "scored_apart": ("push", collection.box_moved)}


def sokoban_spec(env_id: str, description: str, max_steps: int, size: tuple[int, int],
                 splits: tuple[str, ...]) -> EnvSpec:
    """The spec of one Sokoban id (symbolic observations; ``observation="rgb"`` for frames)."""
    return EnvSpec(
        id=env_id, description=description,
        observation=_observation("symbolic", *size),
        actions=ActionSpec(rules.NUM_ACTIONS, tuple(rules.ACTION_NAMES)),
        rewards=SOKOBAN_REWARDS, make=_make, splits=splits, max_steps=max_steps, success="solved",
        perfect_model=_perfect_model, default_model="sokoban-10x10-12ch", render=_render, configure=_configure,
        overlap=_overlap, extra={"size": tuple(size), "world": "sokoban", **_DATA_HOOKS,
               "optimal_moves": optimal_moves, "optimal_reference": OPTIMAL_REFERENCE},
    )


def levels_spec(height: int, width: int, max_steps: int, observation: str = "symbolic") -> EnvSpec:
    """The spec of Sokoban on levels of one room size from anywhere (a level file, a bank made
    in code): what a :class:`~.env.SokobanVecEnv` built directly carries as ``env.spec``. Its
    "splits" are level sources (files or folders)."""
    spec = sokoban_spec(f"sokoban-{height}x{width}", f"Sokoban levels of {height}x{width} rooms", max_steps,
                        (height, width), ())
    return spec.with_options(observation=observation) if observation != "symbolic" else spec


for _preset in PRESETS.values():
    register_spec(sokoban_spec(_preset.id, _preset.description, _preset.max_steps,
                               (_preset.height, _preset.width) if _preset.generated else (10, 10), _preset.splits))
