"""Did the stage-2 spine slow anything down? The same library calls timed in two source trees.

    git worktree add ../reverie-before f164e00       # the code before the spine (issue 14)
    python benchmarks/spine_regression.py --old ../reverie-before/src --reps 3

Each figure (env steps/s at batch 1,024 with and without ``copy_obs``, imagined transitions/s of
the shipped model, A2C frames/s of the standard agent, I2A's cost per frame relative to it) is
measured by a fresh process per tree, the two trees back to back and their order alternating
per repetition, one torch thread each. On a shared machine wall-clock swings with the other
jobs' load, so the figure compared is CPU time, as a ratio new/old per pair (median over
pairs). Writes ``benchmarks/results/spine_regression.json`` and its docs section.

Run as ``python spine_regression.py --measure FIGURE LEVELS`` it is the measuring process
itself, speaking to whichever reverie is first on ``PYTHONPATH`` (old API or new).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "spine_regression.json"
FIGURES = ("env", "env_nocopy", "imagined", "a2c", "i2a_cost")
ENV_ID = "sokoban-7x7-2"


# -- the measuring process (runs against either tree) -----------------------------------------

def _timed(fn, n: int) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(n):
        fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def _env_steps(levels: str, copy_obs: bool) -> dict:
    import torch
    from reverie.envs.sokoban import SokobanVecEnv, load_boxoban

    batch = 1024
    env = SokobanVecEnv(load_boxoban(levels), batch, observation="symbolic", seed=0, copy_obs=copy_obs)
    env.reset()
    actions = torch.randint(0, 5, (64, batch), generator=torch.Generator().manual_seed(0))
    step = iter(range(10**9))
    wall, cpu = _timed(lambda: env.step(actions[next(step) % 64]), 400)
    return {"per_s": 400 * batch / wall, "cpu_per_s": 400 * batch / cpu}


def _imagined(levels: str) -> dict:
    import torch
    from reverie.envs.sokoban import load_boxoban
    from reverie.models.io import pretrained

    model, bank = pretrained("sokoban-10x10"), load_boxoban(levels)
    g = torch.Generator().manual_seed(0)
    batch, actions, steps = 512, 5, 5
    codes = torch.from_numpy(bank.codes[torch.randint(len(bank), (batch,), generator=g).numpy()]).long()
    obs = torch.nn.functional.one_hot(codes, 7).permute(0, 3, 1, 2).float().repeat_interleave(actions, 0)
    later = torch.randint(0, actions, (steps, batch * actions), generator=g)

    @torch.no_grad()
    def rollout() -> None:
        state = model.step(obs, torch.arange(actions).repeat(batch))[0]
        for t in range(1, steps):
            state = model.step(state, later[t])[0]

    rollout()
    wall, cpu = _timed(rollout, 12)
    n = 12 * steps * batch * actions
    return {"per_s": n / wall, "cpu_per_s": n / cpu}


def _trainer(agent: str):
    import torch
    import reverie.envs.registry as registry
    from reverie.agents import build_agent
    from reverie.training.actor_critic import A2C, A2CConfig

    if hasattr(registry, "get_spec"):  # the spine's API
        env = registry.make_env(ENV_ID, "train", 64, seed=0)
        torch.manual_seed(0)
        policy = build_agent(agent, env.spec)
    else:
        from reverie.envs.presets import make_env
        env = make_env(ENV_ID, 64, seed=0)
        torch.manual_seed(0)
        policy = build_agent(agent, tuple(env.single_observation_space.shape), int(env.action_space.n))
    return A2C(policy, env, A2CConfig(), total_frames=10**9, seed=0)


def _train_rate(agent: str, warmup: int, updates: int) -> dict:
    trainer = _trainer(agent)
    for _ in range(warmup):
        trainer.train_step()
    wall, cpu = _timed(trainer.train_step, updates)
    frames = updates * trainer.frames_per_update
    return {"per_s": frames / wall, "cpu_per_s": frames / cpu}


def measure(figure: str, levels: str) -> dict:
    import torch

    torch.set_num_threads(1)
    if figure in ("env", "env_nocopy"):
        return _env_steps(levels, copy_obs=figure == "env")
    if figure == "imagined":
        return _imagined(levels)
    if figure == "a2c":
        return _train_rate("standard", 20, 150)
    standard, i2a = _train_rate("standard", 10, 60), _train_rate("i2a", 3, 12)
    # a cost: how many times the standard agent's time per frame (above 1 = costlier)
    return {"per_s": standard["per_s"] / i2a["per_s"], "cpu_per_s": standard["cpu_per_s"] / i2a["cpu_per_s"]}


# -- the comparison --------------------------------------------------------------------------

def run_pair(tree: Path, figure: str, levels: str) -> dict:
    env = dict(os.environ, PYTHONPATH=str(tree))
    out = subprocess.run([sys.executable, __file__, "--measure", figure, levels], env=env, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def compare(old: Path, new: Path, reps: int, levels: str, figures=FIGURES) -> dict:
    rows: dict[str, list[dict]] = {f: [] for f in figures}
    for rep in range(reps):
        for figure in figures:
            order = [("old", old), ("new", new)] if rep % 2 == 0 else [("new", new), ("old", old)]
            pair = {name: run_pair(tree, figure, levels) for name, tree in order}
            rows[figure].append(pair)
            print(f"rep {rep + 1} {figure}: new/old CPU "
                  f"{pair['new']['cpu_per_s'] / pair['old']['cpu_per_s']:.3f}", flush=True)
    summary = {}
    for figure, pairs in rows.items():
        ratios = [p["new"]["cpu_per_s"] / p["old"]["cpu_per_s"] for p in pairs]
        summary[figure] = {"pairs": pairs, "median_new_over_old": statistics.median(ratios),
                           "ratios": ratios}
    return summary


NAMES = {"env": "env steps/s, batch 1,024, symbolic", "env_nocopy": "env steps/s, batch 1,024, `copy_obs=False`",
         "imagined": "imagined transitions/s, shipped model, 512 x 5 rollouts of 5 steps",
         "a2c": "A2C frames/s, standard agent, 64 envs", "i2a_cost": "I2A cost per frame vs standard (above 1: costlier)"}


def markdown(result: dict) -> str:
    lines = [f"Measured {result['date']} on {result['machine']} with `{result['command']}` (load average "
             f"{result['load_average']} at the start: the figure is CPU time per pair, old and new run back to "
             "back in fresh processes, order alternating). A ratio above 1 means the new code does more per "
             "CPU second (for the I2A cost: costs more).", "",
             "| figure | pairs | new / old (median of paired CPU-time ratios) |", "|---|---:|---:|"]
    for figure, row in result["figures"].items():
        lines.append(f"| {NAMES[figure]} | {len(row['ratios'])} | {row['median_new_over_old']:.3f} |")
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--measure":
        print(json.dumps(measure(sys.argv[2], sys.argv[3])))
        return
    from common import boxoban_levels, cpu_name, write_section

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", type=Path, required=True, help="src/ folder of the code before the change")
    parser.add_argument("--new", type=Path, default=ROOT / "src", help="src/ folder of the code after (default: this one)")
    parser.add_argument("--reps", type=int, default=3, help="pairs per figure")
    parser.add_argument("--figures", nargs="+", default=list(FIGURES), choices=FIGURES)
    parser.add_argument("--levels", help="Boxoban unfiltered/valid folder (default: found as the library finds it)")
    args = parser.parse_args()
    levels = args.levels or str((boxoban_levels() or Path("boxoban-levels")) / "unfiltered" / "valid")
    load = os.getloadavg()[0]
    figures = compare(args.old.resolve(), args.new.resolve(), args.reps, levels, args.figures)
    result = {"date": datetime.date.today().isoformat(), "machine": cpu_name(), "load_average": round(load, 2),
              "command": "python benchmarks/spine_regression.py " + " ".join(sys.argv[1:]), "figures": figures}
    RESULTS.write_text(json.dumps(result, indent=1) + "\n")
    write_section("spine-regression", markdown(result), "Stage 2: the spine costs nothing")
    print(markdown(result))


if __name__ == "__main__":
    main()
