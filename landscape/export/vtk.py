"""The surface as a legacy ASCII VTK structured grid, for ParaView.

A structured grid cannot cut its cells, so the one clip rule of every output is kept by leaving
points out: a point above the clip height, not computed or non-finite gets z = NaN (a hole, as in
the meshes and the figures; never a plateau at the clip height). The header line and the field
data `clip_height` say where the surface is cut.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from landscape.errors import LandscapeError, arg
from landscape.export.clip import cap, check, masked, scaled
from landscape.store import Surface, stem


def write_vtk(path: str | Path, surface: Surface, metric: str = "loss", log: bool = False,
              zmax: float | None = None) -> None:
    """Legacy ASCII VTK STRUCTURED_GRID for ParaView: points (x, y, z) with z = the metric (log10
    with `log`), NaN above the clip height `zmax` (the metric's units; None or inf: no cut;
    `plot.clip_height` gives the figures' automatic one) and where a point is not computed or
    non-finite. Point data: the metric itself (NaN where not computed or non-finite; its value
    above the cut), `computed` (1/0: computed with a finite value) and `drawn` (1/0: computed,
    finite and not cut; a threshold on it hides the holes in a tool that mishandles NaN). Field
    data `clip_height` (the metric's units) when there is a cut."""
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
    cut = None if zmax is None or zmax == np.inf else cap(z, zmax, log)
    if cut is not None and cut >= float(z.max()):
        cut = None  # nothing above it
    drawn = ~np.ma.getmaskarray(z) & (z.filled(np.nan) <= cut if cut is not None else True)
    heights = np.where(drawn, z.filled(np.nan), np.nan)
    raw = masked(v).filled(np.nan)
    X, Y = np.meshgrid(s.x, s.y)
    n = z.size
    clip = "none" if cut is None else f"z is NaN where {name} > {10.0 ** cut if log else cut:.9g} (cut)"
    title = f"landscape {stem(s.path)}; z = {'log10 of ' if log else ''}{name}; clip: {clip}; not computed: NaN"
    rows = ["# vtk DataFile Version 3.0", title[:255],
            "ASCII", "DATASET STRUCTURED_GRID"]
    if cut is not None:
        rows += ["FIELD FieldData 1", "clip_height 1 1 double", f"{10.0 ** cut if log else cut:.9g}"]
    rows += [f"DIMENSIONS {len(s.x)} {len(s.y)} 1", f"POINTS {n} double"]
    rows += [f"{a:.9g} {b:.9g} {c:.9g}" for a, b, c in zip(X.ravel(), Y.ravel(), heights.ravel())]
    rows += [f"POINT_DATA {n}", f"SCALARS {name} double 1", "LOOKUP_TABLE default"]
    rows += [f"{value:.9g}" for value in raw.ravel()]
    for label, flags in (("computed", np.isfinite(raw)), ("drawn", drawn)):
        rows += [f"SCALARS {label} int 1", "LOOKUP_TABLE default", *(str(int(f)) for f in flags.ravel())]
    Path(path).write_text("\n".join(rows) + "\n")
