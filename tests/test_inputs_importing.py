"""Importing the user's code changes no global state: `sys.path` is the caller's to decide."""

from __future__ import annotations

import sys

import pytest

from landscape.errors import LandscapeError, for_cli
from landscape.inputs.importing import import_object, user_code_importable


def test_import_object_leaves_sys_path_alone(tmp_path, monkeypatch):
    (tmp_path / "unseen_nets.py").write_text("from unseen_helper import WIDTH\ndef f(): return WIDTH\n")
    (tmp_path / "unseen_helper.py").write_text("WIDTH = 7\n")
    (tmp_path / "unseen_flat.py").write_text("def g(): return 3\n")
    monkeypatch.chdir(tmp_path)
    before = list(sys.path)
    assert import_object(f"{tmp_path / 'unseen_flat.py'}:g", "model")() == 3
    assert sys.path == before  # a file spec: nothing added
    with pytest.raises(LandscapeError, match="model .*importing .* failed: ModuleNotFoundError") as e:
        import_object(f"{tmp_path / 'unseen_nets.py'}:f", "model")  # its sibling is not importable: the caller decides
    assert "--model" in for_cli(e.value.message) and sys.path == before
    with pytest.raises(LandscapeError, match="no module named 'unseen_nets'"):
        import_object("unseen_nets:f", "model")
    assert sys.path == before


def test_the_command_line_decides_once(tmp_path, monkeypatch):
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "unseen_nets.py").write_text("from unseen_helper import WIDTH\ndef f(): return WIDTH\n")
    (tmp_path / "lib" / "unseen_helper.py").write_text("WIDTH = 7\n")
    (tmp_path / "unseen_mine.py").write_text("def h(): return 5\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", ".", str(tmp_path))])
    user_code_importable(["lib/unseen_nets.py:f", None, "pkg.mod:x"])
    assert sys.path[-2:] == [str(tmp_path), str(tmp_path / "lib")]  # behind the installed packages
    assert import_object("lib/unseen_nets.py:f", "model")() == 7
    assert import_object("unseen_mine:h", "model")() == 5
    user_code_importable(["lib/unseen_nets.py:f"])  # idempotent
    assert sys.path.count(str(tmp_path / "lib")) == 1
