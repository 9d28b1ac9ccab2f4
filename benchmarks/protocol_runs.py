"""What the training protocols share: one ``reverie train`` run folder per (agent, seed),
trained ``parallel`` at a time, resumed when interrupted, and archived when finished.

A finished run's record (its config, metrics, evaluation and summary, without the
checkpoint) is copied into the protocol's archive folder in the repository as soon as it
finishes, so a protocol's table can grow across machines and sessions.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

RECORD_FILES = ("config.json", "summary.json", "evaluation.json", "metrics.jsonl")


def run_dir(runs: Path, agent: str, seed: int) -> Path:
    return runs / f"{agent}-seed{seed}"


def finished(path: Path) -> bool:
    summary = path / "summary.json"
    return summary.is_file() and json.loads(summary.read_text()).get("completed", False)


def archive(path: Path, archive_dir: Path) -> None:
    """Copy a finished run's record (not its checkpoint) into ``archive_dir``."""
    if finished(path) and path.parent != archive_dir:
        target = archive_dir / path.name
        target.mkdir(parents=True, exist_ok=True)
        for name in RECORD_FILES:
            shutil.copyfile(path / name, target / name)


def record(runs: Path, agent: str, seed: int, archive_dir: Path) -> Path | None:
    """Where a finished run's files are: its run folder, else its archived record, else nowhere."""
    for path in (run_dir(runs, agent, seed), archive_dir / run_dir(runs, agent, seed).name):
        if finished(path):
            return path
    return None


def command(path: Path, agent: str, seed: int, settings: dict, agent_options: str = "") -> list[str]:
    """The ``reverie train`` call for one run (a resume when its checkpoint exists)."""
    base = [sys.executable, "-m", "reverie", "train"]
    if (path / "checkpoint.pt").is_file():
        return base + ["--resume", str(path), "--quiet"]
    settings = {"agent_options": agent_options} | settings
    flags = [(f"--{key}" if value else f"--no-{key}") if isinstance(value, bool) else f"--{key}={value}"
             for key, value in ((k.replace("_", "-"), v) for k, v in settings.items() if v != "")]
    return base + flags + [f"--agent={agent}", f"--seed={seed}", f"--run-dir={path}", "--threads=1", "--quiet"]


def train_all(jobs: dict[Path, list[str]], parallel: int, archive_dir: Path) -> None:
    """Run every unfinished run folder's command, ``parallel`` at a time; stop at a failure."""
    pending = [(path, cmd) for path, cmd in jobs.items() if not finished(path)]
    running: list[tuple[subprocess.Popen, Path]] = []
    while pending or running:
        while pending and len(running) < parallel:
            path, cmd = pending.pop(0)
            path.parent.mkdir(parents=True, exist_ok=True)
            log = open(path.with_suffix(".log"), "a")
            print(f"start {path.name}", flush=True)
            running.append((subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT), path))
        time.sleep(2)
        for process, path in list(running):
            if process.poll() is not None:
                running.remove((process, path))
                if process.returncode != 0:
                    raise SystemExit(f"{path.name} failed (exit {process.returncode}); see {path.with_suffix('.log')}")
                archive(path, archive_dir)
                print(f"done  {path.name}", flush=True)
