"""plot/scales.py: contour levels, the shared colour scale, and values that read in the metric's
units even on a log scale."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.colors import BoundaryNorm

from landscape import plot
from landscape.errors import LandscapeError, for_cli
from landscape.plot import PlotOptions
from landscape.plot.scales import contour_levels
from test_plot_surfaces import in_memory, wall
from test_plot_surfaces import no_pyplot_figures  # noqa: F401 (fixtures)
from test_plot_labels import labels_of


def test_levels():
    def levels(lo, hi, **kw):
        return contour_levels(np.linspace(lo, hi, 50), PlotOptions(**kw))

    paper = levels(0.05, 20)
    assert paper[0] == pytest.approx(0.1) and np.allclose(np.diff(paper), 0.5) and paper[-1] <= 10
    small = levels(0.01, 0.3)  # far below the paper's range: still about ten levels
    assert 6 <= ((small > 0.01) & (small < 0.3)).sum() <= 12
    assert np.allclose(np.diff(levels(0.0, 3.0, vlevel=0.25)), 0.25)
    assert len(levels(0.0, 3.0, levels=7)) == 7
    assert levels(0.0, 3.0, vmin=1, vmax=2, levels=3) == pytest.approx([1.25, 1.5, 1.75])
    logged = contour_levels(np.log10(np.geomspace(0.01, 100, 50)), PlotOptions(log=True))  # round losses
    assert 10 ** logged == pytest.approx([0.01, 0.03, 0.1, 0.3, 1, 3, 10, 30, 100])
    assert np.allclose(np.diff(contour_levels(np.linspace(-2, 2, 9), PlotOptions(log=True, vlevel=0.5))), 0.5)
    assert len(levels(1.0, 1.0)) >= 1  # a flat surface does not crash


def test_log_scale_reads_in_loss_units():
    """--log: the colorbar's ticks, the contour labels and the 3-D z axis all show losses."""
    s = in_memory(*wall())
    fig = plot.draw(s, "filled", PlotOptions(log=True))
    cbar = fig.axes[1]
    formatter = cbar.yaxis.get_major_formatter()
    ticks = cbar.get_yticks()
    assert len(ticks) >= 3
    for t in ticks:
        assert float(formatter(t)) == pytest.approx(10 ** t, rel=1e-3)
    assert cbar.get_ylabel() == "train loss (log scale)"
    fig = plot.draw(s, "contour", PlotOptions(log=True))
    shown = {t.get_text() for t in labels_of(fig.axes[0], "contour-label")}
    assert shown and shown <= {"0.03", "0.1", "0.3", "1", "3", "10", "30"}
    fig = plot.draw(s, "surface", PlotOptions(log=True))
    z = fig.axes[0].zaxis
    assert {z.get_major_formatter()(t) for t in z.get_major_locator()()} >= {"0.1", "1", "10"}


def test_heatmap_uses_the_contour_levels():
    s = in_memory(*wall())
    mesh = plot.draw(s, "heatmap").axes[0].collections[0]
    levels = plot.draw(s, "filled").axes[0].collections[0].levels
    assert isinstance(mesh.norm, BoundaryNorm) and np.allclose(mesh.norm.boundaries, levels)
    colours = mesh.to_rgba(mesh.get_array())
    assert len(np.unique(np.round(colours, 3), axis=0)) >= 10  # the basin is not one colour
    assert plot.heatmap(*wall()).norm.vmax < 15  # the standalone function too


def test_too_fine_a_step_names_vlevel():
    with pytest.raises(LandscapeError, match=r"vlevel=1e-06 gives .* levels over the data") as e:
        contour_levels(np.linspace(0, 3, 50), PlotOptions(vlevel=1e-6))
    assert e.value.field == "vlevel" and "--vlevel 1e-06 gives" in for_cli(e.value.message)
    x, y, z = wall(9)
    with pytest.raises(LandscapeError, match="widen vmin/vmax") as e:
        plot.draw(in_memory(x, y, z), "contour", PlotOptions(log=True, vmin=100.0, vmax=200.0))
    assert "widen --vmin/--vmax" in for_cli(e.value.message) and e.value.field == "vmin"
