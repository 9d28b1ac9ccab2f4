"""The reference solution length of Sokoban episodes, for search's optimal-length ratio.

Offered to generic code as ``spec.extra["optimal_moves"]``: the moves of the push-optimal
solution (:mod:`.solver`: fewest pushes, shortest walks between them) of the levels that
episodes played, ``None`` where the solver does not finish within its time limit. Solutions
are cached per level for the life of the process (a level is solved once however often the
efficiency table plays it).
"""

from __future__ import annotations

from typing import Sequence

__all__ = ["optimal_moves", "REFERENCE"]

#: What the reference is, for reports ("length / push-optimal solution's moves").
REFERENCE = "push-optimal"

_CACHE: dict[bytes, int | None] = {}


def optimal_moves(spec, source: str, episodes: Sequence[int], time_limit: float) -> list[int | None]:
    """Moves of the push-optimal solution of the level each of ``episodes`` of ``source`` plays
    (episode ``j``: level ``j mod len(levels)``, as ``reset_to`` starts it)."""
    from .solver import SolverTimeout, solve
    from .spec import _levels

    bank = _levels(spec, source, spec.options.get("levels_dir"), spec.options.get("train_levels"))
    moves: list[int | None] = []
    for j in episodes:
        index = int(j) % len(bank)
        key = bank.codes[index].tobytes()
        if key not in _CACHE:
            try:
                solution = solve(bank[index], time_limit=time_limit)
                _CACHE[key] = solution.moves if solution else None
            except SolverTimeout:
                _CACHE[key] = None
        moves.append(_CACHE[key])
    return moves
