"""The env ids reverie knows: one :class:`~reverie.envs.spec.EnvSpec` each, and Gymnasium ids.

A world registers its specs with :func:`register_spec` when its ``spec`` module is imported;
the modules of the worlds that ship with reverie are listed in :data:`WORLD_MODULES` and
imported on first lookup, so ``get_spec("sokoban-7x7-2")`` just works. A world defined
elsewhere (a test, another package) calls :func:`register_spec` itself: nothing under
``src/`` needs an edit.

Gymnasium ids: :func:`register_envs` imports each world's ``gym_ids`` module (plain data, no
torch) and registers its ids, so ``gymnasium.make("reverie/Sokoban-v0")`` works after
``import reverie``.
"""

from __future__ import annotations

import importlib
from typing import Any

from ..core.errors import ReverieError

__all__ = ["register_spec", "get_spec", "env_ids", "make_env", "register_envs", "WORLD_MODULES", "GYM_MODULES"]

#: Modules that register the specs of reverie's own worlds when imported.
WORLD_MODULES: list[str] = ["reverie.envs.sokoban.spec", "reverie.envs.minipacman.spec",
                            "reverie.envs.minatar.spec", "reverie.envs.atari.spec", "reverie.envs.pendulum.spec",
                            "reverie.envs.carracing.spec"]
#: Modules holding ``GYM_IDS``: id -> (entry point, vector entry point, default kwargs).
GYM_MODULES: list[str] = ["reverie.envs.sokoban.gym_ids", "reverie.envs.minipacman.gym_ids",
                           "reverie.envs.minatar.gym_ids", "reverie.envs.pendulum.gym_ids",
                           "reverie.envs.carracing.gym_ids"]

_SPECS: dict[str, Any] = {}
_loaded = False


def _load_worlds() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        for module in WORLD_MODULES:
            importlib.import_module(module)


def register_spec(spec, replace: bool = False) -> None:
    """Make ``spec`` known under ``spec.id`` (ids are unique unless ``replace``)."""
    if spec.id in _SPECS and not replace and _SPECS[spec.id] is not spec:
        raise ValueError(f"env id {spec.id!r} is registered already")
    _SPECS[spec.id] = spec


def unregister_spec(env_id: str) -> None:
    """Forget ``env_id`` (tests that register a world of their own clean up with this)."""
    _SPECS.pop(env_id, None)


def env_ids() -> list[str]:
    """Every registered env id, in registration order."""
    _load_worlds()
    return list(_SPECS)


def get_spec(env_id: str, **options: Any):
    """The spec of ``env_id`` (under env ``options``); a one-line error listing the known ids."""
    _load_worlds()
    if env_id not in _SPECS:
        raise ReverieError(f"unknown env id {env_id!r}; known ids: {', '.join(_SPECS)}")
    return _SPECS[env_id].with_options(**options)


def make_env(env_id: str, split: str = "train", num_envs: int = 1, seed: int | None = None,
             device: Any = "cpu", **options: Any):
    """The batched env of one split of ``env_id``: ``num_envs`` games on ``device``.

    ``options`` are the world's env options (Sokoban: ``observation``, ``max_steps``,
    ``levels_dir``, ``train_levels``, ``copy_obs``); ``env.spec`` is the spec it plays.
    """
    return get_spec(env_id).make_env(split, num_envs, seed, device, **options)


def register_envs() -> None:
    """Register every world's Gymnasium ids (ids already registered are kept)."""
    import gymnasium

    for module in GYM_MODULES:
        for env_id, (entry_point, vector_entry_point, kwargs) in importlib.import_module(module).GYM_IDS.items():
            if env_id in gymnasium.registry:
                continue
            gymnasium.register(id=env_id, entry_point=entry_point, vector_entry_point=vector_entry_point,
                               kwargs=dict(kwargs))
