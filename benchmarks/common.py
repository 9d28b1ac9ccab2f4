"""What every benchmark script shares: its section of docs/benchmarks.md and the machine's name."""

from __future__ import annotations

import platform
import time
from pathlib import Path

from reverie.core.stats import success_rate  # noqa: F401  (the scripts import it from here)

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS_MD = ROOT / "docs" / "benchmarks.md"


def boxoban_levels() -> Path | None:
    """The Boxoban folder the Sokoban benchmarks read, or None (they then generate levels).

    The library's own places first (``$REVERIE_BOXOBAN``, ``~/.local/share/reverie/boxoban-levels``),
    then ``../shared/boxoban-levels`` beside this checkout, where the recorded figures were taken."""
    from reverie.core.errors import ReverieError
    from reverie.envs.sokoban.presets import boxoban_dir

    try:
        return boxoban_dir()
    except ReverieError:
        beside = ROOT.parent / "shared" / "boxoban-levels"
        return beside if beside.is_dir() else None


def write_section(name: str, body: str, heading: str, path: Path = BENCHMARKS_MD) -> None:
    """Replace the text between ``<!-- name:start -->`` and ``<!-- name:end -->``.

    A section not yet in the file is appended under ``## heading``, so reruns update in place.
    """
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    block = f"{start}\n{body}\n{end}"
    if start in text and end in text:
        text = text[: text.index(start)] + block + text[text.index(end) + len(end):]
    else:
        text = text.rstrip() + f"\n\n## {heading}\n\n{block}\n"
    path.write_text(text)


def rerun_command(script: str, argv: list[str], output_flags: tuple[str, ...] = ("--json",),
                  switches: tuple[str, ...] = ("--no-docs",)) -> str:
    """The command line that reproduces a run, recorded beside its figures: ``argv`` without the
    flags that only say where the output went (``--json PATH`` or ``--json=PATH``, ``--no-docs``)."""
    flags, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg in output_flags:
            skip = True
        elif arg in switches or arg.startswith(tuple(f"{flag}=" for flag in output_flags)):
            continue
        else:
            flags.append(arg)
    return " ".join([f"PYTHONPATH=src python benchmarks/{script}", *flags])


def save_figure(fig, path: Path, dpi: int = 110) -> None:
    """Write a matplotlib figure (its folder made if missing) and release it."""
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)


def cpu_name() -> str:
    """The CPU's model name (Linux), else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


#: Whether timings run with the ``reverie`` command's allocator setting; a script's
#: ``--default-allocator`` clears it before timing anything (the setting cannot be undone).
COMMAND_ALLOCATOR = True


def command_allocator() -> str:
    """Keep freed large blocks for reuse (:func:`reverie.core.memory.reuse_freed_memory`), as
    the ``reverie`` command does for its process, unless :data:`COMMAND_ALLOCATOR` is off; the
    allocator the timings ran with, in words, for the record."""
    from reverie.core.memory import reuse_freed_memory

    if not COMMAND_ALLOCATOR:
        return "glibc default"
    return "freed blocks kept (as the reverie command runs)" if reuse_freed_memory() else "default (no glibc mallopt)"


def time_training(trainer, seconds: float, warmup: int) -> dict:
    """Train ``warmup`` updates untimed, then for ``seconds``: frames, frames/s and the share
    of the time spent acting (collecting the rollout) rather than learning (the update).

    ``cpu_frames_per_s`` divides by the CPU time the process got instead of the wall-clock: on a
    shared machine the scheduler's share changes from one timing to the next, the CPU time a
    frame needs much less so (with one torch thread, the two agree on an idle machine).

    The process keeps freed large blocks for reuse first, as the ``reverie`` command does for
    its own (see :func:`command_allocator`), so the timings are the command's."""
    command_allocator()
    for _ in range(warmup):
        trainer.train_step()
    acting = learning = 0.0
    updates, start, cpu_start = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - start < seconds:
        t0 = time.perf_counter()
        rollout = trainer.collect()
        t1 = time.perf_counter()
        trainer.update(rollout)
        t2 = time.perf_counter()
        acting, learning, updates = acting + t1 - t0, learning + t2 - t1, updates + 1
    frames = updates * trainer.frames_per_update
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    return {"updates": updates, "frames": frames, "frames_per_s": frames / wall,
            "cpu_frames_per_s": round(frames / max(cpu, 1e-9), 1), "cpu_share": round(cpu / wall, 3),
            "acting_share": round(acting / (acting + learning), 3)}
