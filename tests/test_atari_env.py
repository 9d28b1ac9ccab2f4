"""Atari Breakout from pixels through ale-py: the adapter's episodes, lives, rewards and errors."""

from __future__ import annotations

import pytest
import torch

from reverie.core.errors import ReverieError
from reverie.envs.registry import get_spec, make_env

pytest.importorskip("ale_py")

FIRE, RIGHT = 1, 2


def play(env, steps: int, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(steps):
        out.append(env.step(torch.randint(0, 4, (env.num_envs,), generator=gen)))
    return out


def test_observations_are_stacked_grey_frames():
    env = make_env("atari-breakout", "train", 3, seed=0)
    obs, _ = env.reset()
    assert obs.shape == (3, 2, 84, 84) and obs.dtype == torch.uint8
    four = make_env("atari-breakout", "train", 1, seed=0, stack=4)
    assert four.reset()[0].shape == (1, 4, 84, 84) and four.spec.observation.shape == (4, 84, 84)
    assert get_spec("atari-breakout").render(obs).shape == (3, 168, 168, 3)


def test_an_episode_id_replays_the_same_game():
    a = make_env("atari-breakout", "test", 2, seed=0)
    b = make_env("atari-breakout", "test", 2, seed=5)
    oa, ob = a.reset_to([7, 8]), b.reset_to([7, 8])
    assert torch.equal(oa, ob)
    for (xa, ra, *_), (xb, rb, *_) in zip(play(a, 60), play(b, 60)):
        assert torch.equal(xa, xb) and torch.equal(ra, rb)


def test_lost_lives_terminate_for_the_learner_and_games_end_with_their_raw_score():
    env = make_env("atari-breakout", "train", 4, seed=0)
    env.reset()
    lives_lost = games = 0
    score = torch.zeros(4)
    for obs, reward, terminated, truncated, info in play(env, 1500):
        assert set(reward.unique().tolist()) <= {0.0, 1.0}                # clipped for the learner
        score += info["raw_reward"]
        ended = info["final_index"]
        lives_lost += int(terminated.sum()) - ended.numel()
        if ended.numel():
            games += ended.numel()
            assert torch.equal(info["episode_return"][ended], score[ended])  # whole games, raw score
            assert (info["episode_length"][ended] > 0).all()
            score[ended] = 0
    assert games >= 2 and lives_lost >= 4 * games


def test_fire_follows_a_lost_life():
    env = make_env("atari-breakout", "train", 2, seed=1)
    env.reset()
    for _ in range(2000):
        _, _, terminated, _, info = env.step(torch.full((2,), RIGHT))   # never fires by itself
        if terminated.any():
            lost = terminated.numpy() & ~torch.isin(torch.arange(2), info["final_index"]).numpy()
            assert (env.fire_next == lost).all()
            return
    pytest.fail("no life was lost")


@pytest.mark.parametrize("options, message", [
    ({"stack": 0}, "stack must be an integer >= 1"),
    ({"sticky": 2}, "sticky must be a probability"),
    ({"episodic_life": "maybe"}, "episodic_life must be true or false"),
    ({"observation": "rgb"}, "one observation"),
    ({"frameskip": 3}, "takes no option frameskip"),
])
def test_bad_options_are_one_line_errors(options, message):
    with pytest.raises(ReverieError, match=message):
        make_env("atari-breakout", "train", 1, **options)


def test_bad_actions_are_one_line_errors():
    env = make_env("atari-breakout", "train", 2, seed=0)
    with pytest.raises(ReverieError, match="call reset"):
        env.step(torch.zeros(2, dtype=torch.long))
    env.reset()
    with pytest.raises(ReverieError, match="in 0..3"):
        env.step(torch.tensor([0, 4]))
    with pytest.raises(ReverieError, match="splits"):
        make_env("atari-breakout", "holdout", 1)


def test_a_missing_ale_py_says_what_to_install(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "ale_py.vector_env", None)   # import fails as if not installed
    with pytest.raises(ReverieError, match=r"pip install 'ale-py==0.12.1'") as err:
        make_env("atari-breakout", "train", 1)
    assert "\n" not in str(err.value)


def test_events_give_the_clipped_reward_and_the_learners_episode_ends():
    env = make_env("atari-breakout", "train", 4, seed=2)
    env.reset()
    for _, reward, terminated, _, info in play(env, 400):
        assert torch.equal(env.spec.rewards.event_reward(info["events"]), reward)
        assert torch.equal(info["events"][:, 1].bool(), terminated)
