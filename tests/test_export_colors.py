"""export/colors.py: one run colour table for the figures and the web page; the meshes' viridis."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.colors import to_hex

from landscape import export, plot
from test_export_html import trajectory
from test_export_meshes import surface


def test_viridis_table_matches_matplotlib():
    from matplotlib import colormaps

    t = np.linspace(0, 1, 257)
    ref = np.round(255 * colormaps["viridis"](t)[:, :3])
    assert abs(export.viridis(t).astype(int) - ref).max() <= 6
    assert export.viridis(np.array([-1.0, 2.0])).tolist() == [[68, 1, 84], [253, 231, 37]]


def test_a_run_has_the_same_colour_in_the_figure_and_the_page():
    """One trajectory of two runs: each run's colour in the PNG is its colour in the HTML page,
    on the 3-D surface and on the contour map."""
    pytest.importorskip("plotly", reason="the html export needs plotly (pip install plotly)")
    s = surface(np.linspace(-1, 1, 9), np.linspace(-0.5, 1.5, 7), tracks={"trajectory": trajectory()})
    fig = plot.draw(s, "contour")
    in_figure = [to_hex(ln.get_color()) for ln in fig.axes[0].lines if ln.get_gid() == "trajectory"]
    page = export.figure(s)
    on_surface = [to_hex(t.line.color) for t in page.data if t.type == "scatter3d"]
    on_map = [to_hex(t.line.color) for t in page.data if t.type == "scatter" and t.name in ("seed 0", "seed 1")]
    assert len(in_figure) == 2 and in_figure == on_surface == on_map
    assert in_figure == [to_hex(export.run_color(0)), to_hex(export.run_color(1))] == ["#000000", "#d62728"]
    assert export.run_color(len(export.RUN_COLORS)) == export.RUN_COLORS[0]  # the table repeats
