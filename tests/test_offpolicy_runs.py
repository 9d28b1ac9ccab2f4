"""Off-policy runs: exact resume, branched rollouts' horizon, bad input refused in one line."""

from __future__ import annotations

import json

import pytest
import torch

from reverie.agents.offpolicy_nets import LearnerConfig
from reverie.cli.main import main
from reverie.core.checkpoint import load_checkpoint
from reverie.core.errors import ReverieError
from reverie.data.replay import ReplayBuffer
from reverie.models.vector import VectorModel, VectorModelConfig
from reverie.training.branched import ImaginedEnv, ModelAugmentConfig, branched_rollouts
from reverie.training.offpolicy import OffPolicyConfig
from reverie.training.offpolicy_runs import resume_offpolicy, train_offpolicy

SMALL = dict(steps=240, learning_starts=80, log_every=50, checkpoint_every=1000, eval_every=120, eval_episodes=1,
             tensorboard=False)
TIMING = {"steps_per_second", "updates_per_second", "elapsed_seconds", "model_fit_seconds"}


def _records(run_dir):
    out = []
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        out.append({k: v for k, v in json.loads(line).items() if k not in TIMING})
    return out


@pytest.mark.parametrize("agent,model,extra", [
    ("sac", dict(model_every=60, model_fit_rows=100, model_members=2, model_hidden=16, model_layers=1, model_epochs=1, rollout_batch=20,
                 rollout_every=40, horizon_max=2, horizon_to=200, mbve_horizon=2), {}),
    ("naf", {}, {}),
    ("naf", dict(model_every=60, model_fit_rows=100, model_members=2, model_hidden=16, model_layers=1, model_epochs=1,
                 rollout_batch=20, rollout_every=40, horizon_max=2, horizon_to=200),
     dict(naf_mu_penalty=1.0, naf_mu_bound=0.5)),  # imagination, and a bound the penalty meets
])
def test_resume_is_exact_on_pendulum(tmp_path, agent, model, extra):
    learner = LearnerConfig(agent=agent, hidden=16, batch_size=16, **extra)
    straight = train_offpolicy(OffPolicyConfig(run_dir=tmp_path / "a", **SMALL), learner,
                               ModelAugmentConfig(**model), progress=False)
    half = train_offpolicy(OffPolicyConfig(run_dir=tmp_path / "b", **SMALL), learner, ModelAugmentConfig(**model),
                           progress=False, stop_after=130)  # mid-episode, mid-log-window
    assert half["interrupted"] and half["steps"] == 130
    resumed = resume_offpolicy(tmp_path / "b", progress=False)
    assert resumed["completed"] and straight["updates"] == resumed["updates"]
    a = load_checkpoint(tmp_path / "a" / "checkpoint.pt")["trainer"]
    b = load_checkpoint(tmp_path / "b" / "checkpoint.pt")["trainer"]
    for key, value in a["learner"]["weights"].items():
        assert torch.equal(value, b["learner"]["weights"][key]), key
    for key, value in a["replay"]["data"].items():
        assert torch.equal(value, b["replay"]["data"][key]), key
    if model:
        for key, value in a["model"].items():
            assert torch.equal(value, b["model"][key]), key
    assert straight["evaluation"] == resumed["evaluation"]
    assert _records(tmp_path / "a") == _records(tmp_path / "b")
    if extra:  # the option travels in the saved config, and the penalty was at work
        assert json.loads((tmp_path / "b" / "config.json").read_text())["learner"]["naf_mu_penalty"] == 1.0
        assert any(r.get("mu_penalty", 0) > 0 for r in _records(tmp_path / "a"))


def test_run_folder_holds_config_metrics_summary(tmp_path):
    train_offpolicy(OffPolicyConfig(run_dir=tmp_path / "r", **(SMALL | {"steps": 100})),
                    LearnerConfig(hidden=8, batch_size=8), progress=False)
    config = json.loads((tmp_path / "r" / "config.json").read_text())
    assert config["method"] == "sac" and config["task"]["gym_id"] == "Pendulum-v1"
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["completed"] and summary["evaluation"]["episodes"] == 1
    assert (tmp_path / "r" / "metrics.csv").is_file()
    with pytest.raises(ReverieError, match="holds a run already"):
        train_offpolicy(OffPolicyConfig(run_dir=tmp_path / "r", **SMALL), progress=False)


def test_branched_rollouts_never_exceed_the_trusted_horizon():
    torch.manual_seed(0)
    model = VectorModel(VectorModelConfig(obs_dim=3, action_dim=1, kind="mlp", hidden=8, members=3, learn_reward=True))
    env = ImaginedEnv(model, 3)
    out = ReplayBuffer(10_000, 3, 1)
    policy = lambda s: torch.tanh(s[:, :1])  # noqa: E731
    stats = branched_rollouts(env, torch.randn(50, 3), 10, 3, policy, out, torch.Generator().manual_seed(0))
    assert stats["rollout_depth_max"] == 3 and len(out) == 150
    stopped = branched_rollouts(env, torch.randn(50, 3), 10, 3, policy, ReplayBuffer(100, 3, 1),
                                torch.Generator().manual_seed(0), trust_disagreement=1e-9)
    assert stopped["rollout_transitions"] == 0  # members disagree: no imagined step is trusted
    config = ModelAugmentConfig(model_every=1, rollout_batch=1, horizon_min=1, horizon_max=20, horizon_from=100,
                                horizon_to=1100, trusted_horizon=4)
    horizons = [config.horizon(s) for s in range(0, 2000, 50)]
    assert horizons[0] == 1 and max(horizons) == 4 and horizons == sorted(horizons)


def test_bad_input_is_refused_in_one_line(capsys, tmp_path):
    cases = [
        (["--task", "CartPole-v1"], "Discrete actions"),
        (["--task", "pendulum", "--her"], "needs a goal-conditioned task"),
        (["--agent", "ppo"], "unknown off-policy agent"),
        (["--mbve-horizon", "8", "--model-every", "10"], "exceeds --trusted-horizon"),
        (["--rollout-batch", "10"], "need a model"),
        (["--steps", "0"], "positive integer"),
    ]
    for args, message in cases:
        code = main(["offpolicy", "--run-dir", str(tmp_path / "x"), "--quiet", *args])
        err = capsys.readouterr().err.strip()
        assert code == 2 and message in err and len(err.splitlines()) == 1, (args, err)
    assert not (tmp_path / "x").exists()  # refused before the run folder is made


def test_cli_trains_and_resumes(capsys, tmp_path):
    args = ["offpolicy", "--run-dir", str(tmp_path / "c"), "--quiet", "--steps", "60", "--learning-starts", "30",
            "--hidden", "8", "--batch-size", "8", "--eval-episodes", "1", "--no-tensorboard", "--agent", "naf",
            "--naf-mu-penalty", "0.5", "--naf-mu-bound", "1.5"]
    assert main(args) == 0
    saved = json.loads((tmp_path / "c" / "config.json").read_text())["learner"]
    assert (saved["naf_mu_penalty"], saved["naf_mu_bound"]) == (0.5, 1.5)
    out = capsys.readouterr().out
    assert "naf on pendulum" in out and "greedy evaluation" in out
    report = (tmp_path / "c" / "report.md").read_text()
    assert "| method | naf |" in report and (tmp_path / "c" / "curves.png").stat().st_size > 1000
    assert main(["offpolicy", "--resume", str(tmp_path / "c"), "--steps", "90"]) == 2
    assert "drop --steps" in capsys.readouterr().err
    assert main(["offpolicy", "--resume", str(tmp_path / "c"), "--quiet"]) == 0  # already complete: a no-op


def test_parking_with_hindsight_and_a_model_resumes_exactly(tmp_path):
    pytest.importorskip("highway_env")
    learner = LearnerConfig(hidden=16, batch_size=16)
    model = ModelAugmentConfig(model_every=40, model_members=2, model_hidden=16, model_layers=1, model_epochs=1,
                               rollout_batch=16, rollout_every=20, horizon_max=2, horizon_to=100, mbve_horizon=1)
    small = SMALL | {"task": "parking", "her": True, "steps": 100, "learning_starts": 40, "eval_every": 0}
    straight = train_offpolicy(OffPolicyConfig(run_dir=tmp_path / "a", **small), learner, model, progress=False)
    assert straight["method"] == "sac+mbpo+mbve1+her" and "success_rate" in straight["evaluation"]
    train_offpolicy(OffPolicyConfig(run_dir=tmp_path / "b", **small), learner, model, progress=False, stop_after=55)
    resume_offpolicy(tmp_path / "b", progress=False)
    a = load_checkpoint(tmp_path / "a" / "checkpoint.pt")["trainer"]
    b = load_checkpoint(tmp_path / "b" / "checkpoint.pt")["trainer"]
    for key, value in a["learner"]["weights"].items():
        assert torch.equal(value, b["learner"]["weights"][key]), key
    assert torch.equal(a["model_buffer"]["data"]["obs"], b["model_buffer"]["data"]["obs"])
    config = json.loads((tmp_path / "a" / "config.json").read_text())
    assert config["task"]["add_walls"] is True


def test_imagined_goal_steps_keep_the_goal_and_score_with_the_goal_reward():
    from reverie.data.hindsight import GoalReward

    goals = GoalReward(lambda a, d: -(a - d).abs().sum(-1), lambda a, d: (a - d).abs().sum(-1) < 0.5)
    model = VectorModel(VectorModelConfig(obs_dim=3, action_dim=1, kind="mlp", hidden=8, members=2))
    env = ImaginedEnv(model, 3, goal_dim=2, goals=goals)
    flat = torch.cat([torch.randn(6, 3), torch.randn(6, 2)], -1)
    flat[0, 3:] = flat[0, :2]  # a goal the row is at already
    nxt, reward, done, _ = env.step_members(flat, torch.zeros(6, 1), torch.Generator().manual_seed(0))
    assert torch.equal(nxt[:, 3:], flat[:, 3:])
    assert torch.allclose(reward, goals.reward(nxt[:, :2], flat[:, 3:]))
    assert torch.equal(done, goals.success(nxt[:, :2], flat[:, 3:]))


def test_discrete_learner_refuses_continuous_tasks(capsys, tmp_path):
    for env in ("pendulum", "parking-v0"):
        assert main(["train", "--env", env, "--run-dir", str(tmp_path / "t"), "--quiet"]) == 2
        err = capsys.readouterr().err.strip()
        assert "continuous actions" in err and "reverie offpolicy" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "t").exists()


def test_imagined_rows_end_where_the_episode_end_head_says():
    """With an episode-end head, a row whose member predicts an end is stored as terminal and
    stops; without one (or a head that predicts none) rollouts run to the horizon."""
    torch.manual_seed(0)
    config = VectorModelConfig(obs_dim=3, action_dim=1, kind="mlp", hidden=8, members=3, learn_reward=True,
                               learn_done=True)
    policy = lambda s: torch.tanh(s[:, :1])  # noqa: E731
    for bias, depth in ((20.0, 1), (-20.0, 3)):
        model = VectorModel(config)
        with torch.no_grad():
            model.done_net.out.weight.zero_()
            model.done_net.out.bias.fill_(bias)  # every member: always (or never) an end
        out = ReplayBuffer(1000, 3, 1)
        stats = branched_rollouts(ImaginedEnv(model, 3), torch.randn(40, 3), 10, 3, policy, out,
                                  torch.Generator().manual_seed(0))
        assert stats["rollout_depth_max"] == depth and len(out) == 40 * depth
        assert bool(out.rows()["terminated"].all()) == (bias > 0)


def test_model_ends_is_refused_where_it_cannot_apply():
    from reverie.envs.control_tasks import make_task
    from reverie.training.offpolicy import check_task

    task = make_task("pendulum")
    try:
        with pytest.raises(ReverieError, match="--model-ends .* needs --model-every"):
            check_task(task, OffPolicyConfig(), ModelAugmentConfig(model_ends=True))
        check_task(task, OffPolicyConfig(), ModelAugmentConfig(model_every=100, model_ends=True))  # fine
    finally:
        task.close()
