"""plot/artists.py: the axes-level drawing functions of arrays: orientation, the caller's axes,
the 3-D cut, the barcode."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure

from landscape import plot, store
from landscape.plot import PlotOptions
from landscape.export.clip import clipped_mesh
from landscape.plot.scales import fmt_value
from test_plot_surfaces import bowl, in_memory, texts, wall
from test_plot_surfaces import no_pyplot_figures, surface2d  # noqa: F401 (fixtures)


def test_orientation_on_non_square_grid():
    x, y = np.linspace(-1, 2, 7), np.linspace(-1, 1, 5)
    X, Y = np.meshgrid(x, y)
    z = (X - 0.5) ** 2 + 0.1 * Y  # minimum at x = 0.5, y = -1
    cs = plot.contour(x, y, z)
    ax = cs.axes
    assert ax.get_xlim() == pytest.approx((-1, 2)) and ax.get_ylim() == pytest.approx((-1, 1))
    (best,) = [ln for ln in ax.lines if ln.get_gid() == "best"]
    assert best.get_xdata()[0] == pytest.approx(0.5) and best.get_ydata()[0] == pytest.approx(-1)
    (origin,) = [ln for ln in ax.lines if ln.get_gid() == "origin"]
    assert origin.get_xdata()[0] == 0 and origin.get_ydata()[0] == 0


def test_drawing_functions_use_the_given_axes():
    x, y = np.linspace(-1, 1, 5), np.linspace(-1, 1, 4)
    z = bowl(*np.meshgrid(x, y))
    fig = Figure()
    axes = fig.subplots(1, 3)
    assert plot.contour(x, y, z, ax=axes[0]).axes is axes[0]
    assert plot.filled(x, y, z, ax=axes[1]).axes is axes[1]
    assert plot.heatmap(x, y, z, ax=axes[2]).axes is axes[2]
    ax3 = fig.add_subplot(2, 2, 4, projection="3d")
    assert plot.surface3d(x, y, z, ax=ax3).axes is ax3
    ax1 = Figure().add_subplot()
    lines = plot.line(x, z[0], z[1], ax=ax1)
    assert lines[0].axes is ax1 and lines[1].axes is not ax1 and len(lines) == 2
    assert len(ax1.figure.axes) == 2  # the twin accuracy axis


def test_surface_clips_at_zmax_and_leaves_holes():
    x = y = np.linspace(-1, 1, 6)
    z = bowl(*np.meshgrid(x, y))
    z[0, 0], z[2, 2] = 1e6, np.nan
    surf = plot.surface3d(x, y, z)
    assert surf.axes.get_zlim()[1] < 10  # the automatic cap ignores the outlier
    assert surf.norm.vmax < 10
    surf = plot.surface3d(x, y, z, zmax=0.5)
    assert surf.axes.get_zlim()[1] == pytest.approx(0.5)


def test_surface_is_cut_cleanly_at_the_clip_height():
    """No flat top, no saw teeth: the surface ends exactly on the line where it crosses the cap."""
    x, y = np.linspace(-1, 1, 9), np.linspace(-1, 1, 7)
    X, Y = np.meshgrid(x, y)
    z = 2 + X + 0.3 * Y  # a tilted plane, cut at z = 2.5: along the line x + 0.3 y = 0.5
    polys, heights = clipped_mesh(x, y, z, 2.5)
    assert polys.shape[1:] == (4, 3) and np.all(polys[:, :, 2] <= 2.5 + 1e-12)
    on_cap = polys[np.isclose(polys[:, :, 2], 2.5)]
    assert np.allclose(on_cap[:, 0] + 0.3 * on_cap[:, 1], 0.5)  # every top vertex lies on the cut line
    area = sum(0.5 * abs(np.dot(p[:, 0], np.roll(p[:, 1], 1)) - np.dot(p[:, 1], np.roll(p[:, 0], 1))) for p in polys)
    fine = np.linspace(-1, 1, 2001)
    FX, FY = np.meshgrid(fine, fine)
    assert area == pytest.approx(4 * np.mean(FX + 0.3 * FY <= 0.5), abs=5e-3)  # the whole part below, nothing else
    x, y, z = wall()
    spiked = z.copy()
    spiked[0, :3] = 400.0  # three points two decades above the bowl: cut automatically
    fig = plot.draw(in_memory(x, y, spiked), "surface")
    ax = fig.axes[0]
    cap = ax.get_zlim()[1]
    over = int((spiked > cap).sum())
    assert (spiked[0, :3] > cap).all() and cap < 100  # the spikes are cut, the bowl below them shown
    assert f"clipped above z = {fmt_value(cap)}: {over} of {31 * 31} points" in texts(fig)[-1]
    assert plot.draw(in_memory(x, y, spiked), "surface", PlotOptions(zmax=np.inf)).axes[0].get_zlim()[1] > 399
    assert "clipped" not in " ".join(texts(plot.draw(in_memory(x, y, spiked), "surface", PlotOptions(zmax=np.inf))))


def test_an_ordinary_bowl_is_never_clipped():
    """A steep wall is data, not an outlier: no notch, whatever the output (one rule, `export.clip`)."""
    x, y, z = wall()
    fig = plot.draw(in_memory(x, y, z), "surface")
    assert fig.axes[0].get_zlim()[1] == pytest.approx(z.max())
    assert "clipped" not in " ".join(texts(fig))
    assert plot.clip_height(in_memory(x, y, z)) is None


def hand_made_topology():
    from types import SimpleNamespace

    def basin(lo, hi):
        return SimpleNamespace(minimum=lo, saddle=hi, persistence=hi - lo, index=(0, 0))

    bs = (basin(0.02, np.inf), basin(0.35, 1.4), basin(0.6, 0.9), basin(0.8, 0.86), basin(1.1, 2.3), basin(1.5, 1.55))
    return SimpleNamespace(basins=bs, threshold=0.2, count=4, smoothness=0.81)


def test_barcode_bars_threshold_and_caption():
    bars = plot.barcode(hand_made_topology())
    ax = bars.patches[0].axes
    assert len(bars.patches) == 6
    lefts = [p.get_x() for p in bars.patches]
    assert lefts == sorted(lefts)  # deepest first
    counted = [p.get_facecolor() != bars.patches[3].get_facecolor() for p in bars.patches]
    assert counted == [True, True, True, False, True, False]  # persistence above 0.2 in colour
    assert [ln for ln in ax.lines if ln.get_gid() == "essential"]  # the infinite bar is an arrow
    (ticks,) = [c for c in ax.collections if c.get_gid() == "threshold"]
    segments = ticks.get_segments()
    assert np.allclose([seg[0][0] for seg in segments], [p.get_x() + 0.2 for p in bars.patches])
    # each tick is as tall as its bar (never stacked into one line), whatever the number of rows
    assert all(seg[1][1] - seg[0][1] == pytest.approx(0.72) for seg in segments)
    assert " ".join(ax.get_title(loc="left").replace("\u00a0", " ").split()) == (  # wrapped, "smoothness" defined
        "4 basins above the threshold; smoothness 0.81 (1: a plane, 0: noise)")


def test_equal_aspect_for_a_square_plane(surface2d):
    ax = plot.draw(store.read_surface(surface2d), "contour").axes[0]
    assert ax.get_aspect() == 1.0
    assert plot.to_scale([0, 1.9], [0, 1]) and not plot.to_scale([0, 2.3], [0, 1]) and not plot.to_scale([0, 1], [0, 4])


def test_line_hatches_diverged_points_and_breaks_the_accuracy_there():
    x = np.linspace(-1, 2, 201)
    loss = 0.1 + x**2
    loss[180:] = np.nan  # an interpolation of BatchNorm states beyond the far model
    s = in_memory(x, None, loss, attrs={"dir_type": "states"})
    fig = plot.draw(s, "line", PlotOptions(log=True))
    ax, twin = fig.axes
    assert [p.get_gid() for p in ax.patches if p.get_gid()] == ["diverged"]  # hatched red, as the caption says
    acc = next(ln for ln in twin.lines if ln.get_gid() != "origin")
    assert np.ma.getmaskarray(np.ma.masked_invalid(acc.get_ydata()))[180:].all()  # no accuracy where the loss broke
    assert all(ln.get_markevery() is None and ln.get_marker() in ("None", "none", "") or ln.get_gid() == "origin"
               for a in fig.axes for ln in a.lines)  # a 201-point line, not a string of beads
    assert any("BatchNorm's running variances can fall below zero" in n for n in plot.figure_notes(fig))
    fig.draw_without_rendering()
    labels = [t.get_text() for t in ax.get_yticklabels() if t.get_text()]
    assert labels and not any("10^" in t or "$" in t for t in labels)  # 0.1, 1: as the other figures write them
    few = plot.draw(in_memory(np.linspace(-1, 1, 9), None, 1 + np.linspace(-1, 1, 9) ** 2), "line")
    assert few.axes[0].lines[0].get_marker() == "o"  # a short curve keeps its points


def test_barcode_without_empty_rows_or_entries():
    from landscape import basins

    x = y = np.linspace(-1, 1, 15)
    X, Y = np.meshgrid(x, y)
    fig = plot.draw(in_memory(x, y, 0.1 + X**2 + Y**2), "barcode")
    ax = fig.axes[0]
    assert len(ax.patches) == 1 and ax.get_ylim() == pytest.approx((0.6, -0.6))  # one bar, no empty rows
    assert [t.get_text().split(":")[0] for t in ax.get_legend().get_texts()] == ["counted basin", "threshold"]
    assert "(1: a plane, 0: noise)" in " ".join(ax.get_title(loc="left").replace("\u00a0", " ").split())
    assert basins.topology(0.1 + X**2 + Y**2).count == 1


def test_lit_surface_round_ticks_and_a_smooth_mesh():
    from landscape.plot.artists import lit, resampled

    up = np.array([[[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]]], dtype=float)  # flat, facing the sky
    away = np.array([[[0, 0, 0], [1, 0, 1], [1, 1, 1], [0, 1, 0]]], dtype=float)  # tilted away from the light
    rgba = np.array([[0.5, 0.5, 0.5, 1.0]])
    assert lit(up, rgba, 35, -55, (1, 1, 1))[0, 0] != lit(away, rgba, 35, -55, (1, 1, 1))[0, 0]  # shaded by its normal
    x, y = np.linspace(-1, 1, 7), np.linspace(-1, 1, 5)
    X, Y = np.meshgrid(x, y)
    fx, fy, fz = resampled(x, y, np.cos(X) + Y**2, 4)
    assert fz.shape == (17, 25) and np.allclose(fz[::4, ::4], np.cos(X) + Y**2)  # through every point
    fig = plot.draw(in_memory(*wall(15)), "surface", PlotOptions(smooth=4))
    ax = fig.axes[0]
    assert len(ax.collections[0].get_paths()) > 14 * 14 * 10  # the fine mesh
    faces = ax.collections[0].get_facecolor()
    assert np.unique(np.round(faces[:, :3], 3), axis=0).shape[0] > 50  # lit, not flat bands
    fig.draw_without_rendering()
    for axis in (ax.xaxis, ax.yaxis, ax.zaxis):
        values = [v for v in axis.get_majorticklocs() if axis.get_view_interval()[0] - 1e-9 <= v
                  <= axis.get_view_interval()[1] + 1e-9]
        step = float(np.diff(values).min())
        assert round(step / 10 ** np.floor(np.log10(step)), 6) in (1, 2, 5), values  # no 2.5, 7.5, 17.5
        assert np.allclose(np.round(np.asarray(values) / step), np.asarray(values) / step), values
    x_ticks = [t.get_text() for t in ax.xaxis.get_ticklabels() if t.get_text()]
    assert "1" in x_ticks and "\u22121" in x_ticks  # both ends kept, written as people write them
