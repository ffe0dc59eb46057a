"""Guard the reading, not the program: only what reading a file raises becomes "damaged"."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from landscape import basins, store
from landscape.errors import LandscapeError, for_cli
from landscape.run import info
from landscape.store import hdf5


def _surface(path):
    with h5py.File(path, "w") as f:
        f["xcoordinates"] = np.linspace(-1, 1, 4)
        f["ycoordinates"] = np.linspace(-1, 1, 3)
        f["train_loss"] = np.arange(12.0).reshape(3, 4) + 1
    return path


def test_a_bug_after_the_read_stays_a_bug(tmp_path, monkeypatch):
    path = _surface(tmp_path / "s.h5")
    assert "basins" in info.summary(path)

    def broken(*a, **k):
        raise ZeroDivisionError("a bug in the basins code")

    monkeypatch.setattr(basins, "summary", broken)
    with pytest.raises(ZeroDivisionError, match="a bug in the basins code"):
        info.summary(path)  # not "damaged ... compute it again": the file is fine


def test_a_bug_inside_a_reader_is_not_called_damage(tmp_path):
    path = _surface(tmp_path / "s.h5")

    def reader():
        with store.open_file(path) as f:
            return f.attrs.no_such_attribute  # AttributeError: the reader's bug

    with pytest.raises(AttributeError):
        store.guarded(path, reader)


def test_what_a_damaged_file_raises_is_damage(tmp_path):
    path = _surface(tmp_path / "s.h5")

    def reader():
        with store.open_file(path) as f:
            return f["no such dataset"][()]  # KeyError, as h5py raises for a missing node

    with pytest.raises(LandscapeError, match="is damaged") as e:
        store.guarded(path, reader)
    assert "overwrite=True" in str(e.value) and "--overwrite" in for_cli(e.value.message)
    assert KeyError in hdf5.READ_ERRORS and AttributeError not in hdf5.READ_ERRORS


def test_read_attrs_is_guarded(tmp_path):
    path = tmp_path / "junk.h5"
    path.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(200))
    with pytest.raises(LandscapeError, match="damaged"):
        store.read_attrs(path)
    assert store.read_attrs(_surface(tmp_path / "s.h5")) == {}
