"""MiniPacman's rules, pinned on hand-made states and crafted draws, plus properties of random play.

Every rule of the contract has a test here: the map, the player's moves and what it eats,
power and its fade, the ghosts' choices (chase, flee, ties, no reversal, corridors, corners,
the 5% random exit), their speed, collisions (swaps included, an eaten ghost stops only
itself, a death counts once), level clears of each task and the level that follows, the
spawn rules, seeding, rewards, the frame cap and exact resumption.
"""

from __future__ import annotations

import torch
from hypothesis import given
from hypothesis import strategies as st

from conftest import PROPERTY
from reverie.envs.minipacman import maze, observation, rules
from reverie.envs.minipacman.env import MiniPacmanVecEnv
from reverie.envs.minipacman.rules import PacmanState, StepDraws
from reverie.envs.registry import get_spec

STAY, RIGHT, UP, LEFT, DOWN = range(5)
D_RIGHT, D_UP, D_LEFT, D_DOWN = range(4)
TASK_NAMES = ("regular", "avoid", "hunt", "ambush", "rush")


def cell(r: int, c: int) -> int:
    return r * maze.WIDTH + c


def craft(player, ghosts=(), headings=None, alive=None, food=None, pills=((13, 1), (13, 17)),
          pill_alive=(True, True), power=0, level=1, timer=0, frame=0, slots=None) -> PacmanState:
    """A one-game state by hand: positions as (row, col); food on every free cell by default."""
    g = slots or max(len(ghosts), 1)
    ghost = [cell(*p) for p in ghosts] + [0] * (g - len(ghosts))
    heading = list(headings or [D_RIGHT] * len(ghosts)) + [0] * (g - len(ghosts))
    live = list(alive if alive is not None else [True] * len(ghosts)) + [False] * (g - len(ghosts))
    food_mask = maze.FREE.clone() if food is None else torch.zeros(maze.CELLS, dtype=torch.bool)
    if food is not None:
        food_mask[[cell(*p) for p in food]] = True
    long = lambda v: torch.tensor([v], dtype=torch.long)  # noqa: E731
    return PacmanState(player=long(cell(*player)), ghost=torch.tensor([ghost]), heading=torch.tensor([heading]),
                       alive=torch.tensor([live]), food=food_mask[None], pill=torch.tensor([[cell(*p) for p in pills]]),
                       pill_alive=torch.tensor([list(pill_alive)]), power=long(power), level=long(level),
                       timer=long(timer), frame=long(frame))


def draws(g: int, move=0.0, noise=0.99, pick=0.0) -> StepDraws:
    full = lambda v: torch.as_tensor(v, dtype=torch.float64).expand(1, g).clone()  # noqa: E731
    return StepDraws(full(move), full(noise), full(pick))


def play(state, action, d=None, task="regular"):
    d = d if d is not None else draws(state.max_ghosts)
    return rules.step(state, torch.tensor([action]), d, rules.TASKS[task])


def rc(flat) -> tuple[int, int]:
    return divmod(int(flat), maze.WIDTH)


# -- the map --------------------------------------------------------------------------------

def test_map_counts():
    free = maze.FREE
    exits = maze.EXITS[free].sum(1)
    assert (maze.HEIGHT, maze.WIDTH, maze.CELLS) == (15, 19, 285)
    assert int(free.sum()) == 138 == len(maze.FREE_CELLS)
    assert int((exits == 3).sum()) == 16 and int((exits == 4).sum()) == 8
    assert int((exits <= 1).sum()) == 0  # no dead ends
    grid = free.view(15, 19)
    assert not grid[0].any() and not grid[-1].any() and not grid[:, 0].any() and not grid[:, -1].any()


# -- the player -----------------------------------------------------------------------------

def test_player_into_a_wall_stays_and_moves_elsewhere():
    state = craft((1, 1), [(13, 9)])
    for action in (UP, LEFT, STAY):
        nxt, *_ = play(state, action)
        assert rc(nxt.player) == (1, 1)
    assert rc(play(state, RIGHT)[0].player) == (1, 2)
    assert rc(play(state, DOWN)[0].player) == (2, 1)


def test_food_is_eaten_once():
    state = craft((1, 1), [(13, 9)])
    nxt, events, killed, cleared = play(state, RIGHT)
    assert events[0].tolist() == [1, 1, 0, 0, 0] and not nxt.food[0, cell(1, 2)]
    nxt, events, *_ = play(nxt, STAY)
    assert events[0, 1] == 0
    nxt, events, *_ = play(nxt, LEFT)  # back onto the start cell: its food is still there
    assert events[0, 1] == 1 and int(nxt.food.sum()) == 136


def test_pill_power_and_fade():
    state = craft((13, 2), [(1, 9)], pills=((13, 1), (1, 17)), power=0)
    nxt, events, *_ = play(state, LEFT)
    assert events[0].tolist() == [1, 1, 1, 0, 0]
    assert nxt.power.item() == 20 and nxt.pill_alive[0].tolist() == [False, True]
    ghost_cell = rc(nxt.ghost[0, 0])
    frame = observation.rgb(nxt)[0]
    assert frame[:, ghost_cell[0], ghost_cell[1]].tolist() == [1.0, 1.0, 0.0]
    for expected in range(19, 0, -1):
        nxt, events, *_ = play(nxt, STAY, draws(1, move=0.99))
        assert nxt.power.item() == expected
        g = rc(nxt.ghost[0, 0])
        frame = observation.rgb(nxt)[0]
        assert frame[1, g[0], g[1]].item() == torch.tensor(expected / 20, dtype=torch.float32).item()
        sym = observation.symbolic(nxt)[0]
        assert sym[4, g[0], g[1]].item() == frame[1, g[0], g[1]].item()
        assert round(sym[3, g[0], g[1]].item() * 20) == 20 - expected
    nxt, *_ = play(nxt, STAY, draws(1, move=0.99))
    g = rc(nxt.ghost[0, 0])
    assert nxt.power.item() == 0 and observation.rgb(nxt)[0, :, g[0], g[1]].tolist() == [1.0, 0.0, 0.0]
    nxt, *_ = play(nxt, STAY, draws(1, move=0.99))
    assert nxt.power.item() == 0


def test_draw_priority_rgb_and_symbolic_overlap():
    # ghost 0 on a pill (with food), ghost 1 on the player's cell, a pill on food, food, wall
    state = craft((5, 5), [(13, 1), (5, 5)], pills=((13, 1), (13, 17)), power=7)
    frame = observation.rgb(state)[0]
    assert frame[:, 5, 5].tolist() == [0.0, 1.0, 0.0]                       # player over ghost
    assert frame[:, 13, 1].tolist() == [1.0, torch.tensor(0.35).item(), 0.0]  # ghost over pill
    assert frame[:, 13, 17].tolist() == [0.0, 1.0, 1.0]                     # pill over food
    assert frame[:, 1, 1].tolist() == [0.0, 0.0, 1.0]                       # food
    assert frame[:, 0, 0].tolist() == [1.0, 1.0, 1.0]                       # wall
    empty = craft((5, 5), [(13, 9)], food=[])
    assert observation.rgb(empty)[0, :, 1, 1].tolist() == [0.0, 0.0, 0.0]
    sym = observation.symbolic(state)[0]
    f32 = lambda x: torch.tensor(x, dtype=torch.float32).item()  # noqa: E731
    assert sym[:, 13, 1].tolist() == [0.0, 1.0, 0.0, f32(13 / 20), f32(7 / 20), 1.0]
    assert sym[1, 5, 5] == 1 and sym[2, 5, 5] == 1 and sym[0].sum() == 285 - 138
    assert ((observation.rgb(state) * 20).round() == observation.rgb(state) * 20).all()


# -- the ghosts -----------------------------------------------------------------------------

def ghost_after(player, ghost, heading, power=0, d=None, level=1, action=STAY):
    state = craft(player, [ghost], [heading], power=power, level=level)
    nxt, *_ = play(state, action, d if d is not None else draws(1))
    return rc(nxt.ghost[0, 0]), int(nxt.heading[0, 0])


def test_junction_chases_unpowered_and_flees_powered():
    # (3, 3) is a four-way junction; heading right, so left (the way back) is no candidate
    assert maze.EXITS[cell(3, 3)].all()
    assert ghost_after((3, 10), (3, 3), D_RIGHT) == ((3, 4), D_RIGHT)        # straight at the player
    assert ghost_after((11, 3), (3, 3), D_RIGHT) == ((4, 3), D_DOWN)
    assert ghost_after((1, 3), (3, 3), D_RIGHT) == ((2, 3), D_UP)
    # powered: away (right 7, up 0, down 0 -> the first of up/down)
    assert ghost_after((3, 10), (3, 3), D_RIGHT, power=5) == ((2, 3), D_UP)
    assert ghost_after((11, 3), (3, 3), D_RIGHT, power=5) == ((2, 3), D_UP)   # down 8, right 0, up -8
    assert ghost_after((11, 9), (3, 3), D_RIGHT, power=5) == ((2, 3), D_UP)


def test_junction_ties_go_to_the_first_direction():
    # player up-right at equal distance: right and up tie -> right
    assert ghost_after((1, 5), (3, 3), D_RIGHT) == ((3, 4), D_RIGHT)
    # player down-right: right and down tie -> right
    assert ghost_after((5, 5), (3, 3), D_RIGHT) == ((3, 4), D_RIGHT)
    # heading down (up excluded), player up-left: left 2 vs down -2 vs right -2 -> left
    assert ghost_after((1, 1), (3, 3), D_DOWN) == ((3, 2), D_LEFT)


def test_no_reversal_at_junctions():
    # the player straight behind: the reverse would be best but is excluded
    assert ghost_after((3, 1), (3, 3), D_RIGHT) == ((2, 3), D_UP)
    assert ghost_after((3, 1), (3, 3), D_RIGHT, power=5) == ((3, 4), D_RIGHT)  # fleeing: right (-2 best)
    # a three-way junction: (7, 1) exits right, up, down
    assert maze.EXITS[cell(7, 1)].tolist() == [True, True, False, True]
    assert ghost_after((11, 1), (7, 1), D_UP) == ((7, 2), D_RIGHT)      # down (the way back) excluded
    assert ghost_after((7, 10), (7, 1), D_LEFT) == ((6, 1), D_UP)       # right excluded; up/down tie -> up
    assert ghost_after((3, 1), (7, 1), D_DOWN, power=2) == ((8, 1), D_DOWN)  # flees on, never back up


def test_corridors_and_corners():
    assert ghost_after((13, 15), (1, 6), D_RIGHT) == ((1, 7), D_RIGHT)        # corridor: keep going
    assert ghost_after((13, 15), (1, 7), D_LEFT) == ((1, 6), D_LEFT)          # even away from the player
    assert ghost_after((13, 15), (1, 1), D_UP) == ((1, 2), D_RIGHT)           # corner: arrived going up
    assert ghost_after((13, 15), (1, 1), D_LEFT) == ((2, 1), D_DOWN)          # corner: arrived going left
    # powered ghosts follow corridors too
    assert ghost_after((1, 9), (1, 6), D_RIGHT, power=4) == ((1, 7), D_RIGHT)


def test_random_exit_only_unpowered():
    # candidates at (3, 3) heading right: right, up, down; pick 0.99 -> the last, down
    crafted = draws(1, noise=0.01, pick=0.99)
    assert ghost_after((3, 10), (3, 3), D_RIGHT, d=crafted) == ((4, 3), D_DOWN)
    assert ghost_after((3, 10), (3, 3), D_RIGHT, d=draws(1, noise=0.01, pick=0.4)) == ((2, 3), D_UP)
    assert ghost_after((3, 10), (3, 3), D_RIGHT, d=draws(1, noise=0.051, pick=0.99)) == ((3, 4), D_RIGHT)
    # powered: no random exit, it flees
    assert ghost_after((3, 10), (3, 3), D_RIGHT, power=5, d=crafted) == ((2, 3), D_UP)
    # corridors ignore the noise
    assert ghost_after((13, 15), (1, 6), D_RIGHT, d=crafted) == ((1, 7), D_RIGHT)


def test_unknown_heading():
    # corridor (1, 6): exits right and left; floor(pick * 2) picks one
    assert ghost_after((13, 15), (1, 6), -1, d=draws(1, pick=0.2)) == ((1, 7), D_RIGHT)
    assert ghost_after((13, 15), (1, 6), -1, d=draws(1, pick=0.7)) == ((1, 5), D_LEFT)
    # junction: every exit is a candidate, the reverse included
    assert ghost_after((3, 1), (3, 3), -1) == ((3, 2), D_LEFT)
    assert ghost_after((3, 1), (3, 3), -1, d=draws(1, noise=0.01, pick=0.99)) == ((4, 3), D_DOWN)
    # a ghost that does not move keeps its unknown heading
    assert ghost_after((13, 15), (1, 6), -1, d=draws(1, move=0.99)) == ((1, 6), -1)


def test_move_probability_by_level_and_power():
    for level in (1, 2, 3, 5, 6, 9):
        speed = 0.5 + 0.1 * (level - 1)
        for power, threshold in ((0, speed), (5, speed * 0.5)):
            below = ghost_after((13, 15), (1, 6), D_RIGHT, power=power, level=level,
                                d=draws(1, move=threshold - 1e-9))
            top = 1 - 2**-33  # the largest draw there is
            above = ghost_after((13, 15), (1, 6), D_RIGHT, power=power, level=level,
                                d=draws(1, move=min(threshold + 1e-9, top)))
            assert below[0] == (1, 7)
            assert above[0] == ((1, 6) if threshold < 1 else (1, 7))   # from level 6 on: always


# -- collisions -----------------------------------------------------------------------------

def test_swap_collisions():
    # the player steps right onto the ghost's cell while the ghost steps left onto the player's
    state = craft((1, 6), [(1, 7)], [D_LEFT])
    nxt, events, killed, _ = play(state, RIGHT)
    assert killed.item() and events[0, 4] == 1
    nxt, events, killed, _ = play(craft((1, 6), [(1, 7)], [D_LEFT], power=5), RIGHT)
    assert not killed.item() and events[0, 3] == 1 and not nxt.alive[0, 0]
    assert rc(nxt.ghost[0, 0]) == (1, 7)  # an eaten ghost does not move
    # the ghost walks onto the player (collision after its move)
    nxt, events, killed, _ = play(craft((1, 6), [(1, 7)], [D_LEFT]), STAY, draws(1))
    assert killed.item()
    nxt, events, killed, _ = play(craft((1, 6), [(1, 7)], [D_LEFT], power=3), STAY, draws(1))
    assert not killed.item() and events[0, 3] == 1 and not nxt.alive[0, 0]


def test_an_eaten_ghost_does_not_stop_the_others():
    state = craft((1, 6), [(1, 7), (13, 6)], [D_LEFT, D_RIGHT], power=5)
    nxt, events, killed, _ = play(state, RIGHT)
    assert events[0, 3] == 1 and nxt.alive[0].tolist() == [False, True]
    assert rc(nxt.ghost[0, 1]) == (13, 7)
    # two eaten in one step: one before moving, one after
    state = craft((1, 6), [(1, 7), (1, 8)], [D_LEFT, D_LEFT], power=5)
    nxt, events, killed, _ = play(state, RIGHT)
    assert events[0, 3] == 2 and not nxt.alive[0].any()


def test_killed_counts_once():
    state = craft((1, 6), [(1, 7), (1, 5)], [D_LEFT, D_RIGHT])
    nxt, events, killed, _ = play(state, STAY)
    assert killed.item() and events[0, 4] == 1
    state = craft((1, 6), [(1, 6), (1, 6)], [D_LEFT, D_RIGHT])
    nxt, events, killed, _ = play(state, STAY)
    assert events[0, 4] == 1


# -- levels ---------------------------------------------------------------------------------

def env_with(task, state: PacmanState, timer="paper", frame_cap=3000, observation_kind="rgb") -> MiniPacmanVecEnv:
    env = MiniPacmanVecEnv(task, "train", 1, seed=0, observation=observation_kind, timer=timer, frame_cap=frame_cap,
                           max_ghosts=state.max_ghosts)
    env.reset()
    saved = env.get_state()
    saved.update({f"state.{k}": v for k, v in state.to_dict().items()})
    env.set_state(saved)
    return env


def assert_new_level(obs, info, level):
    assert info["level"].tolist() == [level]
    frame = obs[0]
    assert int((frame == torch.tensor([0.0, 0.0, 1.0])[:, None, None]).all(0).sum()) >= 138 - 2 - 1 - 8


def test_clear_by_food_regular_and_avoid():
    for task in ("regular", "avoid"):
        env = env_with(task, craft((1, 1), [(13, 17)], food=[(1, 2)], level=2, slots=4))
        obs, reward, term, trunc, info = env.step(torch.tensor([RIGHT]))
        assert_new_level(obs, info, 3)
        assert info["events"][0].tolist() == [1, 1, 0, 0, 0] and not term.item()
        assert env.state.timer.item() == 0 and int(env.state.food.sum()) == 138
        assert int(env.state.alive.sum()) == 2  # level 3: two ghosts


def test_avoid_clears_after_128_steps_and_regular_does_not():
    state = craft((1, 1), [(13, 17)], timer=127)
    obs, _, _, _, info = env_with("avoid", state).step(torch.tensor([STAY]))
    assert_new_level(obs, info, 2)
    _, _, _, _, info = env_with("regular", state).step(torch.tensor([STAY]))
    assert info["level"].tolist() == [1]
    _, _, _, _, info = env_with("avoid", craft((1, 1), [(13, 17)], timer=126)).step(torch.tensor([STAY]))
    assert info["level"].tolist() == [1]


def test_clear_by_ghosts_or_timer_hunt_and_ambush():
    for task in ("hunt", "ambush"):
        env = env_with(task, craft((1, 6), [(1, 7)], [D_LEFT], power=5))
        obs, reward, term, trunc, info = env.step(torch.tensor([RIGHT]))
        assert_new_level(obs, info, 2)
        assert info["events"][0, 3] == 1
        obs, _, _, _, info = env_with(task, craft((1, 1), [(13, 17)], timer=79)).step(torch.tensor([STAY]))
        assert_new_level(obs, info, 2)
        # the released code's rule: no timer
        _, _, _, _, info = env_with(task, craft((1, 1), [(13, 17)], timer=79), timer="released").step(
            torch.tensor([STAY]))
        assert info["level"].tolist() == [1]
        # regular/rush never clear by ghosts
    _, _, _, _, info = env_with("regular", craft((1, 6), [(1, 7)], [D_LEFT], power=5)).step(torch.tensor([RIGHT]))
    assert info["level"].tolist() == [1]
    assert rules.task_rules("hunt", "released").timer == 0 and rules.task_rules("avoid", "released").timer == 128


def test_clear_by_pills_rush():
    env = env_with("rush", craft((13, 2), [(1, 9)], pills=((13, 1), (1, 17)), pill_alive=(False, True)))
    _, _, _, _, info = env.step(torch.tensor([LEFT]))
    assert info["level"].tolist() == [1]   # that pill was eaten already
    env = env_with("rush", craft((13, 2), [(1, 9)], pills=((13, 1), (1, 17)), pill_alive=(True, False)))
    obs, _, _, _, info = env.step(torch.tensor([LEFT]))
    assert_new_level(obs, info, 2)
    assert env.state.pill_alive.all() and env.state.power.item() == 0


def test_killed_ends_the_episode_without_a_level():
    # the last food is under the ghost: killed wins, no level is cleared
    env = env_with("regular", craft((1, 1), [(1, 2)], [D_LEFT], food=[(1, 2)]))
    obs, reward, term, trunc, info = env.step(torch.tensor([RIGHT]))
    assert term.tolist() == [True] and info["final_index"].tolist() == [0]
    assert info["level"].tolist() == [1] and info["episode_length"].tolist() == [1]
    assert info["final_obs"][0, :, 1, 2].tolist() == [0.0, 1.0, 0.0]   # the player, drawn over the ghost


def test_ghost_count_and_spawn_box():
    n, g = 400, 8
    keys = rules.episode_keys("train", torch.arange(n))
    for level in (1, 2, 3, 4, 7, 15, 16, 30):
        state = PacmanState.empty(n, g)
        levels = torch.full((n,), level)
        rules.new_level(state, torch.arange(n), rules.spawn_draws(keys, levels, g), levels)
        assert (state.alive.sum(1) == min(1 + (level - 1) // 2, g)).all()
        assert state.alive[:, : min(1 + (level - 1) // 2, g)].all()
        assert maze.FREE[state.ghost].all() and maze.FREE[state.player].all() and maze.FREE[state.pill].all()
        assert (state.pill[:, 0] != state.pill[:, 1]).all() and (state.pill != state.player[:, None]).all()
        dr = (maze.ROW[state.ghost] - maze.ROW[state.player][:, None]).abs()
        dc = (maze.COL[state.ghost] - maze.COL[state.player][:, None]).abs()
        assert ((dr > 5) | (dc > 5)).all()
        assert ((state.heading >= 0) & (state.heading < 4)).all()
        assert (state.food == maze.FREE).all() and (state.power == 0).all() and (state.timer == 0).all()
    # the draws spread: every free cell is a spawn for someone
    state = rules.initial_state(rules.episode_keys("train", torch.arange(5000)), 1)
    assert state.player.unique().numel() == 138


# -- seeding --------------------------------------------------------------------------------

def rollout(env, actions):
    frames = [env.reset(seed=7)[0] if env is not None else None]
    for a in actions:
        frames.append(env.step(a)[0])
    return torch.stack(frames)


def test_same_seed_same_game():
    actions = torch.randint(0, 5, (60, 16), generator=torch.Generator().manual_seed(1))
    a = rollout(MiniPacmanVecEnv("hunt", "train", 16, seed=3), actions)
    b = rollout(MiniPacmanVecEnv("hunt", "train", 16, seed=99), actions)
    assert torch.equal(a, b)  # reset(seed=7) reseeds both
    c = MiniPacmanVecEnv("hunt", "train", 16, seed=8)
    c.reset()
    assert not torch.equal(c.observe(), a[0])


def test_reset_to_same_episode_whatever_the_batch():
    g = torch.Generator().manual_seed(2)
    actions = torch.randint(0, 5, (40,), generator=g)
    first = MiniPacmanVecEnv("regular", "valid", 3, seed=0, max_ghosts=4)
    second = MiniPacmanVecEnv("regular", "valid", 5, seed=1, max_ghosts=4)
    a, b = first.reset_to(torch.tensor([11, 5, 9])), second.reset_to(torch.tensor([2, 3, 4, 5, 6]))
    assert torch.equal(a[1], b[3])
    for t in range(40):
        a, _, ta, tra, ia = first.step(torch.full((3,), int(actions[t])))
        b, _, tb, trb, ib = second.step(torch.full((5,), int(actions[t])))
        assert ta[1] == tb[3]
        if ta[1]:
            assert torch.equal(ia["final_obs"][ia["final_index"].tolist().index(1)],
                               ib["final_obs"][ib["final_index"].tolist().index(3)])
            break
        assert torch.equal(a[1], b[3])
    # a different ghost-slot count plays the same game while it has no more ghosts than slots
    third = MiniPacmanVecEnv("regular", "valid", 1, seed=0, max_ghosts=8)
    assert torch.equal(third.reset_to(torch.tensor([5]))[0], first.reset_to(torch.tensor([11, 5, 9]))[1])


def test_splits_differ():
    ids = torch.arange(64)
    frames = [MiniPacmanVecEnv("regular", split, 64, seed=0).reset_to(ids) for split in ("train", "valid", "test")]
    for i in range(3):
        for j in range(i + 1, 3):
            assert (frames[i] != frames[j]).flatten(1).any(1).float().mean() > 0.9


# -- rewards, frame cap, state --------------------------------------------------------------

def test_rewards_of_every_event_for_every_task():
    paper = {"regular": (0, 1, 2, 5, 0), "avoid": (0.1, -0.1, -5, -10, -20), "hunt": (0, 0, 1, 10, -20),
             "ambush": (0, -0.1, 0, 10, -20), "rush": (0, -0.1, 10, 0, 0)}
    combos = torch.tensor([[1, f, p, g, k] for f in (0, 1) for p in (0, 1) for g in (0, 1, 2) for k in (0, 1)],
                          dtype=torch.float32)
    for task in TASK_NAMES:
        spec = get_spec(f"minipacman-{task}")
        assert spec.rewards.tasks[task] == tuple(float(w) for w in paper[task])
        env = MiniPacmanVecEnv(task, "train", 1, seed=0)
        assert torch.equal(env.weights, spec.rewards.weights)
        expected = combos @ torch.tensor(paper[task], dtype=torch.float32)
        assert torch.equal(spec.rewards.event_reward(combos), expected)
        assert torch.equal(combos @ env.weights, expected)
        for e in range(5):
            one = torch.zeros(1, 5)
            one[0, e] = 1
            assert spec.rewards.event_reward(one).item() == torch.tensor(paper[task][e], dtype=torch.float32).item()
    assert get_spec("minipacman-avoid").rewards.event_reward(torch.tensor([[1.0, 1, 0, 0, 0]])).item() == \
        (torch.tensor(0.1) + torch.tensor(-0.1)).item()


def test_env_rewards_are_events_dot_weights():
    for task in TASK_NAMES:
        env = MiniPacmanVecEnv(task, "train", 64, seed=1, max_ghosts=4)
        spec = get_spec(f"minipacman-{task}", max_ghosts=4)
        env.reset()
        for _ in range(60):
            _, reward, term, _, info = env.step(torch.randint(0, 5, (64,)))
            assert torch.equal(reward, spec.rewards.event_reward(info["events"]))
            assert torch.equal(term, info["events"][:, 4] > 0)


def test_frame_cap_truncates():
    env = env_with("regular", craft((1, 1), [(13, 17)], frame=0), frame_cap=3)
    for t in range(3):
        obs, reward, term, trunc, info = env.step(torch.tensor([STAY]))
        assert not term.item()
        assert trunc.item() == (t == 2)
    assert info["final_index"].tolist() == [0] and info["episode_length"].tolist() == [3]
    assert env.state.frame.item() == 0 and env.state.level.item() == 1
    assert info["final_obs"][0, :, 1, 1].tolist() == [0.0, 1.0, 0.0]


def test_get_state_set_state_resumes_exactly():
    actions = torch.randint(0, 5, (120, 32), generator=torch.Generator().manual_seed(4))
    env = MiniPacmanVecEnv("ambush", "test", 32, seed=5, observation="symbolic", frame_cap=50)
    env.reset()
    for a in actions[:60]:
        env.step(a)
    saved = env.get_state()
    later = [env.step(a) for a in actions[60:]]
    other = MiniPacmanVecEnv("ambush", "test", 32, seed=123, observation="symbolic", frame_cap=50)
    other.reset()
    other.set_state(saved)
    for a, (obs, reward, term, trunc, info) in zip(actions[60:], later):
        o2, r2, t2, tr2, i2 = other.step(a)
        assert torch.equal(obs, o2) and torch.equal(reward, r2) and torch.equal(term, t2) and torch.equal(trunc, tr2)
        assert torch.equal(info["episode"], i2["episode"]) and torch.equal(info["final_obs"], i2["final_obs"])


def test_state_round_trips():
    state = rules.initial_state(rules.episode_keys("train", torch.arange(6)), 3)
    again = PacmanState.from_dict(state.to_dict())
    assert all(torch.equal(getattr(state, k), getattr(again, k)) for k in state.to_dict())
    sub = state.index(torch.tensor([4, 1]))
    copy = state.clone()
    copy.assign(torch.tensor([0, 5]), sub)
    assert torch.equal(copy.player[[0, 5]], state.player[[4, 1]]) and torch.equal(copy.food, state.food)


# -- properties of random play ---------------------------------------------------------------

@PROPERTY
@given(seed=st.integers(0, 2**31 - 1), task=st.sampled_from(TASK_NAMES),
       actions=st.lists(st.integers(0, 4), min_size=1, max_size=40))
def test_random_play_keeps_the_invariants(seed, task, actions):
    n = 8
    env = MiniPacmanVecEnv(task, "train", n, seed=seed, max_ghosts=4, frame_cap=30)
    spec = get_spec(f"minipacman-{task}", max_ghosts=4)
    env.reset()
    for i, a in enumerate(actions):
        before = env.state.clone()
        act = (torch.arange(n) + a + i) % 5
        obs, reward, term, trunc, info = env.step(act)
        state = env.state
        assert torch.equal(reward, spec.rewards.event_reward(info["events"]))
        frame = obs
        player = (frame == torch.tensor([0.0, 1.0, 0.0])[:, None, None]).all(1).flatten(1)
        assert (player.sum(1) == 1).all() and torch.equal(player.float().argmax(1), state.player)
        assert maze.FREE[state.player].all() and maze.FREE[state.ghost].all()
        assert ((state.power >= 0) & (state.power <= 20)).all()
        same = info["level"] == before.level
        same[info["final_index"]] = False
        # food never reappears within a level
        assert not (state.food & ~before.food)[same].any()
        assert (state.frame[same] == before.frame[same] + 1).all()
        assert (info["events"][:, 1] == (before.food & ~state.food).sum(1))[same].all()


@PROPERTY
@given(seed=st.integers(0, 2**31 - 1), actions=st.lists(st.integers(0, 4), min_size=1, max_size=30),
       power=st.integers(0, 20), level=st.integers(1, 12))
def test_rules_step_invariants_from_random_states(seed, actions, power, level):
    n, g = 16, 6
    keys = rules.episode_keys("test", torch.arange(n) + seed)
    state = PacmanState.empty(n, g)
    levels = torch.full((n,), level)
    rules.new_level(state, torch.arange(n), rules.spawn_draws(keys, levels, g), levels)
    state.power[:] = power
    state.heading[::2] = -1   # the perfect model's unknown headings
    weights = torch.tensor(rules.TASK_WEIGHTS["hunt"])
    for i, a in enumerate(actions):
        d = rules.draws(keys, state.frame, g)
        nxt, events, killed, cleared = rules.step(state, torch.full((n,), a), d, rules.TASKS["hunt"])
        assert maze.FREE[nxt.ghost].all() and maze.FREE[nxt.player].all()
        assert ((nxt.power >= 0) & (nxt.power <= 20)).all()
        assert not (nxt.food & ~state.food).any() and not (nxt.alive & ~state.alive).any()
        assert torch.equal(events[:, 3], (state.alive & ~nxt.alive).sum(1).float())
        assert not (killed & cleared).any() and torch.equal(killed, events[:, 4] > 0)
        moved = (nxt.ghost != state.ghost)
        step = (maze.ROW[nxt.ghost] - maze.ROW[state.ghost]).abs() + (maze.COL[nxt.ghost] - maze.COL[state.ghost]).abs()
        assert (step[moved] == 1).all() and not (moved & ~state.alive).any()
        assert (events @ weights).dtype == torch.float32
        state = nxt


def test_render_draws_both_observations_alike():
    from reverie.envs.minipacman.render import render

    state = craft((5, 5), [(13, 1), (9, 9)], pills=((13, 1), (13, 17)), power=10)
    rgb, sym = observation.rgb(state), observation.symbolic(state)
    pictures = render(torch.cat((rgb, rgb)))
    assert pictures.shape == (2, 120, 152, 3) and pictures.dtype == torch.uint8
    assert torch.equal(render(sym), pictures[:1])
    assert torch.equal(render((rgb * 20).round().to(torch.uint8)), pictures[:1])   # the data codec's bytes
    assert pictures[0, 5 * 8 + 3, 5 * 8 + 3].tolist() == [0, 255, 0]
    assert pictures[0, 9 * 8, 9 * 8].tolist() == [255, 128, 0] and pictures[0, 0, 0].tolist() == [255, 255, 255]
