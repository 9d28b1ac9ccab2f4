"""What the scripts that make and score a world's shipped frame model share.

Making (as the I2A paper does): a partially trained ``standard`` agent plays, its
transitions are collected, one frame model (next frame + event counts) is fitted on them
and the best validated one is copied into ``src/reverie/assets/models/`` with a JSON record
of its making. Scoring: one-step accuracy on the test split's episodes (cells, exact frames,
each event's count, each task's reward) and a picture of imagined against real rollouts.
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from common import cpu_name
from reverie.models.scoring import cells_correct

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT / "src" / "reverie" / "assets" / "models"


def sh(*args: str) -> None:
    print("$", " ".join(args), flush=True)
    subprocess.run([sys.executable, "-m", "reverie", *args], check=True)


def train_policy(work: Path, env: str, frames: int) -> Path:
    """The partially trained agent whose play a model learns from (trained once, then kept)."""
    policy = work / "policy"
    if not (policy / "summary.json").is_file():
        sh("train", "--env", env, "--agent", "standard", "--frames", str(frames), "--num-envs", "16",
           "--lr-schedule", "constant", "--run-dir", str(policy), "--threads", "1", "--eval-episodes", "100",
           "--quiet", *(["--resume"] if (policy / "checkpoint.pt").is_file() else []))
    return policy


def make_model(work: Path, name: str, recipe: dict, command: str, ship: bool = True) -> Path:
    """Policy, data, fit, ship: ``recipe`` holds ``policy_env``, ``policy_frames``, ``train_frames``,
    ``valid_frames``, ``fit_steps``, ``fit_minutes``, ``size`` and ``rare_share``. Returns the shipped
    file (``ship=False``: the fitted one, left in ``work``)."""
    policy = train_policy(work, recipe["policy_env"], recipe["policy_frames"])
    data, fit = work / "data", work / "fit"
    if not (data / "manifest.json").is_file():
        shutil.rmtree(data, ignore_errors=True)
        sh("model", "collect", "--env", recipe["policy_env"], "--policy", str(policy), "--train-frames",
           str(recipe["train_frames"]), "--valid-frames", str(recipe["valid_frames"]), "--out", str(data), "--quiet")
    if not (fit / "summary.json").is_file():
        sh("model", "fit", "--data", str(data), "--out", str(fit), "--steps", str(recipe["fit_steps"]),
           "--time-limit", str(recipe["fit_minutes"]), "--size", recipe["size"], "--threads", "1",
           "--val-every", "1000", "--val-frames", "20000", "--rare-share", str(recipe["rare_share"]),
           *(["--resume"] if (fit / "checkpoint.pt").is_file() else []))
    if not ship:
        return fit / "model.pt"
    asset = ASSETS / f"{name}.pt"
    shutil.copyfile(fit / "model.pt", asset)
    summary = json.loads((fit / "summary.json").read_text())
    manifest = json.loads((data / "manifest.json").read_text())
    record = {"name": name, "made": datetime.date.today().isoformat(), "command": command, "recipe": recipe,
              "data": {"policy": f"a standard agent trained {recipe['policy_frames']:,} frames on "
                                 f"{recipe['policy_env']} (sampled actions)",
                       "event_counts": {s: manifest["splits"][s].get("event_counts") for s in manifest["splits"]}},
              "fit": {k: summary[k] for k in ("steps", "best_step", "wall_seconds", "stop_reason") if k in summary},
              "validation": summary.get("validation"),
              "machine": f"{os.cpu_count()} CPU cores ({cpu_name()})"}
    asset.with_suffix(".json").write_text(json.dumps(record, indent=1) + "\n")
    print(f"shipped {asset}")
    return asset


@torch.no_grad()
def one_step(model, spec, policy, frames: int, seed: int, tasks: tuple[str, ...]) -> dict:
    """Score one-step predictions over ``frames`` real transitions of the test split.

    Where the env reports ``info["level"]``, a step into a new level (a fresh random layout,
    which no one-step model predicts) is scored apart, i.e. left out."""
    env = spec.make_env("test", 256, seed=seed)
    obs, _ = env.reset(seed=seed)
    codec, names = spec.observation, spec.rewards.events
    weights = {t: torch.tensor(spec.rewards.tasks[t]) for t in tasks}
    generator = torch.Generator().manual_seed(seed)
    n = exact = 0
    cells = 0.0
    event_ok, counts, counts_ok = torch.zeros(len(names)), torch.zeros(len(names)), torch.zeros(len(names))
    task_ok = {t: 0 for t in tasks}
    level = None
    while n < frames:
        action = policy(obs) if policy is not None else torch.randint(spec.num_actions, (len(obs),),
                                                                      generator=generator)
        next_obs, _, _, _, info = env.step(action)
        true_next = next_obs.clone()
        if len(info["final_index"]):  # the real next frame of an ended game is its final frame
            true_next[info["final_index"]] = info["final_obs"]
        keep = torch.ones(len(obs), dtype=torch.bool)
        if "level" in info:
            keep = info["level"] == (level if level is not None else info["level"])
            level = info["level"].clone()
            level[info["final_index"]] = 1
        imagined, _, _ = model.step(obs[keep], action[keep])
        right = cells_correct(codec, codec.encode(imagined), codec.encode(true_next[keep]))
        exact += int(right.flatten(1).all(1).sum())
        cells += float(right.flatten(1).float().mean(1).sum())
        events = info["events"][keep].long()
        predicted = model.predict_events(obs[keep], action[keep]).long()
        event_ok += (predicted == events).float().sum(0)
        happened = events > 0
        counts += happened.float().sum(0)
        counts_ok += (happened & (predicted == events)).float().sum(0)
        for task, w in weights.items():
            task_ok[task] += int(((predicted.float() @ w - events.float() @ w).abs() < 1e-4).sum())
        n += int(keep.sum())
        obs = next_obs
    return {"frames": n, "cell_accuracy": cells / n, "exact_frame_accuracy": exact / n,
            "event_accuracy": {name: float(event_ok[i] / n) for i, name in enumerate(names)},
            "event_recall": {name: (float(counts_ok[i] / counts[i]) if counts[i] else None, int(counts[i]))
                             for i, name in enumerate(names)},
            "task_reward_accuracy": {t: task_ok[t] / n for t in tasks}}


@torch.no_grad()
def rollout_picture(model, spec, policy, path: Path, rows: int = 3, steps: int = 8, seed: int = 3,
                    warmup: int = 12) -> None:
    """Real frames over imagined ones for ``rows`` rollouts of ``steps`` steps (same actions),
    after ``warmup`` real steps."""
    from PIL import Image, ImageDraw

    env = spec.make_env("test", rows, seed=seed)
    obs, _ = env.reset(seed=seed)
    act = (lambda o: policy(o)) if policy is not None else (lambda o: torch.randint(spec.num_actions, (rows,)))
    for _ in range(warmup):
        obs = env.step(act(obs))[0]
    real, imagined, state = [obs], [obs], obs
    for _ in range(steps):
        action = act(real[-1])
        real.append(env.step(action)[0])
        state = model.step(state, action)[0]
        imagined.append(state)
    tiles = [[np.asarray(spec.render(frames)) for frames in (real[t], imagined[t])] for t in range(steps + 1)]
    th, tw, _ = tiles[0][0][0].shape
    gap, left, top = 4, 70, 16
    sheet = np.full((top + rows * 2 * (th + gap) + rows * gap, left + (steps + 1) * (tw + gap), 3), 255, np.uint8)
    labels = []
    for r in range(rows):
        for which in range(2):
            y = top + (2 * r + which) * (th + gap) + r * gap
            labels.append((y + th // 2 - 5, ("real", "imagined")[which]))
            for t in range(steps + 1):
                x = left + t * (tw + gap)
                sheet[y:y + th, x:x + tw] = tiles[t][which][r]
    image = Image.fromarray(sheet)
    draw = ImageDraw.Draw(image)
    for t in range(steps + 1):
        draw.text((left + t * (tw + gap) + tw // 2 - 6, 2), str(t), fill=(0, 0, 0))
    for y, text in labels:
        draw.text((4, y), text, fill=(0, 0, 0))
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
