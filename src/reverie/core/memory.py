"""Keep freed large blocks for reuse instead of handing them back to the OS after every step.

Why: glibc's malloc serves every allocation above its mmap threshold (at most 32 MB by default)
with a fresh ``mmap`` and unmaps it on free, so a tensor of that size made on every step (a
16,384-game batch of float32 Sokoban observations is 46 MB) costs the kernel a page fault and
a page of zeroing per 4 KB, every step: measured, that made a 16k-game env step 6x slower than
the same step with the block kept. Raising the mmap and trim thresholds keeps such blocks in
malloc's heap, where the next step's allocation of the same size reuses them.

The setting is process-wide, so the library never makes it on its own: the ``reverie``
command does (it owns its process), and Python users call :func:`reuse_freed_memory` once.
The cost: memory freed by the process stays mapped (its peak, not its current need). Without
glibc (macOS, Windows, musl) it does nothing and says so.
"""

from __future__ import annotations

import ctypes
import ctypes.util

__all__ = ["reuse_freed_memory", "MMAP_THRESHOLD", "TRIM_THRESHOLD"]

#: Allocations up to this size come from malloc's heap (and are reused), not from fresh mmaps.
MMAP_THRESHOLD = 256 << 20
#: Free memory at the heap's top above this is returned to the OS.
TRIM_THRESHOLD = 512 << 20
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters
_applied: bool | None = None


def reuse_freed_memory() -> bool:
    """Set glibc's mmap and trim thresholds (see the module docstring); True where they were
    set (glibc), False where this C library has no ``mallopt``. Idempotent."""
    global _applied
    if _applied is not None:
        return _applied
    _applied = False
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    _applied = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    return _applied
