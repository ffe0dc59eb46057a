"""export/vtk.py: the VTK grid parses back to the data, as `plot` writes it (cut at the figures'
clip height) and as a direct call writes it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from landscape import export, plot
from landscape.errors import LandscapeError, for_cli
from landscape.plot import PlotOptions
from test_plot_surfaces import bowl, in_memory, make_surface, wall


def parse_vtk(path: Path) -> dict[str, np.ndarray]:
    """A minimal reader of the legacy ASCII STRUCTURED_GRID written by write_vtk."""
    lines = path.read_text().splitlines()
    assert lines[0].startswith("# vtk DataFile") and lines[2] == "ASCII" and lines[3] == "DATASET STRUCTURED_GRID"
    nx, ny, nz = map(int, lines[4].split()[1:])
    n = int(lines[5].split()[1])
    assert n == nx * ny * nz
    out = {"dims": np.array([nx, ny, nz]), "points": np.array([list(map(float, r.split())) for r in lines[6:6 + n]])}
    k = 6 + n
    assert lines[k] == f"POINT_DATA {n}"
    k += 1
    while k < len(lines):
        name = lines[k].split()[1]
        out[name] = np.array([float(v) for v in lines[k + 2:k + 2 + n]])
        k += 2 + n
    return out


def test_vtk_parses_back(tmp_path):
    x, y = np.linspace(-1, 1, 5), np.linspace(-0.5, 0.5, 3)
    path = make_surface(tmp_path / "v.surface.h5", x, y)
    (written,) = plot.render_file(path, PlotOptions(kinds=("vtk",), formats=("pdf",)))
    assert written.name == "v.vtk"
    vtk = parse_vtk(written)
    X, Y = np.meshgrid(x, y)
    assert list(vtk["dims"]) == [5, 3, 1]
    assert np.allclose(vtk["points"][:, 0], X.ravel()) and np.allclose(vtk["points"][:, 1], Y.ravel())
    assert np.allclose(vtk["points"][:, 2], bowl(X, Y).ravel(), rtol=1e-7)
    assert np.allclose(vtk["train_loss"], bowl(X, Y).ravel(), rtol=1e-7)
    logged = parse_vtk(plot.render_file(path, PlotOptions(kinds=("vtk",), log=True, zmax=1.0))[0])
    assert np.allclose(logged["points"][:, 2], np.minimum(np.log10(bowl(X, Y)), 0.0).ravel(), rtol=1e-7)


def test_a_direct_call_writes_what_plot_writes(tmp_path):
    """`export.write_vtk` at `plot.clip_height` is the file `render_file` writes, for an automatic
    cut of a steep wall, a given one, a log scale and no cut."""
    x, y, z = wall(15)
    s = in_memory(x, y, z, computed=np.arange(z.size).reshape(z.shape) % 7 != 3)
    for o in (PlotOptions(), PlotOptions(zmax=2.0), PlotOptions(log=True), PlotOptions(log=True, zmax=3.0),
              PlotOptions(zmax=np.inf)):
        (written,) = plot.render_file(s, dataclasses.replace(o, kinds=("vtk",)), out_dir=tmp_path)
        direct = tmp_path / "direct.vtk"
        export.write_vtk(direct, s, "loss", o.log, plot.clip_height(s, o))
        assert direct.read_bytes() == written.read_bytes()
    vtk = parse_vtk(direct)  # no cut: heights are the values, missing points at the highest
    assert np.allclose(vtk["points"][:, 2], np.where(s.computed, z, z.max()).ravel(), rtol=1e-7)
    assert vtk["computed"].sum() == s.computed.sum()


def test_vtk_refusals(tmp_path):
    x, y, z = wall(5)
    with pytest.raises(LandscapeError, match="vtk export needs a 2-D surface") as e:
        export.write_vtk(tmp_path / "l.vtk", in_memory(x, None, z[0]))
    assert e.value.field == "kinds" and "--kind line" in for_cli(e.value.message, {"kinds": "--kind"})
    with pytest.raises(LandscapeError, match="log=True applies to the loss only") as e:
        export.write_vtk(tmp_path / "a.vtk", in_memory(x, y, z), "acc", log=True)
    assert "--log applies to the loss only" in for_cli(e.value.message) and "--metric loss" in for_cli(e.value.message)
    with pytest.raises(LandscapeError, match="nothing to export"):
        export.write_vtk(tmp_path / "n.vtk", in_memory(x, y, z, computed=np.zeros(z.shape, bool)))
    assert not list(tmp_path.iterdir())
