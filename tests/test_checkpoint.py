"""Checkpoints: round trips, atomic writes, hostile files refused; metrics resume cleanly."""

from __future__ import annotations

import os
import pickle
import random

import numpy as np
import pytest
import torch

from reverie.core.errors import ReverieError
from reverie.core.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from reverie.core.metrics import MetricsLogger, read_metrics


def test_round_trip_and_kind_check(tmp_path):
    path = save_checkpoint(tmp_path / "c.pt", {"w": torch.arange(3.0), "step": 7, "name": "x"}, "demo")
    state = load_checkpoint(path, "demo")
    assert torch.equal(state["w"], torch.arange(3.0)) and state["step"] == 7
    with pytest.raises(ReverieError, match="expected 'other'"):
        load_checkpoint(path, "other")


def test_failed_write_leaves_the_old_checkpoint(tmp_path, monkeypatch):
    path = save_checkpoint(tmp_path / "c.pt", {"step": 1}, "demo")
    with pytest.raises(TypeError, match=r"state\['bad'\] is a object"):
        save_checkpoint(path, {"step": 2, "bad": object()}, "demo")

    def broken_save(obj, f):
        f.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(ReverieError, match="cannot write .*c.pt: disk full; the previous checkpoint is intact"):
        save_checkpoint(path, {"step": 3}, "demo")
    monkeypatch.undo()
    assert load_checkpoint(path)["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]  # no temp file left behind


class _Exploit:
    def __reduce__(self):
        return (os.system, ("touch hacked",))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")  # torch notes the hostile file's protocol
def test_hostile_pickle_is_refused_and_not_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.pt"
    with open(path, "wb") as f:
        pickle.dump({"format": "reverie-checkpoint", "payload": _Exploit()}, f)
    with pytest.raises(ReverieError, match="not a readable reverie checkpoint"):
        load_checkpoint(path)
    assert not (tmp_path / "hacked").exists()


@pytest.mark.parametrize("content", [b"", b"garbage", b"PK\x03\x04truncated"])
def test_corrupt_files_give_clear_errors(tmp_path, content):
    path = tmp_path / "bad.pt"
    path.write_bytes(content)
    with pytest.raises(ReverieError, match="corrupt, truncated"):
        load_checkpoint(path)


def test_foreign_torch_file_and_missing_file(tmp_path):
    torch.save({"weights": torch.ones(2)}, tmp_path / "foreign.pt")
    with pytest.raises(ReverieError, match="not a reverie checkpoint"):
        load_checkpoint(tmp_path / "foreign.pt")
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "missing.pt")


def test_rng_state_survives_a_checkpoint(tmp_path):
    save_checkpoint(tmp_path / "rng.pt", {"rng": rng_state()}, "demo")
    expected = (random.random(), np.random.rand(), torch.rand(1).item())
    random.seed(1), np.random.seed(1), torch.manual_seed(1)
    set_rng_state(load_checkpoint(tmp_path / "rng.pt")["rng"])
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == expected


def test_metrics_drop_records_past_the_resume_step(tmp_path):
    log = MetricsLogger(tmp_path, tensorboard=False)
    for step in (10, 20, 30):
        log.log(step, {"loss": step / 10, "t": torch.tensor(1.5)})
    log.close()
    resumed = MetricsLogger(tmp_path, tensorboard=False, resume_step=20)
    resumed.log(30, {"loss": 9.0})
    resumed.close()
    records = read_metrics(tmp_path)
    assert [(r["step"], r["loss"]) for r in records] == [(10, 1.0), (20, 2.0), (30, 9.0)]
    assert records[0]["t"] == 1.5
    assert (tmp_path / "metrics.csv").read_text().splitlines()[0] == "step,loss,t"


def test_metrics_write_tensorboard_events(tmp_path):
    log = MetricsLogger(tmp_path)
    log.log(1, {"loss": 0.5})
    log.close()
    assert any((tmp_path / "tensorboard").iterdir())
