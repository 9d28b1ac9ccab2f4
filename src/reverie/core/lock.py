"""One writer per run folder: an OS lock on ``DIR/.lock`` held while a process trains there.

``fcntl.flock`` locks belong to an open file, so the kernel drops the lock when its process
ends, however it ends (SIGKILL included): the file a killed run leaves behind never blocks the
resume. The file names its holder (pid, host, start time) for the message that refuses a second
writer; the holder deletes it on release. Where ``fcntl`` does not exist (Windows) runs are not
locked.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from .atomic import cannot_write
from .errors import ReverieError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["LOCK_NAME", "locked_run_folder", "lock_holder"]

LOCK_NAME = ".lock"


@contextmanager
def locked_run_folder(run_dir: str | Path) -> Iterator[Path]:
    """Hold ``run_dir``'s lock for the ``with`` block (creating the folder; one it created and
    left empty is removed again). Another holder: a one-line :class:`ReverieError` naming it."""
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise ReverieError(f"{run_dir}: exists and is not a folder")
    created = not run_dir.exists()
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise cannot_write(run_dir, err) from None
    path = run_dir / LOCK_NAME
    fd = _acquire(path) if fcntl is not None else None
    try:
        yield path
    finally:
        if fd is not None:
            path.unlink(missing_ok=True)  # while still held, so no one locks a file about to vanish
            os.close(fd)
        if created:
            try:
                run_dir.rmdir()  # only if nothing was written
            except OSError:
                pass


def _acquire(path: Path) -> int | None:
    """The locked file's descriptor (None where the filesystem cannot lock)."""
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as err:
            raise cannot_write(path, err) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder_text(fd)
            os.close(fd)
            raise ReverieError(f"{path.parent}: another reverie process is training in this folder ({holder}); "
                               f"wait for it to end or stop it, or choose another --run-dir") from None
        except OSError as err:  # a filesystem without locks (some network mounts): go on unlocked
            os.close(fd)
            print(f"reverie: warning: cannot lock {path} ({err.strerror}); not guarding against a second writer",
                  file=sys.stderr)
            return None
        try:  # a holder releasing between our open and our lock deleted the file we hold: again
            if os.path.samestat(os.fstat(fd), os.stat(path)):
                break
        except FileNotFoundError:
            pass
        os.close(fd)
    holder = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.strftime("%Y-%m-%d %H:%M:%S")}
    try:
        os.ftruncate(fd, 0)
        os.write(fd, (json.dumps(holder) + "\n").encode())
    except OSError as err:
        os.close(fd)
        raise cannot_write(path, err) from None
    return fd


def lock_holder(run_dir: str | Path) -> dict | None:
    """Who holds (or last held, if it was killed) ``run_dir``'s lock, as its file says."""
    try:
        return json.loads((Path(run_dir) / LOCK_NAME).read_text())
    except (OSError, ValueError):
        return None


def _holder_text(fd: int) -> str:
    try:
        holder = json.loads(os.pread(fd, 4096, 0))
        return f"pid {holder['pid']} on host {holder['host']}, since {holder['since']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "its pid is not written yet"
