"""The Gymnasium face of Sokoban: SokobanEnv, the vector adapter and the registered ids."""

from __future__ import annotations

import functools
import subprocess
import sys
import warnings
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env
from gymnasium.vector import AutoresetMode

from reverie.envs.registry import register_envs
from reverie.envs.sokoban.gym_ids import GYM_IDS as ENVS
from reverie.envs.sokoban.generator import generate_levels
from reverie.envs.sokoban.gym_env import SokobanEnv
from reverie.envs.sokoban.gym_vector import SokobanGymVectorEnv

register_envs()

FIXTURE_BOXOBAN = Path(__file__).parent / "fixtures" / "boxoban" / "unfiltered" / "test"
SHARED_BOXOBAN = Path(__file__).resolve().parents[2] / "shared" / "boxoban-levels" / "unfiltered" / "test"
#: check_env warns that it cannot try other render modes on an env made without a spec.
NO_SPEC = "ignore:.*Not able to test alternative render modes"


@pytest.fixture(scope="module")
def bank():
    return generate_levels(50, 6, 6, 1, seed=0)


def boxoban_path() -> Path:
    for path in (FIXTURE_BOXOBAN, SHARED_BOXOBAN):
        if path.exists():
            return path
    pytest.skip("no Boxoban levels here")


# -- the single env --------------------------------------------------------------------


@pytest.mark.filterwarnings("error", NO_SPEC)
@pytest.mark.parametrize("observation", ["symbolic", "rgb"])
@pytest.mark.parametrize("render_mode", [None, "rgb_array", "ansi"])
def test_check_env_on_a_bank(bank, observation, render_mode):
    env = SokobanEnv(levels=bank, observation=observation, render_mode=render_mode)
    check_env(env, skip_render_check=False)


@pytest.mark.filterwarnings("error", NO_SPEC)
@pytest.mark.parametrize("observation", ["symbolic", "rgb"])
def test_check_env_on_generated_levels(observation):
    env = SokobanEnv(height=6, width=6, boxes=1, observation=observation, render_mode="rgb_array")
    check_env(env, skip_render_check=False)


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("observation", ["symbolic", "rgb"])
def test_check_env_through_make_tries_every_render_mode(observation):
    env = gym.make("reverie/Sokoban-6x6-1-v0", observation=observation, render_mode="rgb_array")
    check_env(env.unwrapped, skip_render_check=False)


def test_spaces_and_layouts(bank):
    symbolic = SokobanEnv(levels=bank)
    rgb = SokobanEnv(levels=bank, observation="rgb", render_mode="rgb_array")
    assert symbolic.observation_space == gym.spaces.Box(0, 1, (7, 6, 6), np.float32)
    assert rgb.observation_space == gym.spaces.Box(0, 255, (48, 48, 3), np.uint8)
    assert symbolic.action_space == gym.spaces.Discrete(5)
    obs_s, _ = symbolic.reset(seed=3)
    obs_r, _ = rgb.reset(seed=3)
    assert symbolic.observation_space.contains(obs_s) and rgb.observation_space.contains(obs_r)
    # one-hot planes of the position, and an image that is exactly the rendered frame
    assert np.array_equal(obs_s.argmax(0), symbolic.get_state()["codes"])
    assert np.array_equal(obs_s.sum(0), np.ones((6, 6)))
    assert np.array_equal(obs_r, rgb.render())


def test_reset_with_a_seed_is_deterministic(bank):
    for make in (lambda: SokobanEnv(levels=bank), lambda: SokobanEnv(height=6, width=6, boxes=1)):
        a, b = make(), make()
        obs_a, info_a = a.reset(seed=123)
        obs_b, info_b = b.reset(seed=123)
        assert np.array_equal(obs_a, obs_b) and info_a == info_b
        for action in (1, 2, 3, 4, 4, 1):
            step_a, step_b = a.step(action), b.step(action)
            assert np.array_equal(step_a[0], step_b[0]) and step_a[1:] == step_b[1:]
        # the seed also fixes the levels of later unseeded resets
        assert a.reset()[1] == b.reset()[1]
    names = {SokobanEnv(height=6, width=6, boxes=1).reset(seed=s)[1]["level"] for s in range(5)}
    assert len(names) == 5  # different seeds, different generated levels


def test_step_rewards_info_and_truncation():
    env = SokobanEnv(levels=[_corridor()], max_steps=4)
    env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step(4)  # push the box one cell right
    assert isinstance(reward, float) and isinstance(terminated, bool) and isinstance(truncated, bool)
    assert reward == pytest.approx(-0.1) and info == {"solved": False, "pushed": True, "level": "corridor"}
    _, reward, terminated, truncated, info = env.step(4)  # onto the target: solved
    assert reward == pytest.approx(-0.1 + 1 + 10) and terminated and not truncated and info["solved"]

    env.reset(seed=0)
    outcomes = [env.step(0)[2:4] for _ in range(4)]
    assert outcomes == [(False, False)] * 3 + [(False, True)]


def test_bad_actions_and_arguments(bank):
    env = SokobanEnv(levels=bank)
    with pytest.raises(RuntimeError):
        env.step(0)
    env.reset(seed=0)
    for action in (5, -1, 1.5, True, "up"):
        with pytest.raises(ValueError):
            env.step(action)
    env.step(np.int64(2))
    env.step(np.array(3))
    with pytest.raises(ValueError):
        SokobanEnv(levels=bank, observation="pixels")
    with pytest.raises(ValueError):
        SokobanEnv(levels=bank, render_mode="human")
    with pytest.raises(ValueError):
        SokobanEnv(height=5, width=5, boxes=9)
    with pytest.raises(ValueError):
        env.reset(options={"level_index": 50})


def test_state_round_trip_and_xsb(bank):
    env = SokobanEnv(levels=bank, render_mode="ansi")
    env.reset(seed=7)
    env.step(1)
    state = env.get_state()
    first = [env.step(a) for a in (2, 3, 4)], env.reset()
    env.set_state(state)
    second = [env.step(a) for a in (2, 3, 4)], env.reset()
    for (obs_1, *rest_1), (obs_2, *rest_2) in zip(first[0], second[0]):
        assert np.array_equal(obs_1, obs_2) and rest_1 == rest_2
    assert first[1][1] == second[1][1]  # the RNG came back too: same next level
    assert env.to_xsb() == env.render() == bank[env.level_index].to_xsb()
    bad = dict(state, codes=np.zeros((6, 6), np.uint8))
    with pytest.raises(ValueError):
        env.set_state(bad)


def test_reset_to_a_chosen_level(bank):
    env = SokobanEnv(levels=bank)
    _, info = env.reset(options={"level_index": 9})
    assert info["level_index"] == 9 and env.to_xsb() == bank[9].to_xsb()
    _, info = env.reset(options={"level": bank[4].to_xsb()})
    assert env.to_xsb() == bank[4].to_xsb()
    with pytest.raises(ValueError, match="6x6"):
        env.reset(options={"level": _corridor()})


# -- registered ids --------------------------------------------------------------------


def test_register_envs_is_idempotent():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        register_envs()
    for env_id in ENVS:
        assert env_id in gym.registry


@pytest.mark.parametrize(
    "env_id, size, max_steps",
    [("reverie/Sokoban-v0", 10, 120), ("reverie/Sokoban-7x7-2-v0", 7, 50), ("reverie/Sokoban-6x6-1-v0", 6, 30)],
)
def test_make_each_registered_id(env_id, size, max_steps):
    env = gym.make(env_id)
    assert env.unwrapped.max_steps == max_steps
    obs, info = env.reset(seed=0)
    assert obs.shape == (7, size, size) and env.observation_space.contains(obs)
    assert env.step(env.action_space.sample())[0].shape == (7, size, size)


def test_boxoban_id():
    path = boxoban_path()
    env = gym.make("reverie/Boxoban-v0", levels=str(path), observation="rgb")
    obs, info = env.reset(seed=0)
    assert obs.shape == (80, 80, 3) and "level_index" in info
    vec = gym.make_vec("reverie/Boxoban-v0", num_envs=2, vectorization_mode="vector_entry_point",
                       levels=str(path))
    assert vec.reset(seed=0)[0].shape == (2, 7, 10, 10)


def test_boxoban_without_levels_says_what_is_missing():
    with pytest.raises(ValueError, match="levels="):
        gym.make("reverie/Boxoban-v0")
    with pytest.raises(ValueError, match="levels="):
        gym.make_vec("reverie/Boxoban-v0", num_envs=2, vectorization_mode="vector_entry_point")


def test_registering_imports_no_torch():
    code = ("import sys, reverie.envs.registry as r; r.register_envs(); "
            "import gymnasium; gymnasium.spec('reverie/Sokoban-v0'); "
            "assert 'torch' not in sys.modules, 'torch was imported'")
    src = str(Path(__file__).resolve().parents[1] / "src")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={"PYTHONPATH": src, "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr


# -- the vector adapter ----------------------------------------------------------------


def test_make_vec_with_the_vector_entry_point(bank):
    vec = gym.make_vec("reverie/Sokoban-6x6-1-v0", num_envs=3, vectorization_mode="vector_entry_point",
                       levels=bank)
    assert isinstance(vec, SokobanGymVectorEnv)
    assert vec.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP
    assert vec.num_envs == 3 and vec.env.max_steps == 30
    assert vec.single_action_space == gym.spaces.Discrete(5)
    assert vec.action_space == gym.spaces.MultiDiscrete([5, 5, 5])
    assert vec.observation_space.shape == (3, 7, 6, 6)
    # make_vec's default mode for these ids is the vector entry point too
    generated = gym.make_vec("reverie/Sokoban-6x6-1-v0", num_envs=2, num_levels=20, level_seed=3)
    assert isinstance(generated, SokobanGymVectorEnv) and len(generated.bank) == 20


@pytest.mark.parametrize("observation", ["symbolic", "rgb"])
def test_vector_spaces_contain_observations(bank, observation):
    vec = SokobanGymVectorEnv(num_envs=4, levels=bank, observation=observation, max_steps=2, seed=0)
    obs, info = vec.reset(seed=1)
    assert vec.observation_space.contains(obs)
    assert info["level_index"].shape == (4,) and info["_level_index"].all()
    for _ in range(3):
        obs, reward, terminated, truncated, info = vec.step(vec.action_space.sample())
        assert vec.observation_space.contains(obs)
        assert reward.shape == terminated.shape == truncated.shape == (4,)
        assert terminated.dtype == truncated.dtype == np.bool_
        if "final_obs" in info:
            for last in info["final_obs"][info["_final_obs"]]:
                assert vec.single_observation_space.contains(last)


@pytest.mark.parametrize("observation", ["symbolic", "rgb"])
def test_final_obs_follows_gymnasium_same_step_convention(bank, observation):
    """A forced episode end reports exactly what Gymnasium's SyncVectorEnv (same-step) reports."""
    n, actions = 3, [np.array([1, 4, 2]), np.array([3, 2, 4]), np.array([4, 1, 1])]
    vec = SokobanGymVectorEnv(num_envs=n, levels=bank, observation=observation, max_steps=3, seed=0)
    obs, info = vec.reset(seed=0)
    played = info["level_index"]
    # Gymnasium's own vector env over single envs that each play the same level
    levels = [bank[int(i)] for i in played]
    sync = gym.vector.SyncVectorEnv(
        [functools.partial(SokobanEnv, levels=[level], observation=observation, max_steps=3)
         for level in levels],
        autoreset_mode=AutoresetMode.SAME_STEP,
    )
    sync_obs, _ = sync.reset(seed=0)
    assert np.array_equal(obs, sync_obs)
    for step, action in enumerate(actions):
        before = obs
        obs, reward, terminated, truncated, info = vec.step(action)
        sync_obs, sync_reward, sync_terminated, sync_truncated, sync_info = sync.step(action)
        assert np.allclose(reward, sync_reward)
        assert np.array_equal(terminated, sync_terminated) and np.array_equal(truncated, sync_truncated)
        if step < 2:
            assert "final_obs" not in info and "final_info" not in info
            assert "final_obs" not in sync_info
            assert np.array_equal(obs, sync_obs)
            continue
        # every episode ends at step 3: solved by that move (terminated) or out of time
        assert (terminated | truncated).all()
        for key in ("final_obs", "_final_obs", "final_info", "_final_info"):
            assert key in info and key in sync_info
        assert info["final_obs"].dtype == sync_info["final_obs"].dtype == object
        assert info["final_obs"].shape == sync_info["final_obs"].shape == (n,)
        assert np.array_equal(info["_final_obs"], sync_info["_final_obs"])
        assert np.array_equal(info["_final_info"], sync_info["_final_info"])
        final, sync_final = info["final_info"], sync_info["final_info"]
        assert final["solved"].dtype == sync_final["solved"].dtype
        assert np.array_equal(final["solved"], sync_final["solved"])
        assert np.array_equal(final["_solved"], sync_final["_solved"])
        assert np.array_equal(final["episode_length"], [3] * n)
        assert np.array_equal(final["level_index"], played)
        for i in range(n):
            # the episode's last observation, as Gymnasium's env reports it
            assert info["final_obs"][i].dtype == sync_info["final_obs"][i].dtype
            assert np.array_equal(info["final_obs"][i], sync_info["final_obs"][i])
            # and the returned observation is the start of the next level
            fresh = SokobanEnv(levels=bank, observation=observation)
            start, _ = fresh.reset(options={"level_index": int(info["level_index"][i])})
            assert np.array_equal(obs[i], start)
        # the last move is drawn in the final observation (not the one before the step)
        assert any(not np.array_equal(info["final_obs"][i], before[i]) for i in range(n))


def test_partial_episode_ends_mask_only_the_finished_env():
    levels = [_corridor()]
    vec = SokobanGymVectorEnv(num_envs=2, levels=levels, max_steps=10, seed=0)
    vec.reset(seed=0)
    vec.step(np.array([4, 0]))
    obs, reward, terminated, truncated, info = vec.step(np.array([4, 0]))
    assert terminated.tolist() == [True, False]
    assert info["_final_obs"].tolist() == [True, False] and info["final_obs"][1] is None
    final = info["final_info"]
    assert final["_episode_return"].tolist() == [True, False]
    assert final["episode_return"][0] == pytest.approx(-0.2 + 11) and final["solved"].tolist() == [True, False]


def test_record_episode_statistics_reads_the_autoreset_mode(bank):
    vec = gym.wrappers.vector.RecordEpisodeStatistics(
        SokobanGymVectorEnv(num_envs=2, levels=bank, max_steps=2, seed=0)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        vec.reset(seed=0)
        vec.step(np.array([0, 0]))
        _, _, _, _, info = vec.step(np.array([0, 0]))
    assert info["episode"]["l"].tolist() == [2, 2]
    assert np.allclose(info["episode"]["r"], info["final_info"]["episode_return"])


def test_vector_actions_in_several_forms(bank):
    vec = SokobanGymVectorEnv(num_envs=3, levels=bank, seed=0)
    vec.reset(seed=0)
    for actions in (np.array([1, 2, 3], dtype=np.int32), np.array([0, 4, 1], dtype=np.uint8),
                    [2, 2, 2], torch.tensor([3, 0, 4])):
        obs, *_ = vec.step(actions)
        assert obs.shape == (3, 7, 6, 6)
    for bad in (np.array([1.0, 2.0, 3.0]), np.array([1, 2]), np.array([0, 5, 1])):
        with pytest.raises(ValueError):
            vec.step(bad)


def test_vector_reset_seed_and_render(bank):
    a = SokobanGymVectorEnv(num_envs=4, levels=bank, observation="rgb", render_mode="rgb_array")
    b = SokobanGymVectorEnv(num_envs=4, levels=bank, observation="rgb", render_mode="ansi")
    obs_a, info_a = a.reset(seed=5)
    obs_b, info_b = b.reset(seed=5)
    assert np.array_equal(obs_a, obs_b) and np.array_equal(info_a["level_index"], info_b["level_index"])
    assert np.array_equal(np.stack(a.render()), obs_a)
    assert list(b.render()) == [bank[int(i)].to_xsb() for i in info_b["level_index"]]
    with pytest.raises(TypeError):
        a.reset(seed=[1, 2, 3, 4])


# -- helpers ---------------------------------------------------------------------------


def _corridor():
    from reverie.envs.sokoban.levels import parse_xsb

    return parse_xsb("#######\n#@$ . #\n#######", "corridor")
