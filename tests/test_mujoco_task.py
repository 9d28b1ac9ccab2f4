"""The MuJoCo task of the off-policy learners (HalfCheetah-v5): it runs, with a model, and is
refused in one line where MuJoCo is not installed."""

from __future__ import annotations

import json

import pytest

from reverie.agents.offpolicy_nets import LearnerConfig
from reverie.core.errors import ReverieError
from reverie.envs import control_tasks
from reverie.envs.control_tasks import make_task
from reverie.training.branched import ModelAugmentConfig
from reverie.training.offpolicy import OffPolicyConfig
from reverie.training.offpolicy_runs import train_offpolicy


def test_halfcheetah_task_shapes_and_bounds():
    pytest.importorskip("mujoco")
    task = make_task("halfcheetah")
    try:
        assert (task.env_id, task.obs_dim, task.action_dim, task.max_steps) == ("HalfCheetah-v5", 17, 6, 1000)
        assert not task.goal_conditioned
    finally:
        task.close()


def test_sac_with_mbpo_runs_on_halfcheetah(tmp_path):
    """A short SAC + MBPO run: the ensemble fits HalfCheetah's 17-D transitions and its
    branched rollouts feed the learner (the mechanics; learning is benchmarks/sample_efficiency.py's)."""
    pytest.importorskip("mujoco")
    config = OffPolicyConfig(task="halfcheetah", steps=160, learning_starts=60, log_every=40, checkpoint_every=1000,
                             eval_every=160, eval_episodes=1, tensorboard=False, run_dir=tmp_path / "run")
    model = ModelAugmentConfig(model_every=60, model_fit_rows=100, model_members=2, model_hidden=16, model_layers=1,
                               model_epochs=1, rollout_batch=20, rollout_every=40)
    summary = train_offpolicy(config, LearnerConfig(agent="sac", hidden=32), model, progress=False)
    assert summary["completed"] and summary["steps"] == 160
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert any("model_val_loss" in r for r in records)  # the ensemble was fitted
    assert sum(r.get("rollout_transitions", 0) for r in records) > 0  # and imagined for the learner


def test_mujoco_task_without_mujoco_is_refused_in_one_line(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_mujoco(name, *args, **kwargs):
        if name == "mujoco":
            raise ImportError("no mujoco here")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_mujoco)
    with pytest.raises(ReverieError, match=r"HalfCheetah-v5 needs MuJoCo: pip install"):
        control_tasks._gym_make("HalfCheetah-v5", {})
