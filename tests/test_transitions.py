"""Transition data: level splits, preplaced starts, shards on disk, the loader and sampler."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from conftest import HARD, UNFILTERED_TEST
from reverie.core.errors import ReverieError
from reverie.data.dataset import Sampler, TransitionDataset, collect_dataset
from reverie.data.transitions import CollectConfig, collect, read_manifest
from reverie.envs.sokoban import cells
from reverie.envs.sokoban.bank import LevelBank, load_boxoban
from reverie.envs.sokoban.collection import (box_moved, drop_overlap, one_push_from_solved, preplace_boxes,
                                             walked_into_box, with_preplaced)
from reverie.envs.sokoban.model import PerfectModel
from reverie.envs.sokoban.spec import SOKOBAN_REWARDS as SOKOBAN_SPEC_REWARDS

SOKOBAN_REWARDS = SOKOBAN_SPEC_REWARDS.reward_classes


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("data") / "transitions"
    config = CollectConfig(out=out, train_levels=UNFILTERED_TEST, valid_levels=HARD, train_frames=3000,
                           valid_frames=700, num_envs=64, shard_frames=1000, max_steps=40, seed=2)
    collect(config, progress=False)
    return out


def test_collect_writes_shards_and_a_manifest(dataset_dir):
    manifest = read_manifest(dataset_dir)
    assert manifest["height"] == manifest["width"] == 10
    train, valid = manifest["splits"]["train"], manifest["splits"]["valid"]
    assert [s["frames"] for s in train["shards"]] == [1000, 1000, 1000]
    assert [s["frames"] for s in valid["shards"]] == [700]
    assert train["frames"] == 3000 and valid["frames"] == 700
    assert sum(train["reward_class_counts"]) == 3000
    assert all((dataset_dir / s["file"]).is_file() for s in train["shards"] + valid["shards"])
    assert not list(dataset_dir.glob("*.tmp"))
    assert manifest["reward_values"] == SOKOBAN_REWARDS.values.tolist()
    # the env, its observation kind and its reward classes: what fitting builds the model from
    assert manifest["env"] == "sokoban-10x10-4" and manifest["version"] == 2
    assert manifest["observation"] == {"kind": "onehot", "shape": [7, 10, 10], "num_codes": 7}
    assert manifest["terminal_classes"] == [3]


def test_a_version_1_manifest_is_read_as_sokoban_data(dataset_dir, tmp_path):
    old = tmp_path / "old"
    old.mkdir()
    manifest = read_manifest(dataset_dir)
    for key in ("env", "observation", "terminal_classes"):
        del manifest[key]
    manifest["version"] = 1
    (old / "manifest.json").write_text(json.dumps(manifest))
    for shard in manifest["splits"]["valid"]["shards"]:
        (old / shard["file"]).write_bytes((dataset_dir / shard["file"]).read_bytes())
    assert read_manifest(old)["env"] == "sokoban-10x10-4"
    data = TransitionDataset.load(old, "valid")
    assert data.spec.id == "sokoban-10x10-4" and len(data) == 700
    manifest["reward_values"] = manifest["reward_values"][::-1]
    (old / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ReverieError, match="reward classes .* are not sokoban-10x10-4's"):
        TransitionDataset.load(old, "valid")


def test_stored_transitions_follow_the_rules(dataset_dir):
    for split in ("train", "valid"):
        data = TransitionDataset.load(dataset_dir, split)
        next_codes, reward, _ = PerfectModel().step_compact(data.codes, data.action)
        assert torch.equal(next_codes, data.next_codes)  # episode ends included
        assert torch.equal(reward, data.reward)
        assert torch.equal(SOKOBAN_REWARDS.to_classes(data.reward), data.reward_class.long())


def test_split_is_by_level(dataset_dir):
    """Every training state is a position of a training level's room, never of a validation one."""
    train_bank, valid_bank = load_boxoban(UNFILTERED_TEST), load_boxoban(HARD)
    for split, bank in (("train", train_bank), ("valid", valid_bank)):
        data = TransitionDataset.load(dataset_dir, split)
        assert int(data.level.max()) < len(bank)
        walls = torch.from_numpy(bank.codes == cells.WALL)[data.level.long()]
        assert torch.equal(data.codes == cells.WALL, walls)


def test_dataset_reads_a_limit_and_draws_batches(dataset_dir):
    data = TransitionDataset.load(dataset_dir, "train", limit=1500)
    assert len(data) == 1500 and data.shape == (10, 10)
    batch = data.batch(torch.tensor([0, 5, 7]))
    assert batch["obs"].shape == (3, 7, 10, 10) and batch["obs"].dtype == torch.float32
    assert torch.equal(batch["obs"].argmax(1), data.codes[[0, 5, 7]].long())
    assert batch["next_codes"].dtype == torch.long and batch["action"].dtype == torch.long


def test_sampler_over_draws_pushes_and_rare_rewards(dataset_dir):
    data = TransitionDataset.load(dataset_dir, "train")
    pushed = box_moved(data.codes, data.next_codes, data.action)
    into_box = walked_into_box(data.codes, data.next_codes, data.action)
    assert torch.equal(data.interesting(), into_box)  # the spec's hook
    assert not (pushed & ~into_box).any()  # every push walks into a box
    blocked = into_box & ~pushed
    assert blocked.any() and torch.equal(data.codes[blocked], data.next_codes[blocked])
    plain = Sampler(data, 4000, seed=0).indices()
    boosted = Sampler(data, 4000, push_share=0.3, rare_share=0.05, seed=0).indices()
    assert into_box[boosted].float().mean() > into_box[plain].float().mean() + 0.2
    rare = data.reward_class[boosted] > 0
    assert rare.float().mean() > 0.09
    again = Sampler(data, 4000, push_share=0.3, rare_share=0.05, seed=0).indices()
    assert torch.equal(boosted, again)
    with pytest.raises(ReverieError, match="below 1"):
        Sampler(data, 8, push_share=0.9, rare_share=0.1)


def test_preplaced_starts_are_legal_positions():
    bank = load_boxoban(UNFILTERED_TEST)
    codes, moved = preplace_boxes(bank.codes, np.random.default_rng(0))
    LevelBank(codes)  # counts and borders still valid
    boxes = cells.IS_BOX[bank.codes].sum(axis=(1, 2))
    assert ((moved >= 1) & (moved <= boxes - 1)).all()
    placed = (codes == cells.BOX_ON_TARGET).sum(axis=(1, 2))
    assert np.array_equal(placed, moved)
    assert np.array_equal(codes == cells.WALL, bank.codes == cells.WALL)
    assert np.array_equal(cells.IS_TARGET[codes], cells.IS_TARGET[bank.codes])
    levels = with_preplaced(bank, 0.5, seed=1, description="x")
    assert len(levels.bank) == 2 * len(bank)
    assert np.array_equal(levels.source_index[:len(bank)], np.arange(len(bank)))
    assert (levels.preplaced[len(bank):] > 0).all()


def test_one_push_from_solved_starts_finish_with_one_push():
    bank = load_boxoban(HARD)
    codes, ok = one_push_from_solved(bank.codes, np.random.default_rng(1))
    assert ok.all()
    LevelBank(codes)  # one player, as many boxes as targets, closed border
    assert ((codes == cells.BOX).sum(axis=(1, 2)) == 1).all()
    assert np.array_equal(codes == cells.WALL, bank.codes == cells.WALL)
    state = torch.from_numpy(codes).repeat(4, 1, 1)
    actions = torch.arange(1, 5).repeat_interleave(len(codes))
    _, reward, _ = PerfectModel().step_compact(state, actions)
    finished = (SOKOBAN_REWARDS.to_classes(reward) == 3).view(4, -1)
    assert finished.sum(0).tolist() == [1] * len(codes)  # exactly one action solves each
    levels = with_preplaced(bank, 0.5, seed=0, description="x", near_solved=1.0)
    assert ((levels.bank.codes[len(bank):] == cells.BOX).sum(axis=(1, 2)) == 1).all()


def test_drop_overlap_removes_shared_levels():
    train = load_boxoban(UNFILTERED_TEST)
    valid = LevelBank(np.concatenate([load_boxoban(HARD).codes, train.codes[:3]]))
    kept, dropped = drop_overlap(valid, train)
    assert dropped == 3 and len(kept) == 20
    with pytest.raises(ReverieError, match="every validation level"):
        drop_overlap(train, train)


def test_generated_splits_come_from_disjoint_seeds(tmp_path):
    config = CollectConfig(out=tmp_path / "gen", train_frames=200, valid_frames=100, generated_levels=6,
                           size=(7, 7), boxes=1, num_envs=16, preplaced=0.0)
    manifest = collect(config, progress=False)
    assert "seed 0" in manifest["splits"]["train"]["levels"]
    assert "seed 1000003" in manifest["splits"]["valid"]["levels"]
    assert TransitionDataset.load(tmp_path / "gen", "valid").shape == (7, 7)


def test_in_memory_collection_with_a_policy():
    calls = []

    def always_right(obs):
        calls.append(obs.shape)
        return torch.full((obs.shape[0],), 4)

    data = collect_dataset(load_boxoban(HARD), 100, num_envs=10, policy=always_right)
    assert len(data) == 100 and (data.action == 4).all()
    assert calls[0] == (10, 7, 10, 10)


def test_bad_input_is_refused_clearly(tmp_path, dataset_dir):
    with pytest.raises(ReverieError, match="no such dataset folder"):
        TransitionDataset.load(tmp_path / "missing")
    with pytest.raises(ReverieError, match="both --train-levels and --valid-levels"):
        CollectConfig(train_levels=UNFILTERED_TEST)
    with pytest.raises(ReverieError, match="--preplaced"):
        CollectConfig(preplaced=1.0)
    with pytest.raises(ReverieError, match="no such level file"):
        collect(CollectConfig(out=tmp_path / "x", train_levels=tmp_path / "nope", valid_levels=HARD), progress=False)
    with pytest.raises(ReverieError, match="already holds"):
        collect(CollectConfig(out=dataset_dir), progress=False)
    with pytest.raises(ReverieError, match="no 'test' split"):
        TransitionDataset.load(dataset_dir, "test")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "manifest.json").write_text(json.dumps(read_manifest(dataset_dir)))
    (broken / "train-00000.npz").write_bytes(b"not a zip file")
    with pytest.raises(ReverieError, match="unreadable transition shard"):
        TransitionDataset.load(broken, "train")
    (broken / "manifest.json").write_text("{")
    with pytest.raises(ReverieError, match="unreadable manifest"):
        TransitionDataset.load(broken, "train")
