"""export/clip.py: what every output draws of a surface's values and where it cuts them; the
arguments it refuses, named as Python arguments (the CLI renders them as flags)."""

from __future__ import annotations

import numpy as np
import pytest

from landscape import export
from landscape.errors import LandscapeError, for_cli
from test_export_meshes import read_obj, surface


def test_metric_and_argument_errors(tmp_path):
    s = surface()
    export.write_obj(tmp_path / "acc.obj", s, metric="acc")
    v, *_ = read_obj(tmp_path / "acc.obj")
    assert v[:, 2].max() <= 100 and v[:, 2].min() > 0
    with pytest.raises(LandscapeError, match="loss only"):
        export.write_obj(tmp_path / "x.obj", s, metric="acc", log=True)
    with pytest.raises(LandscapeError, match="nothing to export"):
        export.write_ply(tmp_path / "x.ply", s, zmax=0.01)
    with pytest.raises(LandscapeError, match="> 0 with log=True") as e:
        export.write_ply(tmp_path / "x.ply", s, log=True, zmax=-1)
    assert "zmax must be > 0 with log=True" in str(e.value) and e.value.field == "zmax"
    assert "--zmax must be > 0 with --log" in for_cli(e.value.message)
    with pytest.raises(LandscapeError, match="no eig_ratio"):
        export.write_ply(tmp_path / "x.ply", s, metric="eig_ratio")
    export.write_obj(tmp_path / "inf.obj", s, zmax=float("inf"))  # inf: no clip
    assert len(read_obj(tmp_path / "inf.obj")[0]) == 20
    line = surface(y=None)
    for writer in (export.write_obj, export.write_ply):
        with pytest.raises(LandscapeError, match="a mesh needs a 2-D surface"):
            writer(tmp_path / "line.mesh", line)
    assert not (tmp_path / "line.mesh").exists() and not (tmp_path / "x.ply").exists()


def test_the_clip_height_is_shared_and_automatic():
    """One clip height for every output: q95 + (q95 - q5) of the values by default (cuts a single
    steep wall, not an ordinary bowl), the given zmax, none for inf; in the metric's units even
    with log."""
    s = surface(np.linspace(-1, 1, 21), np.linspace(-1, 1, 21))
    z = export.clip.scaled(s.values["train_loss"], False)
    assert export.clip_height(z, None, False) is None  # an ordinary bowl is not cut
    wall = z.copy()
    wall[0, 0] = 1e6
    q5, q95 = np.percentile(wall.compressed(), [5, 95])
    assert export.clip_height(wall, None, False) == pytest.approx(q95 + (q95 - q5))
    assert export.clip_height(wall, 2.0, False) == 2.0 and export.clip_height(wall, np.inf, False) is None
    logged = export.clip.scaled(wall, True)
    assert export.clip_height(logged, 2.0, True) == pytest.approx(2.0)
    assert export.clip.cap(logged, 2.0, True) == pytest.approx(np.log10(2.0))


def test_what_can_be_drawn():
    v = np.array([1.0, np.nan, np.inf, -np.inf, 1e101, -1e100, 0.0, -2.0])
    assert export.drawable(v).tolist() == [True, False, False, False, False, True, True, True]
    logged = export.clip.scaled(v, True)
    assert logged.mask.tolist() == [False, True, True, True, True, True, True, True]  # no log of a loss <= 0
    assert logged[0] == 0.0


def test_nothing_left_to_export_names_the_clip(tmp_path):
    s = surface()
    with pytest.raises(LandscapeError, match="none is finite and at most zmax") as e:
        export.write_obj(tmp_path / "x.obj", s, zmax=0.01)
    assert e.value.field == "zmax" and "at most --zmax" in for_cli(e.value.message)
    with pytest.raises(LandscapeError, match="zmax must be a number") as e:
        export.write_obj(tmp_path / "x.obj", s, zmax=float("nan"))
    assert "--zmax must be a number" in for_cli(e.value.message)
