"""Figures of loss surfaces as in Li et al. 2018 (arXiv:1712.09913): contour lines, filled
contours, heatmaps, 3-D surfaces, the 1-D loss/accuracy plot, the basins' persistence barcode,
and the dispatch of the file exports (VTK, HTML, OBJ and PLY, written by `export`).

The only package that imports matplotlib. It never touches pyplot's global state: figures are
`matplotlib.figure.Figure` objects, so rendering works headless and in notebooks, and every
drawing function takes the axes to draw into and returns what it drew.
Arrays follow the store's orientation: a 2-D z has shape (len(y), len(x)) and z[j, i] belongs
to the point (x[i], y[j]); x runs along the horizontal axis.

What every 2-D figure shows and says:
- The whole grid's extent, even where only part of it is computed; points not computed yet are
  hatched grey, computed points with an inf or NaN loss hatched red, and a note below the figure
  says "n of N points computed". NaN and inf are never plotted as numbers.
- One colour scale per figure, in the metric's units even with `log` (levels, colorbar ticks,
  contour labels and the 3-D z axis all read as losses).
- Labels (contour values, track names, epochs) are placed where they collide with nothing:
  not with each other, nor with markers, paths and lines, and inside the axes.
- Equal aspect unless one direction's range is more than `STYLE.max_aspect` times the other's;
  then the note says "axes not to scale".
An array with no finite value raises LandscapeError ("no computed points to plot").

Modules, one concept each (data flows down the list; `export` never imports plot):
- `options`: `PlotOptions` and the choices `Kind`, `Metric`, `Format`; which kinds fit what.
- `style`: `STYLE`, every look-and-feel constant (run colours: `export.colors`).
- `scales`: contour levels, the shared colour scale, log ticks, how values are written.
- `labels`: placing texts without collisions (contour values, point labels, legends, notes).
- `artists`: axes-level drawing of arrays (`contour`, `filled`, `heatmap`, `surface3d`, `line`,
  `barcode`, `spectral_density`, hatching of missing points).
- `tracks`: trajectories and marked models on a figure.
- `surfaces`: a surface as the figures see it (values, fitting kinds, clip height, notes).
- `panel`: one surface drawn into one axes, returned as a `Drawing`.
- `figures`: `draw` (a figure, or a panel in a caller's axes) and `density_figure`.
- `render`: `render_file`, `render_compare`, `render_hessian`, `save_figure`: writing figures (with
  their captions) and exports.
- `animate`: GIF and MP4 for talks: a training path descending, the surface turning, a sequence
  of surfaces on one colour scale.
"""

from landscape.export.clip import MAX_DRAWN, drawable
from landscape.plot.animate import Animation, VideoFormat, animate
from landscape.plot.artists import (barcode, contour, filled, heatmap, line, mark_missing, mark_missing_1d,
                                    spectral_density, surface3d, to_scale)
from landscape.plot.figures import Made, caption_text, density_figure, draw, figure_notes, latex, made_of
from landscape.plot.labels import PointLabel, label_contours, legend_below, note_below, place_labels
from landscape.plot.options import (ALL_1D, ALL_2D, COMPARE_1D, COMPARE_2D, DEFAULTS_1D, DEFAULTS_2D, FIGURES, FITS_1D,
                                    FITS_2D, GRID_KINDS, LOOKS, Font, Format, Kind, Look, Metric, PlotOptions, Theme)
from landscape.plot.panel import Drawing
from landscape.plot.render import (Outputs, caption_names, compare_stem, is_hessian_file, output_name, render_compare,
                                   render_file, render_hessian, save_figure, variant)
from landscape.plot.scales import Scale
from landscape.plot.style import STYLE, Style, look, using
from landscape.plot.surfaces import blanks, clip_height
from landscape.plot.tracks import TrackDrawing, draw_track, draw_track_3d, overlay_track

__all__ = [
    "Animation", "Font", "Made", "Theme", "VideoFormat", "animate", "caption_names", "caption_text", "draw_track_3d", "figure_notes", "is_hessian_file",
    "latex", "look", "made_of", "render_hessian", "using", "variant",
    "ALL_1D", "ALL_2D", "COMPARE_1D", "COMPARE_2D", "DEFAULTS_1D", "DEFAULTS_2D", "FIGURES", "FITS_1D", "FITS_2D",
    "GRID_KINDS", "LOOKS", "MAX_DRAWN", "STYLE", "Drawing", "Format", "Kind", "Look", "Metric", "Outputs",
    "PlotOptions", "PointLabel", "Scale", "Style", "TrackDrawing", "barcode", "clip_height", "compare_stem", "contour",
    "blanks", "density_figure", "draw", "draw_track", "drawable", "filled", "heatmap", "label_contours",
    "legend_below", "line", "mark_missing", "mark_missing_1d", "note_below", "output_name", "overlay_track",
    "place_labels", "render_compare", "render_file", "save_figure", "spectral_density", "surface3d", "to_scale",
]
