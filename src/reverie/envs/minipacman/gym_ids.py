"""MiniPacman's Gymnasium ids: plain data, so registering them imports neither torch nor the env.

One id per task (the five tasks share the maze and differ in rewards and level-clear rule).
Each id has a single-env ``entry_point`` (``gymnasium.make``) and a ``vector_entry_point``
(``gymnasium.make_vec(id, num_envs=N)``: the batched tensor env behind numpy arrays).
Keyword arguments given to ``make``/``make_vec`` override the registered ones, e.g.
``observation="symbolic"``, ``max_steps=500``, ``timer="released"``, ``max_ghosts=4``.
"""

from __future__ import annotations

from typing import Any

_ENV = "reverie.envs.minipacman.gym_env:MiniPacmanEnv"
_VEC = "reverie.envs.minipacman.gym_env:MiniPacmanGymVectorEnv"

#: id -> (entry point, vector entry point, default kwargs).
GYM_IDS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "reverie/MiniPacman-Regular-v0": (_ENV, _VEC, dict(task="regular")),
    "reverie/MiniPacman-Avoid-v0": (_ENV, _VEC, dict(task="avoid")),
    "reverie/MiniPacman-Hunt-v0": (_ENV, _VEC, dict(task="hunt")),
    "reverie/MiniPacman-Ambush-v0": (_ENV, _VEC, dict(task="ambush")),
    "reverie/MiniPacman-Rush-v0": (_ENV, _VEC, dict(task="rush")),
}
