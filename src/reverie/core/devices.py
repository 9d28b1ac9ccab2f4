"""Checking a ``--device`` before any work starts, in one place for every config.

Why: torch accepts ``"cuda"`` on a CPU-only build and fails only at the first tensor moved
there ("Torch not compiled with CUDA enabled", mid-run, with a traceback), and rejects
``"banana"`` with a list of twenty device types. Configs call :func:`check_device` in their
``__post_init__`` so a bad device is one line before anything is written.
"""

from __future__ import annotations

import torch

from .errors import ReverieError


def check_device(name: str | torch.device, flag: str = "--device") -> torch.device:
    """The torch device ``name`` names, or a one-line :class:`ReverieError` when it is not a
    device or not usable here (CUDA or MPS absent, an index past the GPUs present)."""
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError, ValueError):
        raise ReverieError(f"{flag} {name!r} is not a torch device (cpu, cuda, cuda:1, mps, ...)") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ReverieError(f"{flag} {name}: torch {torch.__version__} sees no CUDA device here "
                               "(a CPU-only build or no GPU); use --device cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ReverieError(f"{flag} {name}: only {torch.cuda.device_count()} CUDA device(s) here")
    elif device.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ReverieError(f"{flag} {name}: this torch has no usable MPS (Apple GPU) backend; use --device cpu")
    elif device.type != "cpu":
        raise ReverieError(f"{flag} {name}: reverie runs on cpu, cuda or mps devices")
    return device
