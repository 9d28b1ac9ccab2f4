"""The newcomer's path (issue 15, items 15 and 16): no silent waits, no noise, no nits a first
run trips over: help that names each default once, errors that point to the right folder,
README examples that write under runs/, one install hint."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import level
from reverie.cli.main import build_parser
from reverie.core.errors import ReverieError
from reverie.envs.sokoban.bank import LevelBank
from reverie.planning.episodes import play_levels
from reverie.planning.mc_search import MCSearch, MCSearchConfig
from reverie.workflows.pipeline import agent_run_hint

ROOT = Path(__file__).resolve().parents[1]
ENV = dict(os.environ, PYTHONPATH=str(ROOT / "src"))


def reverie(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "reverie", *args], capture_output=True, text=True,
                          env=env or ENV, cwd=cwd, timeout=300)


def _all_help(parser) -> list[tuple[str, str]]:
    found = []
    for action in parser._actions:
        for name, sub in getattr(action, "choices", None).items() if isinstance(getattr(action, "choices", None), dict) else ():
            found += [(f"{name} {flag}", text) for flag, text in _all_help(sub)]
        if action.help and action.option_strings:
            found.append((action.option_strings[-1], action.help % {"default": action.default}
                          if "%(default)" in action.help else action.help))
    return found


# -- 16: help names each default once ---------------------------------------------------------

def test_no_flag_prints_its_default_twice_or_as_none():
    helps = _all_help(build_parser())
    assert len(helps) > 50
    bad = [(flag, text) for flag, text in helps if "(default: None)" in text or text.count("(default:") > 1]
    assert not bad, bad


def test_train_help_from_the_real_command():
    done = reverie("train", "--help")
    assert done.returncode == 0
    text = " ".join(done.stdout.split())
    assert "(default: None)" not in text
    assert "episode step cap (default: the env id's)" in text and "the env id's) (default:" not in text


# -- 16: a training run folder is not a pipeline folder; a pipeline folder points to its run ----

def _training_run(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps({"train": {"env": "sokoban-6x6-1", "agent": "standard"},
                                                  "a2c": {"lr": 0.0007}}))
    (path / "metrics.jsonl").write_text("")
    return path


def test_run_out_on_a_training_run_folder_says_so(tmp_path):
    run = _training_run(tmp_path / "std")
    before = sorted(p.name for p in run.iterdir())
    done = reverie("run", "--out", str(run))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().count("\n") == 0
    assert "a training run folder, not a pipeline folder" in done.stderr and "other settings" not in done.stderr
    assert sorted(p.name for p in run.iterdir()) == before


def test_a_pipeline_folder_points_to_its_agent_run(tmp_path):
    pipe = tmp_path / "pipeline"
    _training_run(pipe / "agent")
    (pipe / "data").mkdir()
    (pipe / "model").mkdir()
    assert agent_run_hint(pipe) == f"; {pipe} is a `reverie run` folder, its agent's training run is {pipe / 'agent'}"
    assert agent_run_hint(pipe / "agent") == "" and agent_run_hint(tmp_path) == ""
    done = reverie("report", str(pipe))
    assert done.returncode == 2 and done.stderr.strip().count("\n") == 0
    assert done.stderr.strip().endswith(f"not a training run folder (no config.json and metrics.jsonl); "
                                        f"it holds {pipe / 'agent'}")


# -- 16: README examples write under runs/ (ignored), and run as printed -------------------------

def _command_block() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Use it from the command line", 1)[1]
    return section.split("```bash", 1)[1].split("```", 1)[0]


def test_readme_command_examples_write_only_under_runs():
    block = _command_block()
    outputs = re.findall(r"(?:-o|--out|--output|--png|--run-dir|--bank)\s+(\S+)", block)
    assert len(outputs) >= 8
    assert all(path.startswith("runs/") for path in outputs), outputs
    assert "runs/" in (ROOT / ".gitignore").read_text().split()


def test_readme_levels_examples_leave_only_runs_behind(tmp_path):
    lines = [line.split("#")[0].split() for line in _command_block().splitlines()]
    for words in (w for w in lines if w[:3] in (["reverie", "levels", "generate"], ["reverie", "levels", "show"])):
        done = reverie(*words[1:], cwd=tmp_path)
        assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs"]
    assert (tmp_path / "runs" / "levels" / "7x7.txt").is_file() and (tmp_path / "runs" / "level.png").is_file()


# -- 16: the install hint is the README's --------------------------------------------------------

def test_control_install_hint_matches_the_readme(monkeypatch):
    from reverie.workflows.control import ParkingTask

    monkeypatch.setitem(sys.modules, "highway_env", None)  # importing it raises ImportError
    with pytest.raises(ReverieError) as caught:
        ParkingTask().make_env()
    readme = (ROOT / "README.md").read_text()
    hint = re.search(r"pip install -e \"\.\[control\]\"", str(caught.value))
    assert hint and hint.group(0) in readme and "'reverie[control]'" not in str(caught.value)


# -- 16: parking runs quietly ----------------------------------------------------------------------

def test_parking_prints_no_sdl_or_gymnasium_noise():
    pytest.importorskip("highway_env")
    script = ("from reverie.workflows.control import ParkingTask\n"
              "env = ParkingTask(duration=2).make_env(render=True)\n"
              "env.reset(seed=0)\n"
              "for _ in range(3): env.step(env.action_space.sample())\n"
              "assert env.render().shape[-1] == 3\n"
              "env.close()\n")
    env = {k: v for k, v in ENV.items() if k not in ("SDL_VIDEODRIVER", "SDL_AUDIODRIVER", "XDG_RUNTIME_DIR")}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stderr == "" and "\x1b[" not in done.stdout + done.stderr, done.stderr


# -- 15: no silent waits -----------------------------------------------------------------------------

def test_generating_a_large_level_bank_says_so_once(tmp_path, monkeypatch, capsys):
    import reverie.envs.sokoban.presets as presets

    monkeypatch.setenv("REVERIE_CACHE", str(tmp_path))
    monkeypatch.setattr(presets, "NOTE_FROM_LEVELS", 40)
    presets.level_bank("sokoban-6x6-1", "train", train_levels=40)
    presets.level_bank("sokoban-6x6-1", "train", train_levels=30)  # under the threshold: quiet
    err = capsys.readouterr().err
    assert err == (f"reverie: generating 40 sokoban-6x6-1 train levels (first use; cached under "
                   f"{tmp_path / 'levels'})\n")
    presets.level_bank("sokoban-6x6-1", "train", train_levels=40)  # cached now
    assert capsys.readouterr().err == ""
    assert presets.NOTE_FROM_LEVELS <= 50_000 <= presets.get_preset("sokoban-7x7-2").sizes["train"]


def _search_setup():
    from test_mcts import PERFECT, bank_spec

    room = level("""
        #######
        #@ $ .#
        #     #
        #######""")
    bank = LevelBank(room.codes[None].repeat(3, 0).copy())
    spec = bank_spec(bank, 6)
    return MCSearch(PERFECT, spec, MCSearchConfig(budget=20, depth=3)), spec


def test_search_shows_progress_every_real_step(capsys, monkeypatch):
    import tqdm

    class Eager(tqdm.tqdm):  # draws every update, so the test sees each real step
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **(kwargs | {"mininterval": 0}))

    monkeypatch.setattr(tqdm, "tqdm", Eager)
    planner, spec = _search_setup()
    lines: list[str] = []
    quiet = play_levels(planner, spec, "test", 3, batch=2, log=lines.append, progress=False)
    assert capsys.readouterr().err == "" and len(lines) == 2
    planner, spec = _search_setup()
    shown = play_levels(planner, spec, "test", 3, batch=2, log=lines.append)  # a log turns the bar on
    err = capsys.readouterr().err
    assert "episodes 1-2 of 3" in err and "episodes 3-3 of 3" in err
    assert "0/2 [" in err and "real step 1/6" in err and "real step 2/6" in err  # before any episode ended
    assert shown["successes"] == quiet["successes"] and shown["mean_return"] == quiet["mean_return"]
    play_levels(*_search_setup(), "test", 3, batch=2)  # no log: quiet, as the library's callers expect
    assert capsys.readouterr().err == ""
