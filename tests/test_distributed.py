"""Data-parallel training over gloo processes: equal to one process, failures, exact resume."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from distributed_worker import build, flat
from reverie.agents.actor_critic import sample_actions
from reverie.envs.sokoban.presets import level_bank
from reverie.training.actor_critic import A2C, A2CConfig
from reverie.core.checkpoint import load_checkpoint
from reverie.training.distributed import rank_seed
from reverie.core.metrics import read_metrics
from reverie.training.runs import RUN_KIND, load_run

TESTS = Path(__file__).resolve().parent
SRC = TESTS.parent / "src"
pytestmark = pytest.mark.usefixtures("isolated_runs")

CASES = [
    # clipping is active (max_grad_norm 0.5), truncations happen (7-step cap)
    dict(name="standard", agent="standard", options={}, num_envs=3, updates=4, max_steps=7,
         a2c=dict(n_steps=5, lr_schedule="linear")),
    # I2A: distillation trains the rollout policy outside forward(); advantages normalised
    # over the global batch; greedy imagination, so no per-rank imagination sampler is involved
    dict(name="i2a", agent="i2a-perfect", num_envs=2, updates=3, max_steps=7,
         options=dict(rollout_length=2, rollout_actions="greedy", hidden=32, encoder_hidden=8, rollout_channels=4),
         a2c=dict(n_steps=4, normalize_advantages=True, optimizer="adam", gae_lambda=0.95)),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def child_env(level_cache: Path, **extra: str) -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(SRC), REVERIE_CACHE=str(level_cache), OMP_NUM_THREADS="1", **extra)


def test_rank_seeds_keep_rank_zero_on_the_run_seed_and_the_others_apart():
    assert rank_seed(7, 0) == 7  # one rank is exactly the single-process run
    seeds = {rank_seed(seed, rank, salt) for seed in range(20) for rank in range(1, 9) for salt in range(3)}
    assert len(seeds) == 20 * 8 * 3 and not seeds & set(range(20))
    assert all(0 <= s < 2**63 for s in seeds)


# -- one process holding every rank's envs -------------------------------------------------------

class ConcatEnv:
    """The ranks' envs side by side as one batch (each shard keeps its own seed)."""

    def __init__(self, shards, seeds) -> None:
        self.shards, self.seeds = shards, seeds
        self.num_envs = sum(s.num_envs for s in shards)

    def reset(self, seed=None):
        return torch.cat([s.reset(seed=k)[0] for s, k in zip(self.shards, self.seeds)]), {}

    def step(self, actions):
        parts, offset = [], 0
        for shard in self.shards:
            parts.append(shard.step(actions[offset:offset + shard.num_envs]) + (offset,))
            offset += shard.num_envs
        info = {"final_index": torch.cat([p[4]["final_index"] + p[5] for p in parts]),
                "final_obs": torch.cat([p[4]["final_obs"] for p in parts])}
        for key in ("episode_return", "episode_length"):
            info[key] = torch.cat([p[4][key] for p in parts])
        return (*(torch.cat([p[i] for p in parts]) for i in range(4)), info)


class ShardedA2C(A2C):
    """A2C drawing each shard's actions with that rank's own generator."""

    def __init__(self, policy, env: ConcatEnv, config, total_frames) -> None:
        super().__init__(policy, env, config, total_frames)
        self.generators = [torch.Generator().manual_seed(s) for s in env.seeds]
        self.sizes = [s.num_envs for s in env.shards]

    def sample(self, logits):
        return torch.cat([sample_actions(chunk, g) for chunk, g in zip(logits.split(self.sizes), self.generators)])


def single_process(case: dict, world: int) -> dict:
    seeds = [rank_seed(0, r) for r in range(world)]
    shards = [build(case, s, case["num_envs"])[0] for s in seeds]
    policy = build(case, seeds[0], case["num_envs"])[1]
    trainer = ShardedA2C(policy, ConcatEnv(shards, seeds), A2CConfig(**case["a2c"]), total_frames=10_000)
    weights, frames = [], []
    for _ in range(case["updates"]):
        trainer.train_step()
        weights.append(flat(policy))
        frames.append(trainer.frames)
    return {"weights": weights, "frames": frames}


# -- whole runs -----------------------------------------------------------------------------------
#
# Process start-ups dominate here (torch's import and its optimizer's first use cost seconds on a
# busy machine), so the runs share them: torchrun starts a run and rank 1 is killed; then one
# pair of ranks trains the CASES above, resumes the killed run and makes the uninterrupted
# reference run (see distributed_worker.py).

FRAMES = 2 * 4 * 5 * 30  # 30 updates of 2 ranks x 4 envs x 5 steps
RUN = dict(env="sokoban-6x6-1", train_levels=50, num_envs=4, frames=FRAMES, seed=3, log_every=200,
           checkpoint_every=400, eval_episodes=0, tensorboard=False)


def run_args(run_dir: Path) -> list[str]:
    """RUN as ``reverie train`` flags."""
    flags = [f"--{key.replace('_', '-')}={value}" for key, value in RUN.items() if key != "tensorboard"]
    return [*flags, "--no-tensorboard", f"--run-dir={run_dir}"]


def rank_pid(launcher: int, rank: int) -> int | None:
    """The pid of the worker torchrun started as ``rank`` (its env says so; its parent's does not)."""
    parents, ranks = {}, {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            variables = (entry / "environ").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue
        if f"RANK={rank}".encode() in variables:
            ranks[int(entry.name)] = True

    def under_launcher(pid: int) -> bool:
        while pid > 1:
            pid = parents.get(pid, 0)
            if pid == launcher:
                return True
        return False

    found = [pid for pid in ranks if under_launcher(pid) and parents.get(pid) not in ranks]
    return found[0] if found else None


def final(run_dir: Path) -> dict:
    return load_checkpoint(run_dir / "checkpoint.pt", RUN_KIND)


@pytest.fixture(scope="module")
def killed(tmp_path_factory, level_cache) -> dict:
    """A 2-rank torchrun job whose rank 1 is SIGKILLed right after the first checkpoint."""
    torch.set_num_threads(1)
    level_bank("sokoban-6x6-1", "train", train_levels=50)  # cached before any rank reads it
    folder = tmp_path_factory.mktemp("killed")
    run_dir = folder / "run"
    process = subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node",
                                "2", "--monitor-interval", "0.1", "-m", "reverie", "train", "--quiet",
                                *run_args(run_dir)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env(level_cache),
                               start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not (run_dir / "checkpoint.pt").exists():
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "no checkpoint appeared"
            time.sleep(0.005)
        victim = rank_pid(process.pid, 1)
        assert victim is not None
        os.kill(victim, signal.SIGKILL)
        killed_at = time.monotonic()
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:  # a failed test leaves no job behind
            os.killpg(process.pid, signal.SIGKILL)
    stopped = {"run_dir": run_dir, "returncode": process.returncode, "stderr": err,
               "seconds": time.monotonic() - killed_at, "state": final(run_dir)}
    shutil.copytree(run_dir, folder / "copy")  # for the resume with one rank
    stopped["copy"] = folder / "copy"
    return stopped


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory, level_cache, killed) -> dict:
    """Two gloo ranks, started once (see distributed_worker.py)."""
    folder = tmp_path_factory.mktemp("two-ranks")
    run = RUN | {"run_dir": str(folder / "reference")}
    port = str(free_port())
    ranks = [subprocess.Popen([sys.executable, str(TESTS / "distributed_worker.py"), str(folder / f"rank{r}.pt"),
                               json.dumps(CASES), json.dumps(run), str(killed["run_dir"])],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=child_env(level_cache, RANK=str(r), LOCAL_RANK=str(r), WORLD_SIZE="2",
                                            MASTER_ADDR="127.0.0.1", MASTER_PORT=port))
             for r in range(2)]
    try:
        singles = {case["name"]: single_process(case, 2) for case in CASES}  # meanwhile, in this process
        for process in ranks:
            _, err = process.communicate(timeout=180)
            assert process.returncode == 0, err
    finally:
        for process in ranks:
            if process.poll() is None:
                process.kill()
    return {"ranks": [torch.load(folder / f"rank{r}.pt") for r in range(2)], "single": singles,
            "reference": Path(run["run_dir"])}


def test_two_gloo_ranks_hold_the_same_weights_as_one_process_with_the_global_batch(two_ranks):
    for case in CASES:
        name, single = case["name"], two_ranks["single"][case["name"]]
        zero, one = (results[name] for results in two_ranks["ranks"])
        assert not torch.equal(zero["levels"], one["levels"])  # each rank draws its own levels
        assert zero["frames"] == one["frames"] == single["frames"]
        assert single["frames"][0] == 2 * case["num_envs"] * case["a2c"]["n_steps"]
        previous = None
        for step, (a, b, ref) in enumerate(zip(zero["weights"], one["weights"], single["weights"])):
            assert torch.equal(a, b), f"{name}: ranks differ after update {step + 1}"
            assert torch.allclose(a, ref, rtol=1e-4, atol=1e-6), \
                f"{name}: update {step + 1} differs from one process by {(a - ref).abs().max():.2e}"
            assert previous is None or not torch.equal(a, previous)  # it really trained
            previous = a


def test_a_killed_rank_stops_the_job_with_a_clear_message_and_a_usable_checkpoint(killed):
    err = killed["stderr"]
    assert killed["returncode"] != 0
    assert killed["seconds"] < 30, killed["seconds"]
    assert "Signal 9 (SIGKILL)" in err or "exitcode  : -9" in err, err  # torchrun names the failed rank
    assert "rank 0 of 2" in err and "another rank died" in err and "checkpoint" in err, err
    state = killed["state"]
    assert 0 < state["trainer"]["frames"] < FRAMES and len(state["ranks"]) == 2
    assert load_run(killed["copy"]).frames == state["trainer"]["frames"]


def test_resuming_the_killed_run_with_two_ranks_is_exact(killed, two_ranks):
    ours, theirs = final(killed["run_dir"]), final(two_ranks["reference"])
    assert ours["trainer"]["frames"] == theirs["trainer"]["frames"] == FRAMES
    for name, tensor in theirs["trainer"]["policy"].items():
        assert torch.equal(ours["trainer"]["policy"][name], tensor), name
    timing = {"frames_per_second", "elapsed_seconds"}
    strip = lambda records: [{k: v for k, v in r.items() if k not in timing} for r in records]  # noqa: E731
    assert strip(read_metrics(killed["run_dir"])) == strip(read_metrics(two_ranks["reference"]))
    config = json.loads((two_ranks["reference"] / "config.json").read_text())
    assert config["distributed"] == {"world_size": 2, "backend": "gloo", "num_envs_per_rank": 4, "global_num_envs": 8}
    assert config["frames_per_update"] == 40


def test_a_checkpoint_of_two_ranks_resumes_with_one(killed, monkeypatch):
    """Another rank count: weights, optimizer and counters carry over, rank 0's stream goes on
    alone (here as a world of one, in this process; plain ``reverie train --resume`` works alike)."""
    from reverie.training import distributed_runs

    run_dir, stopped = killed["copy"], killed["state"]
    for key, value in dict(RANK="0", WORLD_SIZE="1", LOCAL_RANK="0", MASTER_ADDR="127.0.0.1",
                           MASTER_PORT=str(free_port())).items():
        monkeypatch.setenv(key, value)
    summary = distributed_runs.resume(run_dir, progress=False)
    assert summary["completed"] and summary["frames"] == FRAMES
    assert summary["distributed"]["world_size"] == 1
    state = final(run_dir)
    assert len(state["ranks"]) == 1 and state["trainer"]["updates"] > stopped["trainer"]["updates"]
    frames = [r["frames"] for r in read_metrics(run_dir)]
    assert frames == sorted(frames) and frames[-1] == FRAMES
    # after the stop the global batch is rank 0's 4 envs: 20 frames an update
    updates = state["trainer"]["updates"] - stopped["trainer"]["updates"]
    assert FRAMES - stopped["trainer"]["frames"] == 20 * updates
