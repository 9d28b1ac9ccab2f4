"""Training runs: run folders, exact resume after SIGKILL and Ctrl-C, env id presets."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import FIXTURES
from reverie.core.errors import ReverieError
from reverie.envs.sokoban import presets
from reverie.training.actor_critic import A2CConfig
from reverie.core.checkpoint import load_checkpoint
from reverie.core.lock import lock_holder
from reverie.core.metrics import read_metrics
from reverie.evaluation.evaluate import final_evaluation
from reverie.training.runs import RUN_KIND, TrainConfig, describe, load_run, resume, train

SRC = Path(__file__).resolve().parents[1] / "src"
pytestmark = pytest.mark.usefixtures("isolated_runs")


def small_config(run_dir: Path, **changes) -> TrainConfig:
    values = dict(env="sokoban-6x6-1", train_levels=50, num_envs=8, frames=4_000, seed=1, run_dir=run_dir,
                  log_every=800, checkpoint_every=1_600, eval_episodes=20, tensorboard=False)
    return TrainConfig(**(values | changes))


# -- run folders -----------------------------------------------------------------------------

def test_a_run_folder_holds_config_metrics_checkpoint_and_evaluation(tmp_path):
    run_dir = tmp_path / "run"
    summary = train(small_config(run_dir, tensorboard=True), A2CConfig(), progress=False,
                    evaluate=final_evaluation)
    assert summary["completed"] and not summary["interrupted"] and summary["frames"] == 4_000
    assert set(summary["evaluation"]) == {"sample", "greedy"} and "success_rate" in summary["evaluation"]["sample"]
    config = json.loads((run_dir / "config.json").read_text())
    assert config["train"]["env"] == "sokoban-6x6-1" and config["a2c"]["lr"] == 7e-4
    assert config["env"]["obs_shape"] == [7, 6, 6] and config["agent"]["parameters"] > 0
    assert config["env"]["success"] == "solved" and config["env"]["train_levels"] == 50
    records = read_metrics(run_dir)
    assert [r["frames"] for r in records] == [800, 1600, 2400, 3200, 4000]
    for key in ("episode_return", "success_rate", "episode_length", "loss", "policy_loss", "value_loss",
                "entropy", "frames_per_second", "lr", "grad_norm"):
        assert key in records[-1], key
    assert "solve_rate" not in records[-1]
    assert (run_dir / "metrics.csv").is_file() and any((run_dir / "tensorboard").iterdir())
    assert load_checkpoint(run_dir / "checkpoint.pt", RUN_KIND)["trainer"]["frames"] == 4_000
    evaluation = json.loads((run_dir / "evaluation.json").read_text())
    assert set(evaluation) == {"sokoban-6x6-1:test|sample|20", "sokoban-6x6-1:test|greedy|20"}
    assert evaluation["sokoban-6x6-1:test|sample|20"]["episodes"] == 20
    assert json.loads((run_dir / "summary.json").read_text())["frames"] == 4_000
    run = load_run(run_dir)
    assert run.frames == 4_000 and run.config.seed == 1 and run.spec.id == "sokoban-6x6-1"

    with pytest.raises(ReverieError, match="holds a run already"):
        train(small_config(run_dir), progress=False)


def test_summary_has_no_nan_and_runs_evaluate_only_with_a_hook(tmp_path):
    # one update of one env: no episode ends, so there is no training success rate to report
    summary = train(small_config(tmp_path / "run", num_envs=1, frames=5, log_every=5), progress=False)
    text = (tmp_path / "run" / "summary.json").read_text()
    assert "NaN" not in text and json.loads(text)["final_train_success_rate"] is None
    assert "evaluation" not in summary and not (tmp_path / "run" / "evaluation.json").exists()
    assert "no training episode ended" in describe(summary)


def test_env_options_reach_the_world(tmp_path):
    config = small_config(tmp_path / "run", env_options="max_steps=7", frames=160, log_every=160, eval_episodes=0)
    assert config.env_kwargs() == {"train_levels": 50, "max_steps": 7}
    train(config, progress=False)
    assert json.loads((tmp_path / "run" / "config.json").read_text())["env"]["max_steps"] == 7
    assert load_run(tmp_path / "run").spec.max_steps == 7
    with pytest.raises(ReverieError, match="--env-options wants key=value"):
        TrainConfig(env_options="max_steps")


def test_resume_errors(tmp_path):
    with pytest.raises(ReverieError, match="no such run folder"):
        resume(tmp_path / "missing", progress=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ReverieError, match="no checkpoint.pt"):
        resume(tmp_path / "empty", progress=False)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "checkpoint.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ReverieError, match="not a readable reverie checkpoint"):
        resume(tmp_path / "bad", progress=False)


def test_config_checks():
    with pytest.raises(ReverieError, match="--frames must be a positive integer"):
        TrainConfig(frames=-5)
    with pytest.raises(ReverieError, match="--agent-options wants key=value"):
        TrainConfig(agent_options="hidden")
    with pytest.raises(ReverieError, match="--optimizer"):
        A2CConfig(optimizer="sgd")


# -- exact resume in real processes ------------------------------------------------------------

TOTAL = 16 * 5 * 200  # 200 updates of 16 envs x 5 steps


def command(run_dir: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "reverie", "train", "--env", "sokoban-6x6-1", "--train-levels", "50",
            "--num-envs", "16", "--frames", str(TOTAL), "--seed", "7", "--run-dir", str(run_dir),
            "--checkpoint-every", "1600", "--log-every", "1200", "--eval-episodes", "0",
            "--no-tensorboard", "--quiet", *extra]


def process_env(level_cache: Path) -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(SRC), REVERIE_CACHE=str(level_cache))


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory, level_cache) -> Path:
    """The uninterrupted run every interrupted one must reproduce (the same command, in this
    process: saves a Python start-up; both use one torch thread)."""
    from reverie.cli.main import main

    run_dir = tmp_path_factory.mktemp("reference") / "run"
    threads = torch.get_num_threads()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("REVERIE_CACHE", str(level_cache))
        assert main(command(run_dir)[3:]) == 0
    torch.set_num_threads(threads)
    return run_dir


def start_and_stop_after_checkpoint(run_dir: Path, level_cache: Path, sig: int) -> subprocess.Popen:
    process = subprocess.Popen(command(run_dir), env=process_env(level_cache), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    checkpoint = run_dir / "checkpoint.pt"
    deadline = time.monotonic() + 240
    while not checkpoint.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.005)
    os.kill(process.pid, sig)
    process.communicate(timeout=120)
    return process


def final_state(run_dir: Path) -> dict:
    return load_checkpoint(run_dir / "checkpoint.pt", RUN_KIND)["trainer"]


def assert_same_run(run_dir: Path, reference: Path) -> None:
    ours, theirs = final_state(run_dir), final_state(reference)
    assert ours["frames"] == theirs["frames"] == TOTAL
    for name, tensor in theirs["policy"].items():
        assert torch.equal(ours["policy"][name], tensor), name
    for key, value in theirs["optimizer"]["state"].items():
        for name, tensor in value.items():
            assert torch.equal(torch.as_tensor(ours["optimizer"]["state"][key][name]), torch.as_tensor(tensor))
    timing = {"frames_per_second", "elapsed_seconds"}
    strip = lambda records: [{k: v for k, v in r.items() if k not in timing} for r in records]  # noqa: E731
    assert strip(read_metrics(run_dir)) == strip(read_metrics(reference))


def test_sigkill_after_a_checkpoint_then_resume_gives_the_same_weights(tmp_path, level_cache, reference_run):
    run_dir = tmp_path / "killed"
    process = start_and_stop_after_checkpoint(run_dir, level_cache, signal.SIGKILL)
    assert process.returncode == -signal.SIGKILL
    assert final_state(run_dir)["frames"] < TOTAL  # it really died mid-run
    assert lock_holder(run_dir)["pid"] == process.pid  # its lock file is left behind, stale: no obstacle
    done = subprocess.run([sys.executable, "-m", "reverie", "train", "--resume", str(run_dir), "--quiet"],
                          env=process_env(level_cache), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert_same_run(run_dir, reference_run)


def test_ctrl_c_stops_cleanly_with_a_checkpoint_and_resumes_exactly(tmp_path, level_cache, reference_run):
    run_dir = tmp_path / "interrupted"
    process = start_and_stop_after_checkpoint(run_dir, level_cache, signal.SIGINT)
    assert process.returncode == 130
    stopped_at = final_state(run_dir)["frames"]
    assert 0 < stopped_at < TOTAL
    assert stopped_at % (16 * 5) == 0
    summary = resume(run_dir, progress=False)
    assert summary["completed"] and summary["frames"] == TOTAL
    assert_same_run(run_dir, reference_run)


def test_resume_refuses_other_flags(tmp_path, capsys):
    from reverie.cli.main import main

    assert main(["train", "--resume", str(tmp_path), "--frames", "10"]) == 2
    assert "drop --frames" in capsys.readouterr().err


# -- env ids ------------------------------------------------------------------------------------

def test_unknown_env_id_lists_the_known_ones():
    with pytest.raises(ReverieError) as err:
        presets.get_preset("sokoban-9x9-9")
    for known in ("sokoban-6x6-1", "sokoban-7x7-2", "sokoban-10x10-4", "boxoban-unfiltered",
                  "boxoban-medium", "boxoban-hard"):
        assert known in str(err.value)


def test_held_out_levels_are_disjoint_from_training_levels():
    train_bank = presets.level_bank("sokoban-6x6-1", "train", train_levels=400)
    valid = presets.level_bank("sokoban-6x6-1", "valid", train_levels=400)
    test = presets.level_bank("sokoban-6x6-1", "test", train_levels=400)
    assert len(valid) == len(test) == 500 and train_bank.shape == (6, 6)
    train_keys = presets.level_keys(train_bank)
    assert presets.overlap(valid, train_keys) == 0 and presets.overlap(test, train_keys) == 0
    assert presets.overlap(test, presets.level_keys(valid)) == 0
    assert len(presets.level_keys(test)) == len(test)  # no repeats within a split either
    assert int(np.unique(test.num_boxes)[0]) == 1
    # cached banks are the same levels
    assert np.array_equal(presets.level_bank("sokoban-6x6-1", "test", train_levels=400).codes, test.codes)


def test_boxoban_ids_read_the_named_folder():
    bank = presets.level_bank("boxoban-unfiltered", "test", levels_dir=FIXTURES)
    assert len(bank) == 20 and bank.shape == (10, 10)
    env = presets.make_env("boxoban-hard", 4, "test", seed=0, levels_dir=FIXTURES)
    assert env.max_steps == 120 and len(env.bank) == 20
    with pytest.raises(ReverieError, match="unfiltered/train: not found"):
        presets.level_bank("boxoban-unfiltered", "train", levels_dir=FIXTURES)
    with pytest.raises(ReverieError, match="has no 'train' split"):
        presets.level_bank("boxoban-hard", "train", levels_dir=FIXTURES)
    with pytest.raises(ReverieError, match="no such Boxoban levels folder"):
        presets.level_bank("boxoban-hard", "test", levels_dir=FIXTURES / "missing")


def test_boxoban_without_a_folder_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.delenv("REVERIE_BOXOBAN", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "absent"))
    with pytest.raises(ReverieError, match="--levels-dir FOLDER, set REVERIE_BOXOBAN"):
        presets.level_bank("boxoban-hard", "test")
    monkeypatch.setenv("REVERIE_BOXOBAN", str(tmp_path / "nowhere"))
    with pytest.raises(ReverieError, match="nowhere: no such Boxoban levels folder .from REVERIE_BOXOBAN"):
        presets.level_bank("boxoban-hard", "test")
    monkeypatch.setenv("REVERIE_BOXOBAN", str(FIXTURES))
    assert len(presets.level_bank("boxoban-hard", "test")) == 20


def test_resolve_levels_by_id_split_or_path():
    bank, name = presets.resolve_levels("boxoban-hard", FIXTURES)
    assert name == "boxoban-hard:test" and len(bank) == 20
    bank, name = presets.resolve_levels(str(FIXTURES / "hard" / "000.txt"))
    assert len(bank) == 20 and name.endswith("000.txt")
    with pytest.raises(ReverieError, match="neither an env id"):
        presets.resolve_levels("no-such-thing")
