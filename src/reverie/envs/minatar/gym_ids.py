"""MinAtar's Gymnasium ids: plain data, so registering them imports neither torch nor the env.

``gymnasium.make("reverie/MinAtar-Breakout-v0")`` gives one game, ``gymnasium.make_vec(...,
num_envs=N)`` the batched tensor env behind numpy arrays (both the generic adapters of
:mod:`reverie.envs.gym_spec`). Keyword arguments override the env options, e.g.
``sticky=0.0``, ``max_steps=1000``.
"""

from __future__ import annotations

from typing import Any

_ENV = "reverie.envs.gym_spec:SpecGymEnv"
_VEC = "reverie.envs.gym_spec:SpecGymVectorEnv"

#: id -> (entry point, vector entry point, default kwargs).
GYM_IDS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "reverie/MinAtar-Breakout-v0": (_ENV, _VEC, dict(env_id="minatar-breakout")),
}
