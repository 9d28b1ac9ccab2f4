"""Collect transitions of any env id into compact on-disk shards.

A transition is stored in the compact form of the env spec's observation codec
(:meth:`~reverie.envs.spec.ObsSpec.encode`): cell codes for one-hot grids (one byte a cell,
200 bytes a 10x10 transition before zlib shrinks it several fold), uint8 planes or frames,
float vectors. The arrays keep the names ``codes`` / ``next_codes`` whatever the kind;
observations are rebuilt with the codec's ``decode`` when a batch is drawn
(:mod:`reverie.data.dataset`). Beside them: the action, the reward and its class among the
spec's reward classes (the one table collection, fitting and imagination share), for worlds
with named events (MiniPacman) the step's event counts ``events`` ``[N, E]`` uint8 (from the
env's ``info["events"]``; reward classes only where the spec has classes), and any
per-transition tags the world's level source adds (Sokoban: ``level``, ``preplaced``).
Datasets with events are written as version 3 (older readers refuse them); version 1 and 2
datasets read as before.

A dataset folder holds ``manifest.json`` (env id, observation kind, reward classes, splits)
and shards ``train-00000.npz``, ``valid-00000.npz``, ...; every file is written to a
temporary name and renamed, so an interrupted collection never leaves a half-written shard
behind a manifest that lists it. Train and validation transitions come from the spec's
disjoint sources: the world's ``extra["collection_sources"]`` hook where it has one
(Sokoban: level sets with preplaced boxes), else the env's ``train`` and ``valid`` splits.
"""

from __future__ import annotations

import datetime
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from ..core.errors import ReverieError
from ..core.atomic import atomic_write, write_json
from ..core.config import option, parse_size, to_dict
from ..envs.registry import env_ids, get_spec

FORMAT = "reverie-transitions"
VERSION = 2
#: The version of datasets with event counts (and no reward classes where the world has none).
EVENTS_VERSION = 3
#: Version 1 manifests (before env ids) hold Sokoban data; they are read as such.
READABLE_VERSIONS = (1, 2, 3)
MANIFEST = "manifest.json"
SPLITS = ("train", "valid")
#: The env id of data collected without ``--env`` (and of version-1 datasets of that size).
DEFAULT_ENV = "sokoban-10x10-4"
#: A policy maps a batch of observations [N, *shape] to actions [N] (integers 0..A-1).
Policy = Callable[[torch.Tensor], torch.Tensor]
#: Options of CollectConfig that belong to the world's collection hook, not to this module.
WORLD_OPTIONS = ("train_levels", "valid_levels", "level_limit", "generated_levels", "size", "boxes",
                 "preplaced", "near_solved")


def _size(text: str | tuple[int, int] | None) -> tuple[int, int] | None:
    if text is None:
        return None
    return parse_size(text) if isinstance(text, str) else tuple(text)  # type: ignore[return-value]


@dataclass
class CollectConfig:
    """What ``reverie model collect`` gathers and where it writes it.

    ``env`` picks the world; the level options (``train_levels`` ... ``near_solved``) are
    handed to that world's collection hook as they are (Sokoban's), the rest is generic.
    """

    out: Path = option(Path("runs/transitions"), "output folder (manifest.json and .npz shards)")
    env: str | None = option(None, f"env id whose transitions to collect (default: {DEFAULT_ENV}, or the "
                                   "Sokoban id of the levels' size)")
    observation: str | None = option(None, "observation kind, where the world offers several (Sokoban: symbolic "
                                           "or rgb, stored as cell codes either way); default: the world's own")
    train_levels: Path | None = option(None, "Boxoban file or folder of training levels (default: generated levels)")
    valid_levels: Path | None = option(None, "Boxoban file or folder of validation levels, disjoint from the training ones")
    train_frames: int = option(2_000_000, "training transitions to collect")
    valid_frames: int = option(200_000, "validation transitions to collect")
    level_limit: int | None = option(None, "read at most this many levels from each folder")
    generated_levels: int = option(5000, "levels per split to generate when no folder is given")
    size: tuple[int, int] | None = option(None, "room size HxW of generated levels (default: the env's; 10x10)",
                                          parse=parse_size, metavar="HxW")
    boxes: int = option(4, "boxes per generated level")
    num_envs: int = option(256, "environments stepped as one batch")
    max_steps: int | None = option(None, "episode length cap (default: the env's; Sokoban data: the paper's 120)")
    preplaced: float = option(0.5, "share of episodes that start with some boxes already on targets "
                                   "(makes the rare reward classes common enough to learn)")
    near_solved: float = option(0.4, "share of those preplaced starts that are one push from solved "
                                      "(the last-box reward +10.9 is otherwise almost never seen)")
    policy: Path | None = option(None, "a trained run folder (`reverie train --run-dir`) whose agent plays, sampling "
                                       "its actions; default: a uniform random policy")
    shard_frames: int = option(250_000, "transitions per shard file")
    seed: int = option(0, "seed of the level sampler, the random policy and the preplacement")

    def __post_init__(self) -> None:
        self.out = Path(self.out)
        self.size = _size(self.size)
        if (self.train_levels is None) != (self.valid_levels is None):
            raise ReverieError("give both --train-levels and --valid-levels, or neither (generated levels)")
        if self.max_steps is not None and self.max_steps < 1:
            raise ReverieError(f"--max-steps must be >= 1, got {self.max_steps}")
        for name in ("train_frames", "num_envs", "shard_frames", "generated_levels"):
            if getattr(self, name) < 1:
                raise ReverieError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if self.valid_frames < 0:
            raise ReverieError(f"--valid-frames must be >= 0, got {self.valid_frames}")
        if self.level_limit is not None and self.level_limit < 1:
            raise ReverieError(f"--level-limit must be >= 1, got {self.level_limit}")
        if not 0.0 <= self.preplaced < 1.0:
            raise ReverieError(f"--preplaced must be in [0, 1), got {self.preplaced}")
        if not 0.0 <= self.near_solved <= 1.0:
            raise ReverieError(f"--near-solved must be in [0, 1], got {self.near_solved}")

    def world_options(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in WORLD_OPTIONS}


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """``np.savez_compressed``, written atomically."""
    with atomic_write(path) as f:
        np.savez_compressed(f, **arrays)


class _ShardWriter:
    """Buffers transitions and writes a shard each time ``size`` of them are in.

    The buffers are preallocated from the first chunk's fields, shapes and dtypes.
    """

    def __init__(self, root: Path, split: str, size: int, num_classes: int) -> None:
        self.root, self.split, self.size, self.num_classes = root, split, size, num_classes
        self.event_counts: np.ndarray | None = None
        self.shards: list[dict[str, Any]] = []
        self.buf: dict[str, np.ndarray] | None = None
        self.fill = 0

    def add(self, chunk: dict[str, np.ndarray]) -> None:
        if self.buf is None:
            self.buf = {k: np.empty((self.size,) + v.shape[1:], v.dtype) for k, v in chunk.items()}
        count, start = len(chunk["action"]), 0
        while start < count:
            take = min(count - start, self.size - self.fill)
            for key, array in self.buf.items():
                array[self.fill:self.fill + take] = chunk[key][start:start + take]
            self.fill += take
            start += take
            if self.fill == self.size:
                self.flush()

    def flush(self) -> None:
        if self.fill == 0 or self.buf is None:
            return
        name = f"{self.split}-{len(self.shards):05d}.npz"
        write_npz(self.root / name, {k: v[:self.fill] for k, v in self.buf.items()})
        shard: dict[str, Any] = {"file": name, "frames": int(self.fill)}
        if "reward_class" in self.buf:
            counts = np.bincount(self.buf["reward_class"][:self.fill], minlength=self.num_classes)
            shard["reward_class_counts"] = counts.tolist()
        if "events" in self.buf:  # transitions in which each event occurred
            shard["event_counts"] = (self.buf["events"][:self.fill] > 0).sum(0).tolist()
        self.shards.append(shard)
        self.fill = 0


def collect_split(spec, env, frames: int, writer: Any, seed: int, policy: Policy | None = None,
                  progress: Any = None, tags: Callable[[Any], dict[str, torch.Tensor]] | None = None
                  ) -> dict[str, Any]:
    """Play ``frames`` transitions of ``env`` (a batched env of ``spec``) with ``policy``
    (uniform random by default) and hand them, encoded, to ``writer``.

    Chunks of numpy arrays go to ``writer.add`` (a shard writer, or any sink with ``add``
    and ``flush``); ``policy`` gets the env's observations and returns actions; ``tags(env)``,
    read before each step, adds per-env fields (e.g. which level each env plays).
    """
    codec, classes, events = spec.observation, spec.rewards.reward_classes, spec.rewards.events
    if classes is None and not events:
        raise ReverieError(f"env {spec.id} has neither reward classes nor events; transition data stores one of them")
    num_envs = env.num_envs
    generator = torch.Generator().manual_seed(seed + 1)
    obs, _ = env.reset()
    done = episodes = 0
    while done < frames:
        compact = codec.encode(obs)  # a fresh tensor: the env may reuse its observation buffer
        extra = tags(env) if tags is not None else {}
        if policy is None:
            actions = torch.randint(0, spec.num_actions, (num_envs,), generator=generator)
        else:
            actions = torch.as_tensor(policy(obs)).long().reshape(num_envs)
        obs, reward, _, _, info = env.step(actions)
        next_compact = codec.encode(obs)
        ended = info["final_index"]
        if ended.numel():
            # The env has already reset these games; their true next state is the final one.
            next_compact[ended] = codec.encode(info["final_obs"]).to(next_compact.dtype)
            episodes += int(ended.numel())
        take = min(num_envs, frames - done)
        chunk = {
            "codes": compact[:take].cpu().numpy(),
            "next_codes": next_compact[:take].cpu().numpy(),
            "action": actions[:take].to(torch.uint8).cpu().numpy(),
            "reward": reward[:take].float().cpu().numpy(),
        }
        if classes is not None:
            chunk["reward_class"] = classes.check(reward[:take].cpu()).to(torch.uint8).numpy()
        if events:
            chunk["events"] = step_events(spec, info, reward)[:take].numpy()
        chunk.update({k: v[:take].cpu().numpy() for k, v in extra.items()})
        writer.add(chunk)
        done += take
        if progress is not None:
            progress.update(take)
    writer.flush()
    return {"frames": frames, "episodes_ended": episodes}


def step_events(spec, info: dict[str, Any], reward: torch.Tensor) -> torch.Tensor:
    """The step's event counts ``[N, E]`` uint8 from the env's ``info["events"]``, checked:
    whole counts within the spec's ``event_max``, and, where the spec names its task, the
    env's reward equal to ``events . weights`` (data whose events do not explain its rewards
    would teach a model the wrong rewards)."""
    names = spec.rewards.events
    if "events" not in info:
        raise ReverieError(f"env {spec.id} names events {list(names)} but its step gives no info['events']")
    events = torch.as_tensor(info["events"]).float().cpu()
    if events.shape != (len(reward), len(names)):
        raise ReverieError(f"env {spec.id}: info['events'] has shape {tuple(events.shape)}, "
                           f"expected ({len(reward)}, {len(names)})")
    limit = torch.tensor(spec.rewards.event_max or (255,) * len(names), dtype=torch.float32)
    if bool(((events != events.round()) | (events < 0) | (events > limit)).any()):
        raise ReverieError(f"env {spec.id}: event counts must be whole numbers in 0..{limit.long().tolist()}")
    if spec.rewards.task is not None:
        error = (spec.rewards.event_reward(events) - reward.float().cpu()).abs()
        if error.numel() and float(error.max()) > 1e-4:
            raise ReverieError(f"env {spec.id}: a step's reward {float(reward.flatten()[error.argmax()]):g} is not "
                               f"its events . the weights of task {spec.rewards.task!r}")
    return events.to(torch.uint8)


class SplitSource:
    """The fallback source of a world without a collection hook: the env's own split."""

    def __init__(self, spec, split: str) -> None:
        if split not in spec.splits:
            raise ReverieError(f"env {spec.id} has no {split!r} split to collect from (has {list(spec.splits)})")
        self.spec, self.split = spec, split
        self.description = f"{spec.id} {split} split"

    def make_env(self, num_envs: int, max_steps: int | None, seed: int, copy_obs: bool):
        options = {} if max_steps in (None, self.spec.max_steps) else {"max_steps": max_steps}
        return self.spec.make_env(self.split, num_envs, seed, **options)

    tags = None


def collection_plan(spec, config: CollectConfig, seeds: dict[str, int]) -> dict[str, Any]:
    """Where each split's transitions come from: the world's hook, else its splits."""
    hook = spec.extra.get("collection_sources")
    if hook is not None:
        return hook(spec, seeds, **config.world_options())
    return {"env": spec.id, "sources": {split: SplitSource(spec, split) for split in SPLITS}, "manifest": {}}


def describe_spec(spec) -> dict[str, Any]:
    """What a manifest records of the env its data came from."""
    obs, rewards = spec.observation, spec.rewards
    described: dict[str, Any] = {
        "env": spec.id, "observation": {"kind": obs.kind, "shape": list(obs.shape), "num_codes": obs.num_codes},
        "reward_values": list(rewards.classes), "terminal_classes": list(rewards.terminal)}
    if obs.levels != 1:
        described["observation"]["levels"] = obs.levels
    if spec.options:  # e.g. Sokoban's observation="rgb": the spec the data is read back with
        described["options"] = dict(spec.options)
    if rewards.events:
        described.update(version=EVENTS_VERSION, events=list(rewards.events),
                         event_max=list(rewards.event_max or (1,) * len(rewards.events)),
                         terminal_events=list(rewards.terminal_events))
    return described


def collect(config: CollectConfig, policy: Policy | None = None, policy_name: str = "random",
            progress: bool = True) -> dict[str, Any]:
    """Collect the train and validation splits into ``config.out``; returns the manifest
    (``policy``: a callable, e.g. :func:`reverie.training.runs.run_policy` of ``config.policy``;
    uniform random actions where none is given)."""
    from tqdm import tqdm

    start = time.perf_counter()
    out = config.out
    if (out / MANIFEST).exists():
        raise ReverieError(f"{out}: already holds a transition dataset; choose another --out")
    spec = get_spec(config.env or DEFAULT_ENV).with_options(observation=config.observation)
    spec.num_actions  # transitions store action indices: a continuous-action id is refused before anything is written
    if policy is None and config.policy is not None:
        raise ReverieError("collect(config) with config.policy needs the run's agent as a callable: pass "
                           "policy=reverie.training.runs.run_policy(config.policy, spec) (the command line does)")
    seeds = {"train": config.seed, "valid": config.seed + 1_000_003}
    plan = collection_plan(spec, config, seeds)
    spec = get_spec(plan["env"]).with_options(**spec.options)
    out.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, Any] = {"format": FORMAT, "version": VERSION, **describe_spec(spec)}
    manifest.update({"policy": policy_name, "config": to_dict(config),
                     "created": datetime.datetime.now().isoformat(timespec="seconds"), "splits": {}})
    for split, frames in (("train", config.train_frames), ("valid", config.valid_frames)):
        if frames == 0:
            continue
        source = plan["sources"][split]
        env = source.make_env(config.num_envs, config.max_steps, seeds[split], policy is not None)
        writer = _ShardWriter(out, split, config.shard_frames, len(spec.rewards.classes))
        with tqdm(total=frames, desc=f"collect {split}", unit="frame", disable=not progress,
                  smoothing=0.1) as bar:
            stats = collect_split(spec, env, frames, writer, seeds[split], policy, bar, source.tags)
        if "height" not in manifest and writer.buf is not None and writer.buf["codes"].ndim == 3:
            manifest["height"], manifest["width"] = writer.buf["codes"].shape[1:]
        manifest["splits"][split] = {
            "levels": source.description, "shards": writer.shards,
            "frames": stats["frames"], "episodes_ended": stats["episodes_ended"],
        }
        for key in ("reward_class_counts", "event_counts"):
            if writer.shards and key in writer.shards[0]:
                manifest["splits"][split][key] = np.sum([s[key] for s in writer.shards], axis=0).tolist()
        if "num_levels" in plan:
            manifest["splits"][split]["num_levels"] = plan["num_levels"][split]
    manifest.update(plan.get("manifest", {}))
    manifest["wall_seconds"] = round(time.perf_counter() - start, 2)
    write_json(out / MANIFEST, manifest)
    return manifest


def read_manifest(root: str | Path) -> dict[str, Any]:
    """The manifest of a dataset folder, checked (a version-1 manifest gains its env fields)."""
    root = Path(root)
    path = root / MANIFEST
    if not root.is_dir():
        raise ReverieError(f"{root}: no such dataset folder (collect one with `reverie model collect`)")
    if not path.is_file():
        raise ReverieError(f"{root}: not a transition dataset (no {MANIFEST})")
    try:
        manifest = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ReverieError(f"{path}: unreadable manifest ({err})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ReverieError(f"{path}: not a reverie transition manifest")
    if manifest.get("version") not in READABLE_VERSIONS:
        raise ReverieError(f"{path}: dataset version {manifest.get('version')} is not supported "
                           f"(expected one of {READABLE_VERSIONS})")
    if "env" not in manifest:
        manifest["env"] = legacy_env(manifest)
    if "reward_values" not in manifest:
        raise ReverieError(f"{path}: the manifest records no reward classes")
    return manifest


def legacy_env(manifest: dict[str, Any]) -> str:
    """The env id of a version-1 (Sokoban) dataset: the registered ``sokoban-HxW-*`` id of its
    room size, else the default id (its rules, codes and rewards are the same)."""
    prefix = f"sokoban-{manifest.get('height')}x{manifest.get('width')}-"
    return next((i for i in env_ids() if i.startswith(prefix)), DEFAULT_ENV)


def manifest_spec(manifest: dict[str, Any], source: str = "dataset"):
    """The env spec a dataset was collected from, checked against the reward classes it
    stores (the one table collection, fitting and imagination share)."""
    options = manifest.get("options", {})
    if not isinstance(options, dict):
        raise ReverieError(f"{source}: its env options must be a mapping, got {options!r}")
    spec = get_spec(manifest["env"]).with_options(**options)
    stored = [float(v) for v in manifest["reward_values"]]
    if stored != [float(v) for v in spec.rewards.classes]:
        raise ReverieError(f"{source}: its reward classes {stored} are not {spec.id}'s "
                           f"{list(spec.rewards.classes)} (in class order); recollect it")
    rewards = spec.rewards
    stored_events = (list(manifest.get("events", [])), list(manifest.get("event_max", [])))
    expected = (list(rewards.events), list(rewards.event_max or (1,) * len(rewards.events)) if rewards.events else [])
    if stored_events != expected:
        raise ReverieError(f"{source}: its events {stored_events[0]} (largest counts {stored_events[1]}) are not "
                           f"{spec.id}'s {expected[0]} ({expected[1]}); recollect it")
    levels = manifest.get("observation", {}).get("levels", 1)
    if spec.observation.kind == "binary" and levels != spec.observation.levels:
        raise ReverieError(f"{source}: its frames are stored in steps of 1/{levels}, {spec.id}'s in "
                           f"1/{spec.observation.levels}; recollect it")
    return spec
