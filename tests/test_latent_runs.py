"""Latent-model runs (Dreamer, PlaNet): the sequence replay's windows, exact resume, and refusals of bad input."""

from __future__ import annotations

import json

import pytest
import torch

from reverie.cli.main import main
from reverie.core.errors import ReverieError
from reverie.workflows.latent_runs import LatentRunConfig, train_latent
from reverie.training.sequence_replay import SequenceReplay

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = {"deter": 16, "hidden": 16, "groups": 2, "classes": 4, "depth": 4, "embed": 16, "horizon": 3}


def row(values, k=None):
    values = torch.as_tensor(values, dtype=torch.float32)
    k = len(values)
    return {"obs": values[:, None], "action": values.long(), "reward": values, "cont": torch.ones(k),
            "is_first": torch.zeros(k, dtype=torch.bool)}


def test_windows_are_consecutive_rows_of_one_stream_across_the_ring():
    replay = SequenceReplay(capacity=5, num_envs=2, obs_shape=(1,), obs_dtype=torch.float32)
    for t in range(8):                       # stream 0 holds 3..7, wrapped; stream 1 holds 103..107
        replay.add(row([t, 100 + t]))
    batch = replay.sample(64, 3, torch.Generator().manual_seed(0))
    obs = batch["obs"][..., 0]
    assert obs.shape == (64, 3)
    assert torch.equal(obs[:, 1:] - obs[:, :-1], torch.ones(64, 2))          # consecutive, oldest first
    assert ((obs % 100) >= 3).all() and ((obs % 100) <= 7).all()               # only rows still held
    assert len(replay) == 10


def test_a_stream_can_take_a_second_row_in_one_step():
    replay = SequenceReplay(capacity=6, num_envs=2, obs_shape=(1,), obs_dtype=torch.float32)
    replay.add(row([0, 0]))
    replay.add(row([1]), torch.tensor([1]))    # stream 1 only: an episode's first observation
    assert replay.written.tolist() == [1, 2]
    restored = SequenceReplay(capacity=6, num_envs=2, obs_shape=(1,), obs_dtype=torch.float32)
    restored.load_state_dict(replay.state_dict())
    assert restored.written.tolist() == [1, 2] and torch.equal(restored.data["obs"], replay.data["obs"])
    with pytest.raises(ReverieError, match="fewer than"):
        replay.sample(2, 2)


def small(out, frames, **extra) -> LatentRunConfig:
    return LatentRunConfig(env="minatar-breakout", out=out, frames=frames, num_envs=2, prefill=48, batch=4,
                            length=8, train_ratio=16, replay=400, log_every=16, checkpoint_every=48,
                            eval_episodes=0, tensorboard=False, **extra)


def test_a_resumed_run_is_the_run_that_never_stopped(tmp_path):
    straight = train_latent(small(tmp_path / "a", 96), TINY, progress=False)
    train_latent(small(tmp_path / "b", 48), TINY, progress=False)
    resumed = train_latent(small(tmp_path / "b", 96, resume=True), progress=False)
    assert straight["updates"] == resumed["updates"] > 0
    a = torch.load(tmp_path / "a" / "checkpoint.pt", weights_only=True)["state"]["run"]
    b = torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=True)["state"]["run"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    from reverie.workflows.latent_runs import evaluate_latent, load_latent_run
    run, spec, actions = load_latent_run(tmp_path / "b")
    assert all(torch.equal(v, b[k]) for k, v in run.state_dict().items())
    assert evaluate_latent(run, spec, actions, "test", 2)["episodes"] == 2


def test_a_resume_without_frames_keeps_the_runs_budget(tmp_path):
    """Only an explicit --frames extends a run; the flag's default (100k) once stretched a 60k run."""
    first = train_latent(small(tmp_path / "c", 48), TINY, progress=False)
    again = train_latent(LatentRunConfig(out=tmp_path / "c", resume=True), progress=False)
    assert again["frames"] == first["frames"] == 48 and again["updates"] == first["updates"]


def test_bad_input_is_refused_in_one_line(tmp_path, capsys):
    with pytest.raises(ReverieError, match="unknown dreamer options"):
        train_latent(small(tmp_path / "c", 48), {"wings": 2}, progress=False)
    with pytest.raises(ReverieError, match="prefill"):
        LatentRunConfig(prefill=1)
    with pytest.raises(ReverieError, match="agent"):
        LatentRunConfig(agent="muzero")
    with pytest.raises(ReverieError, match="discrete actions"):
        train_latent(small(tmp_path / "e", 48, agent="planet"), progress=False)
    assert main(["latent", "--out", str(tmp_path / "none"), "--resume"]) != 0
    assert "no latent-model run" in capsys.readouterr().err


def test_world_models_runs_its_phases_and_resumes_after_the_last_finished(tmp_path):
    pytest.importorskip("cma")
    from reverie.workflows.world_models_runs import WorldModelsConfig, train_world_models

    options = {"latent": 4, "depth": 4, "embed": 16, "hidden": 16, "mixtures": 2}
    config = WorldModelsConfig(env="minatar-breakout", out=tmp_path / "wm", frames=256, num_envs=4, vae_steps=20,
                               vae_batch=8, rnn_steps=20, rnn_batch=4, length=8, generations=3, popsize=4,
                               rollouts=2, horizon=10, eval_episodes=4, tensorboard=False)
    summary = train_world_models(config, options, progress=False)
    assert set(summary["seconds"]) == {"collect", "vae", "rnn", "controller"}
    assert summary["evaluation"]["episodes"] == 4 and "random" in summary
    again = train_world_models(WorldModelsConfig(out=tmp_path / "wm", resume=True), progress=False)
    assert again["dream_return"] == summary["dream_return"]          # nothing left to do but evaluate
    assert again["evaluation"] == summary["evaluation"]
    from reverie.workflows.world_models_runs import load_world_model
    world = load_world_model(tmp_path / "wm")
    state = world.encode(torch.zeros(3, 4, 10, 10))
    assert world.decode(world.step(state, torch.tensor([0, 1, 2]))[0]).shape == (3, 4, 10, 10)


def test_i2a_imagines_with_the_rssm_a_latent_run_saved(tmp_path, isolated_runs):
    """The run's model.pt is an ordinary reverie model file: I2A trains on it (its encoder reads
    the RSSM's decoded frames of each imagined latent state)."""
    from reverie.models import load
    from reverie.envs.registry import get_spec

    train_latent(small(tmp_path / "latent", 48), TINY, progress=False)
    model = load(tmp_path / "latent" / "model.pt", spec=get_spec("minatar-breakout"))
    assert type(model).__name__ == "RSSM"
    assert main(["train", "--env", "minatar-breakout", "--agent", "i2a", "--agent-options",
                 f"rollout_length=2,encoder_hidden=8,model={tmp_path / 'latent' / 'model.pt'}",
                 "--num-envs", "4", "--frames", "80", "--run-dir", str(tmp_path / "i2a"), "--eval-episodes", "0",
                 "--no-tensorboard", "--quiet"]) == 0
    with pytest.raises(ReverieError, match="imagines"):
        load(tmp_path / "latent" / "model.pt", spec=get_spec("sokoban-6x6-1"))


def test_the_gpu_presets_run_a_few_updates_on_the_cpu(tmp_path):
    """DreamerV3's size S and PlaNet's settings, with only the budget shrunk by flags."""
    from reverie.workflows.latent_runs import PRESETS

    for name in ("dreamerv3", "planet"):
        out = tmp_path / name
        assert main(["latent", "--preset", name, "--frames", "40", "--prefill", "32", "--num-envs", "2", "--batch",
                     "2", "--length", "8", "--replay", "64", "--train-ratio", "16", "--eval-episodes", "0",
                     "--out", str(out), "--quiet", "--no-tensorboard"]) == 0
        stored = json.loads((out / "config.json").read_text())
        assert stored["config"]["agent"] == PRESETS[name]["config"]["agent"]
        assert stored["rssm"]["deter"] == PRESETS[name]["options"]["deter"]
    with pytest.raises(ReverieError, match="unknown --preset"):
        from reverie.workflows.latent_runs import apply_preset
        apply_preset(PRESETS, "dreamerv9", LatentRunConfig(), {})


def test_world_models_can_train_its_controller_in_the_real_env(tmp_path):
    pytest.importorskip("cma")
    from reverie.workflows.world_models_runs import WorldModelsConfig, train_world_models

    config = WorldModelsConfig(env="pendulum-pixels", out=tmp_path / "wm", frames=128, num_envs=4, vae_steps=3,
                               vae_batch=4, rnn_steps=3, rnn_batch=2, length=8, generations=2, popsize=3, rollouts=2,
                               horizon=6, train_in="real", eval_episodes=2, tensorboard=False)
    summary = train_world_models(config, {"latent": 4, "depth": 4, "embed": 16, "hidden": 16, "mixtures": 2},
                                 progress=False)
    assert summary["evaluation"]["episodes"] == 2 and len(summary["seconds"]) == 4


def test_a_world_models_run_can_search_a_new_controller_on_another_runs_world(tmp_path):
    """--world-from: the new run takes the source's replay, V and M (and their settings) and only
    searches its controller, here in the real env where the source searched in the dream."""
    pytest.importorskip("cma")
    from reverie.workflows.world_models_runs import WorldModelsConfig, load_world_model, train_world_models

    options = {"latent": 4, "depth": 4, "embed": 16, "hidden": 16, "mixtures": 2}
    source = WorldModelsConfig(env="pendulum-pixels", out=tmp_path / "dream", frames=128, num_envs=4, vae_steps=3,
                               vae_batch=4, rnn_steps=3, rnn_batch=2, length=8, generations=2, popsize=3,
                               rollouts=2, horizon=6, eval_episodes=0, tensorboard=False)
    train_world_models(source, options, progress=False)
    real = WorldModelsConfig(env="minatar-breakout", out=tmp_path / "real", world_from=tmp_path / "dream",
                             frames=999, generations=2, popsize=3, rollouts=2, horizon=6, train_in="real",
                             eval_episodes=2, tensorboard=False)
    summary = train_world_models(real, progress=False)
    assert summary["env"] == "pendulum-pixels" and summary["frames"] == 128      # the source's world settings
    assert summary["train_in"] == "real" and summary["world_from"] == str(tmp_path / "dream")
    stored = json.loads((tmp_path / "real" / "config.json").read_text())
    assert stored["options"] == options and stored["config"]["env"] == "pendulum-pixels"
    a, b = load_world_model(tmp_path / "dream").state_dict(), load_world_model(tmp_path / "real").state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)                                 # V and M untouched
    again = train_world_models(WorldModelsConfig(out=tmp_path / "real", resume=True), progress=False)
    assert again["evaluation"] == summary["evaluation"]
    with pytest.raises(ReverieError, match="drop --options"):
        train_world_models(WorldModelsConfig(out=tmp_path / "x", world_from=tmp_path / "dream"), {"latent": 8})
    with pytest.raises(ReverieError, match="another run"):
        train_world_models(WorldModelsConfig(out=tmp_path / "dream2", world_from=tmp_path / "dream2"))
    with pytest.raises(ReverieError, match="holds no World Models run"):
        train_world_models(WorldModelsConfig(out=tmp_path / "y", world_from=tmp_path / "nothing"))
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()
