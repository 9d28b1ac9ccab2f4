"""Tests of the batched I2A-style level generator: shapes, reproducibility, solvability."""

from __future__ import annotations

import numpy as np
import pytest

from reverie.envs.sokoban import cells
from reverie.envs.sokoban.bank import LevelBank
from reverie.envs.sokoban.generator import generate_levels

SIZES = [(7, 7, 2), (10, 10, 4), (8, 12, 3), (6, 6, 1)]

# Environment actions: 1 up, 2 down, 3 left, 4 right, as (row, col) steps.
MOVES = {1: (-1, 0), 2: (1, 0), 3: (0, -1), 4: (0, 1)}


def play(level: np.ndarray, actions) -> tuple[bool, int]:
    """Replay actions with the plain Sokoban rules; returns (solved, first solved step).

    Every action must move the player (a solution wastes no bumps into walls), so a move
    into a wall or into a box that cannot be pushed fails the test right here.
    """
    walls = level == cells.WALL
    targets = {tuple(p) for p in np.argwhere(cells.IS_TARGET[level])}
    boxes = {tuple(p) for p in np.argwhere(cells.IS_BOX[level])}
    (r, c), = np.argwhere(cells.IS_PLAYER[level])
    first_solved = -1
    for i, action in enumerate(actions):
        dr, dc = MOVES[action]
        nxt = (r + dr, c + dc)
        assert not walls[nxt], f"action {i} walks into a wall"
        if nxt in boxes:
            beyond = (nxt[0] + dr, nxt[1] + dc)
            assert not walls[beyond] and beyond not in boxes, f"action {i} pushes a stuck box"
            boxes.remove(nxt)
            boxes.add(beyond)
        r, c = nxt
        if first_solved < 0 and boxes == targets:
            first_solved = i
    return boxes == targets, first_solved


@pytest.mark.parametrize("height, width, boxes", SIZES)
def test_levels_are_well_formed(height, width, boxes):
    bank = generate_levels(40, height, width, boxes, seed=1)
    assert isinstance(bank, LevelBank)
    assert bank.codes.shape == (40, height, width) and bank.codes.dtype == np.uint8
    codes = bank.codes
    assert (cells.IS_PLAYER[codes].sum(axis=(1, 2)) == 1).all()
    assert (cells.IS_BOX[codes].sum(axis=(1, 2)) == boxes).all()
    assert (cells.IS_TARGET[codes].sum(axis=(1, 2)) == boxes).all()
    assert not (codes == cells.BOX_ON_TARGET).any(), "a box starts on a target"
    border = np.concatenate([codes[:, 0], codes[:, -1], codes[:, :, 0], codes[:, :, -1]], 1)
    assert (border == cells.WALL).all()
    assert bank.names[3] == f"generated {height}x{width}/{boxes} seed 1 #3"
    assert bank[0].name == bank.names[0]


def test_rooms_are_connected_and_varied():
    bank = generate_levels(50, seed=2)
    for level in bank.codes:
        open_cells = level != cells.WALL
        (start,) = [tuple(p) for p in np.argwhere(cells.IS_PLAYER[level])]
        seen, stack = {start}, [start]
        while stack:
            r, c = stack.pop()
            for nxt in ((r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1)):
                if open_cells[nxt] and nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)
        assert len(seen) == open_cells.sum(), "floor the player cannot reach"
    assert len({level.tobytes() for level in bank.codes}) == 50
    floor = (bank.codes != cells.WALL).sum(axis=(1, 2))
    assert 20 <= floor.mean() <= 45  # Boxoban's 10x10 rooms average about 32 floor cells


def test_same_seed_same_levels_and_prefixes_agree():
    a = generate_levels(12, seed=3)
    b = generate_levels(12, seed=3)
    np.testing.assert_array_equal(a.codes, b.codes)
    np.testing.assert_array_equal(generate_levels(5, seed=3).codes, a.codes[:5])
    np.testing.assert_array_equal(generate_levels(1, seed=3).codes, a.codes[:1])
    assert generate_levels(5, seed=3).names == a.names[:5]


def test_different_seeds_differ():
    a = generate_levels(8, seed=0).codes
    b = generate_levels(8, seed=1).codes
    assert not any(np.array_equal(x, y) for x, y in zip(a, b))


def test_negative_and_large_seeds_work():
    assert len(generate_levels(2, 7, 7, 2, seed=-5)) == 2
    assert len(generate_levels(2, 7, 7, 2, seed=2**70)) == 2


def test_solutions_replay_to_solved():
    for height, width, boxes in SIZES:
        bank, solutions = generate_levels(25, height, width, boxes, seed=4, with_solutions=True)
        assert len(solutions) == len(bank)
        for level, actions in zip(bank.codes, solutions):
            assert isinstance(actions, tuple) and actions
            assert set(actions) <= {1, 2, 3, 4}
            solved, first = play(level, actions)
            assert solved
            assert first == len(actions) - 1, "the solution runs past the solved position"


def test_solutions_do_not_change_levels():
    plain = generate_levels(10, 8, 12, 3, seed=6)
    bank, _ = generate_levels(10, 8, 12, 3, seed=6, with_solutions=True)
    np.testing.assert_array_equal(plain.codes, bank.codes)


def test_walk_settings_change_levels():
    a = generate_levels(6, seed=7).codes
    b = generate_levels(6, seed=7, walks=8, walk_length=100, topology_steps=20).codes
    assert not np.array_equal(a, b)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(n=0), "n must be at least 1"),
        (dict(n=2, height=4), "at least 5"),
        (dict(n=2, width=3), "at least 5"),
        (dict(n=2, boxes=0), "boxes must be at least 1"),
        (dict(n=2, height=5, width=5, boxes=7), "do not fit"),
        (dict(n=2, walks=0), "walks and walk_length"),
        (dict(n=2, walk_length=0), "walks and walk_length"),
        (dict(n=2, topology_steps=0), "topology_steps"),
        (dict(n=2.5), "n must be an integer"),
        (dict(n=2, boxes=True), "boxes must be an integer"),
        (dict(n=2, seed=1.5), "seed must be an integer"),
    ],
)
def test_bad_arguments_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        generate_levels(**kwargs)


def test_impossible_configuration_gives_up_with_a_message():
    # Two digger steps leave a tiny room where 4 boxes can hardly ever be pulled apart.
    with pytest.raises(ValueError, match="could not make"):
        generate_levels(1, 10, 10, 4, topology_steps=1, walks=1, walk_length=5)


def test_levels_are_solved_by_the_solver():
    try:
        from reverie.envs.sokoban.solver import solve
    except ImportError as err:
        pytest.skip(f"the solver is not available yet ({err})")
    bank = generate_levels(5, 7, 7, 2, seed=8)
    for i in range(len(bank)):
        level = bank[i]
        solution = solve(level, 10.0)
        assert solution is not None, f"{level.name} has no solution"
        solved, _ = play(level.codes, solution.actions)
        assert solved


def test_solutions_replay_in_the_batched_rules():
    try:
        import torch

        from reverie.envs.sokoban import rules
    except ImportError as err:
        pytest.skip(f"the batched rules are not available yet ({err})")
    bank, solutions = generate_levels(64, seed=9, with_solutions=True)
    longest = max(map(len, solutions))
    actions = torch.zeros(len(bank), longest, dtype=torch.long)  # 0 is the no-op
    for i, solution in enumerate(solutions):
        actions[i, : len(solution)] = torch.tensor(solution)
    codes = torch.from_numpy(bank.codes.reshape(len(bank), -1).copy())
    player = rules.player_index(codes)
    tables = rules.make_tables(bank.shape[1])
    for k in range(longest):
        solved = rules.step_(codes, player, actions[:, k], tables).solved
        finished = torch.tensor([len(s) - 1 == k for s in solutions])
        assert bool(solved[finished].all())
        assert not bool(solved[torch.tensor([len(s) - 1 > k for s in solutions])].any())
