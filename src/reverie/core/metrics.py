"""Run metrics: one JSON line per record, a CSV beside it, and TensorBoard events.

JSONL is the record of truth (every key, any order, appended as it comes); the CSV is
rewritten from it on close for spreadsheet users; TensorBoard gets every number. On resume
the records past the checkpoint's step are dropped, so a resumed run's curves hold each
step once.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any


class MetricsLogger:
    """Append-only metrics for one run directory."""

    def __init__(self, run_dir: str | Path, tensorboard: bool = True, resume_step: int | None = None) -> None:
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.jsonl = self.run_dir / "metrics.jsonl"
        if resume_step is not None:
            self._truncate_after(resume_step)
        elif self.jsonl.exists():
            self.jsonl.unlink()
        self._file = self.jsonl.open("a")
        self._writer = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(str(self.run_dir / "tensorboard"), purge_step=resume_step)

    def _truncate_after(self, step: int) -> None:
        if not self.jsonl.exists():
            return
        kept = [line for line in self.jsonl.read_text().splitlines()
                if line.strip() and json.loads(line).get("step", 0) <= step]
        self.jsonl.write_text("".join(line + "\n" for line in kept))

    def log(self, step: int, values: dict[str, Any]) -> None:
        record = {"step": int(step)}
        for key, value in values.items():
            if hasattr(value, "item"):
                value = value.item()
            record[key] = value
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()
        if self._writer is not None:
            for key, value in record.items():
                if key != "step" and isinstance(value, (int, float)) and math.isfinite(value):
                    self._writer.add_scalar(key, value, step)

    def close(self) -> None:
        self._file.close()
        if self._writer is not None:
            self._writer.close()
        write_csv(self.jsonl, self.run_dir / "metrics.csv")


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """Every record of a metrics.jsonl (or of a run directory's)."""
    path = Path(path)
    if path.is_dir():
        path = path / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def write_csv(jsonl: Path, csv_path: Path) -> None:
    records = read_metrics(jsonl) if jsonl.exists() else []
    keys: list[str] = []
    for record in records:
        keys.extend(k for k in record if k not in keys)
    with csv_path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=keys)
        writer.writeheader()
        writer.writerows(records)
