"""The `reverie` command: the level commands and their demo, and one-line errors for bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from conftest import FIXTURES
from reverie.cli.main import main
from reverie.envs.sokoban.levels import load_levels

ROOT = Path(__file__).resolve().parents[1]
HARD_FILE = FIXTURES / "hard" / "000.txt"


def run_cli(*args: str) -> tuple[int, str, str]:
    """Run the real console entry in a child process (what a user types)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    out = subprocess.run([sys.executable, "-m", "reverie", *args], capture_output=True, text=True,
                         env=env, timeout=120)
    return out.returncode, out.stdout, out.stderr


def test_levels_demo_writes_its_outputs(tmp_path, capsys):
    code = main(["levels", "demo", "--levels", "3", "--height", "7", "--width", "7", "--boxes", "2",
                 "--out", str(tmp_path), "--quiet"])
    assert code == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["levels"] == 3 and summary["solved"] == 3
    assert summary["gif_replay_solved"] is True
    assert len(load_levels(tmp_path / "levels.txt")) == 3
    gif = Image.open(tmp_path / "solution.gif")
    assert gif.n_frames >= 2 and gif.size == (7 * 8 * 4, 7 * 8 * 4)
    solutions = json.loads((tmp_path / "solutions.json").read_text())
    assert all(r["pushes"] >= 1 and len(r["actions"]) == r["moves"] for r in solutions)
    assert "solved 3/3" in capsys.readouterr().out


def test_generate_is_reproducible_and_solvable(tmp_path):
    first, second = tmp_path / "a.txt", tmp_path / "b.txt"
    assert main(["levels", "generate", "-n", "4", "--size", "7x7", "--boxes", "2", "--seed", "5", "-o", str(first)]) == 0
    assert main(["levels", "generate", "-n", "4", "--size", "7x7", "--boxes", "2", "--seed", "5", "-o", str(second)]) == 0
    assert first.read_text() == second.read_text()
    assert main(["levels", "solve", str(first)]) == 0


def test_solve_json_reports_each_level(capsys):
    assert main(["levels", "solve", str(HARD_FILE), "--limit", "2", "--json", "--actions"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["summary"]["solved"] == 2
    assert all(set(row["actions"]) <= set("udlr") for row in report["levels"])


def test_show_prints_xsb_and_writes_png(tmp_path, capsys):
    png = tmp_path / "level.png"
    assert main(["levels", "show", str(HARD_FILE), "--index", "0", "--png", str(png), "--scale", "1"]) == 0
    out = capsys.readouterr().out
    assert out.count("#") > 20 and "@" in out
    assert Image.open(png).size == (80, 80)


@pytest.mark.parametrize("args, message", [
    (["levels", "solve", "/no/such/levels"], "no such level file or folder"),
    (["levels", "show", str(HARD_FILE), "--index", "999"], "out of range"),
    (["levels", "generate", "-n", "2", "--size", "4x4", "--boxes", "9"], "error:"),
    (["levels", "demo", "--levels", "0", "--out", "unused"], "--levels must be >= 1"),
])
def test_bad_input_is_one_line_and_nonzero(args, message):
    code, out, err = run_cli(*args)
    assert code == 2
    assert message in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_malformed_level_names_file_line_and_column(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("; 0\n#####\n#@$x#\n#####\n")
    code, _, err = run_cli("levels", "show", str(bad))
    assert code == 2
    assert f"{bad} level 0, line 3, column 4: unknown character 'x'" in err


def test_play_refuses_a_non_terminal():
    code, _, err = run_cli("play", str(HARD_FILE))
    assert code == 2 and "interactive terminal" in err


def test_bad_flag_is_an_argparse_error():
    code, _, err = run_cli("levels", "generate", "--size", "ten")
    assert code == 2 and "size must look like 10x10" in err
