"""The levels demo: generate levels, solve them, show a solution (``reverie levels demo``).

It exercises the whole Sokoban stack end to end in seconds: the paper's generator makes
levels, the push-optimal solver proves each one solvable, the solution is replayed through
the batched rules (the same ones agents train on), and a GIF shows it. The main job,
``reverie run``, is the I2A pipeline (:mod:`reverie.workflows.pipeline`).
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.errors import ReverieError
from ..core.config import option, to_dict


@dataclass
class QuickstartConfig:
    """What ``reverie levels demo`` makes and where it writes it."""

    levels: int = option(8, "how many levels to generate and solve")
    height: int = option(10, "room height, border walls included")
    width: int = option(10, "room width, border walls included")
    boxes: int = option(4, "boxes (and targets) per level")
    seed: int = option(0, "generator seed: the same seed gives the same levels")
    time_limit: float = option(20.0, "seconds the solver may spend on one level")
    out: Path = option(Path("runs/quickstart"), "output folder")

    def __post_init__(self) -> None:
        self.out = Path(self.out)
        if self.levels < 1:
            raise ReverieError(f"--levels must be >= 1, got {self.levels}")
        if self.time_limit <= 0:
            raise ReverieError(f"--time-limit must be > 0, got {self.time_limit}")


def run(config: QuickstartConfig, progress: bool = True) -> dict[str, Any]:
    """Run the job; returns the summary it also writes to ``out/summary.json``."""
    from tqdm import tqdm

    from ..envs.sokoban.generator import generate_levels
    from ..envs.sokoban.levels import format_level_file
    from ..envs.sokoban.play import PlaySession
    from ..envs.sokoban.solver import SolverTimeout, solve
    from ..envs.sokoban.render import rgb_image
    from ..evaluation.pictures import save_gif, save_montage

    out = config.out
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(to_dict(config), indent=2) + "\n")

    start = time.perf_counter()
    try:
        bank = generate_levels(config.levels, config.height, config.width, config.boxes, config.seed)
    except ValueError as err:
        raise ReverieError(str(err)) from None
    generate_seconds = time.perf_counter() - start
    (out / "levels.txt").write_text(format_level_file(bank))
    save_montage([rgb_image(level.codes) for level in bank], out / "levels.png")

    results = []
    for level in tqdm(bank, desc="solving", unit="level", disable=not progress):
        try:
            solution = solve(level, time_limit=config.time_limit)
        except SolverTimeout:
            solution = None
        results.append({
            "level": level.name,
            "solved": solution is not None,
            "pushes": solution.pushes if solution else None,
            "moves": solution.moves if solution else None,
            "seconds": round(solution.seconds, 4) if solution else None,
            "actions": list(solution.actions) if solution else None,
        })
    (out / "solutions.json").write_text(json.dumps(results, indent=1) + "\n")

    solved = [r for r in results if r["solved"]]
    summary: dict[str, Any] = {
        "levels": len(results),
        "solved": len(solved),
        "generate_ms_per_level": round(1000 * generate_seconds / len(results), 2),
        "solve_seconds_median": statistics.median(r["seconds"] for r in solved) if solved else None,
        "pushes_mean": round(statistics.mean(r["pushes"] for r in solved), 2) if solved else None,
        "moves_mean": round(statistics.mean(r["moves"] for r in solved), 2) if solved else None,
    }
    if solved:
        hardest = max(range(len(results)), key=lambda i: results[i]["pushes"] or -1)
        replay = PlaySession(bank[hardest])
        grids = [replay.codes.copy()]
        for action in results[hardest]["actions"]:
            replay.act(action)
            grids.append(replay.codes.copy())
        save_gif([rgb_image(grid) for grid in grids], out / "solution.gif")
        summary.update(
            gif_level=results[hardest]["level"],
            gif_replay_solved=replay.solved,
            gif_replay_return=round(replay.total_reward, 2),
        )
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def describe(summary: dict[str, Any], out: Path) -> str:
    """The summary as a few lines for the terminal."""
    lines = [
        f"generated {summary['levels']} levels ({summary['generate_ms_per_level']} ms each)",
        f"solved {summary['solved']}/{summary['levels']} optimally in pushes"
        + (f": {summary['pushes_mean']} pushes, {summary['moves_mean']} moves on average, "
           f"median {summary['solve_seconds_median']:.3f} s per level" if summary["solved"] else ""),
    ]
    if "gif_level" in summary:
        lines.append(
            f"replayed the longest solution ({summary['gif_level']}) through the env's rules: "
            f"solved={summary['gif_replay_solved']}, return {summary['gif_replay_return']}"
        )
    lines.append(f"wrote {out}/levels.txt, levels.png, solutions.json, solution.gif, summary.json")
    return "\n".join(lines)
