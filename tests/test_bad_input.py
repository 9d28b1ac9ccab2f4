"""Bad input and a hostile world (issue 15, items 6-11): one line on stderr, exit 2, no traceback,
nothing half-written; and the values that used to pass validation and crash later."""

from __future__ import annotations

import errno
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from reverie.cli.main import main
from reverie.core.devices import check_device
from reverie.core.errors import ReverieError
from reverie.core.limits import MAX_SEED, check_limits, check_seed
from reverie.models.grid import GridModelConfig
from reverie.training.actor_critic import A2CConfig
from reverie.training.model_fitting import FitConfig

ROOT = Path(__file__).resolve().parents[1]
LEVEL = "; 0\n#####\n#@$.#\n#####\n"


def run_cli(*args: str, patch: str = "") -> tuple[int, str, str]:
    """The real entry point in a child process; ``patch``: Python run first (a hostile world)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    code = textwrap.dedent(patch) + "\nimport sys\nfrom reverie.cli.main import main\nsys.exit(main(sys.argv[1:]))"
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, timeout=120)
    return out.returncode, out.stdout, out.stderr


def one_line_error(code: int, err: str, *needles: str) -> None:
    assert code == 2, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    for needle in needles:
        assert needle in err, err


# -- 6: read-only folders and full disks --------------------------------------------------------

FULL_DISK = """
import errno, os
def _full(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
os.fsync = _full
"""


def test_full_disk_on_levels_generate_is_one_line_and_leaves_nothing(tmp_path):
    out = tmp_path / "levels.txt"
    code, _, err = run_cli("levels", "generate", "-n", "2", "--size", "6x6", "--boxes", "1", "-o", str(out),
                           patch=FULL_DISK)
    one_line_error(code, err, f"cannot write {out}", "No space left on device")
    assert os.listdir(tmp_path) == [], "a failed write left a file behind"


def test_output_under_a_regular_file_is_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, _, err = run_cli("levels", "generate", "-n", "1", "--size", "6x6", "--boxes", "1",
                           "-o", str(blocker / "levels.txt"))
    one_line_error(code, err, str(blocker / "levels.txt"))


@pytest.mark.parametrize("number", [errno.EROFS, errno.ENOSPC, errno.EACCES])
def test_any_os_error_becomes_one_line_with_the_path(tmp_path, monkeypatch, capsys, number):
    import PIL.Image

    png = tmp_path / "levels.png"

    def refuse(self, fp, *args, **kwargs):
        raise OSError(number, os.strerror(number), str(fp))

    monkeypatch.setattr(PIL.Image.Image, "save", refuse)
    level_file = tmp_path / "one.txt"
    level_file.write_text(LEVEL)
    assert main(["levels", "show", str(level_file), "--png", str(png)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and os.strerror(number) in err and str(png) in err
    if number != errno.EACCES:
        assert f"cannot write {png}" in err


def test_an_os_error_chained_inside_another_error_is_one_line(tmp_path, monkeypatch, capsys):
    import reverie.evaluation.pictures as pictures

    def torch_like(images, path, **kwargs):  # torch.save wraps a failed write in a RuntimeError
        try:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        except OSError as err:
            raise RuntimeError("PytorchStreamWriter failed writing file data/0: file write failed") from err

    monkeypatch.setattr(pictures, "save_montage", torch_like)
    level_file = tmp_path / "one.txt"
    level_file.write_text(LEVEL)
    assert main(["levels", "show", str(level_file), "--png", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err
    assert err == f"reverie: error: cannot write {tmp_path / 'x.png'}: No space left on device\n"


# -- 7: devices, threads, sizes, seeds ----------------------------------------------------------

@pytest.mark.parametrize("args, needle", [
    (["train", "--device", "banana"], "is not a torch device"),
    (["train", "--num-envs", "10000000"], "GiB"),
    (["train", "--train-levels", "100000000"], "above the cap"),
    (["train", "--seed", "100000000000000000000"], "--seed must be an integer"),
    (["train", "--lr", "inf"], "--lr must be a finite number > 0"),
    (["train", "--entropy-coef", "nan"], "--entropy-coef"),
    (["train", "--optim-eps", "0"], "--optim-eps"),
    (["train", "--rmsprop-alpha", "2"], "--rmsprop-alpha"),
    (["train", "--max-grad-norm", "nan"], "--max-grad-norm"),
    (["model", "fit", "--device", "banana"], "is not a torch device"),
    (["model", "fit", "--lr", "nan"], "--lr"),
    (["model", "fit", "--channels", "100000,100000"], "parameters, above the cap"),
    (["search", "--levels", "sokoban-6x6-1", "--budget", "4", "--threads", "-1"], "--threads"),
    (["search", "--levels", "sokoban-6x6-1", "--budget", "4", "--seed", str(2**64)], "--seed"),
    (["levels", "generate", "--seed", str(2**64)], "--seed"),
    (["levels", "solve", "unused.txt", "--time-limit", "-1"], "--time-limit must be >= 0"),
])
def test_bad_values_are_refused_in_one_line_before_any_write(tmp_path, capsys, args, needle):
    # in-process for speed (a traceback would fail the test too); the real entry point below
    run_dir = tmp_path / "run"
    extra = ["--run-dir", str(run_dir)] if args[0] == "train" else []
    extra += ["--out", str(run_dir)] if args[:2] == ["model", "fit"] else []
    code = main([*args, *extra])
    one_line_error(code, capsys.readouterr().err, needle)
    assert not run_dir.exists(), "a refused run left a folder behind"


def test_a_bad_value_through_the_real_entry_point(tmp_path):
    code, _, err = run_cli("train", "--lr", "inf", "--run-dir", str(tmp_path / "run"))
    one_line_error(code, err, "--lr must be a finite number > 0")
    assert not (tmp_path / "run").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a torch without CUDA")
def test_cuda_on_a_cpu_only_torch_is_one_line(tmp_path, capsys):
    code, _, err = run_cli("train", "--device", "cuda", "--run-dir", str(tmp_path / "run"))
    one_line_error(code, err, "sees no CUDA device")
    assert main(["model", "fit", "--device", "cuda", "--out", str(tmp_path / "run")]) == 2
    one_line_error(2, capsys.readouterr().err, "sees no CUDA device")
    assert not (tmp_path / "run").exists()


def test_check_device_parses_and_checks_in_one_place():
    assert check_device("cpu") == torch.device("cpu")
    with pytest.raises(ReverieError, match="not a torch device"):
        check_device("banana")
    if not torch.cuda.is_available():
        with pytest.raises(ReverieError, match="sees no CUDA"):
            check_device("cuda:0")


def test_seed_limits():
    assert check_seed(0) == 0 and check_seed(MAX_SEED - 1) == MAX_SEED - 1
    for bad in (-1, MAX_SEED, 2**64, 1.5, True):
        with pytest.raises(ReverieError, match="--seed"):
            check_seed(bad)
    with pytest.raises(ReverieError, match="--threads"):
        check_limits(SimpleNamespace(threads=-2))


def test_search_threads_zero_means_torchs_default(capsys):
    threads = torch.get_num_threads()
    try:
        assert main(["search", "--levels", "sokoban-6x6-1", "--budget", "4", "--depth", "2", "--episodes", "1",
                     "--threads", "0", "--quiet", "--solver-time-limit", "0"]) == 0
    finally:
        torch.set_num_threads(threads)


# -- 8: values that passed validation and crashed later ----------------------------------------

@pytest.mark.parametrize("field, value", [
    ("lr", math.inf), ("lr", math.nan), ("entropy_coef", math.nan), ("value_coef", math.inf),
    ("max_grad_norm", math.nan), ("optim_eps", 0.0), ("optim_eps", math.nan), ("rmsprop_alpha", 2.0),
    ("rmsprop_alpha", 0.0), ("rmsprop_alpha", math.nan),
])
def test_a2c_config_refuses_non_finite_and_out_of_range_values(field, value):
    with pytest.raises(ReverieError, match=f"--{field.replace('_', '-')}"):
        A2CConfig(**{field: value})


def test_a2c_config_keeps_its_valid_edges():
    A2CConfig(max_grad_norm=0.0, entropy_coef=0.0, value_coef=0.0)


@pytest.mark.parametrize("field, value", [
    ("lr", math.inf), ("lr", math.nan), ("weight_decay", math.nan), ("reward_weight", math.inf),
    ("time_limit", math.nan), ("push_share", math.nan), ("seed", -1), ("device", "banana"),
])
def test_fit_config_refuses_non_finite_values(field, value):
    with pytest.raises(ReverieError):
        FitConfig(**{field: value})


def test_grid_model_config_refuses_a_huge_model_before_allocating():
    with pytest.raises(ReverieError, match="parameters, above the cap"):
        GridModelConfig(channels=(100_000, 100_000))
    with pytest.raises(ReverieError, match="parameters, above the cap"):
        GridModelConfig(reward_hidden=10**9)


# -- 11: level files ------------------------------------------------------------------------------

def test_empty_level_file_is_refused_by_solve_and_search(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    code, out, err = run_cli("levels", "solve", str(empty))
    one_line_error(code, err, str(empty), "no levels")
    assert "solved 0/0" not in out
    code, _, err = run_cli("search", "--levels", str(empty), "--budget", "4")
    one_line_error(code, err, str(empty), "no levels")


def test_binary_file_in_a_folder_is_named(tmp_path):
    (tmp_path / "a.txt").write_text(LEVEL)
    (tmp_path / "b.txt").write_bytes(bytes(range(128, 256)))
    code, _, err = run_cli("levels", "solve", str(tmp_path))
    one_line_error(code, err, str(tmp_path / "b.txt"), "not a UTF-8")


def test_utf8_bom_is_accepted(tmp_path, capsys):
    bom = tmp_path / "bom.txt"
    bom.write_bytes(b"\xef\xbb\xbf" + LEVEL.encode())
    assert main(["levels", "solve", str(bom)]) == 0
    assert "solved 1/1" in capsys.readouterr().out
