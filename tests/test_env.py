"""Tests of ``SokobanVecEnv``: observations, incremental redraws, episodes, seeding, state."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch

from conftest import FIXTURES, HARD, as_batch, grid, level
from reverie.envs.sokoban import cells, rules
from reverie.envs.sokoban.bank import LevelBank, load_boxoban
from reverie.envs.sokoban.env import SokobanVecEnv
from reverie.envs.sokoban.generator import generate_levels
from reverie.envs.sokoban.levels import parse_xsb
from reverie.envs.sokoban.observation import ObservationBuffer
from reverie.envs.sokoban.render import SPRITES, rgb_image

NOOP, UP, DOWN, LEFT, RIGHT = range(5)

# Two same-size levels, each solved by one push to the right.
ONE_PUSH_A = """
    #####
    #@$.#
    #   #
    #####
"""
ONE_PUSH_B = """
    #####
    #   #
    #@$.#
    #####
"""
SOLVED_A = "#####\n# @*#\n#   #\n#####"
SOLVED_B = "#####\n#   #\n# @*#\n#####"
TWO_BOXES = """
    ######
    #@$ .#
    #  $.#
    ######
"""


def one_push_env(**kwargs) -> SokobanVecEnv:
    kwargs.setdefault("num_envs", 4)
    kwargs.setdefault("seed", 0)
    return SokobanVecEnv([level(ONE_PUSH_A, "A"), level(ONE_PUSH_B, "B")], **kwargs)


@functools.lru_cache(maxsize=None)
def small_generated() -> LevelBank:
    return generate_levels(30, 6, 6, 1, seed=21)


def symbolic_np(codes: np.ndarray) -> np.ndarray:
    """Independent one-hot rendering: [N, H, W] codes -> [N, 7, H, W]."""
    return np.eye(cells.NUM_CODES, dtype=np.float32)[codes].transpose(0, 3, 1, 2)


def rgb_np(codes: np.ndarray) -> np.ndarray:
    """Independent RGB rendering from the sprite table: [N, H, W] -> [N, 3, 8H, 8W]."""
    n, h, w = codes.shape
    tiles = SPRITES[codes]  # [N, H, W, 8, 8, 3]
    return np.ascontiguousarray(tiles.transpose(0, 5, 1, 3, 2, 4).reshape(n, 3, 8 * h, 8 * w))


def render_np(kind: str, codes: np.ndarray) -> np.ndarray:
    return symbolic_np(codes) if kind == "symbolic" else rgb_np(codes)


def grids(env: SokobanVecEnv) -> np.ndarray:
    return env.codes.view(env.num_envs, env.height, env.width).numpy().copy()


# -- shapes and dtypes --------------------------------------------------------------------------


def test_symbolic_reset_and_step_shapes():
    env = SokobanVecEnv(FIXTURES, num_envs=5, observation="symbolic", seed=0)
    obs, info = env.reset()
    assert obs.shape == (5, 7, 10, 10) and obs.dtype == torch.float32
    assert set(info) == {"level_index"}
    assert info["level_index"].shape == (5,) and info["level_index"].dtype == torch.long
    assert torch.equal(obs.sum(1), torch.ones(5, 10, 10)), "exactly one channel hot per cell"
    assert set(obs.unique().tolist()) == {0.0, 1.0}
    np.testing.assert_array_equal(obs.argmax(1).numpy(), grids(env))
    bank = load_boxoban(FIXTURES)
    np.testing.assert_array_equal(grids(env), bank.codes[info["level_index"].numpy()])
    assert env.single_observation_space.shape == (7, 10, 10)
    assert env.single_observation_space.dtype == np.float32
    assert env.single_observation_space.contains(obs[0].numpy())
    assert env.action_space.n == 5

    obs, reward, terminated, truncated, info = env.step(torch.tensor([1, 2, 3, 4, 0]))
    assert obs.shape == (5, 7, 10, 10) and obs.dtype == torch.float32
    assert reward.shape == (5,) and reward.dtype == torch.float32
    assert terminated.shape == truncated.shape == (5,)
    assert terminated.dtype == truncated.dtype == torch.bool
    assert {"episode_return", "episode_length", "level_index", "final_index", "final_obs"} <= set(info)
    assert info["final_index"].shape == (0,)
    assert info["final_obs"].shape == (0, 7, 10, 10)
    assert torch.equal(obs.sum(1), torch.ones(5, 10, 10))


def test_rgb_reset_and_step_shapes():
    env = SokobanVecEnv(FIXTURES, num_envs=3, observation="rgb", seed=1)
    obs, _ = env.reset()
    assert obs.shape == (3, 3, 80, 80) and obs.dtype == torch.uint8
    np.testing.assert_array_equal(obs.numpy(), rgb_np(grids(env)))
    assert env.single_observation_space.shape == (3, 80, 80)
    assert env.single_observation_space.dtype == np.uint8
    obs, reward, *_ = env.step([4, 4, 4])
    assert obs.shape == (3, 3, 80, 80) and obs.dtype == torch.uint8
    np.testing.assert_array_equal(obs.numpy(), rgb_np(grids(env)))


def test_symbolic_obs_dtype_option():
    env = SokobanVecEnv(FIXTURES, num_envs=2, seed=0, obs_dtype=torch.uint8)
    obs, _ = env.reset()
    assert obs.dtype == torch.uint8
    np.testing.assert_array_equal(obs.numpy(), symbolic_np(grids(env)).astype(np.uint8))
    obs, *_ = env.step([2, 3])
    np.testing.assert_array_equal(obs.numpy(), symbolic_np(grids(env)).astype(np.uint8))


def test_constructor_checks():
    with pytest.raises(ValueError, match="observation must be one of"):
        SokobanVecEnv(FIXTURES, observation="pixels")
    with pytest.raises(ValueError, match="num_envs"):
        SokobanVecEnv(FIXTURES, num_envs=0)
    with pytest.raises(ValueError, match="max_steps"):
        SokobanVecEnv(FIXTURES, max_steps=0)


# -- the incremental observation buffer -------------------------------------------------------


@pytest.mark.parametrize("kind", ["symbolic", "rgb"])
@pytest.mark.parametrize("source", ["boxoban", "generated"])
def test_incremental_observations_equal_a_full_render(kind, source):
    """The critical check: after every step, with pushes, solves, truncations and resets,
    the buffer redrawn three cells at a time equals a full render of the grids, and every
    returned tensor agrees with the pure rules applied to the previous grids."""
    bank = load_boxoban(FIXTURES) if source == "boxoban" else small_generated()
    env = SokobanVecEnv(bank, num_envs=12, observation=kind, max_steps=23, seed=7)
    obs, _ = env.reset()
    renderer = env.obs_buffer.renderer
    rng = np.random.default_rng(11)
    solves = truncations = pushes = 0
    for t in range(250):
        before = env.codes.clone()
        actions = torch.from_numpy(rng.integers(0, 5, size=env.num_envs))
        expected_next, pure = rules.step(before, actions, env.tables)
        steps_before = env.steps.clone()
        obs, reward, terminated, truncated, info = env.step(actions)

        full = renderer.symbolic(env.codes) if kind == "symbolic" else renderer.rgb(env.codes)
        assert torch.equal(obs, full), f"step {t}: incremental buffer differs from a full render"
        np.testing.assert_array_equal(obs.numpy(), render_np(kind, grids(env)))

        assert torch.equal(reward, pure.reward)
        assert torch.equal(terminated, pure.solved)
        assert torch.equal(truncated, (steps_before + 1 >= 23) & ~pure.solved)
        ended = (terminated | truncated).nonzero().squeeze(1)
        assert torch.equal(info["final_index"], ended)
        next_grids = expected_next.view(-1, env.height, env.width).numpy()
        np.testing.assert_array_equal(info["final_obs"].numpy(),
                                      render_np(kind, next_grids[ended.numpy()]))
        going = ~(terminated | truncated)
        np.testing.assert_array_equal(grids(env)[going.numpy()], next_grids[going.numpy()])
        np.testing.assert_array_equal(grids(env)[ended.numpy()],
                                      bank.codes[env.level_index[ended].numpy()])
        solves += int(terminated.sum())
        truncations += int(truncated.sum())
        pushes += int(pure.pushed.sum())
    assert truncations > 0 and pushes > 50
    if source == "generated":
        assert solves > 0, "the run never solved a level, so resets after solves went untested"


@pytest.mark.parametrize("copy_obs", [True, False])
def test_uint8_observations_are_the_float_ones(copy_obs):
    """``obs_dtype=torch.uint8`` stores the same one-hot planes as bytes: through play with
    pushes, solves, truncations and auto-resets, every observation, final observation and
    reward equals the float32 env's, and ``.float()`` (what networks do at their input)
    gives the float32 tensor exactly."""
    bank = small_generated()
    envs = [SokobanVecEnv(bank, num_envs=16, max_steps=19, seed=3, copy_obs=copy_obs, obs_dtype=dtype)
            for dtype in (torch.float32, torch.uint8)]
    (obs_f, _), (obs_u, _) = (env.reset() for env in envs)
    assert obs_u.dtype == torch.uint8 and torch.equal(obs_u.float(), obs_f)
    assert envs[1].single_observation_space.dtype == np.uint8
    assert envs[1].single_observation_space.shape == envs[0].single_observation_space.shape
    rng = np.random.default_rng(5)
    ended = 0
    for t in range(200):
        actions = torch.from_numpy(rng.integers(0, 5, size=16))
        (obs_f, rew_f, term_f, trunc_f, info_f), (obs_u, rew_u, term_u, trunc_u, info_u) = (
            env.step(actions) for env in envs)
        assert torch.equal(obs_u.float(), obs_f), f"step {t}"
        assert torch.equal(info_u["final_obs"].float(), info_f["final_obs"])
        assert torch.equal(rew_u, rew_f) and torch.equal(term_u, term_f) and torch.equal(trunc_u, trunc_f)
        ended += len(info_f["final_index"])
    assert ended > 16


@pytest.mark.parametrize("dtype", [torch.float32, torch.uint8])
def test_keyed_symbolic_update_equals_the_two_scatter_one(dtype):
    """ObservationBuffer.update redraws from the step's case key with one scatter; without a
    key it writes old planes 0 and new planes 1; both give the same buffer."""
    bank = small_generated()
    env = SokobanVecEnv(bank, num_envs=10, seed=1, obs_dtype=dtype)
    env.reset()
    other = ObservationBuffer("symbolic", 10, env.height, env.width, env.device, dtype)
    other.redraw(torch.arange(10), env.codes)
    rng = np.random.default_rng(2)
    for _ in range(60):
        result = rules.step_(env.codes, env.player, torch.from_numpy(rng.integers(0, 5, size=10)),
                             env.tables, env.unplaced)
        env.obs_buffer.update(result.cells, result.before, result.after, result.key)
        other.update(result.cells, result.before, result.after)
        assert torch.equal(env.obs_buffer.flat, other.flat)
        assert torch.equal(other.tensor(), env.obs_buffer.renderer.symbolic(env.codes))


# -- episodes: truncation, termination, auto-reset ------------------------------------------------


def test_truncation_exactly_at_max_steps():
    env = one_push_env(num_envs=3, max_steps=5)
    env.reset()
    noop = torch.zeros(3, dtype=torch.long)
    for episode in range(2):
        for t in range(1, 6):
            obs, reward, terminated, truncated, info = env.step(noop)
            assert not terminated.any()
            assert torch.allclose(reward, torch.full((3,), -0.1))
            if t < 5:
                assert not truncated.any(), f"truncated early at step {t}"
                assert info["final_index"].numel() == 0
                assert env.steps.tolist() == [t] * 3
            else:
                assert truncated.all()
                assert info["final_index"].tolist() == [0, 1, 2]
                assert info["episode_length"].tolist() == [5, 5, 5]
                assert torch.allclose(info["episode_return"], torch.full((3,), -0.5))
                assert env.steps.tolist() == [0, 0, 0]
                assert torch.equal(env.episode_return, torch.zeros(3))


def test_solving_on_the_last_step_terminates_and_does_not_truncate():
    env = one_push_env(num_envs=2, max_steps=3)
    env.reset()
    env.step([NOOP, NOOP])
    env.step([NOOP, NOOP])
    _, reward, terminated, truncated, info = env.step([RIGHT, NOOP])
    assert terminated.tolist() == [True, False]
    assert truncated.tolist() == [False, True]
    assert reward[0].item() == pytest.approx(10.9)
    assert info["final_index"].tolist() == [0, 1]
    assert info["episode_return"][0].item() == pytest.approx(10.7)


@pytest.mark.parametrize("kind", ["symbolic", "rgb"])
def test_termination_on_solve_and_auto_reset(kind):
    env = one_push_env(num_envs=4, observation=kind, max_steps=50)
    _, info = env.reset()
    start_levels = info["level_index"].clone()
    env.step([NOOP] * 4)
    env.step([NOOP] * 4)
    obs, reward, terminated, truncated, info = env.step([RIGHT, NOOP, RIGHT, NOOP])

    assert reward.tolist() == pytest.approx([10.9, -0.1, 10.9, -0.1], abs=1e-6)
    assert terminated.tolist() == [True, False, True, False]
    assert not truncated.any()
    assert info["final_index"].tolist() == [0, 2]
    assert info["episode_length"].tolist() == [3, 3, 3, 3]
    assert info["episode_return"].tolist() == pytest.approx([10.7, -0.3, 10.7, -0.3], abs=1e-5)
    assert torch.equal(info["level_index"], start_levels), "info names the finished levels"

    solved = {0: grid(SOLVED_A), 1: grid(SOLVED_B)}
    expected_final = np.stack([solved[int(start_levels[i])] for i in (0, 2)])
    np.testing.assert_array_equal(info["final_obs"].numpy(), render_np(kind, expected_final))

    # the ended games restarted from a fresh level; the others went on
    starts = {0: grid(ONE_PUSH_A), 1: grid(ONE_PUSH_B)}
    for i in (0, 2):
        fresh = starts[int(env.level_index[i])]
        np.testing.assert_array_equal(grids(env)[i], fresh)
        np.testing.assert_array_equal(obs[i].numpy(), render_np(kind, fresh[None])[0])
    for i in (1, 3):
        assert int(env.level_index[i]) == int(start_levels[i])
        np.testing.assert_array_equal(grids(env)[i], starts[int(start_levels[i])])
    assert env.steps.tolist() == [0, 3, 0, 3]
    assert env.episode_return.tolist() == pytest.approx([0.0, -0.3, 0.0, -0.3], abs=1e-5)
    assert env.unplaced.tolist() == [1, 1, 1, 1]

    # the restarted games play on from their new start: solving again takes one push
    _, reward, terminated, _, info = env.step([RIGHT, NOOP, NOOP, NOOP])
    assert terminated.tolist() == [True, False, False, False]
    assert info["episode_length"][0].item() == 1
    assert info["episode_return"][0].item() == pytest.approx(10.9)


# -- seeding ------------------------------------------------------------------------------------


def rollout(env: SokobanVecEnv, seed: int, steps: int = 40):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(steps):
        obs, reward, terminated, truncated, info = env.step(
            torch.from_numpy(rng.integers(0, 5, size=env.num_envs)))
        out.append((obs, reward, terminated, truncated, info["level_index"].clone(),
                    env.level_index.clone(), info["final_obs"], info["final_index"]))
    return out


def assert_same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        for u, v in zip(x, y):
            assert torch.equal(u, v)


def test_same_seed_same_trajectory_different_seeds_differ():
    def make(seed):
        env = SokobanVecEnv(FIXTURES, num_envs=8, max_steps=6, seed=seed)
        first, info = env.reset()
        return env, info["level_index"]

    a, la = make(123)
    b, lb = make(123)
    assert torch.equal(la, lb)
    assert_same(rollout(a, 0), rollout(b, 0))
    c, lc = make(124)
    assert not torch.equal(la, lc)
    later_a = torch.stack([step[5] for step in rollout(a, 1)])
    later_c = torch.stack([step[5] for step in rollout(c, 1)])
    assert not torch.equal(later_a, later_c)


def test_reset_seed_reseeds_the_sampler():
    a = SokobanVecEnv(FIXTURES, num_envs=8, max_steps=6, seed=5)
    b = SokobanVecEnv(FIXTURES, num_envs=8, max_steps=6, seed=999)
    a.reset()
    rollout(a, 1, 10)
    _, ia = a.reset(seed=77)
    _, ib = b.reset(seed=77)
    assert torch.equal(ia["level_index"], ib["level_index"])
    assert_same(rollout(a, 2), rollout(b, 2))


# -- state ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["symbolic", "rgb"])
def test_get_state_set_state_restores_the_future(kind):
    env = SokobanVecEnv(small_generated(), num_envs=6, observation=kind, max_steps=7, seed=3)
    env.reset()
    rollout(env, 4, 10)
    state = env.get_state()
    saved = {k: v.clone() for k, v in state.items()}
    obs_at_save = env.observe()
    future = rollout(env, 5, 30)  # crosses several auto-resets: the sampler state matters
    for k, v in state.items():
        assert torch.equal(v, saved[k]), f"get_state's {k} is not a copy"

    env.set_state(state)
    assert torch.equal(env.observe(), obs_at_save)
    assert_same(rollout(env, 5, 30), future)

    # a fresh env, never reset, continues the same way from the state
    other = SokobanVecEnv(small_generated(), num_envs=6, observation=kind, max_steps=7, seed=42)
    other.set_state(state)
    assert torch.equal(other.observe(), obs_at_save)
    assert_same(rollout(other, 5, 30), future)


def test_set_state_rejects_bad_states():
    env = SokobanVecEnv(FIXTURES, num_envs=3, seed=0)
    env.reset()
    good = env.get_state()

    def with_codes(codes):
        return dict(good, codes=codes)

    with pytest.raises(ValueError, match="shape"):
        env.set_state(with_codes(good["codes"][:2]))
    with pytest.raises(ValueError, match="shape"):
        env.set_state(with_codes(good["codes"].reshape(3, -1)))
    bad = good["codes"].clone()
    bad[0, 0, 0] = 7
    with pytest.raises(ValueError, match="not Sokoban cells"):
        env.set_state(with_codes(bad))
    two = good["codes"].clone()
    two[1][two[1] == cells.FLOOR] = cells.PLAYER
    with pytest.raises(ValueError, match="exactly one player"):
        env.set_state(with_codes(two))
    none = good["codes"].clone()
    none[2][none[2] == cells.PLAYER] = cells.FLOOR
    none[2][none[2] == cells.PLAYER_ON_TARGET] = cells.TARGET
    with pytest.raises(ValueError, match="exactly one player"):
        env.set_state(with_codes(none))
    # the env is untouched by the refused states
    assert torch.equal(env.codes.view(3, 10, 10), good["codes"])


@pytest.mark.parametrize("key", ["steps", "level_index", "episode_return"])
@pytest.mark.parametrize("shape", [(2,), (), (3, 1)])
def test_set_state_rejects_bad_counters(key, shape):
    # A wrong shape would otherwise raise RuntimeError from copy_ or broadcast silently.
    env = SokobanVecEnv(FIXTURES, num_envs=3, seed=0)
    env.reset()
    env.step([1, 2, 3])
    good = env.get_state()
    bad = torch.zeros(shape, dtype=good[key].dtype)
    with pytest.raises(ValueError, match=key):
        env.set_state(dict(good, **{key: bad}))
    assert torch.equal(env.steps, good["steps"]), "a refused state changed the env"


def test_to_xsb_shows_current_positions():
    env = SokobanVecEnv([level(TWO_BOXES)], num_envs=2, seed=0)
    env.reset()
    start = "######\n#@$ .#\n#  $.#\n######"
    assert env.to_xsb() == [start, start]
    env.step([RIGHT, DOWN])
    assert env.to_xsb() == ["######\n# @$.#\n#  $.#\n######", "######\n# $ .#\n#@ $.#\n######"]
    env.step([RIGHT, RIGHT])
    assert env.to_xsb() == ["######\n#  @*#\n#  $.#\n######", "######\n# $ .#\n# @$.#\n######"]


# -- actions --------------------------------------------------------------------------------------


@pytest.mark.parametrize("actions", [
    torch.zeros(4, dtype=torch.long),
    torch.zeros((3, 1), dtype=torch.long),
    torch.zeros((), dtype=torch.long),
    torch.zeros(3, dtype=torch.float32),
    np.zeros(3, dtype=np.float64),
    [0.0, 1.0, 2.0],
    torch.tensor([0, 1, 5]),
    [9, 0, 0],
    [0, -1, 0],
    np.array([0, 0, -3], dtype=np.int8),
], ids=["too-long", "column", "scalar", "torch-float", "numpy-float", "list-float",
        "five", "nine", "minus-one", "negative-int8"])
def test_bad_actions_raise_value_error(actions):
    env = SokobanVecEnv(FIXTURES, num_envs=3, seed=0)
    env.reset()
    before = env.get_state()
    with pytest.raises(ValueError):
        env.step(actions)
    assert torch.equal(env.codes.view(3, 10, 10), before["codes"])
    assert torch.equal(env.steps, before["steps"])


def test_integer_actions_of_any_kind_are_accepted():
    env = one_push_env(num_envs=2)
    env.reset()
    for actions in ([0, 0], np.zeros(2, dtype=np.int8), np.zeros(2, dtype=np.uint8),
                    torch.zeros(2, dtype=torch.int32), (0, 0)):
        _, reward, *_ = env.step(actions)
        assert reward.tolist() == pytest.approx([-0.1, -0.1])


def test_step_before_reset_raises():
    env = one_push_env()
    with pytest.raises(RuntimeError, match="reset"):
        env.step([0, 0, 0, 0])


# -- observation copies and level sources ----------------------------------------------------------


def test_copy_obs_false_returns_the_internal_buffer():
    env = one_push_env(num_envs=2, copy_obs=False, max_steps=50)
    obs, _ = env.reset()
    assert obs.data_ptr() == env.obs_buffer.tensor().data_ptr()
    first = obs.clone()
    obs2, *_ = env.step([DOWN, DOWN])
    assert obs2.data_ptr() == obs.data_ptr()
    assert torch.equal(obs, obs2), "the earlier tensor follows the buffer"
    assert not torch.equal(obs, first)

    env = one_push_env(num_envs=2, copy_obs=True, max_steps=50)
    obs, _ = env.reset()
    assert obs.data_ptr() != env.obs_buffer.tensor().data_ptr()
    first = obs.clone()
    obs2, *_ = env.step([DOWN, DOWN])
    assert torch.equal(obs, first), "a copied observation must not change"
    assert not torch.equal(obs2, first)


def test_rgb_copy_obs_false_shares_storage():
    env = one_push_env(num_envs=2, observation="rgb", copy_obs=False)
    obs, _ = env.reset()
    obs2, *_ = env.step([DOWN, DOWN])
    assert obs.untyped_storage().data_ptr() == env.obs_buffer.flat.untyped_storage().data_ptr()
    assert torch.equal(obs, obs2)


@pytest.mark.parametrize("source", [FIXTURES, str(FIXTURES), HARD, "bank", "levels"])
def test_level_sources(source):
    if source == "bank":
        source, count = load_boxoban(HARD), 20
    elif source == "levels":
        source, count = list(load_boxoban(HARD)), 20
    else:
        count = 40 if str(source) == str(FIXTURES) else 20
    env = SokobanVecEnv(source, num_envs=4, seed=0)
    assert len(env.bank) == count and (env.height, env.width) == (10, 10)
    obs, info = env.reset()
    np.testing.assert_array_equal(grids(env), env.bank.codes[info["level_index"].numpy()])
    assert ((0 <= info["level_index"]) & (info["level_index"] < count)).all()
    env.step([1, 2, 3, 4])


def test_resets_sample_every_level_of_the_bank():
    env = SokobanVecEnv(FIXTURES, num_envs=64, max_steps=1, seed=0)
    _, info = env.reset()
    seen = set(info["level_index"].tolist())
    for _ in range(10):
        env.step(torch.zeros(64, dtype=torch.long))
        seen |= set(env.level_index.tolist())
    assert seen == set(range(40))


def test_every_cell_code_looks_different():
    # Symbolic planes are distinct by construction; RGB sprites must be too, or an agent
    # could not tell, e.g., a box on a target from a box.
    codes = np.arange(cells.NUM_CODES, dtype=np.uint8).reshape(1, 1, -1)
    img = rgb_np(codes)[0]
    sprites = [img[:, :, 8 * k: 8 * k + 8].tobytes() for k in range(cells.NUM_CODES)]
    assert len(set(sprites)) == cells.NUM_CODES


def test_reference_render_helpers_match_the_sprites():
    # Guard the independent renderers used above against drifting into tautology.
    codes = as_batch(grid(SOLVED_A)).view(1, 4, 5).numpy()
    sym = symbolic_np(codes)
    assert sym.shape == (1, 7, 4, 5) and sym[0, cells.BOX_ON_TARGET, 1, 3] == 1
    img = rgb_np(codes)
    assert img.shape == (1, 3, 32, 40)
    np.testing.assert_array_equal(img[0], rgb_image(codes[0]).transpose(2, 0, 1))
    assert not np.array_equal(img[0, :, 8:16, 16:24], img[0, :, 8:16, 24:32])


def test_set_state_refuses_a_grid_open_at_the_border():
    env = SokobanVecEnv(LevelBank.from_levels([parse_xsb("#####\n#@$.#\n#####")]), 1, seed=0)
    env.reset()
    state = env.get_state()
    state["codes"][0, 1, 0] = 1  # floor on the left border, next to the player
    with pytest.raises(ValueError, match="border"):
        env.set_state(state)
