"""Tests of the batched Sokoban rules (``reverie.envs.sokoban.rules``).

Every push case is written once as a row moving right and checked in all four directions
by flipping and transposing the grid. Property tests replay random action sequences and
compare the torch rules with a plain-Python reference written here from the rules' text.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from conftest import PROPERTY, HARD, UNFILTERED_TEST, as_batch, grid, grid_text, random_grid
from reverie.envs.sokoban import cells, rules
from reverie.envs.sokoban.bank import load_boxoban
from reverie.envs.sokoban.generator import generate_levels

NOOP, UP, DOWN, LEFT, RIGHT = range(5)
DELTA = {NOOP: (0, 0), UP: (-1, 0), DOWN: (1, 0), LEFT: (0, -1), RIGHT: (0, 1)}
REWARDS = (-0.1, 0.9, -1.1, 10.9)


# -- helpers ------------------------------------------------------------------------------


def orient(codes: np.ndarray, action: int) -> np.ndarray:
    """Turn a grid written for a move right into the same situation for ``action``."""
    if action == RIGHT:
        return codes.copy()
    if action == LEFT:
        return np.fliplr(codes).copy()
    if action == DOWN:
        return codes.T.copy()
    if action == UP:
        return np.flipud(codes.T).copy()
    raise AssertionError(action)


def corridor(row: str, stray_box: bool) -> np.ndarray:
    """A one-row level around ``row``; ``stray_box`` adds a walled-in box off target below,
    so the level is not solved whatever happens in the row."""
    width = len(row)
    rows = ["#" * width, row]
    if stray_box:
        rows.append("#$" + "#" * (width - 2))
    rows.append("#" * width)
    return grid("\n".join(rows))


def step_one(codes: np.ndarray, action: int):
    """The pure rules on one [H, W] grid: (next grid, result with the batch dim dropped)."""
    batch = as_batch(codes)
    copy = batch.clone()
    nxt, result = rules.step(batch, torch.tensor([action]), rules.make_tables(codes.shape[1]))
    assert torch.equal(batch, copy), "rules.step changed its input"
    return nxt[0].numpy().reshape(codes.shape), rules.StepResult(*(t[0] for t in result))


def player_of(codes: np.ndarray) -> tuple[int, int]:
    (pos,) = np.argwhere(cells.IS_PLAYER[codes])
    return int(pos[0]), int(pos[1])


def check_redraw_cells(before_grid: np.ndarray, after_grid: np.ndarray, action: int, result) -> None:
    """``cells/before/after`` must describe the step exactly: every changed cell is listed,
    and the listed codes are the grids' codes before and after."""
    height, width = before_grid.shape
    flat_before, flat_after = before_grid.reshape(-1), after_grid.reshape(-1)
    r, c = player_of(before_grid)
    dr, dc = DELTA[action]
    p, d = r * width + c, dr * width + dc
    idx = result.cells.numpy()
    assert idx.shape == (3,)
    assert idx[0] == p and idx[1] == p + d
    if 0 <= p + 2 * d < height * width:
        assert idx[2] == p + 2 * d
    assert ((0 <= idx) & (idx < height * width)).all()
    np.testing.assert_array_equal(result.before.numpy(), flat_before[idx])
    np.testing.assert_array_equal(result.after.numpy(), flat_after[idx])
    changed = np.flatnonzero(flat_before != flat_after)
    assert set(changed.tolist()) <= set(idx.tolist()), "a cell changed that cells does not list"


# -- every push case, in every direction --------------------------------------------------

# (name, row moving right, stray box elsewhere, expected row, reward, pushed, solved)
CASES = [
    ("walk onto floor", "#@ #", True, "# @#", -0.1, False, False),
    ("walk onto target", "#@.#", True, "# +#", -0.1, False, False),
    ("walk off a target", "#+ #", True, "#.@#", -0.1, False, False),
    ("walk target to target", "#+.#", True, "#.+#", -0.1, False, False),
    ("walk into a wall", "#@#", True, "#@#", -0.1, False, False),
    ("walk into a wall from a target", "#+#", True, "#+#", -0.1, False, False),
    ("push onto floor", "#@$ #", True, "# @$#", -0.1, True, False),
    ("push onto floor from a target", "#+$ #", True, "#.@$#", -0.1, True, False),
    ("push onto a target", "#@$.#", True, "# @*#", 0.9, True, False),
    ("push onto a target from a target", "#+$.#", True, "#.@*#", 0.9, True, False),
    ("push off a target", "#@* #", True, "# +$#", -1.1, True, False),
    ("push target to target", "#@*.#", True, "# +*#", -0.1, True, False),
    ("push box into a wall (border)", "#@$#", True, "#@$#", -0.1, False, False),
    ("push placed box into the border", "#@*#", True, "#@*#", -0.1, False, False),
    ("push box into a wall inside", "#@$# #", True, "#@$# #", -0.1, False, False),
    ("no chain push into a box", "#@$$ #", True, "#@$$ #", -0.1, False, False),
    ("no chain push into a placed box", "#@$* #", True, "#@$* #", -0.1, False, False),
    ("no chain push of a placed box", "#@*$ #", True, "#@*$ #", -0.1, False, False),
    ("no chain push even with room", "#@$$  #", True, "#@$$  #", -0.1, False, False),
    ("solve the last box", "#@$.#", False, "# @*#", 10.9, True, True),
    ("solve the last of three", "#*@$.*#", False, "#* @**#", 10.9, True, True),
    ("push the only box off its target", "#@* #", False, "# +$#", -1.1, True, False),
    ("box lands on floor, not solved", "#@$ .#", False, "# @$.#", -0.1, True, False),
]


@pytest.mark.parametrize("action", [UP, DOWN, LEFT, RIGHT], ids=["up", "down", "left", "right"])
@pytest.mark.parametrize("name, row, stray, expected_row, reward, pushed, solved", CASES,
                         ids=[c[0] for c in CASES])
def test_push_cases(name, row, stray, expected_row, reward, pushed, solved, action):
    assert len(row) == len(expected_row)
    before = orient(corridor(row, stray), action)
    expected = orient(corridor(expected_row, stray), action)
    after, result = step_one(before, action)
    assert grid_text(after) == grid_text(expected), name
    assert result.reward.dtype == torch.float32
    assert result.reward.item() == pytest.approx(reward, abs=1e-6)
    assert bool(result.solved) is solved
    assert bool(result.pushed) is pushed
    check_redraw_cells(before, after, action, result)


def test_push_case_player_positions_and_redraw_codes():
    # Pushing right from (1, 1): the player moves to (1, 2), the box to (1, 3).
    before = corridor("#@$.#", True)
    after, result = step_one(before, RIGHT)
    assert player_of(after) == (1, 2)
    assert after[1, 3] == cells.BOX_ON_TARGET
    assert result.cells.tolist() == [6, 7, 8]
    assert result.before.tolist() == [cells.PLAYER, cells.BOX, cells.TARGET]
    assert result.after.tolist() == [cells.FLOOR, cells.PLAYER, cells.BOX_ON_TARGET]
    # Off a target from a target: every code of the three cells changes kind.
    after, result = step_one(corridor("#+*.#", True), RIGHT)
    assert result.before.tolist() == [cells.PLAYER_ON_TARGET, cells.BOX_ON_TARGET, cells.TARGET]
    assert result.after.tolist() == [cells.TARGET, cells.PLAYER_ON_TARGET, cells.BOX_ON_TARGET]
    assert grid_text(after[1:2]) == "#.+*#"


@pytest.mark.parametrize("text", [
    "#####\n#@$.#\n#$ .#\n#####",
    "#####\n#+$ #\n#*  #\n#####",
    "####\n#@$#\n#.##\n####",
])
def test_noop_changes_nothing(text):
    before = grid(text)
    after, result = step_one(before, NOOP)
    np.testing.assert_array_equal(after, before)
    assert result.reward.item() == pytest.approx(-0.1)
    assert not bool(result.pushed)
    assert not bool(result.solved)
    check_redraw_cells(before, after, NOOP, result)


@pytest.mark.parametrize("action", [UP, DOWN, LEFT, RIGHT])
def test_walled_in_player_cannot_move(action):
    # The player in the corner cells of the grid interior: every move hits the border,
    # including the ones whose "cell beyond" lies outside the flat grid.
    for text in ("###\n#@#\n###", "####\n#@ #\n# $#\n####", "####\n#$ #\n# @#\n####"):
        before = grid(text)
        after, result = step_one(before, action)
        r, c = player_of(before)
        dr, dc = DELTA[action]
        if before[r + dr, c + dc] == cells.WALL:
            np.testing.assert_array_equal(after, before)
            assert not bool(result.pushed)
        check_redraw_cells(before, after, action, result)


def test_boxes_next_to_the_border_in_every_direction():
    # A box against each side of the border: no push may move it, wherever beyond lands.
    text = """
        #######
        #  $  #
        #  @  #
        #$@ @$#
        #  @  #
        #  $  #
        #######
    """
    full = grid(text)
    for player_rc, action in (((2, 3), UP), ((4, 3), DOWN), ((3, 2), LEFT), ((3, 4), RIGHT)):
        before = full.copy()
        before[cells.IS_PLAYER[before]] = cells.FLOOR
        before[player_rc] = cells.PLAYER
        after, result = step_one(before, action)
        np.testing.assert_array_equal(after, before)
        assert result.reward.item() == pytest.approx(-0.1)
        assert not bool(result.pushed)
        check_redraw_cells(before, after, action, result)


def test_pure_step_leaves_input_and_step_in_place_agrees():
    codes = as_batch(corridor("#@$.#", True), corridor("#+* #", True), corridor("#@$$#", True))
    snapshot = codes.clone()
    actions = torch.tensor([RIGHT, RIGHT, RIGHT])
    tables = rules.make_tables(5)
    nxt, pure = rules.step(codes, actions, tables)
    assert torch.equal(codes, snapshot)
    assert nxt.dtype == torch.uint8 and nxt.shape == codes.shape

    inplace = codes.clone()
    player = rules.player_index(inplace)
    unplaced = rules.unplaced_boxes(inplace)
    result = rules.step_(inplace, player, actions, tables, unplaced)
    assert torch.equal(inplace, nxt)
    assert torch.equal(player, rules.player_index(nxt))
    assert torch.equal(unplaced, rules.unplaced_boxes(nxt))
    for a, b in zip(result, pure):
        assert torch.equal(a, b)


def test_player_index_and_unplaced_boxes():
    codes = as_batch(grid("#####\n#@$.#\n#$*.#\n#####"), grid("#####\n# * #\n#  +#\n#####"))
    assert rules.player_index(codes).tolist() == [6, 13]
    assert rules.unplaced_boxes(codes).tolist() == [2, 0]


@pytest.mark.parametrize("bad", [5, -1, 100, -6])
def test_out_of_range_action_is_refused_by_the_rules(bad):
    codes = as_batch(corridor("#@$.#", True), corridor("#@$.#", True))
    snapshot = codes.clone()
    with pytest.raises(ValueError, match="0..4"):
        rules.step(codes, torch.tensor([RIGHT, bad]), rules.make_tables(5))
    player, unplaced = rules.player_index(codes), rules.unplaced_boxes(codes)
    with pytest.raises(ValueError, match="0..4"):
        rules.step_(codes, player, torch.tensor([bad, RIGHT]), rules.make_tables(5), unplaced)
    assert torch.equal(codes, snapshot), "a refused step changed the grids"


@pytest.mark.parametrize("text, action", [
    ("#####\n#@* #\n#####", NOOP),
    ("#####\n#@* #\n#####", LEFT),
    ("######\n# @ *#\n######", RIGHT),
    ("#####\n#+ *#\n#####", RIGHT),
])
def test_no_bonus_for_standing_in_a_solved_position(text, action):
    # The rules double as a perfect model that may be stepped from a solved position: the
    # +10 is for landing the last box, so waiting or walking there earns only the step cost.
    before = grid(text)
    after, result = step_one(before, action)
    assert not bool(result.pushed)
    assert bool(result.solved)
    assert result.reward.item() == pytest.approx(-0.1)
    check_redraw_cells(before, after, action, result)


# -- an independent reference implementation ----------------------------------------------


class Reference:
    """Sokoban on sets of coordinates, written from the rules' description."""

    def __init__(self, codes: np.ndarray) -> None:
        codes = np.asarray(codes)
        self.shape = codes.shape
        self.walls = {tuple(p) for p in np.argwhere(codes == cells.WALL).tolist()}
        self.targets = {tuple(p) for p in np.argwhere(
            np.isin(codes, [cells.TARGET, cells.BOX_ON_TARGET, cells.PLAYER_ON_TARGET])).tolist()}
        self.boxes = {tuple(p) for p in np.argwhere(
            np.isin(codes, [cells.BOX, cells.BOX_ON_TARGET])).tolist()}
        (self.player,) = [tuple(p) for p in np.argwhere(
            np.isin(codes, [cells.PLAYER, cells.PLAYER_ON_TARGET])).tolist()]

    def step(self, action: int) -> tuple[float, bool, bool]:
        reward, pushed = -0.1, False
        dr, dc = DELTA[action]
        if action != NOOP:
            ahead = (self.player[0] + dr, self.player[1] + dc)
            beyond = (ahead[0] + dr, ahead[1] + dc)
            if ahead in self.walls:
                pass
            elif ahead in self.boxes:
                if beyond not in self.walls and beyond not in self.boxes:
                    self.boxes.remove(ahead)
                    self.boxes.add(beyond)
                    self.player = ahead
                    pushed = True
                    reward += (beyond in self.targets) - (ahead in self.targets)
            else:
                self.player = ahead
        solved = self.boxes <= self.targets
        if solved:
            reward += 10.0
        return reward, solved, pushed

    def codes(self) -> np.ndarray:
        names = {
            (False, False, False): cells.FLOOR, (True, False, False): cells.TARGET,
            (False, True, False): cells.BOX, (True, True, False): cells.BOX_ON_TARGET,
            (False, False, True): cells.PLAYER, (True, False, True): cells.PLAYER_ON_TARGET,
        }
        out = np.zeros(self.shape, dtype=np.uint8)
        for r in range(self.shape[0]):
            for c in range(self.shape[1]):
                if (r, c) in self.walls:
                    assert (r, c) not in self.boxes and (r, c) != self.player
                    out[r, c] = cells.WALL
                else:
                    key = ((r, c) in self.targets, (r, c) in self.boxes, (r, c) == self.player)
                    out[r, c] = names[key]
        return out


def test_reference_agrees_with_the_hand_written_cases():
    # The reference itself must pass the case table, or the comparison below means little.
    for name, row, stray, expected_row, reward, pushed, solved in CASES:
        ref = Reference(corridor(row, stray))
        got = ref.step(RIGHT)
        assert grid_text(ref.codes()) == grid_text(corridor(expected_row, stray)), name
        assert got == (pytest.approx(reward), solved, pushed), name


def replay_against_reference(grids: list[np.ndarray], actions: np.ndarray) -> int:
    """Step a batch of same-size grids with the torch rules and each with the reference.

    A grid that is solved restarts from its start position, as the environment does, so
    neither implementation is ever stepped from a solved position. Returns the number of
    box pushes seen (so callers can check the sequences exercised something).
    """
    height, width = grids[0].shape
    tables = rules.make_tables(width)
    codes = as_batch(*grids)
    player = rules.player_index(codes)
    unplaced = rules.unplaced_boxes(codes)
    refs = [Reference(g) for g in grids]
    pushes = 0
    for t, row in enumerate(actions):
        result = rules.step_(codes, player, torch.as_tensor(row, dtype=torch.long), tables, unplaced)
        now = codes.numpy().reshape(len(grids), height, width)
        for i, ref in enumerate(refs):
            reward, solved, pushed = ref.step(int(row[i]))
            where = f"step {t}, grid {i}, action {int(row[i])}"
            np.testing.assert_array_equal(now[i], ref.codes(), err_msg=where)
            assert result.reward[i].item() == pytest.approx(reward, abs=1e-5), where
            assert bool(result.solved[i]) is solved, where
            assert bool(result.pushed[i]) is pushed, where
            r, c = ref.player
            assert int(player[i]) == r * width + c, where
            pushes += pushed
            if solved:
                codes[i] = torch.from_numpy(grids[i].reshape(-1))
                refs[i] = Reference(grids[i])
                player[i] = rules.player_index(codes[i:i + 1])[0]
                unplaced[i] = rules.unplaced_boxes(codes[i:i + 1])[0]
    return pushes


@PROPERTY
@given(seed=st.integers(0, 2**32 - 1), height=st.integers(3, 8), width=st.integers(4, 8),
       density=st.sampled_from([0.3, 0.6, 0.9]), steps=st.integers(1, 40))
def test_torch_rules_match_reference_on_random_rooms(seed, height, width, density, steps):
    rng = np.random.default_rng(seed)
    grids = []
    for _ in range(1000):
        g = random_grid(rng, height, width, density)
        if (g == cells.BOX).any():  # start unsolved, like every playable level
            grids.append(g)
        if len(grids) == 12:
            break
    assert len(grids) == 12
    actions = rng.integers(0, 5, size=(steps, len(grids)))
    replay_against_reference(grids, actions)


@functools.lru_cache(maxsize=None)
def generated(height: int, width: int, boxes: int) -> np.ndarray:
    return generate_levels(24, height, width, boxes, seed=17).codes


@functools.lru_cache(maxsize=None)
def boxoban() -> np.ndarray:
    return np.concatenate([load_boxoban(UNFILTERED_TEST).codes, load_boxoban(HARD).codes])


SOURCES = [("generated", (6, 6, 1)), ("generated", (7, 7, 2)), ("generated", (8, 9, 3)),
           ("boxoban", None)]


def source_levels(name, args) -> np.ndarray:
    return generated(*args) if name == "generated" else boxoban()


@PROPERTY
@given(source=st.sampled_from(SOURCES), seed=st.integers(0, 2**32 - 1), steps=st.integers(1, 60))
def test_torch_rules_match_reference_on_real_levels(source, seed, steps):
    levels = source_levels(*source)
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(levels), size=8)
    actions = rng.integers(0, 5, size=(steps, len(picks)))
    replay_against_reference([levels[i] for i in picks], actions)


def test_reference_comparison_exercises_pushes_and_solves():
    # A deterministic long run on small generated levels must push boxes and solve some.
    levels = generated(6, 6, 1)
    rng = np.random.default_rng(5)
    actions = rng.integers(1, 5, size=(400, len(levels)))
    assert replay_against_reference(list(levels), actions) > 100


@PROPERTY
@given(source=st.sampled_from(SOURCES), picks=st.lists(st.integers(0, 10**6), min_size=1, max_size=8),
       actions=st.lists(st.integers(0, 4), min_size=20, max_size=300))
def test_invariants_over_random_play(source, picks, actions):
    levels = source_levels(*source)
    start = np.stack([levels[i % len(levels)] for i in picks])
    n, height, width = start.shape
    walls = start == cells.WALL
    targets = cells.IS_TARGET[start]
    num_boxes = cells.IS_BOX[start].sum(axis=(1, 2))
    tables = rules.make_tables(width)
    codes = torch.from_numpy(start.reshape(n, -1).copy())
    player = rules.player_index(codes)
    unplaced = rules.unplaced_boxes(codes)
    # Each env plays the shared action list from its own offset, so envs differ.
    for t in range(len(actions)):
        row = torch.tensor([actions[(t + 7 * i) % len(actions)] for i in range(n)])
        old = codes.numpy().reshape(n, height, width).copy()
        result = rules.step_(codes, player, row, tables, unplaced)
        now = codes.numpy().reshape(n, height, width)
        assert now.max() < cells.NUM_CODES
        np.testing.assert_array_equal(now == cells.WALL, walls)
        np.testing.assert_array_equal(cells.IS_TARGET[now], targets)
        np.testing.assert_array_equal(cells.IS_BOX[now].sum(axis=(1, 2)), num_boxes)
        assert (cells.IS_PLAYER[now].sum(axis=(1, 2)) == 1).all()
        assert torch.equal(player, rules.player_index(codes))
        recount = (now == cells.BOX).sum(axis=(1, 2))
        np.testing.assert_array_equal(unplaced.numpy(), recount)
        np.testing.assert_array_equal(result.solved.numpy(), recount == 0)
        moved_boxes = (cells.IS_BOX[old] != cells.IS_BOX[now]).any(axis=(1, 2))
        np.testing.assert_array_equal(result.pushed.numpy(), moved_boxes)
        for r in result.reward.tolist():
            assert min(abs(r - x) for x in REWARDS) < 1e-5, r
        done = result.solved.nonzero().squeeze(1)
        if len(done):  # restart solved games, as the environment does
            codes[done] = torch.from_numpy(start.reshape(n, -1)[done.numpy()].copy())
            player[done] = rules.player_index(codes[done])
            unplaced[done] = rules.unplaced_boxes(codes[done])


def test_batch_equals_each_game_alone():
    rng = np.random.default_rng(3)
    levels = list(boxoban())
    while len(levels) < 64:
        g = random_grid(rng, 10, 10, 0.6)
        if (g == cells.BOX).any():
            levels.append(g)
    n = len(levels)
    tables = rules.make_tables(10)
    batch = as_batch(*levels)
    b_player, b_unplaced = rules.player_index(batch), rules.unplaced_boxes(batch)
    alone = [as_batch(g) for g in levels]
    a_player = [rules.player_index(a) for a in alone]
    a_unplaced = [rules.unplaced_boxes(a) for a in alone]
    for t in range(60):
        actions = torch.from_numpy(rng.integers(0, 5, size=n))
        br = rules.step_(batch, b_player, actions, tables, b_unplaced)
        for i in range(n):
            ar = rules.step_(alone[i], a_player[i], actions[i:i + 1], tables, a_unplaced[i])
            assert torch.equal(batch[i], alone[i][0]), (t, i)
            assert b_player[i] == a_player[i][0] and b_unplaced[i] == a_unplaced[i][0]
            for field, a, b in zip(rules.StepResult._fields, ar, br):
                assert torch.equal(a[0], b[i]), (t, i, field)


def test_no_bonus_for_a_target_to_target_push_in_a_solved_grid():
    before = grid("######\n#@*.*#\n######")  # both boxes placed, a spare target between
    after, result = step_one(before, 4)
    assert result.pushed and result.solved
    assert result.reward.item() == pytest.approx(-0.1)


def test_outcome_tables_are_the_elementwise_rules():
    """The step looks every outcome up by the (here, ahead, beyond) codes. For all 343 code
    triples (and solved or not), the tables hold what the rules' elementwise formulas give,
    the reward bit for bit in float32 (what spec.SOKOBAN_REWARDS is built from)."""
    from reverie.envs.sokoban.spec import SOKOBAN_REWARDS

    tables = rules.make_tables(10)
    triples = torch.cartesian_prod(*[torch.arange(cells.NUM_CODES)] * 3)
    key = (triples * tables.key_weights).sum(1)
    assert key.tolist() == list(range(0, 2 * rules.CASES, 2))
    is_box, is_free, is_target = (torch.as_tensor(t) for t in (cells.IS_BOX, cells.IS_FREE, cells.IS_TARGET))
    here, ahead, beyond = triples.unbind(1)
    push = is_box[ahead] & is_free[beyond]
    move = is_free[ahead] | push
    on, off = push & is_target[beyond], push & is_target[ahead]
    assert torch.equal(tables.moved_by_key[key], move)
    assert torch.equal(tables.pushed_by_key[key], push)
    assert torch.equal(tables.placed_by_key[key], on.long() - off.long())
    player = here >= cells.PLAYER  # the triples a step can meet: the player in the first cell
    after = torch.stack((here - 4 * move.long(), ahead + move.long() * (4 - 2 * is_box[ahead].long()),
                         beyond + 2 * push.long()), dim=1)
    assert torch.equal(tables.after_by_key[key][player].long(), after[player])
    for solved in (False, True):
        finished = on & ~off & solved
        formula = (rules.STEP_REWARD + rules.BOX_ON_REWARD * on.float() + rules.BOX_OFF_REWARD * off.float()
                   + rules.SOLVED_REWARD * finished.float())
        table = tables.reward_by_key[key + int(solved)]
        assert torch.equal(table.view(torch.int32), formula.view(torch.int32))
        # (a box pushed from one target onto another gives -0.1 + 1 - 1 in float32, a hair
        # off the -0.1 class, as it always has)
        assert set(table[~(on & off)].tolist()) <= set(SOKOBAN_REWARDS.classes)

