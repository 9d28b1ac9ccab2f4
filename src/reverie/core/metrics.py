"""Run metrics: one JSON line per record, a CSV beside it, and TensorBoard events.

JSONL is the record of truth (every key, any order, appended as it comes); the CSV is
rewritten from it on close for spreadsheet users; TensorBoard gets every number. On resume
the records past the checkpoint's step are dropped, so a resumed run's curves hold each
step once. A last line cut short (a crash mid-write) is dropped with a warning; a bad line
elsewhere is an error naming the file and line. A failed write (full disk, read-only folder)
is a one-line :class:`ReverieError` naming the file.
"""

from __future__ import annotations

import csv
import json
import math
import sys
from pathlib import Path
from typing import Any

from .atomic import atomic_write, cannot_write
from .errors import ReverieError


class MetricsLogger:
    """Append-only metrics for one run directory."""

    def __init__(self, run_dir: str | Path, tensorboard: bool = True, resume_step: int | None = None) -> None:
        self.run_dir = Path(run_dir)
        self.jsonl = self.run_dir / "metrics.jsonl"
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            if resume_step is not None:
                self._truncate_after(resume_step)
            elif self.jsonl.exists():
                self.jsonl.unlink()
            self._file = self.jsonl.open("a")
        except OSError as err:
            raise cannot_write(self.jsonl, err) from None
        self._writer = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(str(self.run_dir / "tensorboard"), purge_step=resume_step)

    def _truncate_after(self, step: int) -> None:
        if not self.jsonl.exists():
            return
        kept = [record for record in read_metrics(self.jsonl) if record.get("step", 0) <= step]
        with atomic_write(self.jsonl, "w") as f:
            f.write("".join(json.dumps(record) + "\n" for record in kept))

    def log(self, step: int, values: dict[str, Any]) -> None:
        record = {"step": int(step)}
        for key, value in values.items():
            if hasattr(value, "item"):
                value = value.item()
            record[key] = value
        try:
            self._file.write(json.dumps(record) + "\n")
            self._file.flush()
        except OSError as err:
            raise cannot_write(self.jsonl, err) from None
        if self._writer is not None:
            for key, value in record.items():
                if key != "step" and isinstance(value, (int, float)) and math.isfinite(value):
                    self._writer.add_scalar(key, value, step)

    def close(self) -> None:
        try:
            self._file.close()
        except OSError as err:
            raise cannot_write(self.jsonl, err) from None
        if self._writer is not None:
            self._writer.close()
        write_csv(self.jsonl, self.run_dir / "metrics.csv")


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """Every record of a metrics.jsonl (or of a run directory's).

    A last line without its newline that is not JSON is what a crash mid-write leaves: it is
    dropped with a warning on stderr. Any other bad line is a :class:`ReverieError` naming the
    file and line."""
    path = Path(path)
    if path.is_dir():
        path = path / "metrics.jsonl"
    text = path.read_text()
    lines = text.splitlines()
    records = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            if number == len(lines) and not text.endswith("\n"):
                print(f"reverie: warning: {path}: dropped its last line, cut short by a crash mid-write "
                      f"({len(line)} characters)", file=sys.stderr)
                continue
            raise ReverieError(f"{path}, line {number}: not a JSON record ({err})") from None
        if not isinstance(record, dict):
            raise ReverieError(f"{path}, line {number}: not a JSON record (a {type(record).__name__})")
        records.append(record)
    return records


def write_csv(jsonl: Path, csv_path: Path) -> None:
    records = read_metrics(jsonl) if jsonl.exists() else []
    keys: list[str] = []
    for record in records:
        keys.extend(k for k in record if k not in keys)
    with atomic_write(csv_path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=keys)
        writer.writeheader()
        writer.writerows(records)
