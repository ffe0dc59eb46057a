"""run/info.py: what `landscape info` says about a surface file: the grid, the settings and the plan
it was made with, progress, the loss, the centre, non-finite values and the basins."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from landscape.errors import LandscapeError
from landscape.run.info import summary


def _rows(text):
    return {line.split("  ", 1)[0]: line.split("  ", 1)[1].strip() for line in text.splitlines()}


def _bowl(path, computed=None, **attrs):
    x, y = np.linspace(-1, 1, 5), np.linspace(-1, 1, 3)
    X, Y = np.meshgrid(x, y)
    with h5py.File(path, "w") as f:
        f["xcoordinates"], f["ycoordinates"] = x, y
        f["train_loss"] = np.where(computed if computed is not None else True, X**2 + Y**2 + 1, np.nan)
        if computed is not None:
            f["computed"] = computed
        f.attrs.update(attrs)
        plan = f.create_group("plan")
        plan.attrs.update(precision="fp32", batch_size=7, reasons=np.array(["precision: exact, the CPU default",
                                                                         "batch_size: given"], dtype=h5py.string_dtype()))
    return path


def test_a_whole_surface(tmp_path):
    path = _bowl(tmp_path / "s.h5", checkpoint="m.pt", model="landscape.models:digits_cnn", norm="filter",
                 xlabel="direction 1", ylabel="direction 2")
    text = summary(path)
    rows = _rows(text)
    assert rows["surface"] == str(path)
    assert rows["grid"] == "x -1:1:5  y -1:1:3  (15 points)"
    assert rows["checkpoint"] == "m.pt" and rows["model"] == "landscape.models:digits_cnn" and rows["norm"] == "filter"
    assert rows["plane"] == "direction 1 × direction 2"
    assert rows["plan precision"] == "fp32  (exact, the CPU default)" and rows["plan batch_size"] == "7"  # "given": not said
    assert rows["progress"] == "15/15 points computed (100.0%)"
    assert rows["train_loss"] == "min 1  max 3"
    assert rows["center"] == "train_loss 1 at the model itself (0, 0)"
    assert rows["basins"].startswith("1")
    assert "non-finite" not in rows
    keys = [line.split("  ", 1)[0] for line in text.splitlines()]
    assert keys.index("grid") < keys.index("checkpoint") < keys.index("plan precision") < keys.index("progress")
    assert len({line.index(rows[k]) for line, k in zip(text.splitlines(), keys) if k != "basins"}) == 1  # aligned


def test_a_partial_surface_with_a_diverged_point(tmp_path):
    computed = np.zeros((3, 5), bool)
    computed[0, :3] = True
    path = _bowl(tmp_path / "s.h5", computed=computed)
    with h5py.File(path, "r+") as f:
        f["train_loss"][0, 1] = np.inf
    rows = _rows(summary(path))
    assert rows["progress"] == "3/15 points computed (20.0%)"
    assert rows["non-finite"] == "1 computed points have inf or NaN train_loss"
    assert rows["train_loss"] == "min 2  max 3" and "center" not in rows  # (0, 0) not computed yet


def test_a_file_that_is_not_a_surface_is_a_user_error(tmp_path):
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(200))
    with pytest.raises(LandscapeError, match="damaged"):
        summary(junk)
