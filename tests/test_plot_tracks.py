"""plot/tracks.py: trajectories (a colour per run, hollow checkpoints off the plane, epochs) and
marked models on the figures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from landscape import plot, store
from landscape.plane.directions import Track
from landscape.plot import PlotOptions
from test_plot_surfaces import make_surface, texts
from test_plot_surfaces import no_pyplot_figures, surface1d  # noqa: F401 (fixtures)
from test_plot_labels import assert_apart, drawn, extents, labels_of


def test_trajectory_overlay(tmp_path):
    track = Track(np.array([-0.8, -0.5, -0.2, 0.0]), np.array([0.7, 0.3, 0.1, 0.0]), ["e1", "e2", "e3", "e4"],
                  [1, 2, 3, 4])
    path = make_surface(tmp_path / "traj.h5", np.linspace(-1, 1, 9), np.linspace(-1, 1, 9),
                        attrs={"note": "PCA directions, not filter-normalized"}, tracks={"trajectory": track})
    s = store.read_surface(path)
    for kind in ("contour", "filled", "heatmap"):
        fig = plot.draw(s, kind, PlotOptions(epoch_labels=True))
        (path_line,) = [ln for ln in fig.axes[0].lines if ln.get_gid() == "trajectory"]
        assert np.allclose(path_line.get_xdata(), track.x) and np.allclose(path_line.get_ydata(), track.y)
        assert path_line.get_marker() == "o"
        assert {"start (1)", "2", "3", "end (4)"} <= set(texts(fig))  # every epoch
        assert "PCA directions, not filter-normalized" in texts(fig)
    assert {"start", "end"} <= set(texts(plot.draw(s, "contour")))
    assert "2" not in texts(plot.draw(s, "contour"))  # epoch labels only when asked


def test_models_overlay_2d_and_1d(tmp_path, surface1d):
    models = Track(np.array([0.0, 1.0, 0.0]), np.array([0.0, 0.0, 1.0]), ["A", "B", "C"], [None] * 3)
    path = make_surface(tmp_path / "plane.h5", np.linspace(-0.5, 1.5, 9), np.linspace(-0.5, 1.5, 9),
                        tracks={"models": models})
    fig = plot.draw(store.read_surface(path), "contour")
    assert [ln for ln in fig.axes[0].lines if ln.get_gid() == "models"]
    assert {"A", "B", "C"} <= set(texts(fig))
    fig = plot.draw(store.read_surface(surface1d), "line")
    vertical = [ln for ln in fig.axes[0].lines if np.ptp(ln.get_xdata()) == 0 and len(ln.get_xdata()) == 2]
    assert len(vertical) == 2 and {"A", "B"} <= set(texts(fig))


def pca_plane(tmp_path: Path, **kw) -> Path:
    """A trajectory plane 4 times wider than high, two runs clustering at the end, one partly off the plane."""
    t = np.linspace(0, 1, 8)
    x = np.concatenate([-2.8 * (1 - t) ** 2, -2.2 * (1 - t) ** 1.5])
    y = np.concatenate([0.35 * np.sin(3 * t) * (1 - t), -0.3 * np.sin(2.5 * t) * (1 - t)])
    track = Track(x, y, [f"e{k}" for k in range(16)], list(range(1, 9)) * 2, np.repeat([0, 1], 8), ["seed 0", "seed 1"],
                  np.concatenate([np.linspace(0.02, 0, 8), np.linspace(0.15, 0, 8)]))
    return make_surface(tmp_path / "pca.h5", np.linspace(-3.2, 0.8, 41), np.linspace(-0.5, 0.5, 21),
                        lambda X, Y: 0.03 + 0.035 * (X - 0.3) ** 2 + 0.6 * (Y + 0.05) ** 2,
                        tracks={"trajectory": track}, labels=("PC1 (88.1%)", "PC2 (6.0%)"), **kw)


@pytest.mark.parametrize("size", [None, (3.3, 2.9)])
def test_trajectory_runs_labels_and_aspect(tmp_path, size):
    s = store.read_surface(pca_plane(tmp_path))
    for kind in ("contour", "filled"):
        fig = plot.draw(s, kind, PlotOptions(epoch_labels=True, size=size))
        renderer = drawn(fig)
        ax = fig.axes[0]
        assert ax.get_aspect() == "auto" and "axes not to scale" in texts(fig)[-1]  # not a thin strip
        track_labels = labels_of(ax, "track-label")
        names = [t.get_text() for t in track_labels]
        assert sorted(names) == sorted(["start (1)", "end (8)", *map(str, range(2, 8))] * 2)  # every epoch
        assert_apart(extents(track_labels + labels_of(ax, "contour-label"), renderer), ax.get_window_extent(renderer))
        paths = [ln for ln in ax.lines if ln.get_gid() == "trajectory"]
        assert len(paths) == 2 and paths[0].get_color() != paths[1].get_color()  # a colour per run
        legend = fig.legends[0]  # the key, below the figure
        assert [t.get_text() for t in legend.get_texts()] == ["seed 0 (up to 2.0% off the plane)",
                                                              "seed 1 (up to 15% off the plane)",
                                                              "lowest loss on this plane", "model"]
        hollow = [ln for ln in ax.lines if ln.get_gid() == "off-plane"]
        assert len(hollow) == 1 and len(hollow[0].get_xdata()) == 3  # the three checkpoints over 10% off
        assert "more than 10% off the plane" in texts(fig)[-1]
