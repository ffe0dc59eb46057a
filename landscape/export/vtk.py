"""The surface as a legacy ASCII VTK structured grid, for ParaView."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from landscape.errors import LandscapeError, arg
from landscape.export.clip import cap, check, masked, scaled
from landscape.store import Surface, stem


def write_vtk(path: str | Path, surface: Surface, metric: str = "loss", log: bool = False,
              zmax: float | None = None) -> None:
    """Legacy ASCII VTK STRUCTURED_GRID for ParaView: points (x, y, z) with z = the metric (log10
    with `log`) cut at `zmax` (in the metric's units; None or inf: no cut; `plot.clip_height` gives
    the figures' automatic one), and point data: the metric itself and `computed` (1/0). Not every
    reader accepts NaN, so missing or non-finite points get z = the clip height (the highest value
    without one) and the largest finite value as data; hide them in ParaView with a threshold on
    `computed`."""
    s = surface
    if not s.is_2d:
        raise LandscapeError(f"{s.name}: vtk export needs a 2-D surface; use {arg('kinds', 'line')} or "
                             f"{arg('kinds', 'html')}", field="kinds")
    name, v = s.metric(metric)
    check(name, log, zmax)
    z = scaled(v, log)
    if z.count() == 0:
        raise LandscapeError(f"{s.name}: nothing to export: no computed point is finite"
                             + (" and positive (its log)" if log else ""))
    top = float(z.max()) if zmax is None or zmax == np.inf else cap(z, zmax, log)
    raw = masked(v)
    X, Y = np.meshgrid(s.x, s.y)
    n = z.size
    rows = ["# vtk DataFile Version 3.0", f"landscape {stem(s.path)} {name}", "ASCII",
            "DATASET STRUCTURED_GRID", f"DIMENSIONS {len(s.x)} {len(s.y)} 1", f"POINTS {n} double"]
    heights = np.ma.minimum(z, top).filled(top)
    rows += [f"{a:.9g} {b:.9g} {c:.9g}" for a, b, c in zip(X.ravel(), Y.ravel(), heights.ravel())]
    rows += [f"POINT_DATA {n}", f"SCALARS {name} double 1", "LOOKUP_TABLE default"]
    rows += [f"{value:.9g}" for value in raw.filled(raw.max()).ravel()]
    rows += ["SCALARS computed int 1", "LOOKUP_TABLE default", *(str(int(v)) for v in ~np.ma.getmaskarray(raw).ravel())]
    Path(path).write_text("\n".join(rows) + "\n")
