"""The frame model (binary planes + events, one model for every task): shapes, fitting on a
tiny world with events (tests/worlds/pellets.py), task binding, the spec checks, the model
file, transition data with events and levels=20 planes, and the compounding curve."""

from __future__ import annotations

import dataclasses
import json
import os

import pytest
import torch

from reverie.cli.main import main as run_cli
from reverie.core.checkpoint import save_checkpoint
from reverie.core.errors import ReverieError
from reverie.data.dataset import Sampler, TransitionDataset, collect_dataset
from reverie.data.transitions import CollectConfig, collect, read_manifest
from reverie.envs.registry import get_spec, unregister_spec
from reverie.envs.spec import ActionSpec, ObsSpec
from reverie.evaluation.model_diagnostics import compounding_curve
from reverie.models import CopyModel, FrameModel, FrameModelConfig, load, save_model
from reverie.models.io import model_record
from reverie.models.scoring import one_step
from worlds import pellets

pytestmark = pytest.mark.usefixtures("one_thread")
TINY = FrameModelConfig(size="tiny", event_hidden=32, output="bernoulli")


@pytest.fixture(scope="module")
def spec():
    pellets.register()
    yield get_spec(pellets.SPEC.id)
    unregister_spec(pellets.SPEC.id)


@pytest.fixture(scope="module")
def data(spec):
    return collect_dataset("train", 3000, num_envs=50, seed=1, env=spec.id)


@pytest.fixture(scope="module")
def data_dir(spec, tmp_path_factory):
    out = tmp_path_factory.mktemp("pellets") / "data"
    collect(CollectConfig(out=out, env=spec.id, train_frames=1200, valid_frames=300, num_envs=30,
                          shard_frames=500, seed=3), progress=False)
    return out


def test_shapes_and_a_copy_start(spec):
    model = FrameModel.for_spec(spec, TINY)
    obs, _ = spec.make_env("train", 6, seed=0).reset()
    action = torch.arange(6) % 5
    next_obs, reward, done = model.step(obs, action)
    assert next_obs.shape == obs.shape and reward.shape == (6,) and done.shape == (6,) and done.dtype == torch.bool
    assert torch.equal(next_obs[:, :2], obs[:, :2])  # zero head + copy gains: the copy model on 0/1 planes
    assert torch.equal((next_obs * 20).round() / 20, next_obs)  # on the 1/levels grid
    frame, events = model(obs, action)
    assert frame.shape == obs.shape and [e.shape for e in events] == [(6, 2)] * 3
    assert model.predict_events(obs, action).shape == (6, 3)
    distribution = FrameModel.for_spec(spec, dataclasses.replace(TINY, feed="distribution"))
    probs = distribution.step(obs, action)[0]
    assert ((probs > 0) & (probs < 1)).all()
    levels = FrameModel.for_spec(spec, dataclasses.replace(TINY, output="levels"))
    trail = spec.make_env("train", 6, seed=0)
    trail.reset()
    for _ in range(3):
        obs = trail.step(torch.randint(5, (6,)))[0]
    assert torch.equal(levels.step(obs, action)[0], obs)  # a categorical copy start is exact on every level
    batch = {"obs": obs, "action": action, "next_codes": (obs * 20).round().long(), "events": torch.ones(6, 3)}
    assert torch.isfinite(levels.loss(batch)["loss"])


def test_loss_falls_and_events_are_learned(spec, data):
    assert data.events.shape == (3000, 3) and data.events.dtype == torch.uint8
    torch.manual_seed(0)
    model = FrameModel.for_spec(spec, TINY)
    sampler = Sampler(data, 64, rare_share=0.1, seed=0)
    drawn = torch.cat([sampler.indices() for _ in range(20)])
    assert (data.events[drawn, 1] > 0).float().mean() > (data.events[:, 1] > 0).float().mean() + 0.05
    optimizer = torch.optim.Adam(model.parameters(), 1e-2)
    losses = []
    for _ in range(150):
        out = model.loss(sampler.sample())
        optimizer.zero_grad()
        out["loss"].backward()
        optimizer.step()
        losses.append(float(out["loss"].detach()))
    assert sum(losses[-10:]) < 0.3 * sum(losses[:10])
    valid = collect_dataset("valid", 500, num_envs=50, seed=2, env=spec.id)
    result = one_step(model.eval(), valid)
    assert result["cell_accuracy"] > 0.9
    assert set(result["event_accuracy"]) == {"step", "food", "bump"}
    assert result["event_accuracy"]["step"]["accuracy"] == 1.0
    assert set(result["task_reward_accuracy"]) == {"eat", "wander"}
    assert result["events_exact"] > 0.8


def test_one_model_serves_every_task(spec):
    torch.manual_seed(1)
    model = FrameModel.for_spec(spec, TINY)
    obs, _ = spec.make_env("train", 32, seed=0).reset()
    action = torch.randint(5, (32,))
    counts = model.predict_events(obs, action).float()
    for task, weights in pellets.TASKS.items():
        model.check_spec(pellets.with_task(spec, task))
        assert model.task == task
        _, reward, done = model.step(obs, action)
        assert torch.allclose(reward, counts @ torch.tensor(weights))
        assert torch.equal(done, counts[:, 2] > 0)
    unbound = FrameModel(model.config)
    with pytest.raises(ReverieError, match="no task bound"):
        unbound.step(obs, action)


@pytest.mark.parametrize("change, message", [
    (lambda s: dataclasses.replace(s, actions=ActionSpec(4)), "4"),
    (lambda s: dataclasses.replace(s, observation=ObsSpec("binary", (3, 7, 7), levels=20)), "binary frames"),
    (lambda s: dataclasses.replace(s, observation=ObsSpec("binary", (3, 6, 6), levels=4)), "levels 4"),
    (lambda s: dataclasses.replace(s, rewards=dataclasses.replace(
        s.rewards, events=("step", "bump", "food"))), "predicts events"),
    (lambda s: dataclasses.replace(s, rewards=dataclasses.replace(s.rewards, event_max=(1, 2, 1))), "counts events"),
    (lambda s: dataclasses.replace(s, observation=ObsSpec("onehot", (3, 6, 6), num_codes=3)), "binary frames"),
])
def test_check_spec_refuses_another_world_in_one_line(spec, change, message):
    model = FrameModel.for_spec(spec, TINY)
    with pytest.raises(ReverieError, match=message) as err:
        model.check_spec(change(spec))
    assert "\n" not in str(err.value)


def test_model_file_round_trip_and_bad_files(spec, tmp_path):
    torch.manual_seed(2)
    model = FrameModel.for_spec(spec, TINY)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    path = save_model(model, tmp_path / "m.pt", {"env": spec.id})
    loaded = load(path, spec=spec)
    assert isinstance(loaded, FrameModel) and loaded.task == "eat" and loaded.config == model.config
    obs, _ = spec.make_env("train", 16, seed=0).reset()
    action = torch.randint(5, (16,))
    for a, b in zip(model.eval().step(obs, action), loaded.step(obs, action)):
        assert torch.equal(a, b)
    assert load(path).task is None  # no spec, no task: bound when checked against one

    class Hostile:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'pwned'}",))

    hostile = tmp_path / "hostile.pt"
    torch.save({"format": "reverie-checkpoint", "version": 1, "kind": "environment-model",
                "state": {"type": "frame", "config": {}, "weights": {}, "metadata": Hostile()}}, hostile)
    with pytest.raises(ReverieError, match="not a readable reverie checkpoint"):
        load(hostile)
    assert not (tmp_path / "pwned").exists()
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(ReverieError, match="not a readable reverie checkpoint"):
        load(truncated)
    record = model_record(model)
    record["config"]["channels"] = [16, 16]
    save_checkpoint(tmp_path / "shape.pt", record, kind="environment-model")
    with pytest.raises(ReverieError, match="weights do not fit"):
        load(tmp_path / "shape.pt")
    record = model_record(model)
    record["config"]["event_max"] = [1, 1]
    save_checkpoint(tmp_path / "config.pt", record, kind="environment-model")
    with pytest.raises(ReverieError, match="bad model config"):
        load(tmp_path / "config.pt")


def test_levels_20_planes_and_events_survive_the_shards(spec, data_dir):
    codec = ObsSpec("binary", (3, 4, 5), levels=20)
    planes = torch.randint(0, 21, (7, 3, 4, 5)).float() / 20
    assert torch.equal(codec.decode(codec.encode(planes)), planes)
    manifest = read_manifest(data_dir)
    assert manifest["version"] == 3 and manifest["events"] == ["step", "food", "bump"]
    assert manifest["event_max"] == [1, 1, 1] and manifest["observation"]["levels"] == 20
    assert "reward_class_counts" not in manifest["splits"]["train"]
    assert manifest["splits"]["train"]["event_counts"][0] == 1200
    train = TransitionDataset.load(data_dir, "train")
    assert train.events.shape == (1200, 3) and len(train) == 1200
    trail = train.spec.observation.decode(train.next_codes)[:, 2]
    assert {0.25, 0.5, 0.75, 1.0} <= set(trail.unique().tolist())
    assert torch.allclose(spec.rewards.event_reward(train.events), train.reward)
    env = spec.make_env("train", 4, seed=0)  # decode(encode(x)) is the env's frame exactly
    obs, _ = env.reset()
    for _ in range(5):
        obs = env.step(torch.randint(5, (4,)))[0]
        assert torch.equal(spec.observation.decode(spec.observation.encode(obs)), obs)


def test_fit_evaluate_and_the_compounding_curve(spec, data_dir, tmp_path, capsys):
    run, report = tmp_path / "run", tmp_path / "report"
    assert run_cli(["model", "fit", "--data", str(data_dir), "--out", str(run), "--steps", "30",
                    "--batch-size", "32", "--val-every", "15", "--val-frames", "200", "--size", "tiny",
                    "--frame-output", "levels", "--no-tensorboard", "--quiet"]) == 0
    assert "reward by task: eat" in capsys.readouterr().out
    model = load(run / "model.pt", spec=spec)
    assert isinstance(model, FrameModel) and model.config.channels == (8, 8) and model.config.output == "levels"
    summary = json.loads((run / "summary.json").read_text())
    assert "events_exact" in summary["validation"]
    assert run_cli(["model", "evaluate", "--model", str(run / "model.pt"), "--data", str(data_dir),
                    "--horizon", "4", "--rollouts", "16", "--out", str(report)]) == 0
    curve = json.loads((report / "report.json").read_text())["horizon_curve"]
    assert len(curve["player_position_accuracy"]) == 4 and len(curve["food_cell_accuracy"]) == 4
    copy = compounding_curve(spec, CopyModel(), horizon=3, rollouts=64, warmup=2)
    assert copy["counted"][0] == 64 and copy["counted"][-1] <= 64
    assert copy["player_position_accuracy"][0] < 0.5 < copy["food_cell_accuracy"][0]
    assert all(0 <= v <= 1 for v in copy["cell_accuracy"])


def test_event_data_refuses_a_grid_model_and_mismatched_events(spec, data_dir, tmp_path):
    from reverie.models import GridModelConfig
    from reverie.training.model_fitting import FitConfig, fit

    with pytest.raises(ReverieError, match="drop the flag"):
        fit(FitConfig(data=data_dir, out=tmp_path / "r", steps=1), GridModelConfig(reward_values=(0.0, 1.0)),
            progress=False)
    manifest = read_manifest(data_dir)
    manifest["events"] = ["step", "bump", "food"]
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ReverieError, match="recollect"):
        TransitionDataset.load(bad, "train")


def test_collect_plays_a_trained_runs_agent(spec, tmp_path, capsys):
    from reverie.training.actor_critic import A2CConfig
    from reverie.training.runs import TrainConfig, train

    run = tmp_path / "run"
    train(TrainConfig(env=spec.id, agent="standard", agent_options="hidden=16,channels=4", frames=400, num_envs=8,
                      run_dir=run, eval_episodes=0, log_every=4000, checkpoint_every=10**9, tensorboard=False,
                      seed=0), A2CConfig(), progress=False)
    data = tmp_path / "data"
    assert run_cli(["model", "collect", "--env", spec.id, "--out", str(data), "--train-frames", "200",
                    "--valid-frames", "50", "--num-envs", "10", "--policy", str(run), "--quiet"]) == 0
    assert "events step 200" in capsys.readouterr().out
    manifest = read_manifest(data)
    assert manifest["policy"] == str(run) and manifest["config"]["policy"] == str(run)
