"""plot/figures.py: figures of surfaces: one colour scale for a comparison, the whole grid of a
partial file, eigenvalue maps, the barcode figure, refusals. (The pixels themselves:
tests/test_figures.py.)"""

from __future__ import annotations

import re

import matplotlib.text

import numpy as np
import pytest
from matplotlib.colors import CenteredNorm

from landscape import plot, store
from landscape.errors import LandscapeError, for_cli
from landscape.plot import PlotOptions
from landscape.plane.directions import Track
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


# ---------------------------------------------------------------- what a reviewer checks (issue 26)


def descent(n: int = 21, k: int = 8):
    """A bowl from 0.002 up to ~3, with a training path of k checkpoints descending into it."""
    x = y = np.linspace(-1, 1, n)
    X, Y = np.meshgrid(x, y)
    z = 0.002 + 1.5 * ((X - 0.2) ** 2 + 0.6 * (Y - 0.1) ** 2)
    t = np.linspace(0, 1, k)
    path = Track(-0.9 + 1.1 * (1 - (1 - t) ** 3), 0.8 - 0.7 * t, [f"epoch_{e}.pt" for e in range(1, k + 1)],
                 list(range(1, k + 1)))
    return in_memory(x, y, z, tracks={"trajectory": path}), path


def test_3d_surface_shows_the_training_path_on_it():
    s, path = descent()
    fig = plot.draw(s, "surface", PlotOptions(epoch_labels=True))
    ax = fig.axes[0]
    (line,) = [ln for ln in ax.lines if ln.get_gid() == "trajectory"]
    xs, ys, zs = line.get_data_3d()
    assert (xs[0], ys[0]) == pytest.approx((path.x[0], path.y[0])) and (xs[-1], ys[-1]) == pytest.approx((0.2, 0.1))
    from landscape.export.html import bilinear

    under = bilinear(s.x, s.y, s.values["train_loss"], xs, ys)
    assert np.all(zs >= under) and np.all(zs - under < 0.05 * np.ptp(s.values["train_loss"]))  # on it, not under
    labels = {t.get_text().strip() for t in ax.texts if t.get_gid() == "track-label"}
    assert {"start (1)", "end (8)", "4"} <= labels  # start, end and the checkpoints


def test_comparisons_name_the_shared_quantity_and_which_split():
    x = y = np.linspace(-1, 1, 9)
    X, Y = np.meshgrid(x, y)
    train = in_memory(x, y, 0.1 + X**2 + Y**2, name="run")
    test = in_memory(x, y, 0.3 + X**2 + Y**2, name="run2", attrs={"split": "test"})
    test.values["test_loss"] = test.values.pop("train_loss")
    test.values["test_acc"] = test.values.pop("train_acc")
    fig = plot.draw([train, test], "filled")
    assert fig.axes[-1].get_ylabel() == "loss"  # the colorbar: not "train loss" over the test panel
    assert [a.get_title() for a in fig.axes[:2]] == ["run (train)", "run2 (test)"]
    named = plot.draw([train, test], "filled", PlotOptions(labels=("SGD", "Adam")))
    assert [a.get_title() for a in named.axes[:2]] == ["SGD", "Adam"]
    a1 = in_memory(x, None, 0.1 + x**2, name="a")
    b1 = in_memory(x, None, 0.2 + x**2, name="b", attrs={"split": "test"})
    b1.values["test_loss"] = b1.values.pop("train_loss")
    b1.values["test_acc"] = b1.values.pop("train_acc")
    fig = plot.draw([a1, b1], "line")
    loss_ax, acc_ax = fig.axes
    assert (loss_ax.get_ylabel(), acc_ax.get_ylabel()) == ("loss", "accuracy (%)")
    lines = [ln for a in fig.axes for ln in a.lines if ln.get_gid() != "origin"]
    styles = {(ln.get_label(), ln.get_linestyle(), ln.get_color()) for ln in lines}
    assert styles == {("a (train): loss", "-", "tab:blue"), ("a (train): accuracy", "-", "tab:red"),
                      ("b (test): loss", "--", "tab:blue"), ("b (test): accuracy", "--", "tab:red")}


def test_levels_resolve_the_descent_and_the_models():
    s, path = descent()
    ax = plot.draw(s, "contour").axes[0]
    levels = ax.collections[0].levels
    from landscape.export.html import bilinear

    at = bilinear(s.x, s.y, s.values["train_loss"], path.x, path.y)
    bands = np.searchsorted(levels, at)
    assert len(set(bands[len(bands) // 2:])) >= 3  # the final descent crosses levels, not one band
    assert levels[0] <= at.min() * 2.5  # the levels reach down to where the path ends
    models = Track(np.array([0.0, 1.0, 0.5]), np.array([0.0, 0.0, 1.0]), ["A", "B", "C"], [None] * 3)
    plane = in_memory(s.x, s.y, s.values["train_loss"], tracks={"models": models})
    low = plot.draw(plane, "contour").axes[0].collections[0].levels[0]
    assert low < bilinear(s.x, s.y, s.values["train_loss"], models.x, models.y).max()  # no model below every level
    plain = plot.draw(in_memory(s.x, s.y, s.values["train_loss"]), "contour").axes[0].collections[0].levels
    assert np.allclose(np.diff(plain), 0.5)  # no path, no models: the paper's levels as before


def test_notes_go_to_the_caption_unless_asked_and_the_key_names_the_marks(tmp_path):
    x, y, z = wall(15)
    computed = np.ones(z.shape, dtype=bool)
    computed[-4:] = False
    s = in_memory(x, y, z, computed=computed, attrs={"note": "PCA directions, not filter-normalized"})
    fig = plot.draw(s, "filled")
    assert not fig.texts  # nothing baked in under the figure
    assert "PCA directions, not filter-normalized" in plot.figure_notes(fig)
    assert any("of 225 points computed" in n for n in plot.figure_notes(fig))
    keys = [t.get_text() for t in fig.legends[0].get_texts()]
    assert keys == ["lowest computed loss", "model"]  # what the star and the dot are
    star = next(ln for ln in fig.axes[0].lines if ln.get_gid() == "best")
    dot = next(ln for ln in fig.axes[0].lines if ln.get_gid() == "origin")
    assert star.get_zorder() > dot.get_zorder() and not star.get_clip_on()  # never hidden, never cut in half
    shown = plot.draw(s, "filled", PlotOptions(notes=True))
    assert "PCA directions" in shown.texts[0].get_text()
    written = plot.render_file(s, PlotOptions(kinds=("filled",), dpi=20), out_dir=tmp_path)
    txt, tex = written.captions
    assert (txt.name, tex.name) == ("mem.filled.caption.txt", "mem.filled.caption.tex")
    assert "PCA directions, not filter-normalized." in txt.read_text() and "Star: lowest computed loss" in txt.read_text()
    assert "x = direction 1" in txt.read_text() and "15 x 15 points" in txt.read_text()
    assert r"train\_loss" not in tex.read_text() and "\\%" not in txt.read_text()
    assert plot.latex("50% of a_b & {c}") == r"50\% of a\_b \& \{c\}"


def test_column_width_nothing_collides_or_leaves_the_figure():
    """At a journal's column width: every text inside the figure, tick labels apart, the star whole."""
    long = in_memory(*wall(15), attrs={"xlabel": "toward epoch_8.pt (orthogonalized)",
                                       "ylabel": "toward epoch_8.pt from epoch_1.pt (orthogonalized)"})
    column = PlotOptions(size=(3.3, 2.9))
    for kind, options in (("contour", column), ("filled", column), ("heatmap", column), ("barcode", column),
                          ("surface", PlotOptions(size=(3.3, 2.9), elev=60))):
        fig = plot.draw(long, kind, options)
        renderer = drawn(fig)
        frame = fig.bbox.padded(0.5)
        shown = []  # tick labels that are drawn: within the axis' view
        for ax in fig.axes:
            for axis in [a for a in (getattr(ax, n, None) for n in ("xaxis", "yaxis", "zaxis")) if a is not None]:
                lo, hi = sorted(axis.get_view_interval())
                ticks = [t.label1 for t in axis.get_major_ticks()
                         if t.label1.get_visible() and t.label1.get_text() and lo - 1e-9 <= t.get_loc() <= hi + 1e-9]
                shown += ticks
                boxes = [t.get_window_extent(renderer) for t in ticks]
                assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:]), (kind, axis)
                label = axis.label.get_window_extent(renderer)  # (a 3-D label is rotated: its box is not its ink)
                assert ax.name == "3d" or not any(label.overlaps(b) for b in boxes), (kind, axis.label.get_text())
        tick_texts = {id(t.label1) for ax in fig.axes for n in ("xaxis", "yaxis", "zaxis") if hasattr(ax, n)
                      for t in getattr(ax, n).get_major_ticks()}
        others = [t for t in fig.findobj(matplotlib.text.Text) if id(t) not in tick_texts]
        for t in shown + others:
            if t.get_visible() and t.get_text().strip():
                box = t.get_window_extent(renderer)
                assert frame.contains(box.x0, box.y0) and frame.contains(box.x1, box.y1), (kind, t.get_text())
    ax = plot.draw(long, "contour", column).axes[0]
    best = next(ln for ln in ax.lines if ln.get_gid() == "best")
    assert not best.get_clip_on()


def test_vector_files_rasterize_meshes_and_keep_text(tmp_path):
    x = y = np.linspace(-1, 1, 201)
    X, Y = np.meshgrid(x, y)
    s = in_memory(x, y, 0.1 + X**2 + Y**2, name="big")
    for kind in ("filled", "heatmap", "surface"):
        artist = plot.draw(s, kind, ax=plot_axes(kind)).artist
        assert artist.get_rasterized(), kind  # no hairline seams, no facets in a PDF
    written = plot.render_file(s, PlotOptions(kinds=("heatmap",), formats=("svg",), dpi=40), out_dir=tmp_path)
    svg = written[0].read_text()
    assert written[0].stat().st_size < 1_000_000 and "<text" in svg  # small, and its text is text


def plot_axes(kind):
    from matplotlib.figure import Figure

    return Figure().add_subplot(projection="3d" if kind == "surface" else None)


def test_wide_colorbar_labels_never_cut_the_y_label_and_3d_fills_its_figure():
    x, y, z = wall(15)
    big = in_memory(x, y, 12345.678 + 1000 * z, attrs={"ylabel": "toward epoch_8.pt (orthogonalized)"})
    fig = plot.draw(big, "filled", PlotOptions(levels=7))
    renderer = drawn(fig)
    label = fig.axes[0].yaxis.label.get_window_extent(renderer)
    assert label.x0 >= -0.5 and label.y0 >= -0.5 and label.y1 <= fig.bbox.height + 0.5
    fig = plot.draw(in_memory(x, y, z), "surface")
    renderer = drawn(fig)
    from landscape.plot.figures import _box

    box = _box(fig.axes[0], renderer)
    assert box.width >= 0.85 * fig.bbox.width or box.height >= 0.85 * fig.bbox.height  # not a third blank
