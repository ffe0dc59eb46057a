"""plot/labels.py: labels, legends and notes placed where they collide with nothing, measured as
the renderer draws them."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure
from matplotlib.text import Text

from landscape import plot, store
from landscape.plane.directions import Track
from landscape.plot import PlotOptions

from test_plot_surfaces import in_memory, make_surface, wall
from test_plot_surfaces import no_pyplot_figures, surface1d  # noqa: F401 (fixtures)


def drawn(fig: Figure):
    """Render `fig` with Agg (as savefig does) and return its renderer."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return canvas.get_renderer()


def assert_apart(boxes, frame) -> None:
    """No two boxes overlap and every box lies inside the frame (all in display pixels)."""
    for k, a in enumerate(boxes):
        assert a.x0 >= frame.x0 - 0.5 and a.x1 <= frame.x1 + 0.5 and a.y0 >= frame.y0 - 0.5 and a.y1 <= frame.y1 + 0.5, \
            f"label {k} at {a.extents} leaves the axes {frame.extents}"
        for b in boxes[k + 1:]:
            assert not a.overlaps(b), f"labels at {a.extents} and {b.extents} overlap"


def labels_of(ax, *gids):
    return [t for t in ax.texts if t.get_gid() in gids and t.get_text()]


def extents(texts_, renderer):
    """The texts' own boxes (an annotation's extent would include its leader line)."""
    return [Text.get_window_extent(t, renderer) for t in texts_]


@pytest.mark.parametrize("size", [None, (3.3, 2.9)])
def test_contour_labels_do_not_collide(size):
    """Label extents, as the renderer draws them, overlap nothing and stay inside the axes, at the
    default size and at a journal's column width."""
    fig = plot.draw(in_memory(*wall()), "contour", PlotOptions(size=size))
    renderer = drawn(fig)
    ax = fig.axes[0]
    labels = labels_of(ax, "contour-label")
    assert len(labels) >= 4 and all(t.get_fontsize() >= 7 for t in labels)
    assert_apart(extents(labels, renderer), ax.get_window_extent(renderer))
    assert len({t.get_text() for t in labels}) >= 4  # several levels are named, not one repeated
    if size:
        assert tuple(fig.get_size_inches()) == pytest.approx(size)


def test_model_labels_avoid_contour_labels(tmp_path):
    models = Track(np.array([0.0, 1.0, 0.0]), np.array([0.0, 0.0, 1.0]), ["A", "B", "C"], [None] * 3)
    path = make_surface(tmp_path / "plane.h5", np.linspace(-0.5, 1.5, 31), np.linspace(-0.5, 1.5, 31),
                        lambda X, Y: 0.1 + (X**2 + Y**2) * ((X - 1) ** 2 + Y**2 + 0.3) * (X**2 + (Y - 1) ** 2 + 0.3),
                        tracks={"models": models})
    for size in (None, (3.3, 3.0)):
        fig = plot.draw(store.read_surface(path), "contour", PlotOptions(size=size))
        renderer = drawn(fig)
        ax = fig.axes[0]
        boxes = labels_of(ax, "track-label", "contour-label")
        assert {"A", "B", "C"} <= {t.get_text() for t in boxes}
        assert_apart(extents(boxes, renderer), ax.get_window_extent(renderer))


def test_line_plot_legend_covers_no_curve_and_marks_the_model(surface1d):
    fig = plot.draw(store.read_surface(surface1d), "line")
    renderer = drawn(fig)
    ax = fig.axes[0]
    legend = ax.get_legend()
    assert legend is not None and [t.get_text() for t in legend.get_texts()] == ["train loss", "train accuracy (%)"]
    assert not legend.get_window_extent(renderer).overlaps(ax.get_window_extent(renderer))
    origin = [ln for a in fig.axes for ln in a.lines if ln.get_gid() == "origin"]
    assert len(origin) == 2 and all(ln.get_xdata()[0] == 0 for ln in origin)  # on the loss and accuracy curves


def test_density_legend_sits_below_the_x_label():
    grid = np.linspace(-0.1, 1.0, 200)
    fig = plot.density_figure(grid, np.exp(-((grid - 0.5) ** 2) / 0.01), eigenvalues=[0.5, 0.9])
    renderer = drawn(fig)
    ax = fig.axes[0]
    label, legend = ax.xaxis.label.get_window_extent(renderer), ax.get_legend().get_window_extent(renderer)
    assert legend.y1 <= label.y0 + 0.5 and legend.y0 >= fig.bbox.y0 - 0.5


def test_3d_tick_labels_do_not_run_together_at_the_corner():
    x, y, z = wall(31)
    fig = plot.draw(in_memory(x, y, z), "surface")
    renderer = drawn(fig)
    ax = fig.axes[0]
    boxes = {}
    for name, axis in (("x", ax.xaxis), ("y", ax.yaxis)):  # the boxes where the draw put them
        boxes[name] = [t.label1.get_window_extent(renderer) for t in axis.majorTicks[:len(axis.get_majorticklocs())]
                       if t.label1.get_visible() and t.label1.get_text()]
    assert len(boxes["x"]) >= 2 and len(boxes["y"]) >= 2
    assert not any(a.overlaps(b) for a in boxes["x"] for b in boxes["y"])


def test_epoch_labels_sit_nearest_their_own_checkpoint():
    """Crowded checkpoints: each epoch's label is nearer its own point than any other ("7" never
    beside checkpoint 6)."""
    x = np.array([-2.511, -1.046, -0.364, -0.089, -0.023, -0.013, -0.003, 0.0])  # the demo's path
    y = np.array([-0.069, 1.032, 0.595, 0.334, 0.211, 0.128, 0.058, 0.0])
    track = Track(x, y, [f"e{k}" for k in range(8)], list(range(1, 9)))
    gx, gy = np.linspace(-3.14, 0.63, 21), np.linspace(-0.34, 1.31, 21)
    X, Y = np.meshgrid(gx, gy)
    s = in_memory(gx, gy, 0.002 + 0.04 * (X - 0.3) ** 2 + 0.08 * (Y - 0.07) ** 2, tracks={"trajectory": track})
    for size in (None, (3.3, 2.9)):
        fig = plot.draw(s, "contour", PlotOptions(epoch_labels=True, size=size))
        renderer = drawn(fig)
        ax = fig.axes[0]
        points = ax.transData.transform(np.column_stack([x, y]))
        for label in labels_of(ax, "track-label"):
            box = Text.get_window_extent(label, renderer)
            centre = np.array([(box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2])
            own = int(label.get_text().split()[-1].strip("()")) - 1
            d = np.hypot(*(points - centre).T)
            assert d[own] <= d.min() + 1.0, (label.get_text(), size)
