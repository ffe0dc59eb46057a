"""plot/render.py: writing figures and exports: names, formats, folders, replacing, atomic
writes, and the exports handed to `export` at the figures' clip height."""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest
from matplotlib.figure import Figure

from landscape import plot, store
from landscape.errors import LandscapeError, for_cli
from landscape.plot import PlotOptions
from test_plot_surfaces import bowl, in_memory, make_surface, wall
from test_plot_surfaces import no_pyplot_figures, surface1d, surface2d  # noqa: F401 (fixtures)
from test_export_vtk import parse_vtk


def assert_png(path: Path, size: tuple[float, float], dpi: int) -> None:
    img = matplotlib.image.imread(path)
    assert img.shape[:2] == (round(size[1] * dpi), round(size[0] * dpi))
    assert img[..., :3].std() > 0.05, "the image is blank"


@pytest.mark.parametrize("kind", ["contour", "filled", "heatmap", "surface"])
def test_each_2d_kind_renders_each_format(surface2d, kind):
    opts = PlotOptions(kinds=(kind,), formats=("png", "pdf", "svg"), dpi=40, size=(4, 3))
    written = plot.render_file(surface2d, opts)
    assert [p.name for p in written] == [f"model.{kind}.png", f"model.{kind}.pdf", f"model.{kind}.svg"]
    assert_png(written[0], (4, 3), 40)
    assert written[1].read_bytes().startswith(b"%PDF")
    assert b"<svg" in written[2].read_bytes()[:2000]
    assert not [p for p in surface2d.parent.iterdir() if p.name.endswith(".tmp")]


def test_line_renders_each_format(surface1d):
    written = plot.render_file(surface1d, PlotOptions(formats=("png", "pdf", "svg"), dpi=50, size=(5, 3)))
    assert [p.name for p in written] == ["interp.line.png", "interp.line.pdf", "interp.line.svg"]
    assert_png(written[0], (5, 3), 50)


def test_default_kinds_names_and_out_dir(surface2d, tmp_path):
    written = plot.render_file(surface2d, PlotOptions(dpi=30), out_dir=tmp_path / "figs")
    assert [p.name for p in written] == ["model.contour.png", "model.filled.png", "model.surface.png"]
    assert all(p.parent == tmp_path / "figs" and p.stat().st_size > 0 for p in written)
    everything = plot.render_file(surface2d, PlotOptions(kinds=("all",), dpi=30))
    assert [p.name for p in everything] == ["model.contour.png", "model.filled.png", "model.heatmap.png",
                                            "model.surface.png", "model.barcode.png", "model.vtk"]


def test_kind_that_does_not_fit_names_the_fitting_ones(surface1d, surface2d):
    with pytest.raises(LandscapeError, match="line"):
        plot.render_file(surface1d, PlotOptions(kinds=("contour",)))
    with pytest.raises(LandscapeError, match="contour, filled"):
        plot.render_file(surface2d, PlotOptions(kinds=("line",)))
    assert not list(surface2d.parent.glob("*.png"))  # checked before anything is written


def test_masked_nan_inf_and_partial_points(tmp_path):
    x, y = np.linspace(-1, 1, 7), np.linspace(-1, 1, 7)

    def broken(X, Y):
        z = bowl(X, Y)
        z[0, 0], z[0, 1], z[6, 6] = np.nan, np.inf, 1e9  # diverged points and one huge value
        return z

    computed = np.ones((7, 7), dtype=bool)
    computed[3:, :] = False
    computed[3, :2] = True
    path = make_surface(tmp_path / "partial.h5", x, y, broken, computed=computed)
    s = store.read_surface(path)
    assert plot.blanks(s) == ("26 of 49 points not computed yet (hatched in the figures); "
                                "2 computed points have an inf or NaN loss (hatched red in the figures)")
    written = plot.render_file(path, PlotOptions(kinds=("all",), dpi=30))
    assert len(written) == 6
    assert matplotlib.image.imread(written[0]).shape[1] == round(plot.STYLE.size_2d[0] * 30)
    vtk = parse_vtk(written[-1])
    assert np.isfinite(vtk["points"][:, :2]).all()  # holes where not computed or diverged, never a plateau
    assert (np.isnan(vtk["points"][:, 2]) == (vtk["drawn"] == 0)).all() and (vtk["drawn"] == 0).sum() == 26 + 2
    assert vtk["computed"].sum() == 49 - 26 - 2


def test_failed_write_leaves_no_partial_file(surface2d, monkeypatch):
    def broken_savefig(self, fname, **kwargs):
        fname.write(b"half an image")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Figure, "savefig", broken_savefig)
    with pytest.raises(LandscapeError, match="No space left"):
        plot.render_file(surface2d, PlotOptions(kinds=("contour",)))
    assert not [p for p in surface2d.parent.iterdir() if p.name.startswith((".model", "model.contour"))]


def test_unwritable_out_dir(surface2d, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(LandscapeError, match="output folder"):
        plot.render_file(surface2d, out_dir=blocker / "figs")


def test_compare_names_never_collide_and_replacements_are_reported(tmp_path):
    a = make_surface(tmp_path / "a.h5", np.linspace(-1, 1, 5), np.linspace(-1, 1, 5))
    b = make_surface(tmp_path / "b.h5", np.linspace(-1, 1, 5), np.linspace(-1, 1, 5))
    c = make_surface(tmp_path / "c.h5", np.linspace(-1, 1, 5), np.linspace(-1, 1, 5))
    (tmp_path / "x").mkdir()
    a2 = make_surface(tmp_path / "x" / "a.h5", np.linspace(-1, 1, 5), np.linspace(-1, 1, 5))
    out = tmp_path / "figs"
    opts = PlotOptions(kinds=("heatmap",), dpi=20)
    first = plot.render_compare([a, b], opts, out)
    names = {p.name for p in first}
    for other in ([a, c], [b, a], [a2, b]):  # other files, another order, same names in another folder
        again = plot.render_compare(other, opts, out)
        assert not names & {p.name for p in again} and again.replaced == []
        names |= {p.name for p in again}
    assert len([p for p in out.iterdir() if p.suffix == ".png"]) == 4
    assert len([p for p in out.iterdir() if ".caption." in p.name]) == 8  # plain and LaTeX beside each figure
    same = plot.render_compare([a, b], opts, out)
    assert list(same) == list(first) and same.replaced == list(first) + first.captions  # reported, never silent
    with pytest.raises(LandscapeError, match="already exist"):
        plot.render_compare([a, b], opts, out, overwrite=False)
    long = [make_surface(tmp_path / f"{'n' * 30}{k}.h5", np.linspace(-1, 1, 3), np.linspace(-1, 1, 3)) for k in range(3)]
    stem = plot.compare_stem([store.read_surface(p) for p in long])
    assert re.fullmatch(r"n{30}0\+2-more\.[0-9a-f]{6}", stem)


def test_render_file_overwrite_flag(surface2d):
    opts = PlotOptions(kinds=("contour", "vtk"), dpi=20)
    first = plot.render_file(surface2d, opts)
    assert first.replaced == []
    assert plot.render_file(surface2d, opts).replaced == list(first) + first.captions
    before = {p: p.stat().st_mtime_ns for p in first}
    with pytest.raises(LandscapeError, match="model.contour.png"):
        plot.render_file(surface2d, PlotOptions(kinds=("heatmap", "contour"), dpi=20), overwrite=False)
    assert not (surface2d.parent / "model.heatmap.png").exists()  # nothing written when refused
    assert {p: p.stat().st_mtime_ns for p in first} == before


def test_in_memory_surface(tmp_path):
    s = in_memory(*wall(9), name=None)
    written = plot.render_file(s, PlotOptions(kinds=("contour",), dpi=20), out_dir=tmp_path)
    assert [p.name for p in written] == ["surface.contour.png"]
    with pytest.raises(LandscapeError, match="out_dir"):
        plot.render_file(s, PlotOptions(kinds=("contour",), dpi=20))


def test_exports_are_dispatched_to_the_export_module(surface2d, monkeypatch):
    from landscape import export

    calls = []

    def fake(kind):
        def write(path, surface, *args, **kwargs):
            Path(path).write_text(kind)
            calls.append((kind, Path(path), args, kwargs))
        return write

    for kind in ("html", "obj", "ply"):
        monkeypatch.setattr(export, f"write_{kind}", fake(kind))
    s = store.read_surface(surface2d)
    opts = PlotOptions(kinds=("html", "obj", "ply"), zmax=0.5, title="T")
    written = plot.render_file(surface2d, opts)
    assert [p.name for p in written] == ["model.html", "model.obj", "model.ply"]
    assert [p.read_text() for p in written] == ["html", "obj", "ply"]
    assert all(path.parent != surface2d.parent for _, path, _, _ in calls)  # written to a temporary path
    zmax = plot.clip_height(s, opts)
    assert zmax == 0.5
    look = calls[0][3]
    assert {k: look[k] for k in ("metric", "log", "zmax", "title")} == dict(metric="loss", log=False, zmax=zmax, title="T")
    # the page shares the figures' camera, levels and colours, and one plotly.js per folder
    assert (look["elev"], look["azim"], look["js_folder"]) == (plot.STYLE.elev, plot.STYLE.azim, surface2d.parent)
    assert np.allclose(look["levels"], plot.draw(s, "contour").axes[0].collections[0].levels)
    assert look["colorscale"][0] == [0.0, "#440154"] and look["colorscale"][-1] == [1.0, "#fde725"]  # viridis
    assert calls[1][2] == ("loss", False, zmax) and calls[2][2] == ("loss", False, zmax)
    x, y, z = wall()
    z[0, 0] = 1e4  # an outlier three decades above the bowl: cut, at the same height in the figure
    auto = plot.clip_height(in_memory(x, y, z), PlotOptions())
    assert auto is not None and auto == pytest.approx(plot.draw(in_memory(x, y, z), "surface").axes[0].get_zlim()[1])
    assert plot.clip_height(in_memory(*wall()), PlotOptions()) is None  # a steep wall is not an outlier
    assert plot.clip_height(s, PlotOptions()) is None  # an ordinary bowl is not cut
    everything = [p.name for p in plot.render_file(surface2d, PlotOptions(kinds="all", dpi=20))]
    assert not [n for n in everything if n.endswith((".html", ".obj", ".ply"))]


def test_file_refusals_name_the_argument(surface2d, tmp_path):
    with pytest.raises(LandscapeError, match="give out_dir") as e:
        plot.render_file(in_memory(*wall(9), name=None), PlotOptions(kinds=("contour",), dpi=20))
    assert e.value.field == "out_dir" and "give --out" in for_cli(e.value.message, {"out_dir": "--out"})
    plot.render_file(surface2d, PlotOptions(kinds=("heatmap",), dpi=20))
    with pytest.raises(LandscapeError, match=r"allow replacing them \(overwrite=True\) or choose another out_dir") as e:
        plot.render_file(surface2d, PlotOptions(kinds=("heatmap",), dpi=20), overwrite=False)
    assert e.value.field == "overwrite" and "(--overwrite)" in for_cli(e.value.message)
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(LandscapeError, match="choose another out_dir") as e:
        plot.render_file(surface2d, out_dir=blocker / "figs")
    assert e.value.field == "out_dir"
    with pytest.raises(LandscapeError, match="unknown format 'jpg'") as e:
        plot.save_figure(plot.draw(store.read_surface(surface2d), "contour"), tmp_path / "f.jpg")
    assert e.value.field == "target" and not (tmp_path / "f.jpg").exists()
    with pytest.raises(LandscapeError, match="at least two") as e:
        plot.render_compare([surface2d])
    assert e.value.field == "paths"


def test_other_metrics_and_scales_never_replace_the_loss_figure(surface2d):
    loss = plot.render_file(surface2d, PlotOptions(kinds=("contour",), dpi=20))
    acc = plot.render_file(surface2d, PlotOptions(kinds=("contour",), metric="acc", dpi=20))
    log = plot.render_file(surface2d, PlotOptions(kinds=("contour", "vtk"), log=True, dpi=20))
    assert [p.name for p in loss + acc + log] == ["model.contour.png", "model.acc.contour.png", "model.log.contour.png",
                                                  "model.log.vtk"]
    assert acc.replaced == [] and log.replaced == []  # nothing overwritten ("replaced ...contour.png" before)
    assert [p.name for p in acc.captions] == ["model.acc.contour.caption.txt", "model.acc.contour.caption.tex"]


def test_a_hessian_file_draws_its_spectral_density(tmp_path):
    from test_readers import hessian_file

    path = hessian_file(tmp_path / "h.hessian.h5")
    written = plot.render_file(path, PlotOptions(formats=("png", "pdf"), size=(3.3, 2.5), style="dark", dpi=30))
    assert [p.name for p in written] == ["h.hessian.density.png", "h.hessian.density.pdf"]
    assert "top 2 eigenvalues (3, 1.5)" in written.captions[0].read_text()
    assert matplotlib.image.imread(written[0]).shape[:2] == (round(2.5 * 30), round(3.3 * 30))  # the size asked for
    with pytest.raises(LandscapeError, match="spectral density only"):
        plot.render_file(path, PlotOptions(kinds=("contour",)))
    assert not plot.is_hessian_file(tmp_path / "missing.h5")
