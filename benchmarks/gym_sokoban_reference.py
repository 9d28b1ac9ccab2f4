#!/usr/bin/env python3
"""Reference timings for the public ``gym-sokoban`` package (PyPI, 0.0.6).

Standalone: it imports only gym-sokoban, gym and numpy (no ``reverie`` code),
and is meant to run in its own virtual env, e.g.::

    python3 -m venv /tmp/gs-venv
    /tmp/gs-venv/bin/pip install gym-sokoban==0.0.6
    /tmp/gs-venv/bin/python benchmarks/gym_sokoban_reference.py --json /tmp/gs.json

What it measures (all single-process, wall clock via time.perf_counter):

Wall-clock time is what is reported as ``*_s``/``steps_per_s``; process CPU
time (time.process_time) is reported alongside as ``cpu_*`` because it is far
less sensitive to other load on a shared machine.

1. Level generation: seconds per level from gym-sokoban's own generator,
   ``gym_sokoban.envs.room_utils.generate_room``, called exactly as
   ``SokobanEnv.reset`` calls it (num_steps = int(1.7 * (h + w)), i.e. 34 for
   10x10 and 23 for 7x7; default tries/p_change_directions).  Like ``reset``,
   a RuntimeError/RuntimeWarning (no usable room) is caught and the call is
   retried; retries are counted and their time is included in the level's
   time.  Done for 10x10 with 4 boxes and 7x7 with 2 boxes.  No more levels
   are started once ``--time-cap`` seconds have been spent on one size.
2. Env steps per second of ``SokobanEnv(dim_room=(10, 10), num_boxes=4)``
   (the package's default env, registered as Sokoban-v1; Sokoban-v0 is the
   same with 3 boxes and max_steps=200) stepping uniformly random actions,
   once with the default observation ('rgb_array', 160x160x3) and once with
   'tiny_rgb_array' (10x10x3).  The env class is used directly (no
   gym.make wrappers).  Reset time is excluded: the env is loaded with a
   level from phase 1 and, when an episode ends, that level is restored
   outside the timed region (what reset does, minus generation).
3. Versions of gym-sokoban, gym, numpy and Python, and the CPU count.

Prints one JSON object on stdout (and writes it to ``--json`` if given).
"""
import argparse
import json
import os
import platform
import random
import sys
import time
from importlib.metadata import version

import numpy as np
from gym_sokoban.envs.room_utils import generate_room
from gym_sokoban.envs.sokoban_env import ACTION_LOOKUP, SokobanEnv


def gen_steps(dim):
    """The num_steps SokobanEnv uses by default for a room of size ``dim``."""
    return int(1.7 * (dim[0] + dim[1]))


def bench_generation(dim, num_boxes, levels, time_cap):
    """Generate up to ``levels`` rooms; return stats and the last room."""
    times, cpu_times, retries, room = [], [], 0, None
    t_start = time.perf_counter()
    while len(times) < levels and time.perf_counter() - t_start < time_cap:
        t0, c0 = time.perf_counter(), time.process_time()
        while True:  # same retry loop as SokobanEnv.reset
            try:
                room = generate_room(dim=dim, num_steps=gen_steps(dim),
                                     num_boxes=num_boxes, second_player=False)
                break
            except (RuntimeError, RuntimeWarning):
                retries += 1
        times.append(time.perf_counter() - t0)
        cpu_times.append(time.process_time() - c0)
    return {
        "dim": list(dim),
        "num_boxes": num_boxes,
        "num_gen_steps": gen_steps(dim),
        "levels": len(times),
        "retries": retries,
        "total_s": sum(times),
        "mean_s_per_level": sum(times) / len(times),
        "min_s": min(times),
        "max_s": max(times),
        "per_level_s": times,
        "cpu_mean_s_per_level": sum(cpu_times) / len(cpu_times),
        "cpu_per_level_s": cpu_times,
    }, room


def load_level(env, room):
    """Put a pre-generated room into env: SokobanEnv.reset without generation."""
    fixed, state, mapping = room
    env.room_fixed, env.room_state, env.box_mapping = fixed.copy(), state.copy(), dict(mapping)
    env.player_position = np.argwhere(env.room_state == 5)[0]
    env.num_env_steps = 0
    env.reward_last = 0
    env.boxes_on_target = 0


def bench_steps(room, steps, mode, seed):
    """Env steps/s with random actions and observation ``mode``; resets untimed."""
    env = SokobanEnv(dim_room=room[0].shape, num_boxes=4, reset=False)
    load_level(env, room)
    rng = random.Random(seed)
    actions = [rng.randrange(len(ACTION_LOOKUP)) for _ in range(steps)]
    elapsed, cpu, episodes, obs_shape = 0.0, 0.0, 1, None
    for a in actions:
        t0, c0 = time.perf_counter(), time.process_time()
        obs, _, done, _ = env.step(a, observation_mode=mode)
        elapsed += time.perf_counter() - t0
        cpu += time.process_time() - c0
        obs_shape = list(obs.shape)
        if done:
            load_level(env, room)
            episodes += 1
    return {"mode": mode, "steps": steps, "episodes": episodes,
            "obs_shape": obs_shape, "seconds": elapsed,
            "steps_per_s": steps / elapsed, "cpu_seconds": cpu,
            "cpu_steps_per_s": steps / cpu}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--levels", type=int, default=5, help="levels per room size (default 5)")
    p.add_argument("--steps", type=int, default=2000, help="env steps per observation mode (default 2000)")
    p.add_argument("--time-cap", type=float, default=150.0,
                   help="start no new level after this many seconds per room size (default 150)")
    p.add_argument("--seed", type=int, default=0, help="seed for random and numpy.random (default 0)")
    p.add_argument("--json", metavar="PATH", help="also write the JSON result here")
    args = p.parse_args()

    random.seed(args.seed)  # generate_room draws from both random and np.random
    np.random.seed(args.seed)

    gen10, room10 = bench_generation((10, 10), 4, args.levels, args.time_cap)
    gen7, _ = bench_generation((7, 7), 2, args.levels, args.time_cap)

    modes = ["rgb_array"]
    if "tiny_rgb_array" in SokobanEnv.metadata.get("render.modes", []):
        modes.append("tiny_rgb_array")
    step_results = [bench_steps(room10, args.steps, m, args.seed) for m in modes]

    result = {
        "package": "gym-sokoban",
        "versions": {"gym-sokoban": version("gym-sokoban"), "gym": version("gym"),
                     "numpy": np.__version__, "python": platform.python_version()},
        "machine": {"platform": platform.platform(), "processor": platform.processor(),
                    "cpu_count": os.cpu_count()},
        "args": vars(args),
        "generation": {"10x10_4boxes": gen10, "7x7_2boxes": gen7},
        "env_steps": {"env": "SokobanEnv(dim_room=(10, 10), num_boxes=4), random actions, reset excluded",
                      "results": {r["mode"]: r for r in step_results}},
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
