"""The plug-in test (issue 14): a world defined only in ``tests/worlds/`` goes through every
generic consumer with no edit under ``src/``.

``keydoor-5x5`` (tests/worlds/keydoor.py) is registered with ``register_spec`` and then:
trained with ``standard`` (it must beat a random policy on held-out episodes) and
``i2a-perfect`` through the real run pipeline with the end-of-run evaluation hook; its
transitions are collected and a grid model fitted (which must be near exact one step ahead);
``i2a`` imagines with that model file; runs are evaluated on held-out seeds; MCTS and MC
search with the perfect model solve most held-out episodes; a report is written. Budgets are
tiny so the whole module stays under a minute on two cores.
"""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from reverie.envs.registry import get_spec, make_env, unregister_spec
from worlds import keydoor

ENV = keydoor.SPEC.id
HELD_OUT = 200  # held-out test episodes per evaluation


@pytest.fixture(scope="module")
def spec():
    keydoor.register()
    yield get_spec(ENV)
    unregister_spec(ENV)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return tmp_path_factory.mktemp("keydoor")


def train(spec, folder, agent, frames, agent_options="", num_envs=32, lr=7e-4, eval_episodes=HELD_OUT):
    from reverie.evaluation.evaluate import final_evaluation
    from reverie.training.actor_critic import A2CConfig
    from reverie.training.runs import TrainConfig, train as train_run

    config = TrainConfig(env=spec.id, agent=agent, agent_options=agent_options, frames=frames, num_envs=num_envs,
                         run_dir=folder, eval_episodes=eval_episodes, log_every=4000, checkpoint_every=10**9,
                         tensorboard=False, seed=0)
    return train_run(config, A2CConfig(lr=lr), progress=False, evaluate=final_evaluation)


class RandomPolicy(nn.Module):
    """Uniform actions: the baseline a trained agent must beat."""

    def __init__(self, num_actions: int) -> None:
        super().__init__()
        self.num_actions = num_actions

    def forward(self, obs):
        return torch.zeros(obs.shape[0], self.num_actions), torch.zeros(obs.shape[0])


# -- the world itself ------------------------------------------------------------------------

def test_world_follows_the_spec(spec):
    env = make_env(ENV, "test", 8, seed=0)
    assert env.spec.id == ENV and spec.success == "goal" and spec.default_model is None
    first = env.reset_to(torch.arange(8))
    assert first.shape == (8, *spec.observation.shape)
    assert torch.equal(first, env.reset_to(torch.arange(8)))  # an episode id is one layout
    train_env = make_env(ENV, "train", 8, seed=0)
    assert not torch.equal(first, train_env.reset_to(torch.arange(8)))  # disjoint seed ranges
    model, classes = spec.make_perfect_model(), spec.rewards.reward_classes
    obs = first
    for _ in range(30):  # the perfect model is the env's rules, step for step
        action = torch.randint(spec.num_actions, (8,))
        predicted, reward, done = model.step(obs, action)
        obs, real_reward, terminated, truncated, info = env.step(action)
        ended = info["final_index"]
        kept = torch.ones(8, dtype=torch.bool)
        kept[ended] = False
        assert torch.equal(reward, real_reward) and torch.equal(done, terminated)
        assert torch.equal(predicted[kept], obs[kept]) and torch.equal(predicted[ended], info["final_obs"])
        classes.check(real_reward)
    assert spec.render(obs).shape == (8, 40, 40, 3)


# -- training through the real pipeline --------------------------------------------------

def test_standard_learns_more_than_random(spec, runs):
    from reverie.evaluation.evaluate import evaluate_policy

    summary = train(spec, runs / "standard", "standard", frames=32_000, agent_options="hidden=64,channels=8",
                    num_envs=64, lr=2e-3)
    random = evaluate_policy(RandomPolicy(spec.num_actions), spec, "test", HELD_OUT)
    trained = summary["evaluation"]
    assert set(trained) == {"sample", "greedy"}
    best = max(trained.values(), key=lambda result: result["success_rate"])
    assert best["ci95"][0] > random["success_rate"], (trained, random)  # above random with 95% confidence
    records = [json.loads(line) for line in (runs / "standard" / "metrics.jsonl").read_text().splitlines()]
    assert "success_rate" in records[-1] and "solve_rate" not in records[-1]


def test_i2a_perfect_trains(spec, runs):
    summary = train(spec, runs / "i2a-perfect", "i2a-perfect", frames=800, num_envs=16, eval_episodes=16)
    assert summary["completed"]
    for result in summary["evaluation"].values():
        assert result["episodes"] == 16 and 0.0 <= result["success_rate"] <= 1.0


# -- a learned model: collect, fit, imagine with it ----------------------------------------

@pytest.fixture(scope="module")
def fitted_model(spec, runs):
    from reverie.data.transitions import CollectConfig, collect
    from reverie.models.grid import GridModelConfig
    from reverie.training.model_fitting import FitConfig, fit

    collect(CollectConfig(out=runs / "data", env=ENV, train_frames=12_000, valid_frames=1_000, num_envs=64,
                          shard_frames=100_000, seed=0), progress=False)
    fit(FitConfig(data=runs / "data", out=runs / "model", steps=500, batch_size=128, lr=5e-3, warmup=20,
                  val_every=500, val_frames=1_000, patience=0, log_every=100, tensorboard=False, seed=0),
        GridModelConfig(size="tiny"), progress=False)
    return runs / "model" / "model.pt"


def test_fitted_grid_model_is_near_exact(spec, fitted_model):
    from reverie.models.io import load

    model = load(fitted_model)
    perfect = spec.make_perfect_model()
    env = make_env(ENV, "test", 256, seed=1)
    obs = env.reset_to(torch.arange(256))
    exact = rewards = 0
    with torch.no_grad():
        for _ in range(4):
            action = torch.randint(spec.num_actions, (256,))
            predicted, reward, done = model.step(obs, action)
            truth, true_reward, true_done = perfect.step(obs, action)
            exact += int((predicted.argmax(1) == truth.argmax(1)).flatten(1).all(1).sum())
            rewards += int(((reward - true_reward).abs() < 1e-4).sum())
            obs = truth
    assert exact / 1024 > 0.99 and rewards / 1024 > 0.99, (exact, rewards)


def test_i2a_imagines_with_the_fitted_model(spec, runs, fitted_model):
    from reverie.evaluation.evaluate import evaluate_run

    summary = train(spec, runs / "i2a", "i2a", frames=800, num_envs=16, agent_options=f"model={fitted_model}",
                    eval_episodes=0)
    assert summary["completed"]
    result = evaluate_run(runs / "i2a", episodes=16, greedy=True)
    assert result["episodes"] == 16 and "success_rate" in result
    assert "solve_rate" not in result


# -- search with the rules ----------------------------------------------------------------

@pytest.mark.parametrize("kind, budget", [("mcts", 50), ("mc", 100)])
def test_search_solves_held_out_episodes(spec, kind, budget):
    from reverie.planning.episodes import make_planner, play_levels

    planner = make_planner(kind, spec.make_perfect_model(), budget, spec, seed=0)
    result = play_levels(planner, spec, "test", episodes=24, max_steps=spec.max_steps, batch=24, seed=0)
    assert result["episodes"] == 24 and result["success_rate"] >= 0.8, result


# -- the report ----------------------------------------------------------------------------

def test_report(spec, runs):
    from reverie.evaluation.report import write_report

    out = write_report([runs / "standard", runs / "i2a-perfect"], out=runs / "report.md", eval_episodes=16)
    assert out.is_file() and ENV in out.read_text()
    assert any(p.name.startswith("report") and p.suffix in (".png", ".gif") for p in runs.iterdir())
