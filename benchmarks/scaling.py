#!/usr/bin/env python3
"""Data-parallel scaling: training frames/s with 1 and N gloo processes (weak scaling).

    PYTHONPATH=src python benchmarks/scaling.py                  # 1 and 2 processes, ~3 min
    PYTHONPATH=src python benchmarks/scaling.py --quick          # a smoke run (~1 min)
    PYTHONPATH=src python benchmarks/scaling.py --ranks 1,2,4    # where the machine has the cores

Each process keeps ``--num-envs`` envs of ``sokoban-7x7-2`` (so N processes train on a global
batch of N x num-envs) and one torch thread, and runs the real data-parallel trainer
(:class:`~reverie.training.distributed.DistributedA2C`: rollout, update, one gradient
all-reduce and the per-update stop agreement of a run). One process is the plain
single-process :class:`A2C`, the baseline. Efficiency = throughput(N) / (N x throughput(1)).
For I2A the imagined transitions are counted where the environment model is called, so
*imagined steps/s* is measured, not derived.

Writes ``benchmarks/results/scaling.json`` and the table between the ``scaling`` markers of
``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from common import cpu_name, write_section

ROOT = Path(__file__).resolve().parents[1]
HEADING = "Data-parallel scaling"
ENV_ID = "sokoban-7x7-2"
AGENTS = {"standard": {}, "i2a": {}}


def count_imagination(policy) -> list[int]:
    """Wrap the I2A env model's ``step`` to count imagined transitions (rows); [0] otherwise."""
    counter = [0]
    core = getattr(policy, "core", None)
    if core is not None:
        model, step = core.env_model, core.env_model.step

        def counted(obs, action):
            counter[0] += obs.shape[0]
            return step(obs, action)

        model.step = counted
        shared = getattr(model, "step_every_action", None)
        if shared is not None:  # the forced first step (models.base.step_every_action): A rows per observation
            def counted_first(obs):
                out = shared(obs)
                counter[0] += out[1].shape[0]
                return out

            model.step_every_action = counted_first
    return counter


def time_collectives(trainer) -> list[float]:
    """Wrap the trainer's two per-update collectives to sum the seconds spent in them
    (waiting for the slowest rank included)."""
    waited = [0.0]
    for name in ("reduce_gradients", "any_rank"):
        def timed(*args, _method=getattr(trainer, name)):
            start = time.perf_counter()
            try:
                return _method(*args)
            finally:
                waited[0] += time.perf_counter() - start
        setattr(trainer, name, timed)
    return waited


def worker(agent: str, num_envs: int, seconds: float, warmup: int, out: str | None) -> None:
    """One process: time training for ``seconds`` after ``warmup`` updates; rank 0 writes the row."""
    from reverie.agents import build_agent
    from reverie.envs.registry import make_env
    from reverie.training import distributed as dd
    from reverie.training.actor_critic import A2C, A2CConfig

    torch.set_num_threads(1)
    world = dd.init_world() if dd.launched() else None
    rank = world.rank if world else 0
    seed = dd.rank_seed(0, rank)
    env = make_env(ENV_ID, "train", num_envs, seed=seed)
    torch.manual_seed(0)
    policy = build_agent(agent, env.spec, **AGENTS[agent])
    config = A2CConfig(lr_schedule="constant")
    trainer = (dd.DistributedA2C(policy, env, world, config, seed=seed) if world
               else A2C(policy, env, config, seed=seed))
    counter, waited = count_imagination(policy), time_collectives(trainer) if world else [0.0]
    for _ in range(warmup):
        trainer.train_step()
    if world:
        trainer.any_rank(False)  # start together
    frames0, imagined0, updates, waited[0] = trainer.frames, counter[0], 0, 0.0
    start, cpu_start = time.perf_counter(), time.process_time()
    while True:
        late = time.perf_counter() - start > seconds
        if trainer.any_rank(late) if world else late:
            break
        trainer.train_step()
        updates += 1
    elapsed = time.perf_counter() - start
    cpu = torch.tensor([time.process_time() - cpu_start], dtype=torch.float64)
    cpu = float(dd.all_sum(cpu, world, "summing CPU time") if world else cpu)  # CPU seconds of all ranks
    size = world.size if world else 1
    imagined = (counter[0] - imagined0) * size  # every rank imagines as much
    row = {"agent": agent, "processes": size, "num_envs_per_process": num_envs, "updates": updates,
           "frames": trainer.frames - frames0, "seconds": round(elapsed, 2),
           "frames_per_s": round((trainer.frames - frames0) / elapsed, 1),
           "imagined_steps_per_s": round(imagined / elapsed, 1) if counter[0] else None,
           "collective_share": round(waited[0] / elapsed, 3),
           "cpu_per_process": round(cpu / size / elapsed, 3),
           "frames_per_cpu_second": round((trainer.frames - frames0) / cpu, 1)}
    if rank == 0 and out:
        Path(out).write_text(json.dumps(row))
    if world:
        dd.shutdown(world)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def measure(agent: str, processes: int, num_envs: int, seconds: float, warmup: int) -> dict:
    """Start ``processes`` ranks of :func:`worker` (plain A2C for one) and return rank 0's row."""
    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "row.json")
        base = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT / "src"))
        port = str(free_port())
        procs = []
        for rank in range(processes):
            env = base if processes == 1 else dict(base, RANK=str(rank), LOCAL_RANK=str(rank),
                                                    WORLD_SIZE=str(processes), MASTER_ADDR="127.0.0.1",
                                                    MASTER_PORT=port)
            command = [sys.executable, __file__, "--worker", agent, "--num-envs", str(num_envs),
                       "--seconds", str(seconds), "--warmup", str(warmup), "--out", out]
            procs.append(subprocess.Popen(command, env=env))
        load_before = os.getloadavg()[0]
        codes = [p.wait(timeout=seconds * 4 + 300) for p in procs]
        if any(codes):
            raise SystemExit(f"{agent} x{processes}: a worker failed with exit codes {codes}")
        row = json.loads(Path(out).read_text())
    row["load_average"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    return row


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def markdown(result: dict) -> str:
    lines = [
        f"Measured {result['date']} on {result['machine']} (torch {result['torch']}) with `{result['command']}`, "
        f"{result['seconds']:.0f} s timed per configuration after {result['warmup']} warm-up updates. "
        f"**The machine was shared**: load average {result['load_average_start']} at the start (other jobs' "
        "training runs), so each process competed for the cores with them and the efficiency below says more "
        "about the free cores than about the code.",
        "",
        f"Weak scaling on `{ENV_ID}`: every process keeps {result['num_envs_per_process']} envs and one torch "
        "thread, so N processes train on a global batch N times larger; one process is the plain single-process "
        "trainer, N > 1 the gloo data-parallel one (one gradient all-reduce and one stop flag per update). "
        "*Efficiency* = frames/s(N) / (N x frames/s(1)). I2A's imagined steps are counted at the environment "
        "model: 5 rollouts x 5 steps for every observation the policy scores (the frames acted on and each "
        "rollout's bootstrap observations, ~30 per frame; the update reuses them through the rollout cache). "
        "*In collectives* is rank 0's share of the wall-clock inside the all-reduces, waiting for the other "
        "rank included: with lock-step updates, a rank that the scheduler sets aside stalls both. *CPU per "
        "process* is the CPU time each process got per wall-clock second (1.0 = a whole core), and *CPU "
        "efficiency* = frames per CPU-second(N) / frames per CPU-second(1): the work the data-parallel "
        "trainer adds, apart from how many cores the other jobs left free.",
        "",
        "| agent | processes | frames/s | imagined steps/s | efficiency | in collectives | CPU per process "
        "| CPU efficiency | load average (before, after) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in result["results"]:
        imagined = f"{row['imagined_steps_per_s']:,.0f}" if row["imagined_steps_per_s"] else "-"
        lines.append(f"| {row['agent']} | {row['processes']} | {row['frames_per_s']:,.0f} | {imagined} | "
                     f"{_num(row['efficiency'])} | {row['collective_share']:.0%} | {row['cpu_per_process']:.2f} | "
                     f"{_num(row['cpu_efficiency'])} | {row['load_average'][0]}, "
                     f"{row['load_average'][1]} |")
    lines += ["", "Two processes can at most double the throughput, and only when two cores are free for them. "
              "Where the processes together get no more CPU than one process did (CPU per process x N near "
              "1 core, as when other jobs hold the rest), throughput cannot grow; *CPU efficiency* then shows "
              "what data parallelism costs per frame: the gradient all-reduce over loopback TCP (every weight, "
              "each update), the stop flag, and the switching between lock-stepped processes on a shared core. "
              "Run it where cores (or GPUs, where NCCL carries the gradients) are idle for figures about the "
              "method rather than about this machine's other jobs."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short timings (5 s per configuration)")
    parser.add_argument("--seconds", type=float, default=None, help="seconds timed per configuration")
    parser.add_argument("--warmup", type=int, default=5, help="untimed updates first")
    parser.add_argument("--ranks", default="1,2", help="comma-separated process counts")
    parser.add_argument("--agents", default=",".join(AGENTS), help="comma-separated agents")
    parser.add_argument("--num-envs", type=int, default=32, help="envs per process")
    parser.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "scaling.json"))
    parser.add_argument("--no-docs", action="store_true", help="do not update docs/benchmarks.md")
    parser.add_argument("--worker", metavar="AGENT", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    seconds = args.seconds or (5.0 if args.quick else 20.0)
    if args.worker:
        worker(args.worker, args.num_envs, seconds, args.warmup, args.out)
        return
    from reverie.envs.registry import make_env

    make_env(ENV_ID, num_envs=1)  # generate (or load) the level bank before any process times anything
    load = os.getloadavg()[0]
    rows = []
    for agent in args.agents.split(","):
        base = cpu_base = None
        for processes in (int(n) for n in args.ranks.split(",")):
            row = measure(agent, processes, args.num_envs, seconds, args.warmup)
            if processes == 1:
                base, cpu_base = row["frames_per_s"], row["frames_per_cpu_second"]
            row["efficiency"] = round(row["frames_per_s"] / (processes * base), 3) if base else None
            row["cpu_efficiency"] = round(row["frames_per_cpu_second"] / cpu_base, 3) if cpu_base else None
            rows.append(row)
            print(f"{agent:10s} x{processes}: {row['frames_per_s']:9,.0f} frames/s, efficiency "
                  f"{row['efficiency']}, load {row['load_average']}", flush=True)
    command = "PYTHONPATH=src python benchmarks/scaling.py" + (" --quick" if args.quick else "")
    result = {
        "date": datetime.date.today().isoformat(),
        "machine": f"{os.cpu_count()} CPU cores ({cpu_name()}), no GPU", "torch": torch.__version__,
        "load_average_start": round(load, 2), "command": command, "env": ENV_ID, "threads_per_process": 1,
        "num_envs_per_process": args.num_envs, "seconds": seconds, "warmup": args.warmup, "results": rows,
    }
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    table = markdown(result)
    print(table)
    if not args.no_docs:
        write_section("scaling", table, HEADING)


if __name__ == "__main__":
    main()
