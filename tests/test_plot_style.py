"""plot/style.py: the look of a figure: fonts and markers that grow with it, the slide and dark
themes, transparency, typefaces and the publication options (issue 26)."""

from __future__ import annotations

import io

import matplotlib.image
import numpy as np
import pytest

from landscape import plot
from landscape.errors import LandscapeError
from landscape.plot import PlotOptions
from test_plot_surfaces import in_memory, wall
from test_plot_surfaces import no_pyplot_figures  # noqa: F401 (fixture)


def tick_size(fig) -> float:
    return fig.axes[0].xaxis.get_major_ticks()[0].label1.get_fontsize()


def marker(fig, gid: str) -> float:
    return next(ln for ax in fig.axes for ln in ax.lines if ln.get_gid() == gid).get_markersize()


def test_fonts_and_markers_grow_with_the_figure():
    s = in_memory(*wall(11))
    paper = plot.draw(s, "contour")
    slide = plot.draw(s, "contour", PlotOptions(size=(13.33, 7.5)))
    assert tick_size(paper) == pytest.approx(9)  # the base look at the kind's own size
    assert tick_size(slide) >= 18 and marker(slide, "best") >= 2 * marker(paper, "best")  # legible from the back
    themed = plot.draw(s, "filled", PlotOptions(style="slide"))
    assert themed.get_figheight() == pytest.approx(7.5) and tick_size(themed) >= 18
    assert themed.get_figwidth() <= 13.34  # 16:9 at most: a square plane is not padded with a blank third
    assert tick_size(plot.draw(s, "contour", PlotOptions(fontsize=12))) == pytest.approx(12)
    assert tick_size(plot.draw(s, "contour")) == pytest.approx(9)  # nothing leaked out of the last look


def test_wide_canvas_puts_the_key_beside_a_square_plane():
    s = in_memory(*wall(11))
    fig = plot.draw(s, "contour", PlotOptions(size=(13.33, 7.5), dpi=30))
    renderer = fig._get_renderer()
    fig.draw_without_rendering()
    key = fig.legends[0].get_window_extent(renderer)
    assert key.x0 >= fig.axes[0].get_window_extent(renderer).x1  # to the right, in the free width
    used = max(key.x1, fig.axes[0].get_window_extent(renderer).x1) - fig.axes[0].get_tightbbox(renderer).x0
    assert used >= 0.7 * fig.bbox.width


def test_dark_theme_and_transparent_background(tmp_path):
    s = in_memory(*wall(11))
    fig = plot.draw(s, "contour", PlotOptions(style="dark", dpi=30))
    png = io.BytesIO()
    plot.render.save(fig, png, "png", 30)
    image = matplotlib.image.imread(io.BytesIO(png.getvalue()))
    assert image[2, 2, :3].mean() < 0.2  # a dark background
    assert np.mean(matplotlib.colors.to_rgb(fig.axes[0].xaxis.label.get_color())) > 0.8  # light ink
    clear = plot.render_file(s, PlotOptions(kinds=("contour",), transparent=True, dpi=30), out_dir=tmp_path)
    assert matplotlib.image.imread(clear[0])[2, 2, 3] == 0  # a PNG with nothing behind it


def test_typefaces_and_labels_for_papers():
    s = in_memory(*wall(11))
    fig = plot.draw(s, "contour", PlotOptions(font="serif", xlabel="$d_1$", ylabel="$d_2$"))
    ax = fig.axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("$d_1$", "$d_2$")
    assert "STIX" in ax.xaxis.label.get_fontname()
    assert "cmr10" in plot.draw(s, "contour", PlotOptions(font="cm")).axes[0].xaxis.label.get_fontname()
    with pytest.raises(LandscapeError, match="style"):
        PlotOptions(style="poster")
    with pytest.raises(LandscapeError, match="fontsize"):
        PlotOptions(fontsize=200)
