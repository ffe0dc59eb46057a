"""export/vtk.py: the VTK grid parses back to the data, as `plot` writes it (cut at the figures'
clip height) and as a direct call writes it; points above the cut are holes (NaN), never a
plateau at the clip height."""

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
    """A minimal reader of the legacy ASCII STRUCTURED_GRID written by write_vtk: "header" (the
    title line), "dims", "points" (n, 3), each point data array by name, and each field data
    array by name."""
    lines = path.read_text().splitlines()
    assert lines[0].startswith("# vtk DataFile") and lines[2] == "ASCII" and lines[3] == "DATASET STRUCTURED_GRID"
    out: dict[str, np.ndarray] = {"header": np.array(lines[1])}
    k = 4
    if lines[k].startswith("FIELD "):
        for _ in range(int(lines[k].split()[2])):
            name, comps, tuples, _ = lines[k + 1].split()
            count = int(comps) * int(tuples)
            out[name] = np.array([float(v) for v in " ".join(lines[k + 2:k + 3]).split()][:count])
            k += 2
        k += 1
    nx, ny, nz = map(int, lines[k].split()[1:])
    n = int(lines[k + 1].split()[1])
    assert n == nx * ny * nz
    out["dims"] = np.array([nx, ny, nz])
    out["points"] = np.array([list(map(float, r.split())) for r in lines[k + 2:k + 2 + n]])
    k += 2 + n
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
    assert "clip_height" not in vtk and "clip: none" in str(vtk["header"])
    assert vtk["drawn"].all() and vtk["computed"].all()
    logged = parse_vtk(plot.render_file(path, PlotOptions(kinds=("vtk",), log=True, zmax=1.0))[0])
    above = bowl(X, Y).ravel() > 1.0
    assert 0 < above.sum() < above.size
    assert np.isnan(logged["points"][above, 2]).all()  # holes above the cut, not a plateau at log10(1) = 0
    assert np.allclose(logged["points"][~above, 2], np.log10(bowl(X, Y)).ravel()[~above], rtol=1e-7)
    assert np.allclose(logged["train_loss"], bowl(X, Y).ravel(), rtol=1e-7)  # the values themselves, cut or not
    assert list(logged["drawn"]) == list(~above) and logged["clip_height"] == [1.0]


def test_a_huge_outlier_is_a_hole_not_a_plateau(tmp_path):
    """The automatic clip of the figures cuts one huge outlier: the grid has NaN there (a hole,
    as the meshes and the 3-D figure), not the clip height; the header and the field data say
    where the cut is."""
    x, y = np.linspace(-1, 1, 9), np.linspace(-1, 1, 7)
    X, Y = np.meshgrid(x, y)
    z = bowl(X, Y)
    z[3, 4] = 1e6
    s = in_memory(x, y, z)
    zmax = plot.clip_height(s, PlotOptions())
    assert zmax is not None and zmax < 10
    export.write_vtk(tmp_path / "spike.vtk", s, "loss", False, zmax)
    vtk = parse_vtk(tmp_path / "spike.vtk")
    heights = vtk["points"][:, 2].reshape(z.shape)
    assert np.isnan(heights[3, 4]) and np.isfinite(np.delete(heights.ravel(), 3 * 9 + 4)).all()
    assert np.nanmax(heights) < zmax  # no point sits at the clip height
    assert vtk["train_loss"].reshape(z.shape)[3, 4] == 1e6 and vtk["drawn"].sum() == z.size - 1
    assert vtk["clip_height"] == pytest.approx([zmax], rel=1e-8)
    assert f"NaN where train_loss > {zmax:.9g} (cut)" in str(vtk["header"])


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
    vtk = parse_vtk(direct)  # no cut: heights are the values, missing points are holes
    assert np.allclose(vtk["points"][:, 2], np.where(s.computed, z, np.nan).ravel(), rtol=1e-7, equal_nan=True)
    assert vtk["computed"].sum() == vtk["drawn"].sum() == s.computed.sum()


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
