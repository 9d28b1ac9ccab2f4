"""reverie.core.memory: the allocator setting the reverie command makes."""

from __future__ import annotations

import sys

from reverie.core import memory


def test_reuse_freed_memory_is_idempotent_and_reports_glibc(monkeypatch):
    monkeypatch.setattr(memory, "_applied", None)
    first = memory.reuse_freed_memory()
    assert memory.reuse_freed_memory() is first  # a second call changes nothing
    if sys.platform.startswith("linux"):
        import platform

        if platform.libc_ver()[0] == "glibc":
            assert first is True


def test_without_mallopt_it_does_nothing(monkeypatch):
    class NoMallopt:
        def __init__(self, name):
            pass

    monkeypatch.setattr(memory, "_applied", None)
    monkeypatch.setattr(memory.ctypes, "CDLL", NoMallopt)
    assert memory.reuse_freed_memory() is False


def test_the_command_sets_it_before_running(monkeypatch, tmp_path):
    import importlib

    cli = importlib.import_module("reverie.cli.main")  # the module (the package exports its function)

    calls = []
    monkeypatch.setattr(cli, "reuse_freed_memory", lambda: calls.append(1))
    assert cli.main(["model", "evaluate", "--model", str(tmp_path / "missing.pt"), "--data", str(tmp_path)]) == 2
    assert calls == [1]
