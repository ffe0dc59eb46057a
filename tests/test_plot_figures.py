"""plot/figures.py: figures of surfaces: one colour scale for a comparison, the whole grid of a
partial file, eigenvalue maps, the barcode figure, refusals. (The pixels themselves:
tests/test_figures.py.)"""

from __future__ import annotations

import re

import numpy as np
import pytest
from matplotlib.colors import CenteredNorm

from landscape import plot, store
from landscape.errors import LandscapeError, for_cli
from landscape.plot import PlotOptions
from landscape.plot.surfaces import kinds_to_write
from test_plot_surfaces import bowl, in_memory, make_surface, texts, wall
from test_plot_surfaces import no_pyplot_figures, surface1d, surface2d  # noqa: F401 (fixtures)
from test_plot_labels import drawn


def test_orientation_through_a_file(tmp_path):
    x, y = np.linspace(-1, 2, 7), np.linspace(-1, 1, 5)
    path = make_surface(tmp_path / "s.h5", x, y, lambda X, Y: (X - 0.5) ** 2 + 0.1 * Y + 1,
                        labels=("toward B", "toward C"))
    for kind in ("contour", "filled", "heatmap"):
        ax = plot.draw(store.read_surface(path), kind).axes[0]
        (best,) = [ln for ln in ax.lines if ln.get_gid() == "best"]
        assert (best.get_xdata()[0], best.get_ydata()[0]) == pytest.approx((0.5, -1))
        assert (ax.get_xlabel(), ax.get_ylabel()) == ("toward B", "toward C")
        if kind != "heatmap":
            assert ax.get_xlim() == pytest.approx((-1, 2)) and ax.get_ylim() == pytest.approx((-1, 1))
    ax = plot.draw(store.read_surface(path), "contour", PlotOptions(metric="acc")).axes[0]
    (best,) = [ln for ln in ax.lines if ln.get_gid() == "best"]
    assert (best.get_xdata()[0], best.get_ydata()[0]) == pytest.approx((0.5, -1))  # highest accuracy


def test_shared_color_scale_in_compare(tmp_path):
    a = make_surface(tmp_path / "a.h5", np.linspace(-1, 1, 9), np.linspace(-1, 1, 9))
    b = make_surface(tmp_path / "b.h5", np.linspace(-1, 1, 7), np.linspace(-1, 1, 5), lambda X, Y: 3 * bowl(X, Y) + 1)
    surfaces = [store.read_surface(a), store.read_surface(b)]
    for kind in ("contour", "filled", "heatmap"):
        fig = plot.draw(surfaces, kind)
        panels = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
        assert len(panels) == 2 and len(fig.axes) == 3  # one colorbar
        mappables = [ax.collections[0] for ax in panels]
        assert len({(m.norm.vmin, m.norm.vmax) for m in mappables}) == 1
        if kind != "heatmap":
            assert np.array_equal(mappables[0].levels, mappables[1].levels)
        assert [ax.get_title() for ax in panels] == ["a", "b"]
    written = plot.render_compare([a, b], PlotOptions(kinds=("filled", "surface"), dpi=30), out_dir=tmp_path / "cmp")
    stem = plot.compare_stem(surfaces)
    assert re.fullmatch(r"a\+b\.[0-9a-f]{6}", stem)
    assert [p.name for p in written] == [f"{stem}.filled.png", f"{stem}.surface.png"]
    with pytest.raises(LandscapeError, match="at least two"):
        plot.render_compare([a])


def test_compare_1d_overlays_lines_and_refuses_mixed(tmp_path, surface1d, surface2d):
    other = make_surface(tmp_path / "other.h5", np.linspace(-0.5, 1.5, 11), None, lambda X, Y: 2 + X)
    fig = plot.draw([store.read_surface(surface1d), store.read_surface(other)], "line")
    assert sum(len(ax.lines) for ax in fig.axes) >= 4
    assert re.fullmatch(r"interp\+other\.[0-9a-f]{6}\.line\.png",
                        plot.render_compare([surface1d, other], PlotOptions(dpi=30))[0].name)
    with pytest.raises(LandscapeError, match="1-D and 2-D"):
        plot.render_compare([surface1d, surface2d])


def test_partial_file_shows_the_whole_grid_and_says_how_much(tmp_path):
    x, y = np.linspace(-1, 1, 7), np.linspace(-1, 2, 7)
    computed = np.zeros((7, 7), dtype=bool)
    computed[:3] = True  # the lower rows only: y up to 0
    s = store.read_surface(make_surface(tmp_path / "p.h5", x, y, computed=computed))
    for kind in ("contour", "filled", "heatmap"):
        fig = plot.draw(s, kind)
        ax = fig.axes[0]
        assert ax.get_ylim()[1] >= 2 and ax.get_xlim()[0] <= -1  # the whole grid, not the computed part
        hatched = [c for c in ax.collections if c.get_gid() == "missing"]
        assert len(hatched) == 1 and hatched[0].get_hatch()
        assert "21 of 49 points computed" in texts(fig)[-1]
    line_path = make_surface(tmp_path / "l.h5", np.linspace(-0.5, 1.5, 21), None, lambda X, Y: 1 + X**2,
                             computed=np.arange(21) < 12)
    fig = plot.draw(store.read_surface(line_path), "line")
    assert fig.axes[0].get_xlim()[1] >= 1.5 and "12 of 21 points computed" in texts(fig)[-1]
    assert [p for p in fig.axes[0].patches if p.get_gid() == "missing"]


@pytest.mark.parametrize("metric,label,cmap", [("eig_max", "largest Hessian eigenvalue", "plasma"),
                                               ("eig_min", "smallest Hessian eigenvalue", "RdBu_r"),
                                               ("eig_ratio", "|λmin/λmax|", "cividis")])
def test_eigenvalue_maps(metric, label, cmap):
    x, y, z = wall(15)
    X, Y = np.meshgrid(x, y)
    emax, emin = 5 + 20 * (X**2 + Y**2), 0.5 - 3 * X**2
    s = in_memory(x, y, z, values={"eig_max": emax, "eig_min": emin, "eig_ratio": np.abs(np.minimum(emin, 0) / emax)})
    for kind in ("heatmap", "filled", "contour", "surface"):
        fig = plot.draw(s, kind, PlotOptions(metric=metric))
        ax = fig.axes[0]
        assert not [ln for ln in ax.lines if ln.get_gid() == "best"]  # no "minimum" star
        if kind in ("heatmap", "filled"):
            assert fig.axes[1].get_ylabel() == label
            mappable = ax.collections[0]
            assert mappable.get_cmap().name == cmap
            if metric == "eig_min":
                assert isinstance(mappable.norm, CenteredNorm) and mappable.norm.vcenter == 0
        if kind == "surface":
            assert ax.get_zlabel() == label
    with pytest.raises(LandscapeError, match="no eig_max"):
        plot.draw(in_memory(x, y, z), "heatmap", PlotOptions(metric="eig_max"))
    with pytest.raises(LandscapeError, match="log=True applies to the loss only") as e:
        PlotOptions(metric=metric, log=True)
    assert "--log" in for_cli(e.value.message) and e.value.field == "log"


def test_barcode_kind(surface2d, tmp_path):
    s = store.read_surface(surface2d)
    fig = plot.draw(s, "barcode")
    assert "above the threshold; smoothness" in fig.axes[0].get_title(loc="left")
    assert [p.name for p in plot.render_file(surface2d, PlotOptions(kinds=("barcode",), dpi=20))] == ["model.barcode.png"]
    with pytest.raises(LandscapeError, match="metric='loss'") as e:
        plot.draw(s, "barcode", PlotOptions(metric="acc"))
    assert "--metric loss" in for_cli(e.value.message) and e.value.field == "metric"
    assert "barcode" not in [k.value for k in kinds_to_write([s], PlotOptions(kinds="all", metric="acc"))]


def test_a_tall_plane_keeps_its_long_labels_inside_the_figure():
    # a Hessian plane: x spans less than y, labels carry eigenvalues (the figure is narrowed to the plane)
    x, y = np.linspace(-0.136, 0.136, 31), np.linspace(-0.179, 0.179, 31)
    X, Y = np.meshgrid(x, y)
    s = in_memory(x, y, 0.002 + X**2 + 2 * Y**2, attrs={"xlabel": "Hessian eigenvector 1 (λ=0.6878)",
                                                         "ylabel": "Hessian eigenvector 2 (λ=0.4359)"})
    fig = plot.draw(s, "contour", PlotOptions(dpi=110))
    renderer = drawn(fig)
    assert fig.get_figwidth() < plot.STYLE.size_2d[0]  # narrowed, not padded with white space
    frame = fig.bbox
    for ax in fig.axes:
        for label in (ax.xaxis.label, ax.yaxis.label):
            box = label.get_window_extent(renderer)
            assert frame.x0 - 0.5 <= box.x0 and box.x1 <= frame.x1 + 0.5, f"{label.get_text()!r} is cut off"


def test_draw_refuses_vtk_and_tiny_grids(tmp_path, surface2d):
    for kind in ("vtk", "html", "all"):
        with pytest.raises(LandscapeError, match=kind):
            plot.draw(store.read_surface(surface2d), kind)
    thin = make_surface(tmp_path / "thin.h5", np.linspace(-1, 1, 5), np.array([0.0]))
    with pytest.raises(LandscapeError, match="at least 2 points"):
        plot.render_file(thin)
