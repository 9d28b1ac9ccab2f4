"""Fitting: the loss falls and accuracy rises on a tiny dataset; runs checkpoint, resume and
report; the ``reverie model`` commands work end to end and fail in one clear line."""

from __future__ import annotations

import json

import pytest
import torch

from conftest import HARD, UNFILTERED_TEST
from reverie.core.errors import ReverieError
from reverie.cli.main import main as run_cli
from reverie.data.dataset import Sampler, collect_dataset
from reverie.data.transitions import CollectConfig, collect, read_manifest
from reverie.envs.sokoban.bank import load_boxoban
from reverie.evaluation.model_diagnostics import one_step
from reverie.models import GridModel, GridModelConfig, load
from reverie.core.metrics import read_metrics
from reverie.training.model_fitting import FitConfig, _improved, fit, learning_rate


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("fit") / "data"
    collect(CollectConfig(out=out, train_levels=UNFILTERED_TEST, valid_levels=HARD, train_frames=3000,
                          valid_frames=600, num_envs=64, seed=4), progress=False)
    return out


def test_loss_falls_and_accuracy_rises_on_a_tiny_dataset():
    torch.manual_seed(0)
    train = collect_dataset(load_boxoban(UNFILTERED_TEST), 3000, preplaced=0.5, seed=1)
    valid = collect_dataset(load_boxoban(HARD), 600, preplaced=0.5, seed=2)
    model = GridModel.for_spec(train.spec, GridModelConfig(channels=(16, 16)))
    before = one_step(model.eval(), valid)
    optimizer = torch.optim.Adam(model.parameters(), 1e-2)
    sampler = Sampler(train, 64, push_share=0.3, seed=0)
    losses = []
    model.train()
    for _ in range(160):
        out = model.loss(sampler.sample())
        optimizer.zero_grad()
        out["loss"].backward()
        optimizer.step()
        losses.append(float(out["loss"].detach()))
    after = one_step(model.eval(), valid)
    assert sum(losses[-10:]) < 0.25 * sum(losses[:10])
    assert after["cell_accuracy"] > before["cell_accuracy"]
    assert after["exact_frame_accuracy"] > before["exact_frame_accuracy"] + 0.05
    assert after["reward_accuracy"] > 0.9


def test_fit_writes_a_run_that_resumes(data_dir, tmp_path):
    out = tmp_path / "run"
    common = dict(data=data_dir, out=out, batch_size=32, val_every=10, val_frames=200, checkpoint_every=10,
                  log_every=5, tensorboard=False, patience=0)
    model_config = GridModelConfig(channels=(8, 8))
    summary = fit(FitConfig(steps=20, **common), model_config, progress=False)
    assert summary["steps"] == 20 and summary["frames_seen"] == 640
    assert summary["validation"]["frames"] == 600  # the whole split at the end
    for name in ("config.json", "metrics.jsonl", "metrics.csv", "checkpoint.pt", "model.pt", "summary.json"):
        assert (out / name).is_file(), name
    assert json.loads((out / "config.json").read_text())["model"]["channels"] == [8, 8]
    with pytest.raises(ReverieError, match="--resume"):
        fit(FitConfig(steps=30, **common), model_config, progress=False)
    with pytest.raises(ReverieError, match="same model flags"):
        fit(FitConfig(steps=30, resume=True, **common), GridModelConfig(channels=(8, 12)), progress=False)
    summary = fit(FitConfig(steps=30, resume=True, **common), model_config, progress=False)
    assert summary["steps"] == 30
    steps = [r["step"] for r in read_metrics(out) if "train/loss" in r]
    assert steps == sorted(set(steps)) and steps[-1] == 30
    model = load(out)
    assert model.config.channels == (8, 8)
    assert model.metadata["summary"]["steps"] == 30


def test_learning_rate_schedule_and_early_stopping_rule():
    config = FitConfig(steps=1000, warmup=100, lr=1.0)
    assert learning_rate(config, 0, 0) == pytest.approx(0.01)
    assert learning_rate(config, 100, 0) == pytest.approx(1.0)
    assert learning_rate(config, 1000, 0) == pytest.approx(0.0)
    timed = FitConfig(steps=1000, warmup=0, lr=1.0, time_limit=1.0)
    assert learning_rate(timed, 10, 30.0) == pytest.approx(0.5)
    assert _improved((0.1, 5.0), None)
    assert _improved((0.05, 9.0), [0.1, 5.0])
    assert _improved((0.1, 4.0), [0.1, 5.0])
    assert not _improved((0.1, 4.99), [0.1, 5.0])
    assert not _improved((0.2, 1.0), [0.1, 5.0])
    with pytest.raises(ReverieError, match="--steps"):
        FitConfig(steps=0)
    with pytest.raises(ReverieError, match="--push-share"):
        FitConfig(push_share=0.8, rare_share=0.2)


def test_model_commands_are_part_of_the_main_parser():
    from reverie.cli.main import build_parser

    args = build_parser().parse_args(["model", "fit", "--size", "small", "--steps", "5"])
    assert args.size == "small" and args.steps == 5 and callable(args.func)


def test_model_commands_end_to_end(tmp_path, capsys):
    data, run, report = tmp_path / "data", tmp_path / "run", tmp_path / "report"
    assert run_cli(["model", "collect", "--out", str(data), "--train-levels", str(UNFILTERED_TEST),
                    "--valid-levels", str(HARD), "--train-frames", "1000", "--valid-frames", "300",
                    "--num-envs", "50", "--quiet"]) == 0
    assert run_cli(["model", "fit", "--data", str(data), "--out", str(run), "--steps", "12", "--batch-size", "16",
                    "--val-every", "6", "--val-frames", "100", "--channels", "8,8", "--no-tensorboard",
                    "--quiet"]) == 0
    assert run_cli(["model", "evaluate", "--model", str(run / "model.pt"), "--data", str(data),
                    "--horizon", "4", "--rollouts", "20", "--pictures", "2", "--out", str(report)]) == 0
    text = capsys.readouterr().out
    assert "train: 1,000 transitions" in text and "fitted 12 steps" in text and "exact frame" in text
    for name in ("report.json", "horizon.png", "rollouts.png", "rollouts.gif"):
        assert (report / name).is_file(), name
    result = json.loads((report / "report.json").read_text())
    assert len(result["horizon_curve"]["exact_frame_accuracy"]) == 4
    assert "copy model" in result["baselines"]


@pytest.mark.parametrize("argv, message", [
    (["model", "fit", "--data", "/nonexistent/data"], "no such dataset folder"),
    (["model", "evaluate", "--model", "/nonexistent/model.pt", "--data", "x"], "no such checkpoint"),
    (["model", "fit", "--size", "huge"], "unknown model size"),
    (["model", "collect", "--train-levels", "/x"], "both --train-levels and --valid-levels"),
])
def test_model_commands_fail_in_one_clear_line(argv, message, capsys, tmp_path):
    assert run_cli(argv + (["--out", str(tmp_path / "o")] if argv[1] != "evaluate" else [])) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_fit_refuses_reward_values_that_are_not_the_datas_classes(data_dir, tmp_path):
    """Issue 21: a model fitted to the data's class indices but imagining other values would
    swap rewards silently; a permuted --reward-values is refused in one line."""
    classes = list(read_manifest(data_dir)["reward_values"])
    permuted = ",".join(str(v) for v in [classes[1], classes[0]] + classes[2:])
    run = tmp_path / "permuted"
    args = ["model", "fit", "--data", str(data_dir), "--out", str(run), "--steps", "2", "--channels", "8,8",
            "--no-tensorboard", "--quiet", "--reward-values", permuted]
    assert run_cli(args) == 2
    assert not (run / "model.pt").exists()
    # the right classes in the right order (as typed, to 4 places) are accepted and stored exactly
    fit(FitConfig(data=data_dir, out=tmp_path / "ok", steps=2, batch_size=8, val_frames=50, tensorboard=False),
        GridModelConfig(channels=(8, 8), reward_values=(-0.1, 0.9, -1.1, 10.9)), progress=False)
    assert list(load(tmp_path / "ok").config.reward_values) == classes


def test_imagined_rewards_of_a_fitted_model_are_the_envs_values(data_dir, tmp_path):
    from reverie.data.dataset import TransitionDataset

    fit(FitConfig(data=data_dir, out=tmp_path / "run", steps=2, batch_size=8, val_frames=50, tensorboard=False),
        GridModelConfig(channels=(8, 8)), progress=False)
    model = load(tmp_path / "run")
    valid = TransitionDataset.load(data_dir, "valid")
    assert model.metadata["env"] == valid.spec.id
    model.check_spec(valid.spec)  # the file's table is the env's


def test_resume_refuses_a_checkpoint_of_other_reward_classes(data_dir, tmp_path):
    from reverie.core.checkpoint import load_checkpoint, save_checkpoint

    common = dict(data=data_dir, out=tmp_path / "run", batch_size=8, val_frames=50, tensorboard=False)
    fit(FitConfig(steps=2, **common), GridModelConfig(channels=(8, 8)), progress=False)
    path = tmp_path / "run" / "checkpoint.pt"
    state = load_checkpoint(path)
    values = state["model"]["config"]["reward_values"]
    state["model"]["config"]["reward_values"] = [values[1], values[0]] + values[2:]
    save_checkpoint(path, state, kind="model-fitting-run")
    with pytest.raises(ReverieError, match="reward classes .* are not"):
        fit(FitConfig(steps=4, resume=True, **common), GridModelConfig(channels=(8, 8)), progress=False)
