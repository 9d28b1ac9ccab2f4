"""Reliability of run folders: locking, evaluation rows, cut metrics lines, stale temp files,
failed writes (full disk, read-only folder), refused checkpoints and honest DDP messages.

See docs/reliability.md for the promises these tests hold reverie to.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from reverie.cli.main import main
from reverie.core import atomic
from reverie.core.atomic import write_json
from reverie.core.checkpoint import load_checkpoint, save_checkpoint
from reverie.core.errors import ReverieError
from reverie.core.lock import LOCK_NAME, lock_holder, locked_run_folder
from reverie.core.metrics import MetricsLogger, read_metrics
from reverie.evaluation.evaluate import evaluate_run, find_evaluation, final_evaluation, read_evaluations
from reverie.training import distributed as dd
from reverie.training import distributed_runs
from reverie.training.actor_critic import A2CConfig
from reverie.training.runs import RUN_KIND, TrainConfig, resume, train

SRC = Path(__file__).resolve().parents[1] / "src"
pytestmark = pytest.mark.usefixtures("isolated_runs")


def tiny_config(run_dir: Path, **changes) -> TrainConfig:
    values = dict(env="sokoban-6x6-1", train_levels=50, num_envs=8, frames=160, seed=1, run_dir=run_dir,
                  log_every=80, checkpoint_every=80, eval_episodes=10, tensorboard=False)
    return TrainConfig(**(values | changes))


@pytest.fixture(scope="module")
def finished(tmp_path_factory, level_cache) -> Path:
    """A finished tiny run with its evaluation (copy it before changing it)."""
    run_dir = tmp_path_factory.mktemp("finished") / "run"
    threads = torch.get_num_threads()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("REVERIE_CACHE", str(level_cache))
        train(tiny_config(run_dir), A2CConfig(), progress=False, evaluate=final_evaluation)
    torch.set_num_threads(threads)
    return run_dir


@pytest.fixture
def run_copy(finished, tmp_path) -> Path:
    return Path(shutil.copytree(finished, tmp_path / "run"))


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def child_env(level_cache: Path) -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(SRC), REVERIE_CACHE=str(level_cache))


def one_line_error(code: int, err: str) -> str:
    err = err.strip()
    assert code == 2, err
    assert err.startswith("reverie: error: ") and "\n" not in err and "Traceback" not in err, err
    return err


# -- 1. one writer per run folder ----------------------------------------------------------------

HOLDER = """
import sys, time
from reverie.core.lock import locked_run_folder
with locked_run_folder(sys.argv[1]):
    print("locked", flush=True)
    time.sleep(600)
"""


def test_a_second_train_on_a_locked_folder_is_refused_and_a_killed_holder_does_not_block_resume(
        run_copy, tmp_path, level_cache, capsys):
    fresh = tmp_path / "fresh"
    holders = [subprocess.Popen([sys.executable, "-c", HOLDER, str(folder)], env=child_env(level_cache),
                                stdout=subprocess.PIPE, text=True) for folder in (fresh, run_copy)]
    try:
        for holder in holders:
            assert holder.stdout.readline().strip() == "locked"
        before = snapshot(run_copy)
        # a second `reverie train` on the fresh folder, through the real entry point
        done = subprocess.run([sys.executable, "-m", "reverie", "train", "--env", "sokoban-6x6-1", "--frames", "160",
                               "--run-dir", str(fresh), "--quiet"], env=child_env(level_cache),
                              capture_output=True, text=True, timeout=300)
        err = one_line_error(done.returncode, done.stderr)
        assert f"pid {holders[0].pid} on host {socket.gethostname()}" in err and "another reverie process" in err
        assert [p.name for p in fresh.iterdir()] == [LOCK_NAME]  # the holder's, nothing of the refused run
        # --resume while the folder is held
        err = one_line_error(main(["train", "--resume", str(run_copy), "--quiet"]), capsys.readouterr().err)
        assert f"pid {holders[1].pid}" in err
        assert snapshot(run_copy) == before
        # SIGKILL: the kernel drops the lock, the file stays behind and does not block the resume
        holders[1].send_signal(signal.SIGKILL)
        holders[1].wait(timeout=60)
        assert lock_holder(run_copy)["pid"] == holders[1].pid
        assert main(["train", "--resume", str(run_copy), "--quiet"]) == 0
    finally:
        for holder in holders:
            holder.kill()
            holder.wait(timeout=60)
    # 3. resuming a finished run: no NaN in summary.json, no "nan%" on the console
    out = capsys.readouterr().out
    assert "nan" not in out.lower() and "160 frames" in out, out
    summary = (run_copy / "summary.json").read_text()
    assert "NaN" not in summary and json.loads(summary)["completed"]
    assert not (run_copy / LOCK_NAME).exists()  # released at exit


def test_train_never_overwrites_a_run_started_a_moment_earlier(tmp_path):
    run_dir = tmp_path / "run"
    with locked_run_folder(run_dir):  # the first run, still starting: nothing written yet
        with pytest.raises(ReverieError, match=f"pid {os.getpid()} on host"):
            train(tiny_config(run_dir, agent="large"), progress=False)
        with pytest.raises(ReverieError, match="another reverie process"):
            resume(run_dir, progress=False)
    assert not run_dir.exists()  # the lock leaves nothing behind in a folder it created


def test_the_lock_is_released_when_training_fails(tmp_path):
    with pytest.raises(ReverieError, match="unknown agent"):
        train(tiny_config(tmp_path / "run", agent="no-such-agent"), progress=False)
    assert not (tmp_path / "run").exists()  # nothing half-written
    with locked_run_folder(tmp_path / "run"):  # and free again
        pass


# -- 2. evaluations with other episode counts add rows ----------------------------------------

def test_evaluating_with_fewer_episodes_adds_a_row_and_keeps_the_runs_own(run_copy, capsys):
    assert set(read_evaluations(run_copy)) == {"sokoban-6x6-1:test|sample|10", "sokoban-6x6-1:test|greedy|10"}
    assert main(["evaluate", str(run_copy), "--episodes", "4"]) == 0
    evaluate_run(run_copy, episodes=4, seed=3)
    rows = read_evaluations(run_copy)
    assert set(rows) == {"sokoban-6x6-1:test|sample|10", "sokoban-6x6-1:test|greedy|10",
                         "sokoban-6x6-1:test|sample|4", "sokoban-6x6-1:test|sample|4|seed 3"}
    assert rows["sokoban-6x6-1:test|sample|10"]["episodes"] == 10
    assert find_evaluation(rows, "sokoban-6x6-1:test", "sample")["episodes"] == 10  # the largest by default
    assert find_evaluation(rows, "sokoban-6x6-1:test", "sample", episodes=4)["seed"] == 0
    assert find_evaluation(rows, "sokoban-6x6-1:test", "greedy", episodes=4) is None


def test_old_evaluation_files_are_read_under_the_new_keys(tmp_path):
    (tmp_path / "evaluation.json").write_text(json.dumps({
        "x:test|sample": {"levels": "x:test", "mode": "sample", "episodes": 1000, "solve_rate": 0.5, "seed": 0},
        "x:test|greedy": {"levels": "x:test", "mode": "greedy", "episodes": 1000, "success_rate": 0.6}}))
    rows = read_evaluations(tmp_path)
    assert set(rows) == {"x:test|sample|1000", "x:test|greedy|1000"}
    assert rows["x:test|sample|1000"]["success_rate"] == 0.5


# -- 4. cut metrics lines and stale temp files ---------------------------------------------------

def test_a_cut_last_metrics_line_is_dropped_with_a_warning_and_resume_goes_on(run_copy, capsys):
    jsonl = run_copy / "metrics.jsonl"
    records = read_metrics(jsonl)
    with jsonl.open("a") as f:
        f.write('{"step": 240, "frames": 240, "episode_ret')  # a crash mid-write
    stale = [run_copy / ".checkpoint.pt.k3j9x_2a.tmp", run_copy / ".summary.json.abc123.tmp"]
    for path in stale:
        path.write_bytes(b"half a file")
    resume(run_copy, progress=False)
    err = capsys.readouterr().err
    assert f"{jsonl}: dropped its last line, cut short" in err
    assert read_metrics(jsonl) == records and jsonl.read_text().endswith("\n")
    assert not any(path.exists() for path in stale)  # a killed write's temp files are cleaned up


def test_a_bad_metrics_line_elsewhere_names_the_file_and_line(tmp_path):
    jsonl = tmp_path / "metrics.jsonl"
    jsonl.write_text('{"step": 1}\n{"step": 2, oops}\n{"step": 3}\n')
    with pytest.raises(ReverieError, match=r"metrics.jsonl, line 2: not a JSON record"):
        read_metrics(tmp_path)
    with pytest.raises(ReverieError, match=r"metrics.jsonl, line 2"):
        MetricsLogger(tmp_path, tensorboard=False, resume_step=3)


# -- 5. the DDP failure message tells the truth -------------------------------------------------

@pytest.mark.parametrize("has_checkpoint", [False, True])
def test_a_rank_failure_says_whether_a_checkpoint_exists(has_checkpoint, tmp_path, monkeypatch):
    def failing_run(world, config, a2c, state, progress, evaluate, written):
        raise dd.RankFailure("rank 0 of 2: averaging gradients failed: another rank died")

    monkeypatch.setattr(distributed_runs, "_run", failing_run)
    world = dd.World(0, 2, 0, "gloo", torch.device("cpu"))
    state = {"elapsed": 0.0} if has_checkpoint else None
    with pytest.raises(dd.RankFailure) as failure:
        distributed_runs._guarded(world, tiny_config(tmp_path / "run"), A2CConfig(), state, False, None)
    message = str(failure.value)
    assert "\n" not in message and "another rank died; the job stops." in message
    if has_checkpoint:
        assert "The last checkpoint in" in message and "--resume" in message
    else:
        assert "No checkpoint was written" in message and "intact" not in message and "--resume" not in message


# -- 6. a full disk or a read-only folder: one line, the previous file intact -------------------

def test_a_full_disk_is_one_line_and_keeps_the_previous_file(tmp_path, monkeypatch):
    path = write_json(tmp_path / "a.json", {"v": 1})

    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(atomic.os, "replace", no_space)
    with pytest.raises(ReverieError, match=r"^cannot write .*a.json: No space left on device$"):
        write_json(path, {"v": 2})
    monkeypatch.undo()
    assert json.loads(path.read_text()) == {"v": 1} and [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_a_read_only_metrics_file_is_one_line(tmp_path, monkeypatch):
    log = MetricsLogger(tmp_path, tensorboard=False)

    class ReadOnly:
        def write(self, text):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS))

        def close(self):
            pass

    log._file = ReadOnly()
    with pytest.raises(ReverieError, match=r"cannot write .*metrics.jsonl: Read-only file system"):
        log.log(1, {"loss": 0.5})


def test_train_on_a_full_disk_exits_2_in_one_line_with_the_previous_checkpoint_intact(tmp_path, monkeypatch, capsys):
    run_dir = tmp_path / "run"
    real_save, saves = torch.save, []

    class FullDisk:  # a file whose disk fills after 100 bytes (torch then raises a RuntimeError)
        def __init__(self, f):
            self.f, self.written = f, 0

        def write(self, data):
            if self.written > 100:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            self.written += len(data)
            return self.f.write(data)

        def flush(self):
            self.f.flush()

    def save_until_the_disk_is_full(obj, f):
        saves.append(1)
        real_save(obj, f if len(saves) == 1 else FullDisk(f))

    monkeypatch.setattr(torch, "save", save_until_the_disk_is_full)
    code = main(["train", "--env", "sokoban-6x6-1", "--train-levels", "50", "--num-envs", "8", "--frames", "160",
                 "--log-every", "80", "--checkpoint-every", "80", "--eval-episodes", "0", "--no-tensorboard",
                 "--quiet", "--run-dir", str(run_dir)])
    err = one_line_error(code, capsys.readouterr().err)
    assert err.endswith(f"cannot write {run_dir / 'checkpoint.pt'}: No space left on device; "
                        f"the previous checkpoint is intact")
    monkeypatch.undo()
    assert load_checkpoint(run_dir / "checkpoint.pt", RUN_KIND)["trainer"]["frames"] == 80
    assert not list(run_dir.glob(".*.tmp")) and not (run_dir / LOCK_NAME).exists()


def test_a_read_only_run_folder_is_one_line(tmp_path, monkeypatch, capsys):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    real_open = os.open

    def read_only(path, flags, *args, **kwargs):
        if str(path).startswith(str(run_dir)) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", read_only)
    err = one_line_error(main(["train", "--frames", "160", "--run-dir", str(run_dir), "--quiet"]),
                         capsys.readouterr().err)
    assert err == f"reverie: error: cannot write {run_dir / LOCK_NAME}: Read-only file system"


# -- 9. checkpoints that do not fit: one line, exit 2, nothing written ---------------------------

def edit_checkpoint(run_dir: Path, change) -> None:
    state = load_checkpoint(run_dir / "checkpoint.pt", RUN_KIND)
    change(state)
    save_checkpoint(run_dir / "checkpoint.pt", state, RUN_KIND)


def wrong_shape(state):
    name, tensor = next(iter(state["trainer"]["policy"].items()))
    state["trainer"]["policy"][name] = torch.zeros(*(n + 1 for n in tensor.shape))


BROKEN = {
    "weights that do not fit the config": (wrong_shape, "does not fit agent 'standard' with the run's config (size mismatch for"),
    "no optimizer state": (lambda s: s["trainer"].pop("optimizer"), "incomplete checkpoint (no 'optimizer' in its trainer state)"),
    "an unknown config key": (lambda s: s["config"]["train"].update(future_option=3),
                              "its train config has settings unknown to reverie"),
}


@pytest.mark.parametrize("case", BROKEN)
def test_checkpoints_that_do_not_fit_are_refused_in_one_line_with_nothing_written(case, run_copy, capsys):
    change, message = BROKEN[case]
    edit_checkpoint(run_copy, change)
    before = snapshot(run_copy)
    err = one_line_error(main(["train", "--resume", str(run_copy), "--quiet"]), capsys.readouterr().err)
    assert f"{run_copy / 'checkpoint.pt'}: {message}" in err
    assert snapshot(run_copy) == before
    if case != "no optimizer state":  # evaluation needs only the weights and the config
        assert one_line_error(main(["evaluate", str(run_copy), "--episodes", "2"]), capsys.readouterr().err) == err
        assert snapshot(run_copy) == before


def test_an_unknown_config_key_through_the_real_entry_point(run_copy, level_cache):
    edit_checkpoint(run_copy, lambda s: s["config"]["a2c"].update(future_option=3))
    before = snapshot(run_copy)
    done = subprocess.run([sys.executable, "-m", "reverie", "train", "--resume", str(run_copy), "--quiet"],
                          env=child_env(level_cache), capture_output=True, text=True, timeout=300)
    err = one_line_error(done.returncode, done.stderr)
    assert "its a2c config has settings unknown to reverie" in err and "future_option" in err
    assert snapshot(run_copy) == before


# -- exact resume after SIGTERM (SIGKILL and SIGINT: tests/test_runs.py) ------------------------

def test_sigterm_stops_with_a_checkpoint_and_resumes_exactly(tmp_path, monkeypatch):
    from reverie.training import runs

    train(tiny_config(tmp_path / "reference", frames=480, eval_episodes=0), progress=False)
    real_save, calls = runs.save_checkpoint, []

    def save_then_sigterm(*args, **kwargs):
        real_save(*args, **kwargs)
        calls.append(1)
        if len(calls) == 1:  # `kill PID` right after the first checkpoint
            os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(runs, "save_checkpoint", save_then_sigterm)
    stopped = train(tiny_config(tmp_path / "run", frames=480, eval_episodes=0), progress=False)
    monkeypatch.undo()
    assert stopped["interrupted"] and 0 < stopped["frames"] < 480
    assert resume(tmp_path / "run", progress=False)["completed"]
    ours, theirs = (load_checkpoint(tmp_path / name / "checkpoint.pt", RUN_KIND)["trainer"]
                    for name in ("run", "reference"))
    assert ours["frames"] == theirs["frames"] == 480
    for name, tensor in theirs["policy"].items():
        assert torch.equal(ours["policy"][name], tensor), name
