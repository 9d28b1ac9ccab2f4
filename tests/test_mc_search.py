"""Monte-Carlo search with imagination: solves short levels with the perfect model, spends its
budget exactly, never touches its input, follows predicted solutions only while they come
true, and searches a level the same alone or in a batch."""

from __future__ import annotations

import pytest
import torch

from conftest import UNFILTERED_TEST, level
from reverie.agents.imagination import RolloutPolicy
from reverie.envs.sokoban.bank import load_boxoban
from reverie.envs.sokoban.env import SokobanVecEnv
from reverie.models import CopyModel, GridModel
from reverie.core.counter_rng import level_keys
from reverie.planning.episodes import play_levels
from reverie.planning.guides import RolloutGuide
from reverie.planning.mc_search import MCSearch, MCSearchConfig
from test_mcts import PERFECT, SPEC, CountingModel, bank_spec, boxoban, run_episodes, short_levels, spec_for

torch.set_num_threads(1)

ONE_PUSH = """
    #######
    #     #
    # @$. #
    #     #
    #######"""


def test_perfect_model_solves_levels_the_solver_proves_short():
    bank, pushes = short_levels(max_pushes=2, count=3)
    assert max(pushes) <= 2
    spec = bank_spec(bank, 50)
    result = play_levels(MCSearch(PERFECT, spec, MCSearchConfig(budget=400, depth=10)), spec, "test", len(bank))
    assert result["successes"] == len(bank)


@pytest.mark.parametrize("budget, depth", [(1, 5), (57, 10), (120, 7)])
def test_budget_is_spent_exactly(budget, depth):
    codes = boxoban()
    model = CountingModel()
    search = MCSearch(model, SPEC, MCSearchConfig(budget=budget, depth=depth))
    search.search(codes)
    assert search.last_imagined.tolist() == [budget] * len(codes)
    assert model.rows == budget * len(codes)


def test_search_never_mutates_what_it_is_given():
    codes = boxoban(4)
    before = codes.clone()
    MCSearch(PERFECT, SPEC, MCSearchConfig(budget=50)).search(codes)
    assert torch.equal(codes, before)
    env = SokobanVecEnv(load_boxoban(UNFILTERED_TEST), 4, seed=1)
    env.reset()
    state, obs = env.get_state(), env.observe()
    MCSearch(PERFECT, SPEC, MCSearchConfig(budget=50)).search(SPEC.observation.encode(obs))
    after = env.get_state()
    for key in ("codes", "steps", "level_index", "episode_return", "rng"):
        assert torch.equal(after[key], state[key]), key
    assert torch.equal(env.observe(), obs)


def test_a_predicted_solution_becomes_a_plan_that_a_misprediction_drops():
    codes = torch.from_numpy(level(ONE_PUSH).codes.copy())[None]
    search = MCSearch(PERFECT, spec_for(codes), MCSearchConfig(budget=20, depth=4))
    assert search.search(codes).tolist() == [4]
    assert int(search.plan_len[0]) == 1
    wrong = codes.clone()
    search.plan_len[0], search.plan_pos[0] = 3, 1  # pretend a longer plan is under way
    search.advance(torch.tensor([4]), wrong)  # the real state is not the predicted one
    assert int(search.plan_len[0]) == 0


def test_batched_and_one_at_a_time_search_agree():
    torch.manual_seed(0)
    bank, _ = short_levels(max_pushes=9, count=4)
    codes = torch.from_numpy(bank.codes.copy())
    keys = level_keys(3, torch.arange(len(codes)))
    spec = spec_for(codes)
    guide = RolloutGuide(RolloutPolicy((7, 7, 7), 5), spec.observation)
    for policy in (None, guide):
        config = MCSearchConfig(budget=45, depth=6)
        batched = run_episodes(MCSearch(PERFECT, spec, config, policy), codes, keys, 6)
        for i in range(len(codes)):
            alone = run_episodes(MCSearch(PERFECT, spec, config, policy), codes[i:i + 1], keys[i:i + 1], 6)
            assert torch.equal(alone[0][0], batched[0][i]) and torch.equal(alone[1][0], batched[1][i])


def test_learned_and_copy_models_can_be_searched():
    torch.manual_seed(0)
    for model in (GridModel.for_spec(SPEC).eval(), CopyModel()):
        search = MCSearch(model, SPEC, MCSearchConfig(budget=30, depth=5))
        search.search(boxoban(2))
        assert search.last_imagined.tolist() == [30, 30]


def test_bad_settings_fail_clearly():
    with pytest.raises(Exception, match="budget"):
        MCSearchConfig(budget=0)
    with pytest.raises(Exception, match="depth"):
        MCSearchConfig(depth=0)
