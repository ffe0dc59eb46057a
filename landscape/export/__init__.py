"""Surfaces for other programs: an interactive web page, meshes for 3-D tools, a grid for ParaView.

- `html`: `write_html`, a page made with plotly in the figures' look (their colours, levels,
  clip and camera): the 3-D surface beside its contour map on one colour scale, hover values and
  the surface's tracks; a 1-D surface gets a line chart of loss and accuracy (`figure` is the
  page's plotly figure). plotly.js is inlined, or shared by the pages of a folder as one
  `plotly-<version>.min.js` beside them (`js_folder`); either way the page opens offline.
- `meshes`: `write_obj` (Wavefront, for Blender and most 3-D tools) and `write_ply` (ASCII
  Stanford with viridis vertex colours, for MeshLab, CloudCompare, Blender): the triangle `mesh`.
- `vtk`: `write_vtk`, a legacy ASCII structured grid for ParaView.
- `clip`: what every output draws of the values and where it cuts them (`drawable`, `heights`,
  the one clip rule and height, `clipped_mesh`: the cut as a clean edge), shared with the figures.
- `levels`: how values read (`fmt_value`) and where levels go (round, or log-spaced), shared
  with the figures.
- `colors`: the run colours the figures and the page share, and the meshes' viridis ramp.

Every writer takes the metric, `log` (log10 of the loss) and `zmax` (a clip height in the
metric's units; None: no clip). Points not computed or non-finite (also a log of a loss <= 0)
are holes; above zmax the meshes and the page's 3-D view end in a clean cut at zmax, and the
VTK grid leaves the points out (NaN), never a flat top. The page's 2-D map is never cut.

Plotly is optional (the `html` extra) and imported only when a page is made; matplotlib is never
imported here. Data flows one way: `plot` imports `export`, never the reverse.
"""

from landscape.export.clip import MAX_DRAWN, Heights, clip_height, drawable, heights
from landscape.export.colors import RUN_COLORS, VIRIDIS, run_color, viridis
from landscape.export.html import PLOTLY_MISSING, bilinear, figure, write_html
from landscape.export.meshes import Mesh, mesh, write_obj, write_ply
from landscape.export.vtk import write_vtk

__all__ = ["MAX_DRAWN", "Heights", "Mesh", "PLOTLY_MISSING", "RUN_COLORS", "VIRIDIS", "bilinear", "clip_height",
           "drawable", "figure", "heights", "mesh", "run_color", "viridis", "write_html", "write_obj", "write_ply",
           "write_vtk"]
