"""The pendulum's Gymnasium ids: plain data, so registering them imports neither torch nor the env.

``gymnasium.make("reverie/Pendulum-v0")`` (vector observations) and
``gymnasium.make("reverie/PendulumPixels-v0")`` (RGB frames ``[3, 64, 64]``; ``size=32`` for
smaller ones) give one game, ``gymnasium.make_vec(..., num_envs=N)`` the batched tensor env
behind numpy arrays (the generic adapters of :mod:`reverie.envs.gym_spec`). Actions are
torques ``[1]`` in [-2, 2], as Pendulum-v1's.
"""

from __future__ import annotations

from typing import Any

_ENV = "reverie.envs.gym_spec:SpecGymEnv"
_VEC = "reverie.envs.gym_spec:SpecGymVectorEnv"

#: id -> (entry point, vector entry point, default kwargs).
GYM_IDS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "reverie/Pendulum-v0": (_ENV, _VEC, dict(env_id="pendulum")),
    "reverie/PendulumPixels-v0": (_ENV, _VEC, dict(env_id="pendulum-pixels")),
}
