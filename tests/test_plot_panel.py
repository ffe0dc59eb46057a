"""plot/panel.py: every kind drawn into a caller's axes (`draw(..., ax=ax)`), returning what it
drew: the artist, levels, colorbar, hatching, tracks, labels, legend and notes; nothing global
changes and nothing private is hung on matplotlib's objects."""

from __future__ import annotations

import matplotlib as mpl
import numpy as np
import pytest
from matplotlib.collections import QuadMesh
from matplotlib.colors import to_hex
from matplotlib.container import BarContainer
from matplotlib.contour import QuadContourSet
from matplotlib.figure import Figure
from matplotlib.text import Text
from mpl_toolkits.mplot3d.art3d import Poly3DCollection

from landscape import export, plot
from landscape.errors import LandscapeError
from landscape.plane.directions import Track
from landscape.plot import PlotOptions
from test_plot_labels import assert_apart, drawn, extents
from test_plot_surfaces import in_memory, no_pyplot_figures, wall  # noqa: F401 (a fixture)


def partial_with_runs():
    """A 21 x 21 bowl, its upper rows not computed, one diverged point, two training runs."""
    x, y, z = wall(21)
    computed = np.ones(z.shape, dtype=bool)
    computed[15:] = False
    z = z.copy()
    z[2, 3] = np.inf
    t = np.linspace(0, 1, 5)
    runs = Track(np.r_[-0.8 * (1 - t), 0.7 * (1 - t)], np.r_[-0.6 * (1 - t), -0.5 * (1 - t)],
                 [f"e{k}" for k in range(10)], list(range(1, 6)) * 2, np.repeat([0, 1], 5), ["seed 0", "seed 1"])
    return in_memory(x, y, z, computed=computed, tracks={"trajectory": runs}, attrs={"note": "a note of the file"})


def all_texts(fig: Figure) -> list[str]:
    return [t.get_text() for t in fig.findobj(Text)]


def private(fig: Figure) -> list[str]:
    """Attributes of this package hung on any of the figure's objects."""
    return [f"{type(a).__name__}.{k}" for a in fig.findobj() for k in vars(a) if k.startswith("_landscape")]


def test_two_kinds_in_a_callers_grid():
    s = partial_with_runs()
    rc = dict(mpl.rcParams)
    fig = Figure(figsize=(8, 3.6), layout="constrained")
    left, right = fig.subplots(1, 2)
    a = plot.draw(s, "contour", PlotOptions(epoch_labels=True, notes=True), ax=left, labels=False)
    b = plot.draw(s, "heatmap", PlotOptions(), ax=right)
    assert a.contour_labels == [] and a.track_labels == [] and len(a.pending) == 10  # not yet placed
    a.place_labels()  # once the figure is complete
    placed = list(left.texts)
    a.place_labels()
    assert list(left.texts) == placed  # once only

    assert isinstance(a, plot.Drawing) and (a.ax, b.ax) == (left, right) and a.kind is plot.Kind.contour
    assert isinstance(a.artist, QuadContourSet) and a.artist.axes is left
    assert isinstance(b.artist, QuadMesh) and b.artist.axes is right
    # levels: the figure-level draw's, and the heatmap's bands are the same levels
    whole = plot.draw(s, "contour").axes[0].collections[0]
    assert len(a.scale.levels) >= 4 and np.array_equal(a.artist.levels, a.scale.levels)
    assert np.array_equal(a.artist.levels, whole.levels)
    assert np.allclose(b.artist.norm.boundaries, b.scale.levels)
    # hatching: points not computed (grey) and the diverged one (red), in the caller's axes
    for d in (a, b):
        assert sorted(c.get_gid() for c in d.hatched) == ["diverged", "missing"]
        assert all(c in d.ax.collections and c.get_hatch() for c in d.hatched)
    # tracks: one path per run, in the run colours the web page uses too
    paths = [ln for t in a.tracks for ln in t.artists if ln.get_gid() == "trajectory"]
    assert [to_hex(p.get_color()) for p in paths] == [to_hex(c) for c in export.RUN_COLORS[:2]]
    assert all(p.axes is left for p in paths)
    assert [t.get_text() for t in a.legend.get_texts()] == ["seed 0", "seed 1", "lowest computed loss", "model"]
    # labels: contour values and every epoch, placed in the caller's axes, apart from each other
    assert len(a.contour_labels) >= 3
    assert all(t in left.texts and t.get_gid() == "contour-label" for t in a.contour_labels)
    names = sorted(t.get_text() for t in a.track_labels)
    assert names == sorted(["start (1)", "2", "3", "4", "end (5)"] * 2)
    renderer = drawn(fig)
    assert_apart(extents(a.track_labels + a.contour_labels, renderer), left.get_window_extent(renderer))
    # colorbar: the heatmap's beside its axes; a contour map alone has labelled lines instead
    assert a.colorbar is None and b.colorbar is not None and b.colorbar.ax in fig.axes
    assert b.colorbar.ax.get_ylabel() == "train loss"
    # notes: drawn under each axes, the file's note first
    assert a.notes[0] == "a note of the file" and "315 of 441 points computed (hatched: not yet)" in a.notes
    assert "1 computed point has an inf or NaN loss (hatched red)" in a.notes
    assert "lowest computed loss" in [t.get_text() for t in a.legend.get_texts()]  # the key says what the star is
    assert a.note is not None and a.note in left.texts and "315 of 441 points computed" in a.note.get_text()
    assert not fig.texts  # nothing at the figure's level: it is the caller's
    # nothing global, nothing private, no markers in the figure
    assert dict(mpl.rcParams) == rc
    assert private(fig) == []
    assert not [t for t in all_texts(fig) if "\u2039" in t or "\u203a" in t]


def test_surface_line_and_barcode_in_callers_axes():
    x, y, z = wall(21)
    s = in_memory(x, y, z)
    fig = Figure(figsize=(10, 3.5), layout="constrained")
    ax3 = fig.add_subplot(1, 3, 1, projection="3d")
    d = plot.draw(s, "surface", PlotOptions(zmax=5.0, title="cut", notes=True), ax=ax3)
    assert isinstance(d.artist, Poly3DCollection) and d.artist.axes is ax3
    assert d.scale.cap == pytest.approx(5.0) and ax3.get_zlim()[1] == pytest.approx(5.0)
    assert d.hatched == [] and d.tracks == [] and ax3.get_title() == "cut"
    assert any(n.startswith("clipped above z = 5:") for n in d.notes) and "clipped above" in d.note.get_text()

    models = Track(np.array([0.0, 1.0]), np.zeros(2), ["A", "B"], [None, None])
    xs = np.linspace(-0.5, 1.5, 21)
    computed = np.arange(21) < 15
    line = in_memory(xs, None, 1 + 0.8 * np.cos(3 * xs), computed=computed, tracks={"models": models})
    d = plot.draw(line, "line", PlotOptions(notes=True), ax=fig.add_subplot(1, 3, 2))
    assert len(d.artist) == 2 and d.artist[1].axes is not d.ax  # accuracy on a twin axis
    assert [t.get_text() for t in d.legend.get_texts()] == ["train loss", "train accuracy (%)"]
    assert {t.get_text() for t in d.track_labels} == {"A", "B"} and len(d.tracks[0].artists) == 2
    assert [p.get_gid() for p in d.hatched] == ["missing"] and "15 of 21 points computed" in d.note.get_text()

    ax = fig.add_subplot(1, 3, 3)
    d = plot.draw(s, "barcode", PlotOptions(title="basins", notes=True), ax=ax)
    assert isinstance(d.artist, BarContainer) and d.artist.patches[0].axes is ax
    legend = [t.get_text() for t in d.legend.get_texts()]
    grey = any(b.persistence <= d.topology.threshold for b in d.topology.basins)
    assert legend[:-1] == ["counted basin"] + (["below the threshold"] if grey else [])  # only bars that exist
    assert legend[-1] == f"threshold: minimum + {plot.scales.fmt_value(float(d.topology.threshold))}"
    assert ax.get_title(loc="left").startswith("basins\n") and d.note is None
    drawn(fig)
    assert private(fig) == []


def test_the_axes_must_fit_the_kind():
    x, y, z = wall(9)
    s = in_memory(x, y, z)
    fig = Figure()
    flat, deep = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2, projection="3d")
    for kind, ax in (("surface", flat), ("contour", deep)):
        with pytest.raises(LandscapeError, match="axes") as e:
            plot.draw(s, kind, ax=ax)
        assert e.value.field == "ax"
    with pytest.raises(LandscapeError, match="one axes holds one surface") as e:
        plot.draw([s, s], "filled", ax=flat)
    assert "leave out ax" in str(e.value) and e.value.field == "ax"
    assert not flat.collections and not deep.collections  # refused before drawing


def test_without_ax_draw_still_returns_a_figure():
    x, y, z = wall(9)
    fig = plot.draw(in_memory(x, y, z), "surface", plot.PlotOptions(zmax=5))
    assert isinstance(fig, Figure) and fig.axes[0].get_zlim()[1] == pytest.approx(5)
    ax = Figure().add_subplot()
    assert plot.contour(x, y, z, ax=ax).axes is ax  # the README's axes-level call


def test_figures_hang_nothing_private_on_matplotlib():
    s = partial_with_runs()
    for kind in ("contour", "filled", "heatmap", "surface", "barcode"):
        fig = plot.draw([s, s] if kind == "filled" else s, kind, PlotOptions(epoch_labels=True, notes=True))
        assert private(fig) == [], kind
        assert fig.texts and not [t for t in all_texts(fig) if "\u2039" in t], kind
    assert private(plot.barcode(TOPOLOGY).patches[0].axes.figure) == []


class _Basin:
    def __init__(self, lo: float, hi: float) -> None:
        self.minimum, self.saddle, self.persistence, self.index = lo, hi, hi - lo, (0, 0)


class _Topology:
    basins = (_Basin(0.1, np.inf), _Basin(0.4, 1.0), _Basin(0.6, 0.65))
    threshold, count, smoothness = 0.2, 2, 0.9


TOPOLOGY = _Topology()
