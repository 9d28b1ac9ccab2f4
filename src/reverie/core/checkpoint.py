"""Atomic, resumable checkpoints that never unpickle arbitrary objects.

A checkpoint is a dict of tensors, numbers, strings, lists and dicts saved with
``torch.save`` and read back with ``torch.load(weights_only=True)``, so a hostile file
cannot run code. Writes go to a temporary file in the same folder, are flushed to disk and
renamed over the target, so a crash mid-write leaves the previous checkpoint intact.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .errors import ReverieError
from .atomic import WriteFailed, atomic_write

FORMAT = "reverie-checkpoint"
VERSION = 1


def save_checkpoint(path: str | Path, state: dict[str, Any], kind: str) -> Path:
    """Write ``state`` atomically; ``kind`` names what it is (e.g. "actor-critic-run")."""
    _check_plain(state, "state")
    path = Path(path)
    payload = {"format": FORMAT, "version": VERSION, "kind": kind, "state": state}
    existed = path.is_file()
    try:
        with atomic_write(path) as f:
            torch.save(payload, f)
    except WriteFailed as err:  # a full disk or a read-only folder: the old file is untouched
        if not existed:
            raise
        raise WriteFailed(f"{err}; the previous checkpoint is intact") from None
    return path


_PLAIN = (torch.Tensor, int, float, bool, str, bytes, type(None))


def _check_plain(value: Any, where: str) -> None:
    """Refuse at save time what ``weights_only`` loading would refuse at resume time."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, (str, int)):
                raise TypeError(f"checkpoint key {where}[{key!r}] must be a str or int")
            _check_plain(item, f"{where}[{key!r}]")
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check_plain(item, f"{where}[{i}]")
    elif not isinstance(value, _PLAIN):
        raise TypeError(f"checkpoint value {where} is a {type(value).__name__}; store tensors and plain data only")


def load_checkpoint(path: str | Path, kind: str | None = None,
                    map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`; clear errors for bad files."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such checkpoint file")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises many types for truncated or foreign files
        raise ReverieError(
            f"{path}: not a readable reverie checkpoint: the file is corrupt, truncated, or holds "
            f"more than tensors and plain data ({type(err).__name__})"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ReverieError(f"{path}: not a reverie checkpoint")
    if payload.get("version") != VERSION:
        raise ReverieError(f"{path}: checkpoint version {payload.get('version')} is not supported (expected {VERSION})")
    if kind is not None and payload.get("kind") != kind:
        raise ReverieError(f"{path}: holds a {payload.get('kind')!r} checkpoint, expected {kind!r}")
    return payload["state"]


def rng_state() -> dict[str, Any]:
    """Every global random generator's state (Python, numpy, torch CPU and CUDA)."""
    np_state = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": {"key": torch.from_numpy(np_state[1].astype(np.int64)), "pos": int(np_state[2]),
                  "has_gauss": int(np_state[3]), "gauss": float(np_state[4])},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` captured."""
    random.setstate(_as_tuple(state["python"]))
    n = state["numpy"]
    np.random.set_state(("MT19937", n["key"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _as_tuple(value: Any) -> Any:
    """Python's random state is nested tuples; a round trip may hand back lists."""
    if isinstance(value, (list, tuple)):
        return tuple(_as_tuple(v) for v in value)
    return value
