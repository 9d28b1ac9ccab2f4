"""Atomic file writes: a temp file in the same folder, flushed, then renamed over the target.

A crash or a full disk mid-write leaves the previous file intact, never half of a new one;
an OS error (full disk, read-only folder) becomes a one-line :class:`ReverieError` naming the
file. A process killed mid-write (SIGKILL) leaves its temp file ``.NAME.XXXX.tmp``;
:func:`remove_stale_temps` clears them when the folder's next writer starts.
"""

from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Iterator

from .errors import ReverieError

TEMP_SUFFIX = ".tmp"


def os_reason(err: OSError) -> str:
    """An OSError's reason without the path ("No space left on device")."""
    return err.strerror or str(err) or type(err).__name__


class WriteFailed(ReverieError, OSError):
    """A write that failed (full disk, read-only folder): one line for the user, and still an
    OSError for code that tolerates failed writes (e.g. a read-only cache)."""

    def __str__(self) -> str:
        return str(self.args[0])


def cannot_write(path: str | Path, err: OSError) -> WriteFailed:
    """The one-line error for a failed write of ``path`` (keeping the errno)."""
    failed = WriteFailed(f"cannot write {path}: {os_reason(err)}")
    failed.errno, failed.filename = err.errno, str(path)
    return failed


@contextmanager
def atomic_write(path: str | Path, mode: str = "wb", **open_kwargs: Any) -> Iterator[IO]:
    """``with atomic_write(path) as f: ...`` writes ``path`` all at once or not at all
    (an OSError on the way: :class:`ReverieError` "cannot write PATH: REASON")."""
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
        with os.fdopen(fd, mode, **open_kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException as err:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        cause = _os_error_in(err)
        if cause is not None and not isinstance(cause, ReverieError):
            raise cannot_write(path, cause) from None
        raise


def _os_error_in(err: BaseException | None) -> OSError | None:
    """The OSError behind ``err`` (torch.save reports a full disk as a RuntimeError whose
    context is the OSError)."""
    seen = set()
    while err is not None and id(err) not in seen:
        if isinstance(err, OSError):
            return err
        seen.add(id(err))
        err = err.__cause__ or err.__context__
    return None


def remove_stale_temps(folder: str | Path) -> list[Path]:
    """Delete the temp files :func:`atomic_write` left in ``folder`` when its process was killed
    mid-write; call only while no other process writes there (e.g. under the run-folder lock)."""
    removed = []
    for tmp in Path(folder).glob(f".*{TEMP_SUFFIX}"):
        if tmp.is_file():
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def write_json(path: str | Path, data: Any, indent: int = 1) -> Path:
    """``data`` as JSON (non-JSON values via ``str``), written atomically."""
    with atomic_write(path, "w") as f:
        f.write(json.dumps(data, indent=indent, default=str) + "\n")
    return Path(path)
