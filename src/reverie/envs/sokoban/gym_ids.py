"""Sokoban's Gymnasium ids: plain data, so registering them imports neither torch nor the env.

Each id has a single-env ``entry_point`` (``gymnasium.make``) and a ``vector_entry_point``
(``gymnasium.make_vec(id, num_envs=N)``, the batched tensor env behind numpy arrays). Keyword
arguments given to ``make``/``make_vec`` override the registered ones, e.g.
``observation="rgb"``, ``max_steps=200``, or ``levels=...`` for a level bank.
"""

from __future__ import annotations

from typing import Any

_SOKOBAN = "reverie.envs.sokoban.gym_env:SokobanEnv"
_SOKOBAN_VEC = "reverie.envs.sokoban.gym_vector:SokobanGymVectorEnv"
_BOXOBAN = "reverie.envs.sokoban.gym_env:BoxobanEnv"
_BOXOBAN_VEC = "reverie.envs.sokoban.gym_vector:BoxobanGymVectorEnv"

#: id -> (entry point, vector entry point, default kwargs).
GYM_IDS: dict[str, tuple[str, str, dict[str, Any]]] = {
    # The I2A paper's setting: 10x10 rooms (border included), 4 boxes, 120 steps.
    "reverie/Sokoban-v0": (_SOKOBAN, _SOKOBAN_VEC, dict(height=10, width=10, boxes=4, max_steps=120)),
    # Mid difficulty: learns in minutes, still needs planning.
    "reverie/Sokoban-7x7-2-v0": (_SOKOBAN, _SOKOBAN_VEC, dict(height=7, width=7, boxes=2, max_steps=50)),
    # Smoke tests: solvable by a random-ish policy.
    "reverie/Sokoban-6x6-1-v0": (_SOKOBAN, _SOKOBAN_VEC, dict(height=6, width=6, boxes=1, max_steps=30)),
    # DeepMind's Boxoban levels (10x10, 4 boxes); pass levels=<file or folder>.
    "reverie/Boxoban-v0": (_BOXOBAN, _BOXOBAN_VEC, dict(max_steps=120)),
}
