"""Tests of XSB parsing and writing, Boxoban files and folders, and the level bank."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from conftest import FIXTURES, HARD, PROPERTY, SHARED_BOXOBAN, UNFILTERED_TEST, grid, xsb
from reverie.core.errors import ReverieError
from reverie.envs.sokoban import bank as bank_module
from reverie.envs.sokoban import cells
from reverie.envs.sokoban.bank import LevelBank, load_boxoban
from reverie.envs.sokoban.generator import generate_levels
from reverie.envs.sokoban.levels import (
    Level, format_level_file, level_files, load_levels, parse_level_file, parse_xsb, to_xsb,
)

W, F, T, B, BT, P, PT = range(7)

SIMPLE = xsb("""
    #######
    #@ $ .#
    #.*$  #
    #######
""")


def error(call, *args, **kwargs) -> str:
    with pytest.raises(ValueError) as info:
        call(*args, **kwargs)
    return str(info.value)


# -- XSB in both directions -----------------------------------------------------------------


def test_parse_xsb_codes_and_level_properties():
    level = parse_xsb(SIMPLE, "simple")
    expected = np.array([
        [W, W, W, W, W, W, W],
        [W, P, F, B, F, T, W],
        [W, T, BT, B, F, F, W],
        [W, W, W, W, W, W, W],
    ], dtype=np.uint8)
    np.testing.assert_array_equal(level.codes, expected)
    assert level.codes.dtype == np.uint8
    assert level.shape == (4, 7)
    assert level.name == "simple"
    assert level.player == (1, 1)
    assert level.num_boxes == 3
    assert level.targets.sum() == 3 and level.walls.sum() == 18
    assert not level.is_solved()
    assert not level.codes.flags.writeable, "a level's grid must be read-only"


def test_round_trip_with_every_character():
    text = xsb("""
        ########
        #+ $ . #
        #.*$ @ #
        ########
    """)
    # Two players are illegal, so check the grid conversion on raw codes, then a legal level.
    codes = grid(text)
    assert to_xsb(codes) == text
    legal = xsb("""
        #######
        #+ $  #
        # *$. #
        #######
    """)
    level = parse_xsb(legal)
    assert to_xsb(level.codes) == legal == level.to_xsb()
    assert level.codes[1, 1] == PT and level.codes[2, 2] == BT
    assert parse_xsb(level.to_xsb()) == level


@pytest.mark.parametrize("alias", ["-", "_"])
def test_floor_aliases(alias):
    text = SIMPLE.replace(" ", alias)
    assert alias in text
    level = parse_xsb(text)
    assert level == parse_xsb(SIMPLE)
    assert level.to_xsb() == SIMPLE, "floor is always written as a space"


def test_blank_lines_around_a_level_and_crlf_are_ignored():
    assert parse_xsb("\n\n" + SIMPLE + "\n\n  \n") == parse_xsb(SIMPLE)
    assert parse_xsb(SIMPLE.replace("\n", "\r\n")) == parse_xsb(SIMPLE)


def test_unreachable_floor_outside_the_walls_is_allowed():
    text = " #####\n #@$.#\n #####"
    level = parse_xsb(text)
    assert (level.codes[:, 0] == F).all()
    assert level.to_xsb() == text


def test_level_equality_and_hash_follow_the_grid():
    a, b = parse_xsb(SIMPLE, "a"), parse_xsb(SIMPLE, "b")
    assert a == b and hash(a) == hash(b)
    c = parse_xsb(SIMPLE.replace("@ $", " @$"))
    assert a != c
    assert "3 boxes" in repr(a) and "4x7" in repr(a)


# -- every malformed level --------------------------------------------------------------------


def test_unknown_character_names_level_line_column_and_character():
    text = SIMPLE.replace(".*", ".x")
    assert error(parse_xsb, text, "lv") == "lv, line 3, column 3: unknown character 'x'"
    # first_line shifts the line, leading blank lines shift it further
    msg = error(parse_xsb, "\n\n" + text, "lv", first_line=10)
    assert msg == "lv, line 14, column 3: unknown character 'x'"
    assert error(parse_xsb, "####\n#@\t#\n####", "tab").startswith("tab, line 2, column 3: unknown character '\\t'")


def test_no_player():
    assert error(parse_xsb, SIMPLE.replace("@", " "), "lv") == "lv (lines 1-4): no player ('@' or '+') in the level"


def test_two_players_point_at_both():
    text = SIMPLE.replace("$  #", "$ @#")
    assert error(parse_xsb, text, "lv", first_line=5) == (
        "lv, line 7, column 6: a second player (the first is at line 6, column 2)"
    )
    text = SIMPLE.replace("#@", "#+").replace("#.*", "#+*")
    assert "line 3, column 2: a second player (the first is at line 2, column 2)" in error(parse_xsb, text)


def test_boxes_and_targets_must_match():
    assert error(parse_xsb, SIMPLE.replace(" .#", "  #"), "lv") == "lv (lines 1-4): 3 boxes but 2 targets"
    assert error(parse_xsb, SIMPLE.replace("#@ ", "#@."), "lv") == "lv (lines 1-4): 3 boxes but 4 targets"
    assert error(parse_xsb, "#####\n#@  #\n#####", "lv") == "lv (lines 1-3): no boxes"


def test_already_solved():
    msg = error(parse_xsb, "#####\n#@* #\n#####", "lv")
    assert msg == "lv (lines 1-3): already solved (every box is on a target)"


def test_ragged_rows_and_pad():
    text = "#####\n#@$.#\n####"
    msg = error(parse_xsb, text, "lv")
    assert msg.startswith("lv, line 3, column 5: ragged row (4 characters where the widest row has 5)")
    assert "pad=True" in msg
    level = parse_xsb(text, "lv", pad=True)
    assert level.shape == (3, 5)
    assert level.codes[2, 4] == F
    assert level.to_xsb() == text + " "
    # a short row in the middle, with the missing cells outside the walls
    text = " ####\n##@$.#\n #####"
    msg = error(parse_xsb, text, "lv", first_line=3)
    assert msg.startswith("lv, line 3, column 6: ragged row (5 characters where the widest row has 6)")
    assert parse_xsb(text, pad=True).codes[0, 5] == F


@pytest.mark.parametrize("text, line, column", [
    ("#####\n#@$. \n#####", 2, 5),
    ("## ##\n#@$.#\n#####", 1, 3),
    ("######\n#@$. #\n#### #\n#### #", 4, 5),
])
def test_open_border_names_the_escape_cell(text, line, column):
    msg = error(parse_xsb, text, "lv")
    assert msg == f"lv, line {line}, column {column}: open border: the player can walk off the map here"


def test_open_border_behind_a_box_counts():
    # The player can push the box out of the way, so the gap beyond it is an escape.
    msg = error(parse_xsb, "######\n#.@$  \n######", "lv")
    assert msg == "lv, line 2, column 6: open border: the player can walk off the map here"


@pytest.mark.parametrize("text", ["", "\n", "  \n\n   \n"])
def test_empty_level(text):
    assert error(parse_xsb, text, "lv") == "lv: empty level"


# -- level files ----------------------------------------------------------------------------


def fixture_lines(path: Path) -> list[str]:
    return path.read_text().split("\n")


def test_parse_level_file_reads_boxoban_headers():
    text = UNFILTERED_TEST.read_text()
    levels = parse_level_file(text, "src")
    assert len(levels) == 20
    assert [lv.name for lv in levels] == [f"src level {i}" for i in range(20)]
    lines = text.split("\n")
    for i in (0, 7, 19):
        assert lines[12 * i] == f"; {i}"
        assert levels[i] == parse_xsb("\n".join(lines[12 * i + 1: 12 * i + 11]))
        assert levels[i].to_xsb() == "\n".join(lines[12 * i + 1: 12 * i + 11])
    for lv in levels:
        assert lv.shape == (10, 10) and lv.num_boxes == 4


def test_parse_level_file_blank_line_separated():
    text = "#####\n#@$.#\n#####\n\n\n######\n#.$@ #\n######\n"
    levels = parse_level_file(text, "src")
    assert [lv.name for lv in levels] == ["src level 0", "src level 1"]
    assert levels[1].shape == (3, 6) and levels[1].player == (1, 3)


def corrupt(text: str, line: int, column: int, char: str) -> str:
    lines = text.split("\n")
    row = lines[line - 1]
    lines[line - 1] = row[: column - 1] + char + row[column:]
    return "\n".join(lines)


def test_malformed_level_in_a_file_reports_the_file_line():
    text = UNFILTERED_TEST.read_text()
    # level 5 starts on line 62 (its header on 61): corrupt its 4th row, column 7
    bad = corrupt(text, 65, 7, "x")
    assert error(parse_level_file, bad, "f.txt") == "f.txt level 5, line 65, column 7: unknown character 'x'"
    # level 7 (lines 86-95) has its player on line 94, column 9; add one on line 87
    bad = corrupt(text, 87, 6, "@")
    assert error(parse_level_file, bad, "f.txt") == (
        "f.txt level 7, line 94, column 9: a second player (the first is at line 87, column 6)"
    )


def test_open_border_and_ragged_row_in_a_file_report_the_file_line():
    text = "; a\n#####\n#@$.#\n#####\n\n; b\n#####\n#@$. \n#####\n"
    assert error(parse_level_file, text, "s") == (
        "s level b, line 8, column 5: open border: the player can walk off the map here"
    )
    text = "; a\n#####\n#@$.#\n#####\n\n; b\n#####\n#@$.\n#####\n"
    assert error(parse_level_file, text, "s").startswith("s level b, line 8, column 5: ragged row")
    # padding the short row with floor opens the border instead
    assert "line 8, column 5: open border" in error(parse_level_file, text, "s", pad=True)


def test_whole_level_errors_in_a_file_name_the_level():
    text = "; a\n#####\n#@$.#\n#####\n\n; b\n#####\n# $.#\n#####\n"
    assert error(parse_level_file, text, "s") == "s level b (lines 7-9): no player ('@' or '+') in the level"


def test_format_level_file_round_trip():
    levels = parse_level_file(HARD.read_text(), "h")
    text = format_level_file(levels)
    assert parse_level_file(text, "h") == levels
    assert text == HARD.read_text(), "the fixture is in exactly the Boxoban layout"


# -- Boxoban files and folders ----------------------------------------------------------------


def test_load_boxoban_file():
    bank = load_boxoban(UNFILTERED_TEST)
    assert len(bank) == 20 and bank.shape == (10, 10)
    assert bank.codes.dtype == np.uint8 and bank.codes.shape == (20, 10, 10)
    assert bank.names == [f"{UNFILTERED_TEST} level {i}" for i in range(20)]
    assert (bank.num_boxes == 4).all()
    expected = np.stack([lv.codes for lv in load_levels(UNFILTERED_TEST)])
    np.testing.assert_array_equal(bank.codes, expected)
    assert bank[3] == parse_xsb("\n".join(fixture_lines(UNFILTERED_TEST)[37:47]))
    assert bank[3].name == f"{UNFILTERED_TEST} level 3"


def test_load_boxoban_folder_and_str_path():
    bank = load_boxoban(FIXTURES)
    assert level_files(FIXTURES) == [HARD, UNFILTERED_TEST]
    assert len(bank) == 40
    np.testing.assert_array_equal(bank.codes[:20], load_boxoban(HARD).codes)
    np.testing.assert_array_equal(bank.codes[20:], load_boxoban(UNFILTERED_TEST).codes)
    assert bank.names[20] == f"{UNFILTERED_TEST} level 0"
    np.testing.assert_array_equal(load_boxoban(str(FIXTURES)).codes, bank.codes)
    limited = load_boxoban(FIXTURES, limit=25)
    np.testing.assert_array_equal(limited.codes, bank.codes[:25])
    assert limited.names == bank.names[:25]


def test_fast_and_slow_paths_give_identical_banks(monkeypatch):
    for path in (HARD, UNFILTERED_TEST):
        assert bank_module._parse_uniform(path.read_text()) is not None, "fast path unused"
    fast = load_boxoban(FIXTURES)
    monkeypatch.setattr(bank_module, "_parse_uniform", lambda text: None)
    slow = load_boxoban(FIXTURES)
    np.testing.assert_array_equal(fast.codes, slow.codes)
    assert fast.names == slow.names
    by_level = LevelBank.from_levels(load_levels(FIXTURES))
    np.testing.assert_array_equal(fast.codes, by_level.codes)


def test_load_boxoban_reports_a_malformed_level_with_file_and_line(tmp_path):
    path = tmp_path / "000.txt"
    path.write_text(corrupt(HARD.read_text(), 65, 7, "x"))
    assert error(load_boxoban, path) == f"{path} level 5, line 65, column 7: unknown character 'x'"
    # the same through a folder, and for a level whose boxes and targets disagree
    text = HARD.read_text().split("\n")
    row = next(i for i in range(25, 35) if "$" in text[i])
    text[row] = text[row].replace("$", " ", 1)
    path.write_text("\n".join(text))
    assert error(load_boxoban, tmp_path) == f"{path} level 2 (lines 26-35): 3 boxes but 4 targets"


def test_load_boxoban_refuses_an_already_solved_level(tmp_path):
    # Every wall and count check passes, so only the solved check can catch this one.
    path = tmp_path / "solved.txt"
    text = "; 0\n#####\n#@$.#\n#####\n\n; 1\n#####\n#@* #\n#####\n"
    path.write_text(text)
    assert error(load_boxoban, path) == f"{path} level 1 (lines 7-9): already solved (every box is on a target)"


def test_headerless_level_file_loads_like_the_slow_path(tmp_path):
    # A file without "; N" headers must not be read as Boxoban's layout: the fast path once
    # took the first row for a header and loaded this level without it.
    text = "##########\n##########\n#@$.######\n##########\n"
    path = tmp_path / "lone.txt"
    path.write_text(text)
    assert load_levels(path)[0].shape == (4, 10)
    np.testing.assert_array_equal(load_boxoban(path).codes, grid(text.strip())[None])


def test_load_boxoban_refuses_mixed_sizes_and_missing_paths(tmp_path):
    (tmp_path / "a.txt").write_text("; 0\n#####\n#@$.#\n#####\n")
    (tmp_path / "b.txt").write_text("; 0\n######\n#@$. #\n######\n")
    assert "levels of several sizes" in error(load_boxoban, tmp_path)
    (tmp_path / "b.txt").write_text("; 0\n######\n#@$. #\n######\n\n; 1\n#####\n#@$.#\n#####\n")
    assert "a level bank holds levels of one size" in error(load_boxoban, tmp_path / "b.txt")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert error(load_boxoban, empty) == f"{empty}: no level files (*.txt) in this folder"
    with pytest.raises(FileNotFoundError, match="no such level file or folder"):
        load_boxoban(tmp_path / "missing")


@pytest.mark.skipif(not SHARED_BOXOBAN.is_dir(), reason="the full Boxoban set is not here")
def test_fixtures_are_the_first_levels_of_the_shared_set():
    for name in ("unfiltered/test/000.txt", "hard/000.txt"):
        shared = (SHARED_BOXOBAN / name).read_text().split("\n")
        assert (FIXTURES / name).read_text().split("\n") == shared[:240] + [""]
        full = load_boxoban(SHARED_BOXOBAN / name)
        np.testing.assert_array_equal(full.codes[:20], load_boxoban(FIXTURES / name).codes)
    assert (FIXTURES / "LICENSE").read_bytes() == (SHARED_BOXOBAN / "LICENSE").read_bytes()


# -- the level bank ---------------------------------------------------------------------------


def test_bank_indexing_slicing_and_tensor():
    bank = load_boxoban(HARD)
    part = bank[2:5]
    assert isinstance(part, LevelBank) and len(part) == 3
    assert part.names == bank.names[2:5]
    np.testing.assert_array_equal(part.codes, bank.codes[2:5])
    assert isinstance(bank[4], Level) and bank[4] == Level(bank.codes[4])
    assert LevelBank(bank.codes)[1].name == "bank level 1"
    flat = bank.tensor()
    assert flat.shape == (20, 100) and str(flat.dtype) == "torch.uint8"
    assert bank.tensor("cpu") is flat
    np.testing.assert_array_equal(flat.numpy(), bank.codes.reshape(20, -1))


def test_bank_save_load_round_trip(tmp_path):
    bank = load_boxoban(FIXTURES)
    path = tmp_path / "deep" / "er" / "bank.npz"
    bank.save(path)
    again = LevelBank.load(path)
    np.testing.assert_array_equal(again.codes, bank.codes)
    assert again.names == bank.names
    assert sorted(p.name for p in path.parent.iterdir()) == ["bank.npz"], "temp file left"
    # without names, and overwriting the file in place
    LevelBank(bank.codes[:3]).save(path)
    again = LevelBank.load(str(path))
    assert again.names is None and len(again) == 3
    assert sorted(p.name for p in path.parent.iterdir()) == ["bank.npz"]


def test_bank_save_is_atomic(tmp_path, monkeypatch):
    bank = load_boxoban(HARD)
    path = tmp_path / "bank.npz"
    bank.save(path)
    before = path.read_bytes()

    def broken(file, **arrays):
        file.write(b"PK\x03\x04 half a zip")
        raise OSError("disk full")

    monkeypatch.setattr(bank_module.np, "savez_compressed", broken)
    with pytest.raises((OSError, ReverieError), match="disk full"):  # atomic_write: "cannot write PATH: ..."
        bank[:2].save(path)
    assert path.read_bytes() == before, "a failed save damaged the existing bank"
    assert os.listdir(tmp_path) == ["bank.npz"], "a failed save left its temp file"


def test_corrupt_bank_files_raise_value_error_with_the_path(tmp_path):
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"this is not a level bank at all" * 10)
    msg = error(LevelBank.load, garbage)
    assert msg.startswith(f"{garbage}: not a reverie level bank")
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, levels=np.zeros((1, 3, 3), np.uint8))
    assert error(LevelBank.load, wrong).startswith(f"{wrong}: not a reverie level bank")
    half = tmp_path / "half.npz"
    np.savez(half, codes=load_boxoban(HARD).codes)  # no names
    assert error(LevelBank.load, half).startswith(f"{half}: not a reverie level bank")
    objects = tmp_path / "objects.npz"
    np.savez(objects, codes=np.array([None, 1], dtype=object), names=np.array([]))
    assert error(LevelBank.load, objects).startswith(f"{objects}: not a reverie level bank")


def _truncated(path: Path) -> None:
    load_boxoban(HARD).save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize("make", [
    pytest.param(lambda p: p.write_bytes(b""), id="empty-file"),
    pytest.param(_truncated, id="truncated-npz"),
    pytest.param(lambda p: np.save(p.open("wb"), np.zeros(3)), id="npy-not-npz"),
])
def test_damaged_bank_files_raise_value_error(tmp_path, make):
    # Empty files, truncated archives and plain .npy arrays each raise their own numpy or
    # zipfile exception type; all must come out as ValueError naming the file.
    path = tmp_path / "bank.npz"
    make(path)
    assert error(LevelBank.load, path).startswith(f"{path}: not a reverie level bank")


def test_missing_bank_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        LevelBank.load(tmp_path / "missing.npz")


def test_bank_with_bad_levels_is_refused():
    good = load_boxoban(HARD).codes[:3].copy()
    assert "cell code 7" in error(LevelBank, np.where(good == W, 7, good))
    two = good.copy()
    two[1, 1:9, 1:9][two[1, 1:9, 1:9] == F] = P  # many players in level 1
    assert error(LevelBank, two).startswith("level bank: level 1 has")
    unbalanced = good.copy()
    unbalanced[2][unbalanced[2] == B] = F
    assert error(LevelBank, unbalanced) == "level bank: level 2 has 1 players, 0 boxes, 4 targets"
    open_border = good.copy()
    open_border[0, 0, 5] = F
    assert "level 0 has a non-wall border cell" in error(LevelBank, open_border)
    assert "[N, H, W]" in error(LevelBank, good[0])
    assert "[N, H, W]" in error(LevelBank, good[:0])
    assert error(LevelBank, good, ["a"]) == "1 names for 3 levels"
    small = parse_xsb("#####\n#@$.#\n#####")
    assert "one size" in error(LevelBank.from_levels, [small, load_boxoban(HARD)[0]])
    assert "at least one level" in error(LevelBank.from_levels, [])


# -- property tests ---------------------------------------------------------------------------


@st.composite
def valid_levels(draw) -> np.ndarray:
    """Random playable grids: closed rooms with floor and walls, one player, boxes = targets
    (some boxes and the player possibly on targets), optional floor columns outside."""
    height, width = draw(st.integers(3, 8)), draw(st.integers(4, 9))
    inner_cells = (height - 2) * (width - 2)
    plain = draw(st.integers(1, 4))
    placed = draw(st.integers(0, 3))
    player_on_target = draw(st.booleans())
    extra_targets = plain - int(player_on_target)
    needed = 1 + plain + placed + extra_targets
    assume(needed <= inner_cells)
    order = draw(st.permutations(range(inner_cells)))
    inner = np.array(draw(st.lists(st.sampled_from([W, F, F]), min_size=inner_cells,
                                   max_size=inner_cells)), dtype=np.uint8)
    special = [PT if player_on_target else P] + [B] * plain + [BT] * placed + [T] * extra_targets
    for pos, code in zip(order, special):
        inner[pos] = code
    codes = np.zeros((height, width), dtype=np.uint8)
    codes[1:-1, 1:-1] = inner.reshape(height - 2, width - 2)
    left, right = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    return np.pad(codes, ((0, 0), (left, right)), constant_values=F)


@PROPERTY
@given(codes=valid_levels(), alias=st.sampled_from([" ", "-", "_"]))
def test_random_valid_levels_round_trip(codes, alias):
    text = to_xsb(codes)
    assert set(text) <= set(cells.CHARS) | {"\n"}
    level = parse_xsb(text.replace(" ", alias))
    np.testing.assert_array_equal(level.codes, codes)
    assert level.to_xsb() == text
    (player,) = np.argwhere(cells.IS_PLAYER[codes])
    assert level.player == tuple(player)


@PROPERTY
@given(codes=st.lists(valid_levels(), min_size=1, max_size=4))
def test_random_levels_round_trip_through_level_files(codes):
    levels = [Level(c, f"l{i}") for i, c in enumerate(codes)]
    parsed = parse_level_file(format_level_file(levels), "src")
    assert parsed == levels
    assert [lv.name for lv in parsed] == [f"src level {i}" for i in range(len(levels))]


def test_generated_levels_round_trip_through_boxoban_files(tmp_path):
    for height, width, boxes in ((7, 7, 2), (10, 10, 4)):
        bank = generate_levels(30, height, width, boxes, seed=9)
        for level in bank:
            assert parse_xsb(level.to_xsb()) == level
        path = tmp_path / f"{height}.txt"
        path.write_text(format_level_file(list(bank)))
        loaded = load_boxoban(path)
        np.testing.assert_array_equal(loaded.codes, bank.codes)
        assert loaded.names == [f"{path} level {i}" for i in range(30)]


def test_a_header_names_only_the_level_after_it():
    levels = parse_level_file("; a\n#####\n#@$.#\n#####\n\n#####\n#.$@#\n#####\n", "s")
    assert [level.name for level in levels] == ["s level a", "s level 1"]


# -- hostile level files (issue 15, item 11) ---------------------------------------------------

def test_a_utf8_bom_is_not_part_of_the_level(tmp_path):
    path = tmp_path / "bom.txt"
    path.write_bytes(b"\xef\xbb\xbf; 0\n" + SIMPLE.encode() + b"\n")
    assert [level.to_xsb() for level in load_levels(path)] == [SIMPLE]
    assert len(load_boxoban(path)) == 1
    assert parse_level_file("\ufeff" + SIMPLE)[0].to_xsb() == SIMPLE


def test_a_non_utf8_file_is_named(tmp_path):
    (tmp_path / "good.txt").write_text("; 0\n" + SIMPLE + "\n")
    (tmp_path / "image.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    for load in (load_levels, load_boxoban):
        assert error(load, tmp_path).startswith(f"{tmp_path / 'image.txt'}: not a UTF-8 text level file")


def test_an_empty_level_file_is_an_error(tmp_path):
    (tmp_path / "empty.txt").write_text("\n\n")
    assert "no levels" in error(load_levels, tmp_path / "empty.txt")


def test_a_bank_border_error_names_file_line_and_column(tmp_path):
    # Floor outside the walls is legal XSB (the player cannot reach it) but not in a bank.
    path = tmp_path / "open.txt"
    path.write_text("; 7\n######\n#@$.# \n######\n")
    assert len(load_levels(path)) == 1
    message = error(load_boxoban, path)
    assert message.startswith(f"{path} level 7, line 3, column 6: a level bank needs a wall"), message
