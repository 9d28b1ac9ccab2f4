"""Sanity limits on sizes a user types: refused in one line before any work or allocation.

Why: a flag like ``--seed 100000000000000000000`` or ``--num-envs 10000000`` passes argparse
and every range check, then fails deep inside torch ("Overflow when unpacking long long") or
runs the machine out of memory after the run folder is written. :func:`check_limits` reads the
fields every config spells the same way (``seed``, ``num_envs``, ``train_levels``, ``device``,
``threads``), so one call in a config's ``__post_init__`` (and :func:`~.config.from_arguments`
for every command) covers them all.
"""

from __future__ import annotations

from typing import Any

from .errors import ReverieError

#: Seeds are non-negative and leave room for the offsets runs add to them (seed + rank, + i).
MAX_SEED = 2**62
#: Envs in one batch of one process (larger batches: several processes with torchrun).
MAX_NUM_ENVS = 65_536
#: Bytes one env's rollout holds at least in a 10x10 grid world (7 planes of float32, 6 steps).
_ENV_BYTES = 7 * 10 * 10 * 4 * 6
#: Generated levels in one training bank (50,000 take ~30 s to generate and 5 MB to cache).
MAX_GENERATED_LEVELS = 2_000_000


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def check_seed(seed: Any, flag: str = "--seed") -> int:
    """``seed`` if it is an integer in [0, 2**62); a one-line error otherwise."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < MAX_SEED:
        raise ReverieError(f"{flag} must be an integer from 0 to 2**62 - 1, got {seed!r}")
    return seed


def check_num_envs(num_envs: Any, flag: str = "--num-envs") -> int:
    """``num_envs`` if it is a positive integer a process can hold; a one-line error otherwise."""
    if isinstance(num_envs, bool) or not isinstance(num_envs, int) or num_envs < 1:
        raise ReverieError(f"{flag} must be a positive integer, got {num_envs!r}")
    if num_envs > MAX_NUM_ENVS:
        need = num_envs * _ENV_BYTES / 2**30
        raise ReverieError(f"{flag} {num_envs:,} is above the {MAX_NUM_ENVS:,} envs one process steps (their "
                           f"rollouts alone would take at least {need:,.1f} GiB in a 10x10 grid world); "
                           f"spread a larger batch over processes with torchrun")
    return num_envs


def check_train_levels(levels: Any, flag: str = "--train-levels") -> int | None:
    """A generated training bank's size: None (the env id's) or 1 to :data:`MAX_GENERATED_LEVELS`."""
    if levels is None:
        return None
    if isinstance(levels, bool) or not isinstance(levels, int) or levels < 1:
        raise ReverieError(f"{flag} must be a positive integer, got {levels!r}")
    if levels > MAX_GENERATED_LEVELS:
        hours = levels / 50_000 * 30 / 3600
        raise ReverieError(f"{flag} {levels:,} is above the cap of {MAX_GENERATED_LEVELS:,} generated levels "
                           f"(generating them would take ~{hours:,.0f} hours and {levels * 100 / 2**30:,.1f} GiB)")
    return levels


def check_threads(threads: Any, flag: str = "--threads") -> int:
    """Torch CPU threads: 0 (torch's default) or a positive integer."""
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 0:
        raise ReverieError(f"{flag} must be 0 (torch's default) or a positive integer, got {threads!r}")
    return threads


def check_limits(config: Any) -> None:
    """Check the fields of ``config`` (a dataclass or namespace) that have these common names."""
    from .devices import check_device

    values = vars(config) if hasattr(config, "__dict__") else {}
    if values.get("seed") is not None:
        check_seed(values["seed"], _flag("seed"))
    if values.get("num_envs") is not None:
        check_num_envs(values["num_envs"])
    if isinstance(values.get("train_levels"), (int, float)):  # a count (a Path names a level file)
        check_train_levels(values["train_levels"])
    if values.get("threads") is not None:
        check_threads(values["threads"])
    if isinstance(values.get("device"), str):
        check_device(values["device"])
