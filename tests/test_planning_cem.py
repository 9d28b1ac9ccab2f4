"""CEM/MPPI planning: mechanics on known problems, Pendulum swing-up, parking plumbing, CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from reverie.core.errors import ReverieError
from reverie.cli.main import main
from reverie.planning.cem import CEMConfig, CEMPlanner
from reverie.workflows.control import (PendulumTask, collect_random, make_model, make_planner, make_task,
                                      run_episode)
from reverie.models.vector import VectorFitConfig


pytestmark = pytest.mark.usefixtures("one_thread")


class StillModel:
    """A model whose state never changes; it records every call's actions."""

    def __init__(self) -> None:
        self.calls: list[torch.Tensor] = []

    def step(self, obs, action):
        self.calls.append(action.clone())
        return obs, torch.zeros(obs.shape[0]), torch.zeros(obs.shape[0], dtype=torch.bool)


TARGET = torch.tensor([[0.3, -0.6], [-0.2, 0.1], [0.7, 0.4]])  # [H, A]


def sequence_reward(model: StillModel, target: torch.Tensor):
    """A reward that scores each imagined step's action against ``target`` at that step."""
    def reward(obs, action, next_obs, goal):
        t = (len(model.calls) - 1) % target.shape[0]
        return -(action - target[t]).pow(2).sum(-1)
    return reward


@pytest.mark.parametrize("method", ["cem", "mppi"])
def test_cem_finds_the_optimum_of_a_known_quadratic(method):
    model = StillModel()
    config = CEMConfig(horizon=3, action_repeat=1, population=300, elites=30, iterations=8, init_std=0.5,
                       min_std=0.0, method=method, temperature=0.05, keep_best=False, warm_start=False)
    planner = CEMPlanner(model, [-1, -1], [1, 1], config, reward_fn=sequence_reward(model, TARGET), seed=0)
    plan = planner.plan(torch.zeros(2))
    assert plan.shape == (3, 2)
    assert torch.allclose(plan, TARGET, atol=0.05), plan


def test_planner_respects_action_bounds():
    model = StillModel()
    far = torch.tensor([[5.0, -5.0]] * 4)  # outside the box
    config = CEMConfig(horizon=4, action_repeat=2, population=200, elites=10, iterations=8, init_std=1.0)
    low, high = torch.tensor([-0.5, -2.0]), torch.tensor([1.0, 0.25])
    planner = CEMPlanner(model, low, high, config, reward_fn=sequence_reward(model, far), seed=1)
    plan = planner.plan(torch.zeros(3))
    seen = torch.cat(model.calls)
    assert (seen >= low).all() and (seen <= high).all()
    assert torch.allclose(plan, torch.tensor([1.0, -2.0]).expand(4, 2), atol=0.05)
    action = planner.act(torch.zeros(3))
    assert (action >= low).all() and (action <= high).all()


def test_whole_population_goes_through_one_model_call_per_imagined_step():
    model = StillModel()
    config = CEMConfig(horizon=3, action_repeat=2, population=50, elites=5, iterations=2, keep_best=False)
    planner = CEMPlanner(model, [-1], [1], config, reward_fn=lambda o, a, n, g: -a[:, 0].abs(), seed=0)
    planner.plan(torch.zeros(4, 2))  # 4 independent states at once
    assert len(model.calls) == 2 * 3 * 2
    assert all(call.shape == (4 * 50, 1) for call in model.calls)


def test_warm_start_shifts_the_previous_plan():
    model = StillModel()
    target = torch.linspace(-0.8, 0.8, 5)[:, None]
    config = CEMConfig(horizon=5, action_repeat=1, population=40, elites=5, iterations=3)
    planner = CEMPlanner(model, [-1], [1], config, reward_fn=sequence_reward(model, target), seed=0)
    first = planner.plan(torch.zeros(1)).clone()
    model.calls.clear()
    planner.plan(torch.zeros(1))
    # The first sequence of the next search is the old plan shifted by one, its last action repeated.
    started = torch.stack([call[0] for call in model.calls[:5]])
    expected = torch.cat([first[1:], first[-1:]])
    assert torch.allclose(started, expected)
    planner.reset()
    model.calls.clear()
    planner.plan(torch.zeros(1))
    assert torch.equal(torch.stack([call[0] for call in model.calls[:5]]), torch.zeros(5, 1))


def test_learned_reward_is_used_without_a_reward_function():
    class RewardModel:
        def step(self, obs, action):
            return obs, -(action[:, 0] - 0.4).pow(2), torch.zeros(obs.shape[0], dtype=torch.bool)

    config = CEMConfig(horizon=2, action_repeat=1, population=200, elites=20, iterations=6, warm_start=False)
    plan = CEMPlanner(RewardModel(), [-1], [1], config, seed=0).plan(torch.zeros(1))
    assert torch.allclose(plan, torch.full((2, 1), 0.4), atol=0.05)


def test_bad_planner_settings_are_clear_errors():
    with pytest.raises(ReverieError, match="elites"):
        CEMConfig(population=10, elites=20)
    with pytest.raises(ReverieError, match="unknown planning method"):
        CEMConfig(method="ilqr")
    with pytest.raises(ReverieError, match="action bounds"):
        CEMPlanner(StillModel(), [1.0], [-1.0])


def test_pendulum_swings_up_with_a_model_fitted_in_seconds():
    torch.manual_seed(0)
    task = PendulumTask(max_steps=150)
    env = task.make_env()
    data = collect_random(task, 2000, seed=0, action_repeat=1, env=env)
    model, fit = make_model(task, "structured", data, fit=VectorFitConfig(epochs=60, patience=8, seed=0))
    assert fit.seconds < 30
    cem = CEMConfig(horizon=10, action_repeat=2, population=100, elites=10, iterations=3, momentum=0.1)
    episode = run_episode(task, env, make_planner(task, model, cem, seed=0), seed=3)
    env.close()
    assert episode.success, f"not upright at the end (return {episode.total_reward:.0f})"
    assert episode.length == 150


def test_pendulum_true_model_matches_the_env():
    task = PendulumTask()
    env = task.make_env()
    raw, _ = env.reset(seed=1)
    model = task.true_model(env)
    for action in (1.5, -2.0, 0.3):
        obs = torch.from_numpy(task.split(raw)[0])[None]
        pred, reward, _ = model.step(obs, torch.tensor([[action]]))
        raw, real_reward, *_ = env.step(np.array([action], dtype=np.float32))
        assert np.allclose(pred[0].numpy(), raw, atol=1e-5)
        assert abs(reward.item() - real_reward) < 1e-4
        assert abs(task.reward_fn(obs, torch.tensor([[action]]), pred, None).item() - real_reward) < 1e-4


def test_parking_reward_true_model_and_a_few_planned_steps():
    pytest.importorskip("highway_env")
    task = make_task("parking")
    env = task.make_env()
    raw, _ = env.reset(seed=0)
    model = task.true_model(env)
    rng = np.random.default_rng(0)
    for _ in range(3):
        obs, goal = task.split(raw)
        action = rng.uniform(-1, 1, 2).astype(np.float32)
        pred, _, _ = model.step(torch.from_numpy(obs)[None], torch.from_numpy(action)[None])
        raw, reward, *_ = env.step(action)
        assert np.allclose(pred[0].numpy(), task.split(raw)[0], atol=1e-5)
        known = task.reward_fn(None, None, torch.from_numpy(task.split(raw)[0])[None], torch.from_numpy(goal)[None])
        assert abs(known.item() - reward) < 1e-4
    # Walls: a car at x = 34 m touches the right wall, one at the centre does not.
    states = torch.tensor([[0.34, 0.0, 0, 0, 1.0, 0.0], [0.0, 0.0, 0, 0, 1.0, 0.0], [0.0, 0.2, 0, 0, 0.0, 1.0]])
    assert task.wall_hit(states).tolist() == [True, False, True]
    data = collect_random(task, 30, seed=0, env=env)
    assert len(data) == 30 and data.obs.shape == (30, 6)
    learned, _ = make_model(task, "mlp", data, fit=VectorFitConfig(epochs=2, seed=0))
    cem = CEMConfig(horizon=2, action_repeat=2, population=16, elites=4, iterations=2)
    episode = run_episode(task, env, make_planner(task, learned, cem), seed=1, max_steps=3)
    env.close()
    assert episode.length == 3 and len(episode.plan_seconds) == 3


def run_cli(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("args, message", [
    (["plan", "--env", "mountaincar"], "unknown env 'mountaincar'"),
    (["plan", "--model", "gp"], "unknown model 'gp'"),
    (["plan", "--episodes", "-3"], "--episodes must be >= 1"),
    (["plan", "--population", "10", "--elites", "20"], "elites"),
])
def test_cli_bad_input_is_one_line_and_exit_2(capsys, args, message):
    code, _, err = run_cli(capsys, *args)
    assert code == 2
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_cli_plan_pendulum_json(capsys, tmp_path):
    code, out, _ = run_cli(capsys, "plan", "--env", "pendulum", "--model", "ensemble", "--members", "2",
                           "--episodes", "1", "--max-steps", "4", "--transitions", "200", "--epochs", "3",
                           "--population", "20", "--json", "--out", str(tmp_path))
    assert code == 0
    summary = json.loads(out)
    assert summary["result"]["episodes"] == 1 and summary["result"]["decisions"] == 4
    assert (tmp_path / "model.pt").is_file() and (tmp_path / "summary.json").is_file()
