"""The ``carracing`` Gymnasium id: plain data, so registering it imports neither torch nor Box2D.

``gymnasium.make("reverie/CarRacing-v0")`` is one game of the batched env (64x64 frames
``[3, 64, 64]``, episodes named by id; ``size=96`` keeps Gymnasium's frames),
``gymnasium.make_vec(..., num_envs=N)`` the batch behind numpy (the generic adapters of
:mod:`reverie.envs.gym_spec`). Gymnasium's own ``CarRacing-v3`` stays what it is.
"""

from __future__ import annotations

from typing import Any

#: id -> (entry point, vector entry point, default kwargs).
GYM_IDS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "reverie/CarRacing-v0": ("reverie.envs.gym_spec:SpecGymEnv", "reverie.envs.gym_spec:SpecGymVectorEnv",
                             dict(env_id="carracing")),
}
