"""MCTS over environment models: solves what the solver proves short, spends its budget exactly,
never touches the state it is given, and searches a level the same alone or in a batch."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from conftest import UNFILTERED_TEST, level
from reverie.cli.main import main
from reverie.envs.sokoban import rules
from reverie.envs.sokoban.bank import LevelBank, load_boxoban
from reverie.envs.sokoban.env import SokobanVecEnv
from reverie.envs.sokoban.generator import generate_levels
from reverie.envs.sokoban.solver import solve
from reverie.envs.registry import get_spec
from reverie.envs.spec import ObsSpec
from reverie.models import GridModel
from reverie.core.counter_rng import level_keys
from reverie.planning.episodes import play_levels
from reverie.planning.guides import AgentGuide
from reverie.planning.mcts import MCTS, MCTSConfig

torch.set_num_threads(1)

SPEC = get_spec("sokoban-10x10-4")
PERFECT = SPEC.make_perfect_model()


def spec_for(codes):
    """A Sokoban spec whose rooms have the shape of ``codes [B, H, W]`` (or of a level bank)."""
    h, w = codes.shape if isinstance(codes, LevelBank) else codes.shape[1:]
    return dataclasses.replace(SPEC, observation=ObsSpec("onehot", (7, h, w), 7))


def bank_spec(bank: LevelBank, max_steps: int):
    """A Sokoban spec whose every split is the in-memory ``bank`` (what ``play_levels`` plays)."""
    def make(spec, split, num_envs, seed, device, **options):
        return SokobanVecEnv(bank, num_envs, max_steps=spec.max_steps, device=device, seed=seed)

    return dataclasses.replace(spec_for(bank), make=make, max_steps=max_steps)


class CountingModel:
    """The rules behind the generic (observation) path, counting every row it is asked to step."""

    def __init__(self) -> None:
        self.inner, self.rows = PERFECT, 0

    def step(self, obs, action):
        self.rows += obs.shape[0]
        return self.inner.step(obs, action)


def short_levels(max_pushes: int = 3, count: int = 6) -> tuple[LevelBank, list[int]]:
    """Generated 7x7 two-box levels the solver proves solvable in at most ``max_pushes`` pushes."""
    bank = generate_levels(40, 7, 7, 2, 11)
    keep, pushes = [], []
    for i in range(len(bank)):
        solution = solve(bank[i])
        if solution is not None and solution.pushes <= max_pushes:
            keep.append(i)
            pushes.append(solution.pushes)
        if len(keep) == count:
            break
    return LevelBank(bank.codes[keep]), pushes


def boxoban(n: int = 6) -> torch.Tensor:
    return torch.from_numpy(load_boxoban(UNFILTERED_TEST).codes[:n].copy())


def run_episodes(planner, codes: torch.Tensor, keys: torch.Tensor, steps: int):
    """Play ``steps`` real steps; per level the actions and imagined steps of every decision."""
    b, h, w = codes.shape
    planner.start(codes, keys)
    state, tables = codes.reshape(b, -1).clone(), rules.make_tables(w)
    done = torch.zeros(b, dtype=torch.bool)
    actions, imagined = [], []
    for _ in range(steps):
        a = planner.act(~done)
        actions.append(a.clone())
        imagined.append(planner.last_imagined.clone())
        done |= rules.step_(state, rules.player_index(state), a, tables).solved
        planner.advance(a, state.view(b, h, w), ~done)
    return torch.stack(actions, 1), torch.stack(imagined, 1)


def test_perfect_model_solves_levels_the_solver_proves_short():
    bank, pushes = short_levels(max_pushes=2, count=4)
    assert len(bank) == 4 and max(pushes) <= 2
    spec = bank_spec(bank, 50)
    result = play_levels(MCTS(PERFECT, spec, MCTSConfig(budget=400)), spec, "test", len(bank))
    assert result["successes"] == len(bank) and result["max_steps"] == 50


def test_one_push_level_is_solved_in_one_step():
    codes = torch.from_numpy(level("""
        #######
        #     #
        # @$. #
        #     #
        #######""").codes.copy())[None]
    search = MCTS(PERFECT, spec_for(codes), MCTSConfig(budget=100))
    assert search.search(codes).tolist() == [4]
    assert 0 < int(search.last_imagined[0]) <= 100


@pytest.mark.parametrize("budget", [1, 57, 200])
def test_budget_is_spent_exactly(budget):
    codes = boxoban()
    model = CountingModel()
    search = MCTS(model, SPEC, MCTSConfig(budget=budget, stop_on_solution=False))
    search.search(codes)
    assert search.last_imagined.tolist() == [budget] * len(codes)
    assert model.rows == budget * len(codes)


def test_budget_is_never_exceeded_over_episodes():
    bank, _ = short_levels()
    _, imagined = run_episodes(MCTS(PERFECT, spec_for(bank), MCTSConfig(budget=40)), torch.from_numpy(bank.codes.copy()),
                               torch.arange(len(bank)), 12)
    assert int(imagined.max()) <= 40
    assert (imagined == 40).any()


def test_search_never_mutates_what_it_is_given():
    codes = boxoban(4)
    before = codes.clone()
    MCTS(PERFECT, SPEC, MCTSConfig(budget=64)).search(codes)
    assert torch.equal(codes, before)

    env = SokobanVecEnv(load_boxoban(UNFILTERED_TEST), 4, seed=3)
    env.reset()
    state, obs = env.get_state(), env.observe()
    actions = MCTS(PERFECT, SPEC, MCTSConfig(budget=64)).search(SPEC.observation.encode(obs))
    assert actions.shape == (4,)
    after = env.get_state()
    for key in ("codes", "steps", "level_index", "episode_return", "rng"):
        assert torch.equal(after[key], state[key]), key
    assert torch.equal(env.observe(), obs)


def test_batched_and_one_at_a_time_search_agree():
    bank, _ = short_levels(max_pushes=9, count=5)
    codes = torch.from_numpy(bank.codes.copy())
    keys = level_keys(7, torch.arange(len(codes)))
    config = MCTSConfig(budget=60, rollout_depth=4, seed=7)
    batched = run_episodes(MCTS(PERFECT, spec_for(codes), config), codes, keys, 8)
    for i in range(len(codes)):
        alone = run_episodes(MCTS(PERFECT, spec_for(codes), config), codes[i:i + 1], keys[i:i + 1], 8)
        assert torch.equal(alone[0][0], batched[0][i]) and torch.equal(alone[1][0], batched[1][i])


def test_puct_with_an_agent_guide_agrees_batched_and_alone():
    from reverie.agents import build_agent

    torch.manual_seed(0)
    codes = boxoban(3)
    guide = AgentGuide(build_agent("standard", SPEC), SPEC.observation)
    keys = level_keys(0, torch.arange(3))
    config = MCTSConfig(budget=30)
    batched = MCTS(PERFECT, SPEC, config, guide)
    actions = batched.search(codes, keys)
    assert 0 < int(batched.last_imagined.min()) and int(batched.last_imagined.max()) <= 30
    for i in range(3):
        alone = MCTS(PERFECT, SPEC, config, guide)
        assert alone.search(codes[i:i + 1], keys[i:i + 1]).item() == actions[i].item()
        assert alone.last_imagined.item() == batched.last_imagined[i].item()


@pytest.mark.parametrize("world", ["sokoban", "keydoor"])
def test_fast_and_generic_paths_search_alike(world):
    """``step_compact`` (the fast path) and decode -> ``step`` -> encode give the same search."""
    if world == "keydoor":
        from worlds import keydoor

        spec = keydoor.SPEC
        states = spec.observation.encode(spec.make_env("test", 4, 0).reset_to(torch.arange(4)))
    else:
        spec, states = SPEC, boxoban(3)
    exact = spec.make_perfect_model()
    slow = CountingModel()
    slow.inner = exact
    keys = level_keys(0, torch.arange(len(states)))
    fast_search, slow_search = MCTS(exact, spec, MCTSConfig(budget=40)), MCTS(slow, spec, MCTSConfig(budget=40))
    assert torch.equal(fast_search.search(states, keys), slow_search.search(states, keys))
    assert torch.equal(fast_search.last_imagined, slow_search.last_imagined) and slow.rows > 0


def test_a_learned_model_can_be_searched():
    torch.manual_seed(0)
    search = MCTS(GridModel.for_spec(SPEC).eval(), SPEC, MCTSConfig(budget=25, rollout_depth=3, prune_cycles=False))
    search.search(boxoban(2))
    assert search.last_imagined.tolist() == [25, 25]


def test_bad_settings_and_states_fail_clearly():
    with pytest.raises(Exception, match="budget"):
        MCTSConfig(budget=0)
    with pytest.raises(ValueError, match="cell codes"):
        MCTS(PERFECT, SPEC).search(torch.zeros(1, 7, 10, 10))


@pytest.mark.parametrize("args, message", [
    (["--levels", "no-such-levels", "--budget", "10"], "neither an env id"),
    (["--levels", str(UNFILTERED_TEST), "--budget", "0"], "--budget"),
    (["--levels", str(UNFILTERED_TEST), "--budget", "10", "--model", "/no/such/model.pt"], "model"),
    (["--levels", str(UNFILTERED_TEST), "--budget", "10", "--episodes", "0"], "--episodes"),
])
def test_cli_bad_input_is_one_line_and_nonzero(args, message, capsys):
    assert main(["search", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("reverie: error:") and message in err and len(err.splitlines()) == 1


def test_cli_search_json(capsys):
    import json

    assert main(["search", "--levels", str(UNFILTERED_TEST), "--budget", "20", "--episodes", "3",
                 "--max-steps", "4", "--solver-time-limit", "0", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["episodes"] == 3 and 0 <= result["success_rate"] <= 1 and "solve_rate" not in result
    assert result["imagined_per_level"]["max"] <= 20 * 4
    assert np.isclose(result["ci95"][0], 0.0)
