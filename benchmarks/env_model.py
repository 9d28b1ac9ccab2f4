#!/usr/bin/env python3
"""How well and how fast reverie's environment models imagine 10x10 Sokoban.

    python benchmarks/env_model.py                      # full run (~35 min): collect, fit each size, score, time
    python benchmarks/env_model.py --minutes 4          # fitting budget per size (default 8)
    python benchmarks/env_model.py --speed-only         # imagination speed (+ the shipped model's accuracy)
    python benchmarks/env_model.py --quick              # a smoke run (~3 min)

Data: random-policy transitions on Boxoban unfiltered *train* levels for fitting; scoring on
Boxoban *valid* levels, never fitted on (generated levels from disjoint seeds when no Boxoban
folder is found). Half the fitting episodes start with some boxes preplaced on targets, so
the rare rewards occur; the headline one-step numbers are on plain random play from the
validation levels' own starts ("natural"), and per-reward-class accuracy is also reported on
validation transitions with preplaced starts, where every class occurs often enough to count.

Each size is fitted on the same fixed wall-clock budget. Speed is imagined transitions per
second at batch 512 x 5 actions (the I2A setting: every state imagines every first action),
the model fed its own one-hot predictions, on one thread, on every core, and as a bfloat16
model; the shipped pretrained model is scored and timed too, and the rules (perfect model)
are timed for scale.

Writes ``benchmarks/results/env_model.json`` and the table between the ``env-model`` markers
of ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import copy
import datetime
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

from common import boxoban_levels, cpu_name, write_section
from reverie.data.dataset import TransitionDataset, collect_dataset
from reverie.data.transitions import CollectConfig, collect, read_manifest
from reverie.envs.registry import get_spec
from reverie.envs.sokoban.collection import load_split
from reverie.evaluation.model_diagnostics import horizon_curve, one_step, pick_states
from reverie.models import SIZES, GridModel, GridModelConfig, load
from reverie.models.io import pretrained_path
from reverie.training.model_fitting import FitConfig, fit

ROOT = Path(__file__).resolve().parents[1]
BOXOBAN = (boxoban_levels() or ROOT / "no-boxoban-levels") / "unfiltered"
#: The world the models imagine: 10x10 Sokoban (Boxoban's rooms).
SPEC = get_spec("sokoban-10x10-4")
RESULTS = ROOT / "benchmarks" / "results" / "env_model.json"


def machine() -> str:
    return f"{cpu_name()}, {torch.get_num_threads()} torch threads, torch {torch.__version__}, Python {platform.python_version()}"


def imagine_rate(model, batch: int = 512, actions: int = 5, rounds: int = 12, steps: int = 5) -> float:
    """Imagined transitions/s: ``batch`` states x ``actions`` first actions, rolled ``steps`` deep.

    The best of ``rounds`` timed rollouts, so that other work on a shared machine does not
    count against the model.
    """
    g = torch.Generator().manual_seed(0)
    bank, _ = load_split(BOXOBAN / "valid" if BOXOBAN.exists() else None, 64, 99)
    start = torch.from_numpy(bank.codes[torch.randint(len(bank), (batch,), generator=g).numpy()])
    obs0 = SPEC.observation.decode(start).repeat_interleave(actions, 0)  # one-hot [batch * actions, 7, H, W]
    first = torch.arange(actions).repeat(batch)
    later = torch.randint(0, actions, (steps, batch * actions), generator=g)

    def rollout():
        obs = model.step(obs0, first)[0]  # (next_state, reward, done): observation models' state is the frame
        for t in range(1, steps):
            obs = model.step(obs, later[t])[0]

    rollout()
    best = float("inf")
    for _ in range(rounds):
        begin = time.perf_counter()
        rollout()
        best = min(best, time.perf_counter() - begin)
    return steps * batch * actions / best


def score(model, natural: TransitionDataset, preplaced: TransitionDataset, rollouts: int) -> dict:
    one = one_step(model, natural)
    rare = one_step(model, preplaced)
    curve = horizon_curve(model, pick_states(natural, rollouts, seed=1), horizon=15, seed=1)
    return {"natural": one, "preplaced": rare, "horizon_curve": curve}


def get_data(args) -> Path:
    data = Path(args.data)
    if (data / "manifest.json").is_file():
        return data
    have_boxoban = BOXOBAN.exists()
    config = CollectConfig(
        out=data, train_levels=BOXOBAN / "train" if have_boxoban else None,
        valid_levels=BOXOBAN / "valid" if have_boxoban else None,
        train_frames=args.train_frames, valid_frames=args.valid_frames, preplaced=0.5, seed=0,
        generated_levels=2000 if args.quick else 20000)
    collect(config, progress=not args.quiet)
    return data


def valid_sets(natural_frames: int, preplaced_frames: int, quick: bool) -> tuple[TransitionDataset, TransitionDataset]:
    """Scoring data from the validation levels: plain random play, and starts with preplaced boxes."""
    bank, _ = load_split(BOXOBAN / "valid" if BOXOBAN.exists() else None, 2000 if quick else 20000, 1_000_003)
    natural = collect_dataset(bank, natural_frames, num_envs=256, seed=12345, preplaced=0.0)
    preplaced = collect_dataset(bank, preplaced_frames, num_envs=256, seed=54321, preplaced=0.5)
    return natural, preplaced


def fmt_pct(x) -> str:
    return "-" if x is None else f"{100 * x:.2f}"


def cpu_idle(seconds: float = 2.0) -> float | None:
    """Share of this machine's CPU time that was idle over ``seconds`` (Linux), to show how
    busy other work kept the cores while a number was taken."""
    def sample():
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
        values = [int(v) for v in fields]
        return values[3] + values[4], sum(values)
    try:
        idle0, total0 = sample()
        time.sleep(seconds)
        idle1, total1 = sample()
    except (OSError, ValueError, IndexError):
        return None
    return round((idle1 - idle0) / max(total1 - total0, 1), 3)


def speeds(model) -> dict:
    """Imagined transitions/s on 1 thread, on every core, and as a bfloat16 model on every core."""
    cores = os.cpu_count() or 1
    before = torch.get_num_threads()
    out = {"idle_before": cpu_idle()}
    try:
        torch.set_num_threads(1)
        out["1 thread"] = imagine_rate(model)
        torch.set_num_threads(cores)
        out[f"{cores} threads"] = imagine_rate(model)
        if isinstance(model, GridModel):
            out[f"bf16, {cores} threads"] = imagine_rate(copy.deepcopy(model).to(torch.bfloat16))
    finally:
        torch.set_num_threads(before)
    return out


def table(result: dict) -> str:
    cores = os.cpu_count() or 1
    lines = [
        "| model | channels | params | fit (min) | frames seen | 1-step exact % | cells % | reward % | "
        "+0.9 / -1.1 / +10.9 acc % (n) | exact @5 % | exact @15 % | imagined/s, 1 thread | "
        f"{cores} threads | bf16, {cores} threads |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for name, row in result["models"].items():
        sp = row["speed"]
        speed = " | ".join(f"{sp[k]:,.0f}" if sp.get(k) else "-"
                           for k in ("1 thread", f"{cores} threads", f"bf16, {cores} threads"))
        channels = ",".join(map(str, row["channels"])) if row.get("channels") else "-"
        params = f"{row['params']:,}" if row.get("params") else "-"
        s = row.get("scores")
        if s is None:
            lines.append(f"| {name} | {channels} | {params} | - | - | - | - | - | - | - | - | {speed} |")
            continue
        fit_min = f"{row['fit']['wall_seconds'] / 60:.1f}" if row.get("fit") else "-"
        frames = f"{row['fit']['frames_seen']:,}" if row.get("fit") else "-"
        nat, pre, curve = s["natural"], s["preplaced"]["reward_class_accuracy"], s["horizon_curve"]
        rare = " / ".join(f"{fmt_pct(pre[c]['accuracy'])} ({pre[c]['count']})" for c in ("+0.9", "-1.1", "+10.9"))
        lines.append(
            f"| {name} | {channels} | {params} | {fit_min} | {frames} | {fmt_pct(nat['exact_frame_accuracy'])} | "
            f"{100 * nat['cell_accuracy']:.3f} | {fmt_pct(nat['reward_accuracy'])} | {rare} | "
            f"{fmt_pct(curve['exact_frame_accuracy'][4])} | {fmt_pct(curve['exact_frame_accuracy'][14])} | {speed} |")
    return "\n".join(lines)


def idle_text(result: dict) -> str:
    idle = [row["speed"]["idle_before"] for row in result["models"].values()
            if row.get("speed", {}).get("idle_before") is not None]
    if not idle:
        return "the machine's idle share was not recorded"
    return (f"the machine's CPU was {100 * min(idle):.0f}-{100 * max(idle):.0f}% idle just before the "
            "timings (other work shares it)")


def write_docs(result: dict) -> None:
    curve_rows = []
    for name, row in result["models"].items():
        if row.get("scores"):
            values = row["scores"]["horizon_curve"]["exact_frame_accuracy"]
            curve_rows.append(f"| {name} | " + " | ".join(f"{100 * v:.2f}" for v in values) + " |")
    data = result["data"]
    section = "\n".join([
        f"`{result['command']}` on {result['date']}; {result['machine']}.",
        "",
        f"Fitting data: {data['train']}. Scoring on {data['valid']}, never fitted on: one-step numbers "
        f"over {data['natural_frames']:,} transitions of plain random play from the validation levels' own "
        f"starts; per-class reward accuracy (n = count) over {data['preplaced_frames']:,} validation "
        "transitions where half the episodes start with boxes preplaced on targets (some one push from "
        "solved), so that every class occurs. Horizon columns: share of imagined frames still equal to "
        "the real ones after that many steps (the model fed its own predictions, random actions, "
        f"{result['rollouts']} rollouts from validation states). Each size was fitted for "
        f"{result['minutes']} minutes on one thread (a second OpenMP thread stalls whenever other work "
        "holds the other core of this shared 2-core machine). Speed: imagined transitions/s at batch "
        f"512 x 5 actions, 5-step rollouts, best of 12 rounds; {idle_text(result)}. Timings on this "
        "shared machine vary by +/-20-30% between runs (small and the shipped model are the same "
        "network).",
        "",
        table(result),
        "",
        "Exact imagined frames (%) by horizon 1..15:",
        "",
        "| model | " + " | ".join(str(h) for h in range(1, 16)) + " |",
        "|---|" + "---:|" * 15,
        *curve_rows,
    ])
    write_section("env-model", section, "Environment models (`benchmarks/env_model.py`)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="/tmp/reverie-bench/env-model-data", help="dataset folder (collected if missing)")
    parser.add_argument("--runs", default="/tmp/reverie-bench/env-model-runs",
                        help="where the fitting runs go (a size whose run has a summary.json is not fitted again)")
    parser.add_argument("--sizes", default=",".join(SIZES), help="model sizes to fit and time")
    parser.add_argument("--minutes", type=float, default=8.0, help="fitting budget per size")
    parser.add_argument("--train-frames", type=int, default=2_000_000)
    parser.add_argument("--valid-frames", type=int, default=200_000)
    parser.add_argument("--natural-frames", type=int, default=100_000)
    parser.add_argument("--rollouts", type=int, default=2000)
    parser.add_argument("--speed-only", action="store_true", help="no fitting: time every size, score the shipped model")
    parser.add_argument("--quick", action="store_true", help="a smoke run with tiny budgets")
    parser.add_argument("--no-docs", action="store_true", help="do not touch docs/benchmarks.md")
    parser.add_argument("--docs-only", action="store_true", help="rewrite the docs table from the last results JSON")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args()
    if args.docs_only:
        write_docs(json.loads(RESULTS.read_text()))
        return 0
    if args.quick:
        args.train_frames, args.valid_frames, args.natural_frames = 50_000, 10_000, 10_000
        args.minutes, args.rollouts = 0.3, 200
        args.data, args.runs = args.data + "-quick", args.runs + "-quick"
    sizes = [s for s in args.sizes.split(",") if s]

    result: dict = {"command": "python benchmarks/env_model.py " + " ".join(sys.argv[1:]),
                    "date": datetime.date.today().isoformat(), "machine": machine(), "minutes": args.minutes,
                    "rollouts": args.rollouts, "models": {}}
    natural, preplaced = valid_sets(args.natural_frames, args.valid_frames, args.quick)
    result["data"] = {"train": "-", "valid": f"{BOXOBAN / 'valid'}" if BOXOBAN.exists() else "generated levels"}
    if not args.speed_only:
        data = get_data(args)
        manifest = read_manifest(data)
        result["data"] = {"train": f"{manifest['splits']['train']['frames']:,} random-policy transitions from "
                                   f"{manifest['splits']['train']['levels']}",
                          "valid": manifest["splits"]["valid"]["levels"].split(",")[0], "folder": str(data)}
    for size in sizes:
        row: dict = {}
        if args.speed_only:
            model = GridModel.for_spec(SPEC, GridModelConfig(size=size)).eval()
        else:
            out = Path(args.runs) / size
            if (out / "summary.json").is_file():
                row["fit"] = json.loads((out / "summary.json").read_text())
            else:
                config = FitConfig(data=data, out=out, steps=1_000_000, time_limit=args.minutes,
                                   val_every=500, patience=0, threads=1, tensorboard=False)
                row["fit"] = fit(config, GridModelConfig(size=size), progress=not args.quiet)
            row["fit"] = {k: v for k, v in row["fit"].items() if k != "validation"}
            model = load(out)
            row["scores"] = score(model, natural, preplaced, args.rollouts)
        row["channels"] = list(model.config.channels)
        row["params"] = sum(p.numel() for p in model.parameters())
        row["speed"] = speeds(model)
        result["models"][size] = row
        print(f"{size}: {row['speed']}", flush=True)
    try:
        shipped = load(pretrained_path("sokoban-10x10"))
        result["models"]["shipped sokoban-10x10"] = {
            "channels": list(shipped.config.channels), "params": sum(p.numel() for p in shipped.parameters()),
            "scores": score(shipped, natural, preplaced, args.rollouts), "speed": speeds(shipped)}
    except FileNotFoundError:
        pass
    result["models"]["perfect (rules)"] = {"speed": speeds(SPEC.make_perfect_model())}
    result["data"]["natural_frames"] = len(natural)
    result["data"]["preplaced_frames"] = len(preplaced)
    print(table(result))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=1) + "\n")
    if not args.no_docs and not args.quick:
        write_docs(result)
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
