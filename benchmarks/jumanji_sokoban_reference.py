#!/usr/bin/env python3
"""Reference env throughput of Jumanji's JAX Sokoban, for ``sokoban_throughput.py``.

Standalone: it imports only jax, jumanji and numpy (no ``reverie`` code), and is meant to
run in its own virtual env, e.g.::

    python3 -m venv /tmp/jx
    /tmp/jx/bin/pip install jumanji
    /tmp/jx/bin/python benchmarks/jumanji_sokoban_reference.py --batches 1024 4096

What it measures: ``jumanji.make``-free ``Sokoban(generator=ToyGenerator())`` (10x10
levels, 120-step time limit like reverie's default; the toy generator needs no download)
wrapped in ``VmapAutoResetWrapper`` (Jumanji's batched auto-reset), stepped with uniformly
random actions. One call is ``jax.jit`` of a ``jax.lax.scan`` over ``--scan`` steps of the
vmapped step, the (state, timestep) pair carried so the observation of every step is
computed (XLA cannot drop it). Actions are drawn before the timed region, as reverie's
benchmark does. After compiling and one warm-up call, calls are timed (wall clock, with
``block_until_ready``) until ``--seconds`` have passed; env steps/s = steps x batch / time.

Prints one JSON object on stdout (and writes it to ``--json`` if given).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from importlib.metadata import version

if "--single-thread" in sys.argv:  # must be set before jax starts its CPU backend
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                               " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1").strip()

import jax  # noqa: E402
from jumanji.environments import Sokoban  # noqa: E402
from jumanji.environments.routing.sokoban.generator import ToyGenerator  # noqa: E402
from jumanji.wrappers import VmapAutoResetWrapper  # noqa: E402


def throughput(batch: int, scan: int, seconds: float, seed: int) -> dict:
    env = VmapAutoResetWrapper(Sokoban(generator=ToyGenerator(), time_limit=120))
    key = jax.random.PRNGKey(seed)
    reset_key, action_key = jax.random.split(key)
    state, timestep = jax.jit(env.reset)(jax.random.split(reset_key, batch))
    actions = jax.random.randint(action_key, (scan, batch), 0, 4)  # Jumanji's 4 moves (no no-op)

    def body(carry, action):
        state, _ = carry
        return env.step(state, action), None

    @jax.jit
    def run(state, timestep, actions):
        (state, timestep), _ = jax.lax.scan(body, (state, timestep), actions)
        return state, timestep

    t0 = time.perf_counter()
    state, timestep = run(state, timestep, actions)  # compile
    jax.block_until_ready(timestep)
    compile_s = time.perf_counter() - t0
    state, timestep = run(state, timestep, actions)  # warm-up
    jax.block_until_ready(timestep)
    calls, cpu0, start = 0, time.process_time(), time.perf_counter()
    while time.perf_counter() - start < seconds:
        state, timestep = run(state, timestep, actions)
        jax.block_until_ready(timestep)
        calls += 1
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu0
    steps = calls * scan * batch
    return {"batch": batch, "scan": scan, "calls": calls, "compile_s": round(compile_s, 2),
            "wall_s": round(wall, 3), "cpu_s": round(cpu, 3), "steps_per_s": round(steps / wall),
            "observation": {k: [list(v.shape), str(v.dtype)] for k, v in timestep.observation._asdict().items()}}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batches", type=int, nargs="+", default=[1024, 4096, 16384])
    p.add_argument("--scan", type=int, default=64, help="env steps per jitted call (default 64)")
    p.add_argument("--seconds", type=float, default=2.0, help="timed seconds per batch size")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", metavar="PATH", help="also write the JSON result here")
    p.add_argument("--single-thread", action="store_true", help="XLA on one thread (as torch with --threads 1)")
    args = p.parse_args()
    rows = [throughput(b, args.scan, args.seconds, args.seed) for b in args.batches]
    result = {
        "env": "jumanji Sokoban(ToyGenerator(), time_limit=120) in VmapAutoResetWrapper; "
               "jit(scan(vmapped step)), random actions",
        "results": rows,
        "versions": {"jumanji": version("jumanji"), "jax": version("jax"), "jaxlib": version("jaxlib"),
                     "python": platform.python_version()},
        "backend": jax.default_backend(), "devices": [str(d) for d in jax.devices()],
        "cpu_count": os.cpu_count(), "single_thread": args.single_thread,
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
    }
    text = json.dumps(result, indent=1)
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
