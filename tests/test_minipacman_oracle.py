"""reverie's batched MiniPacman against a slow one-game oracle (``tests/minipacman_oracle.py``).

The differential tests play many seeded games (all five tasks, rgb and symbolic frames, levels
1-8 by starting some games at higher levels, random actions, random mid-game states with
powered and unpowered ghosts next to the player and unknown headings) through
``reverie.envs.minipacman.rules`` / ``env`` and through the oracle from the same state with
the same draws, and compare every step: the full state (dead ghost slots excepted: their cells
mean nothing), events, killed/cleared, reward and the returned frame.

Known defects of the public versions (REFERENCE.md section 3) and what reverie does about each;
the rule defects are switches of the oracle (``Defects``), each pinned below by a crafted
situation where the oracle with the defect and reverie differ in the documented way:

* ``released_timer``: hunt and ambush have no 80-step level timer in the released code (the
  paper's text and Klemt's port have it). reverie: the 80-step timer by default; the env
  option ``timer="released"`` drops it.
* ``skip_after_eat``: after one ghost is eaten, the ghosts after it skip their check and move
  that step (so the player can end a step on a live ghost's cell). reverie: every live ghost
  checks and moves; an eaten ghost stops only itself.
* ``midstep_restart``: clearing a level by food or pills restarts it in the middle of the step,
  and the step carries on in the new level (the new ghosts move, a pill at the new spawn is
  eaten). reverie: a level is cleared at the end of the step; the new level's first frame is
  shown as it spawned.
* ``double_death``: each deadly collision adds the death reward (two ghosts, or one ghost that
  cannot move off the player's cell, give -40). reverie: killed is one event however many.
* ``old_frame_on_timer``: a level ended by the timer returns a frame of the old level.
  reverie: the new level's first frame, as for every clear.
* ``pills_may_share``: both pills may land on one cell. reverie: two distinct cells.
* ``asymmetric_box``: ghosts spawn outside rows/columns -5..+4 around the player. reverie:
  the symmetric box -5..+5.
* ``player_on_pill`` (released, not listed in REFERENCE.md): the player may spawn on a pill
  (then staying put eats it). reverie: the player spawns on a pill-free cell.

Not rules, so not switches: the released code's seeding has no effect (reverie: every draw
is counter-based from the episode key, so a key replays its game; the oracle replays reverie's
games from the keys alone); the released initial ghost heading is drawn 0..3 in a code whose
headings are 2..5 (0/1 act as left/down for the no-reverse rule, so still uniform, but a ghost
that sits on the player's cell at a junction with heading 0 steps down, with 1 stays; reverie
draws 0..3 in its own code); the notebooks' colour classes erase the edible fade
(reverie's frames keep it: ``levels=20``, checked here frame by frame) and their reward-class
list misses compound rewards (reverie: reward = events . weights, checked here); the
notebooks' I2A imagines only one step (reverie's rollout depth is a setting); Klemt's port has
no fade, a power bar on the bottom wall row and pills drawn over ghosts and the player, and
its README gives rush's pill reward as -10 (code +10) (reverie follows the released frame and
the paper's table).
"""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from minipacman_oracle import CELLS, FREE_CELLS, MAP, TASKS as ORACLE_TASKS, WIDTH, Defects, Game, step_cell
from reverie.envs.minipacman import maze, rules
from reverie.envs.minipacman import observation as obs_mod
from reverie.envs.minipacman.env import MiniPacmanVecEnv
from reverie.envs.minipacman.rules import PacmanState, SpawnDraws, StepDraws

FIELDS = Game.FIELDS
TASKS = tuple(ORACLE_TASKS)


def cell(r: int, c: int) -> int:
    return r * WIDTH + c


def row_of(obj, i: int) -> dict:
    """Row ``i`` of a PacmanState / StepDraws / SpawnDraws as plain values."""
    names = FIELDS if isinstance(obj, PacmanState) else obj._fields
    return {k: getattr(obj, k)[i].tolist() for k in names}


def spawner(key: torch.Tensor, g: int):
    """``level -> that level's spawn draws`` of one episode key (reverie's draws, one row)."""
    return lambda level: row_of(rules.spawn_draws(key.view(1), torch.tensor([level]), g), 0)


def assert_same_state(mine: dict, theirs: dict, where: str) -> None:
    """Every field equal; ghost cells and headings only where a slot is alive."""
    for k in FIELDS:
        a, b = mine[k], theirs[k]
        if k in ("ghost", "heading"):
            a = [x for x, live in zip(a, mine["alive"]) if live]
            b = [x for x, live in zip(b, theirs["alive"]) if live]
        assert a == b, f"{where}: {k} oracle {a} reverie {b}"


def task_rules(task: str, timer: str = "paper") -> rules.TaskRules:
    return rules.task_rules(task, timer)


# -- the differential test on the rules ----------------------------------------------------

def _distances() -> dict[int, dict[int, int]]:
    """Maze distances between free cells (breadth-first from each)."""
    out = {}
    for src in FREE_CELLS:
        dist, frontier = {src: 0}, [src]
        while frontier:
            nxt = []
            for c in frontier:
                for a in range(1, 5):
                    n = step_cell(c, a)
                    if n not in dist:
                        dist[n] = dist[c] + 1
                        nxt.append(n)
            frontier = nxt
        out[src] = dist
    return out


DIST = _distances()


def policy(game: Game, gen: np.random.Generator, food_first: bool) -> int:
    """A crude player that makes things happen: along a shortest path to the nearest ghost
    (powered), else the nearest food or pill; a random action one time in four."""
    if gen.random() < 1 / 4:
        return int(gen.integers(5))
    pills = [p for p, a in zip(game.pill, game.pill_alive) if a]
    ghosts = [c for c, a in zip(game.ghost, game.alive) if a]
    food = [c for c in FREE_CELLS if game.food[c]]
    targets = (ghosts if game.power > 2 else []) or (food if food_first else pills) or food or pills or [game.player]
    goal = min(targets, key=DIST[game.player].__getitem__)
    return min(range(5), key=lambda a: (DIST[goal][step_cell(game.player, a)], gen.random()))


def thin_out(state: PacmanState, rows, gen: np.random.Generator, task: str) -> None:
    """Mid-level starts, so that short games clear levels: a little food left near the player,
    the level timer close to its end (where the task has one)."""
    timer = ORACLE_TASKS[task].timer
    for i in rows:
        near = sorted(FREE_CELLS, key=DIST[int(state.player[i])].__getitem__)
        keep = near[1:int(gen.integers(3, 10))]
        state.food[i] = torch.from_numpy(np.isin(np.arange(CELLS), keep))
        state.timer[i] = int(gen.integers(max(timer - 40, 0), timer)) if timer else int(gen.integers(100))


def play_rules(task: str, kind: str, games: int, steps: int, seed: int, g: int = 8, timer: str = "paper",
               defects: Defects | None = None) -> int:
    """Play ``games`` games side by side (row i starts at level 1 + i % 8, odd rows mid-level);
    -> the oracle steps compared."""
    gen = np.random.default_rng(seed)
    weights = torch.tensor(rules.TASK_WEIGHTS[task], dtype=torch.float32)
    tr = task_rules(task, timer)
    defects = defects or Defects(released_timer=timer == "released")
    next_id = seed * 100_000
    keys = rules.episode_keys("train", torch.arange(next_id, next_id + games))
    next_id += games
    start = 1 + torch.arange(games) % 8
    state = PacmanState.empty(games, g)
    rows = torch.arange(games)
    rules.new_level(state, rows, rules.spawn_draws(keys, start, g), start)
    oracle = [Game(ORACLE_TASKS[task], g, kind, defects=defects) for _ in range(games)]
    first = obs_mod.observe(state, kind).numpy()
    for i, game in enumerate(oracle):
        np.testing.assert_array_equal(game.start(spawner(keys[i], g)(int(start[i])), int(start[i])), first[i])
        assert_same_state(game.state(), row_of(state, i), f"{task} start row {i}")
    thin_out(state, range(1, games, 2), gen, task)
    for i, game in enumerate(oracle):
        game.load(row_of(state, i))
    compared = 0
    for t in range(steps):
        actions = torch.tensor([policy(game, gen, i % 2 == 1) for i, game in enumerate(oracle)])
        d = rules.draws(keys, state.frame, g)
        nxt, events, killed, cleared = rules.step(state, actions, d, tr)
        reward = events @ weights
        end = nxt.clone()
        clear_rows = cleared.nonzero().squeeze(1)
        if clear_rows.numel():
            lv = nxt.level[clear_rows] + 1
            rules.new_level(nxt, clear_rows, rules.spawn_draws(keys[clear_rows], lv, g), lv)
        frames = obs_mod.observe(nxt, kind).numpy()
        for i, game in enumerate(oracle):
            where = f"{task}/{kind} seed {seed} step {t} row {i} level {game.level}"
            res = game.step(int(actions[i]), row_of(d, i), spawner(keys[i], g))
            assert_same_state(res.end_state, row_of(end, i), where + " (end of rules)")
            assert res.events == events[i].tolist(), f"{where}: events {res.events} vs {events[i].tolist()}"
            assert (res.killed, res.cleared) == (bool(killed[i]), bool(cleared[i])), where
            assert res.reward == pytest.approx(float(reward[i]), abs=1e-5), where
            assert_same_state(game.state(), row_of(nxt, i), where + " (after the level start)")
            np.testing.assert_array_equal(res.obs, frames[i], err_msg=where)
            compared += 1
        state = nxt
        ended = (killed | (state.frame >= 3000)).nonzero().squeeze(1)
        if ended.numel():  # new episodes for the killed games, at their starting level
            keys[ended] = rules.episode_keys("train", torch.arange(next_id, next_id + ended.numel()))
            next_id += ended.numel()
            state.frame[ended] = 0
            rules.new_level(state, ended, rules.spawn_draws(keys[ended], start[ended], g), start[ended])
            for i in ended.tolist():
                oracle[i].start(spawner(keys[i], g)(int(start[i])), int(start[i]))
                assert_same_state(oracle[i].state(), row_of(state, i), f"{task} restart row {i}")
    return compared


@pytest.mark.parametrize("task", TASKS)
def test_rules_match_the_oracle(task):
    t0 = time.perf_counter()
    n = play_rules(task, "rgb", games=24, steps=60, seed=TASKS.index(task))
    n += play_rules(task, "symbolic", games=12, steps=40, seed=10 + TASKS.index(task), g=3)
    assert n == 24 * 60 + 12 * 40
    assert time.perf_counter() - t0 < 20


def test_released_timer_option_matches_the_oracle():
    assert play_rules("hunt", "rgb", games=8, steps=100, seed=77, timer="released") == 800


@pytest.mark.parametrize("defect,task,kind", [
    ("released_timer", "hunt", "symbolic"), ("skip_after_eat", "regular", "symbolic"),
    ("midstep_restart", "regular", "symbolic"), ("double_death", "hunt", "symbolic"),
    ("old_frame_on_timer", "avoid", "symbolic"), ("pills_may_share", "rush", "symbolic"),
    ("asymmetric_box", "rush", "symbolic"), ("player_on_pill", "rush", "symbolic")])
def test_the_differential_test_sees_each_defect(defect, task, kind):
    """The same games with one released defect put back into the oracle: a mismatch is found."""
    with pytest.raises(AssertionError):
        play_rules(task, kind, games=12, steps=40, seed=10 + TASKS.index(task), g=3, defects=Defects(**{defect: True}))


def fuzz_state(gen: np.random.Generator, b: int, g: int) -> PacmanState:
    """Mid-game states that make collisions likely: ghosts on or next to the player, random
    power, headings (-1 too), pills, food, levels, timers near the clear."""
    state = PacmanState.empty(b, g)
    free = np.array(FREE_CELLS)
    player = gen.choice(free, b)
    near = [[c for c in FREE_CELLS if abs(c // WIDTH - p // WIDTH) + abs(c % WIDTH - p % WIDTH) <= 2]
            for p in player]
    state.player[:] = torch.from_numpy(player)
    state.ghost[:] = torch.tensor([[int(gen.choice(near[i])) for _ in range(g)] for i in range(b)])
    state.heading[:] = torch.from_numpy(gen.integers(-1, 4, (b, g)))
    state.alive[:] = torch.from_numpy(gen.random((b, g)) < 0.7)
    state.food[:] = torch.from_numpy(np.isin(np.arange(CELLS), free)[None] & (gen.random((b, CELLS)) < 0.05))
    state.pill[:] = torch.from_numpy(np.stack([gen.choice(near[i], 2, replace=False) for i in range(b)]))
    state.pill_alive[:] = torch.from_numpy(gen.random((b, 2)) < 0.5)
    state.power[:] = torch.from_numpy(gen.choice([0, 0, 1, 2, 10, 20], b))
    state.level[:] = torch.from_numpy(gen.integers(1, 21, b))
    state.timer[:] = torch.from_numpy(gen.choice([0, 10, 79, 127], b))
    state.frame[:] = torch.from_numpy(gen.integers(0, 500, b))
    return state


@pytest.mark.parametrize("task", TASKS)
def test_random_states_match_the_oracle(task):
    """One step from many crafted mid-game states (collisions, eating, swaps, unknown headings)."""
    gen = np.random.default_rng(TASKS.index(task))
    b, g = 300, 4
    state = fuzz_state(gen, b, g)
    keys = rules.episode_keys("valid", torch.arange(b))
    actions = torch.from_numpy(gen.integers(0, 5, b))
    d = rules.draws(keys, state.frame, g)
    nxt, events, killed, cleared = rules.step(state, actions, d, task_rules(task))
    reward = events @ torch.tensor(rules.TASK_WEIGHTS[task], dtype=torch.float32)
    frames = obs_mod.observe(nxt, "symbolic").numpy()
    seen = np.zeros(5)
    for i in range(b):
        game = Game(ORACLE_TASKS[task], g, "symbolic").load(row_of(state, i))
        res = game.step(int(actions[i]), row_of(d, i), spawner(keys[i], g))
        where = f"{task} fuzz row {i}: {row_of(state, i) | {'food': '...'}} action {int(actions[i])}"
        assert_same_state(res.end_state, row_of(nxt, i), where)
        assert res.events == events[i].tolist(), f"{where}: events {res.events} vs {events[i].tolist()}"
        assert (res.killed, res.cleared) == (bool(killed[i]), bool(cleared[i])), where
        assert res.reward == pytest.approx(float(reward[i]), abs=1e-5), where
        if not res.cleared:
            np.testing.assert_array_equal(game.render(), frames[i], err_msg=where)
        seen += np.array(res.events) > 0
    assert seen[3] > 10 and seen[4] > 10  # the fuzz does reach eaten ghosts and kills


# -- the env against the oracle ------------------------------------------------------------

def play_env(task: str, kind: str, cap: int, steps: int, n: int = 16) -> int:
    """The batched env (level starts, auto-reset, frame cap, info) against the oracle step for
    step; -> how many games ended."""
    g = 8
    env = MiniPacmanVecEnv(task, "train", n, seed=5, observation=kind, frame_cap=cap)
    obs, _ = env.reset()
    oracle = [Game(ORACLE_TASKS[task], g, kind, frame_cap=cap) for _ in range(n)]
    for i, game in enumerate(oracle):
        np.testing.assert_array_equal(game.start(spawner(env.keys[i], g)(1)), obs[i].numpy())
    gen = torch.Generator().manual_seed(3)
    ends, returns = 0, [0.0] * n
    for t in range(steps):
        actions = torch.randint(5, (n,), generator=gen)
        keys = env.keys.clone()
        d = rules.draws(keys, env.state.frame, g)
        obs, reward, terminated, truncated, info = env.step(actions)
        final = {int(r): k for k, r in enumerate(info["final_index"].tolist())}
        for i, game in enumerate(oracle):
            where = f"env {task} step {t} row {i}"
            res = game.step(int(actions[i]), row_of(d, i), spawner(keys[i], g))
            returns[i] += res.reward
            assert res.reward == pytest.approx(float(reward[i]), abs=1e-5), where
            assert res.events == info["events"][i].tolist(), where
            assert bool(terminated[i]) == res.killed, where
            assert bool(truncated[i]) == (res.truncated and not res.killed), where
            assert (i in final) == (res.killed or res.truncated), where
            if i in final:
                np.testing.assert_array_equal(res.obs, info["final_obs"][final[i]].numpy(), err_msg=where)
                assert float(info["episode_return"][i]) == pytest.approx(returns[i], abs=1e-3), where
                assert int(info["episode_length"][i]) == game.frame, where
                first, returns[i] = game.start(spawner(env.keys[i], g)(1)), 0.0
                ends += 1
            else:
                first = res.obs
                assert int(info["level"][i]) == game.level, where
            np.testing.assert_array_equal(first, obs[i].numpy(), err_msg=where)
            assert_same_state(game.state(), row_of(env.state, i), where)
    return ends


@pytest.mark.parametrize("task,kind", [("regular", "rgb"), ("avoid", "symbolic"), ("hunt", "rgb")])
def test_env_matches_the_oracle(task, kind):
    assert play_env(task, kind, cap=75, steps=100) >= 16  # every game ended (killed or at the cap)


def test_env_level_cleared_at_the_frame_cap():
    """hunt's 80-step timer clears the level on the very step the frame cap (80) truncates the
    episode: the step still starts the next level (contract 5), so ``final_obs`` is the new
    level's first frame, as for any cleared level (a truncated episode bootstraps from it)."""
    assert play_env("hunt", "rgb", cap=80, steps=81) >= 16


def test_maps_agree():
    assert maze.MAP == MAP
    assert maze.FREE_CELLS == tuple(FREE_CELLS)
    for c in range(CELLS):
        assert maze.NEXT[c].tolist() == [step_cell(c, a) if MAP[c // WIDTH][c % WIDTH] == "." else c for a in range(5)]


# -- the defects, pinned -------------------------------------------------------------------

CORNER_PILLS = ((1 * WIDTH + 1, True), (13 * WIDTH + 17, True))


def crafted(player: int, ghosts, power: int = 0, level: int = 1, timer: int = 5, food=None,
            pills=CORNER_PILLS) -> PacmanState:
    """One game: ``ghosts`` = [(cell, heading)], every other slot dead, food everywhere by default."""
    g = max(len(ghosts), 1)
    s = PacmanState.empty(1, g)
    s.player[0] = player
    for k, (c, h) in enumerate(ghosts):
        s.ghost[0, k], s.heading[0, k], s.alive[0, k] = c, h, True
    s.food[0] = maze.FREE if food is None else torch.tensor([c in food for c in range(CELLS)])
    s.food[0, player] = False
    s.pill[0] = torch.tensor([p for p, _ in pills])
    s.pill_alive[0] = torch.tensor([a for _, a in pills])
    s.power[0], s.level[0], s.timer[0], s.frame[0] = power, level, timer, 100
    return s


def step_draws(move, noise=None, pick=None) -> StepDraws:
    move = torch.tensor([move], dtype=torch.float64)
    noise = torch.full_like(move, 0.5) if noise is None else torch.tensor([noise], dtype=torch.float64)
    pick = torch.full_like(move, 0.5) if pick is None else torch.tensor([pick], dtype=torch.float64)
    return StepDraws(move, noise, pick)


def both(state: PacmanState, action: int, d: StepDraws, task: str, defects: Defects, kind: str = "rgb", spawn=None):
    """reverie's step (with the caller's level start and frame) and the oracle's with and without
    ``defects``: -> (reverie dict, oracle-without result, oracle-with result, oracle-with game)."""
    g = state.max_ghosts
    key = torch.tensor([12345])
    spawn = spawn or spawner(key, g)
    nxt, events, killed, cleared = rules.step(state.clone(), torch.tensor([action]), d, task_rules(task))
    end = row_of(nxt, 0)
    if bool(cleared[0]):
        lv = nxt.level[[0]] + 1
        rules.new_level(nxt, torch.tensor([0]), SpawnDraws(*(torch.tensor([v], dtype=torch.float64)
                                                             for v in spawn(int(lv[0])).values())), lv)
    theirs = dict(end=end, after=row_of(nxt, 0), events=events[0].tolist(), killed=bool(killed[0]),
                  cleared=bool(cleared[0]), obs=obs_mod.observe(nxt, kind)[0].numpy())
    plain = Game(ORACLE_TASKS[task], g, kind).load(row_of(state, 0))
    res_plain = plain.step(action, row_of(d, 0), spawn)
    assert_same_state(res_plain.end_state, theirs["end"], "plain oracle")
    assert res_plain.events == theirs["events"] and res_plain.cleared == theirs["cleared"]
    assert_same_state(plain.state(), theirs["after"], "plain oracle after")
    np.testing.assert_array_equal(res_plain.obs, theirs["obs"])
    bad = Game(ORACLE_TASKS[task], g, kind, defects=defects).load(row_of(state, 0))
    return theirs, res_plain, bad.step(action, row_of(d, 0), spawn), bad


def test_defect_released_timer():
    s = crafted(cell(3, 8), [(cell(13, 1), 1)], timer=79)
    theirs, _, res, _ = both(s, 0, step_draws([0.99]), "hunt", Defects(released_timer=True))
    assert theirs["cleared"] and not res.cleared
    assert not rules.step(s, torch.tensor([0]), step_draws([0.99]), task_rules("hunt", "released"))[3][0]


def test_defect_skip_after_eat():
    # ghost 0 waits on the player's cell and is eaten; ghost 1 down the corridor should still move
    s = crafted(cell(3, 8), [(cell(3, 8), 0), (cell(3, 11), 0)], power=10)
    theirs, _, res, _ = both(s, 0, step_draws([0.1, 0.1]), "hunt", Defects(skip_after_eat=True))
    assert theirs["end"]["ghost"][1] == cell(3, 12) and res.end_state["ghost"][1] == cell(3, 11)
    # two ghosts on the player's cell: reverie eats both, the defect leaves one alive under the player
    s = crafted(cell(3, 8), [(cell(3, 8), 0), (cell(3, 8), 2)], power=10)
    theirs, _, res, _ = both(s, 0, step_draws([0.9, 0.9]), "regular", Defects(skip_after_eat=True))
    assert theirs["events"][3] == 2 and theirs["end"]["alive"] == [False, False]
    assert res.events[3] == 1 and res.end_state["alive"] == [False, True]
    assert res.end_state["ghost"][1] == res.end_state["player"]


def test_defect_midstep_restart():
    # regular: the last food is eaten; the new level's ghosts move in the same step
    target = cell(3, 9)
    s = crafted(cell(3, 8), [(cell(13, 1), 1)], food={target})
    theirs, _, res, bad = both(s, 1, step_draws([0.01]), "regular", Defects(midstep_restart=True))
    assert theirs["cleared"] and res.cleared and res.restarted
    spawned = theirs["after"]["ghost"][0]
    assert bad.ghost[0] != spawned and bad.ghost[0] in [step_cell(spawned, a) for a in range(1, 5)]
    assert not np.array_equal(res.obs, theirs["obs"])
    # with the released player spawn, a pill under the new player is eaten in the same step
    spawn = lambda level: {"pill": [0.3, 0.6], "player": 0.3, "ghost": [0.5], "heading": [0.5]}  # noqa: E731
    released_spawn = Defects(midstep_restart=True, player_on_pill=True)
    bad = Game(ORACLE_TASKS["regular"], 1, defects=released_spawn).load(row_of(s, 0))
    res = bad.step(1, {"move": [0.99], "noise": [0.5], "pick": [0.5]}, spawn)
    assert res.events[1:3] == [1, 1] and bad.power == 20 and bad.level == 2
    # rush: the last pill restarts the level mid-step too
    s = crafted(cell(3, 8), [(cell(13, 1), 1)], pills=((cell(3, 9), True), (cell(1, 1), False)))
    theirs, _, res, bad = both(s, 1, step_draws([0.01]), "rush", Defects(midstep_restart=True))
    assert theirs["cleared"] and res.restarted and bad.ghost[0] != theirs["after"]["ghost"][0]


def test_defect_double_death():
    s = crafted(cell(3, 8), [(cell(3, 8), 0), (cell(3, 8), 2)])
    theirs, plain, res, _ = both(s, 0, step_draws([0.9, 0.9]), "hunt", Defects(double_death=True))
    assert theirs["events"][4] == 1 and plain.reward == -20
    assert res.events[4] == 2 and res.reward == -40
    # one ghost at a junction heading into a wall: it stays on the player's cell and kills twice
    s = crafted(cell(3, 1), [(cell(3, 1), 2)])
    theirs, plain, res, _ = both(s, 0, step_draws([0.1]), "avoid", Defects(double_death=True))
    assert theirs["events"][4] == 1 and res.events[4] == 2 and res.reward == pytest.approx(0.1 - 40)


def test_defect_old_frame_on_timer():
    s = crafted(cell(3, 8), [(cell(13, 1), 1)], timer=127)
    theirs, _, res, bad = both(s, 1, step_draws([0.99]), "avoid", Defects(old_frame_on_timer=True))
    assert theirs["cleared"] and res.cleared and bad.level == 2
    old = obs_mod.observe(PacmanState.from_dict({k: torch.tensor([v]) for k, v in theirs["end"].items()}), "rgb")
    np.testing.assert_array_equal(res.obs, old[0].numpy())
    assert not np.array_equal(res.obs, theirs["obs"])


def test_defect_pills_may_share():
    spawn = SpawnDraws(torch.tensor([[0.5, 0.5]], dtype=torch.float64), torch.tensor([0.2], dtype=torch.float64),
                       torch.tensor([[0.5]], dtype=torch.float64), torch.tensor([[0.5]], dtype=torch.float64))
    s = PacmanState.empty(1, 1)
    rules.new_level(s, torch.tensor([0]), spawn, torch.tensor([1]))
    ours = Game(ORACLE_TASKS["rush"], 1)
    ours.start(row_of(spawn, 0))
    assert_same_state(ours.state(), row_of(s, 0), "spawn")
    bad = Game(ORACLE_TASKS["rush"], 1, defects=Defects(pills_may_share=True))
    bad.start(row_of(spawn, 0))
    assert s.pill[0, 0] != s.pill[0, 1] and bad.pill[0] == bad.pill[1]
    # on the shared cell one pill is eaten a step: the second stays under the player
    bad.player, bad.ghost = bad.pill[0], [cell(13, 1)]
    res = bad.step(0, {"move": [0.99], "noise": [0.5], "pick": [0.5]}, lambda lv: row_of(spawn, 0))
    assert res.events[2] == 1 and bad.pill_alive == [False, True] and not res.cleared


def test_defect_asymmetric_box():
    s = PacmanState.empty(1, 1)
    player = cell(3, 3)
    cells = [c for c in FREE_CELLS if c != cell(1, 1) and c != cell(1, 2)]
    pu = [(FREE_CELLS.index(cell(1, 1)) + 0.5) / 138, (FREE_CELLS.index(cell(1, 2)) - 1 + 0.5) / 137]
    bad = Game(ORACLE_TASKS["regular"], 1, defects=Defects(asymmetric_box=True))
    away = [c for c in FREE_CELLS if not (-5 <= c // WIDTH - 3 <= 4 and -5 <= c % WIDTH - 3 <= 4)]
    inside = away.index(cell(8, 6))  # row +5: inside reverie's box, outside the released one
    spawn = {"pill": pu, "player": (cells.index(player) + 0.5) / len(cells),
             "ghost": [(inside + 0.5) / len(away)], "heading": [0.5]}
    bad.start(spawn)
    assert bad.player == player and bad.ghost[0] == cell(8, 6)
    rules.new_level(s, torch.tensor([0]), SpawnDraws(*(torch.tensor([v], dtype=torch.float64)
                                                       for v in spawn.values())), torch.tensor([1]))
    assert int(s.player[0]) == player
    ours = Game(ORACLE_TASKS["regular"], 1)
    ours.start(spawn)
    assert_same_state(ours.state(), row_of(s, 0), "spawn")
    gr, gc = divmod(int(s.ghost[0, 0]), WIDTH)
    assert abs(gr - 3) > 5 or abs(gc - 3) > 5
    # over many draws reverie never spawns a ghost in the released box's missing row/column
    for u in np.linspace(0.001, 0.999, 200):
        rules.new_level(s, torch.tensor([0]), SpawnDraws(*(torch.tensor([v], dtype=torch.float64) for v in
                                                           (pu, spawn["player"], [u], [0.5]))), torch.tensor([1]))
        gr, gc = divmod(int(s.ghost[0, 0]), WIDTH)
        assert abs(gr - 3) > 5 or abs(gc - 3) > 5


def test_defect_player_on_pill():
    spawn = {"pill": [0.3, 0.6], "player": 0.3, "ghost": [0.5], "heading": [0.5]}
    bad = Game(ORACLE_TASKS["rush"], 1, defects=Defects(player_on_pill=True))
    bad.start(spawn)
    assert bad.player == bad.pill[0]
    s = PacmanState.empty(1, 1)
    rules.new_level(s, torch.tensor([0]), SpawnDraws(*(torch.tensor([v], dtype=torch.float64)
                                                       for v in spawn.values())), torch.tensor([1]))
    assert int(s.player[0]) not in s.pill[0].tolist()
    res = bad.step(0, {"move": [0.99], "noise": [0.5], "pick": [0.5]}, None)
    assert res.events[2] == 1  # staying put on the spawn cell eats the pill


def test_released_oracle_runs():
    """All switches on together still play (the released behaviour, no reverie to compare)."""
    key, g = torch.tensor([99]), 8
    for task in TASKS:
        game = Game(ORACLE_TASKS[task], g, defects=Defects.released())
        game.start(spawner(key, g)(5), 5)
        for f in range(300):
            d = row_of(rules.draws(key, torch.tensor([f]), g), 0)
            res = game.step(f * 7 % 5, d, spawner(key, g))
            if res.killed:
                break
