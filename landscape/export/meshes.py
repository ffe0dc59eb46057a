"""Triangle meshes of a 2-D surface for 3-D tools: Wavefront OBJ (Blender and most others) and
ASCII Stanford PLY with viridis vertex colours (MeshLab, CloudCompare, Blender).

Heights are the metric's values themselves (log10 with `log`); points not computed, non-finite
or above the clip height are holes, never a flat top. The header says what Z is, since a 3-D
tool may want it scaled.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from landscape.errors import LandscapeError, arg
from landscape.export.clip import Heights, heights
from landscape.export.colors import viridis
from landscape.store import Surface


@dataclass(frozen=True)
class Mesh:
    """A triangle mesh of a 2-D surface: one vertex per drawn point, two triangles per grid cell
    whose four corners are drawn, wound counter-clockwise seen from above (normals up, +z)."""

    vertices: np.ndarray  # (n, 3) x, y, height
    values: np.ndarray  # (n,) the metric's raw value at each vertex
    faces: np.ndarray  # (m, 3) 0-based vertex indices
    heights: Heights

    @property
    def ramp(self) -> np.ndarray:
        """(n,) each height mapped to [0, 1] over the drawn range (0.5 for a flat surface)."""
        z = self.vertices[:, 2]
        lo, hi = float(z.min()), float(z.max())
        return np.full(len(z), 0.5) if hi - lo <= 1e-12 * max(1.0, abs(lo)) else (z - lo) / (hi - lo)


def mesh(surface: Surface, metric: str = "loss", log: bool = False, zmax: float | None = None) -> Mesh:
    """The triangle mesh of a 2-D surface (see Mesh and `clip.heights`)."""
    if not surface.is_2d:
        raise LandscapeError(f"{surface.name}: a mesh needs a 2-D surface (this one is 1-D); "
                             f"use {arg('kinds', 'line')} or {arg('kinds', 'html')}", field="kinds")
    h = heights(surface, metric, log, zmax)
    assert surface.y is not None
    keep = np.isfinite(h.z)  # (ny, nx)
    index = np.full(keep.shape, -1, dtype=np.int64)
    index[keep] = np.arange(int(keep.sum()))
    X, Y = np.meshgrid(surface.x, surface.y)
    vertices = np.stack([X[keep], Y[keep], h.z[keep]], axis=1)
    # corners of each cell: a = (i, j), b = (i+1, j), c = (i+1, j+1), d = (i, j+1)
    a, b, c, d = index[:-1, :-1], index[:-1, 1:], index[1:, 1:], index[1:, :-1]
    whole = (a >= 0) & (b >= 0) & (c >= 0) & (d >= 0)
    a, b, c, d = a[whole], b[whole], c[whole], d[whole]
    faces = np.stack([np.stack([a, b, c], 1), np.stack([a, c, d], 1)], axis=1).reshape(-1, 3)  # (2 cells, 3)
    # decreasing coordinates mirror the cell: flip those triangles so every normal points up
    p = vertices[:, :2]
    e1, e2 = p[faces[:, 1]] - p[faces[:, 0]], p[faces[:, 2]] - p[faces[:, 0]]
    down = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0] < 0
    faces[down] = faces[down][:, ::-1]
    return Mesh(vertices, h.raw[keep], faces, h)


def _header(m: Mesh, surface: Surface, fmt: str) -> list[str]:
    """Comment lines (without the comment mark) describing the mesh; one line each, ASCII only,
    since PLY headers are ASCII and a label may hold any text."""
    h = m.heights
    units = "decades (log10) of the metric" if h.log else "the metric's units"
    lines = [
        f"landscape surface mesh ({fmt}) of {surface.name}",
        f"metric: {h.name}; z = {'log10 of the value' if h.log else 'the value itself'}; x, y: the plane's coordinates",
        f"x: {surface.attrs.get('xlabel') or 'direction 1'}; y: {surface.attrs.get('ylabel') or 'direction 2'}",
        f"clip: {h.clip_text}; points not computed, non-finite or clipped are holes",
        f"{len(m.vertices)} vertices, {len(m.faces)} triangles; "
        f"z from {m.vertices[:, 2].min():.6g} to {m.vertices[:, 2].max():.6g}",
        f"z is in {units}: scale Z in the 3-D tool if the surface looks too flat or too steep",
    ]
    return [" ".join(line.split()).encode("ascii", "backslashreplace").decode() for line in lines]


def write_obj(path: Path, surface: Surface, metric: str = "loss", log: bool = False,
              zmax: float | None = None) -> None:
    """Wavefront OBJ of `mesh`: `v x y z`, a texture coordinate `vt u 0.5` per vertex with u the
    height mapped to [0, 1] (apply a colour ramp image along u), and `f v/vt ...` triangles,
    1-based, counter-clockwise seen from +z."""
    m = mesh(surface, metric, log, zmax)
    lines = [f"# {line}" for line in _header(m, surface, "Wavefront OBJ")]
    lines.append("# vt: u = height mapped to [0, 1] over the drawn range, for a colour ramp")
    lines.append("o landscape")
    lines += [f"v {x:.9g} {y:.9g} {z:.9g}" for x, y, z in m.vertices]
    lines += [f"vt {u:.6f} 0.5" for u in m.ramp]
    lines += [f"f {a}/{a} {b}/{b} {c}/{c}" for a, b, c in m.faces + 1]
    Path(path).write_text("\n".join(lines) + "\n")


def write_ply(path: Path, surface: Surface, metric: str = "loss", log: bool = False,
              zmax: float | None = None) -> None:
    """ASCII Stanford PLY of `mesh`: vertices with float x, y, z, uchar red, green, blue (viridis
    over the height) and a float property named for the metric holding its raw value;
    triangles counter-clockwise seen from +z."""
    m = mesh(surface, metric, log, zmax)
    value = "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in m.heights.name)
    rgb = viridis(m.ramp)
    lines = ["ply", "format ascii 1.0", *(f"comment {line}" for line in _header(m, surface, "Stanford PLY")),
             f"comment vertex colour: viridis over z; {value}: the metric's value (not its log)",
             f"element vertex {len(m.vertices)}",
             "property float x", "property float y", "property float z",
             "property uchar red", "property uchar green", "property uchar blue",
             f"property float {value}",
             f"element face {len(m.faces)}", "property list uchar int vertex_indices", "end_header"]
    lines += [f"{x:.9g} {y:.9g} {z:.9g} {r} {g} {b} {v:.9g}"
              for (x, y, z), (r, g, b), v in zip(m.vertices, rgb, m.values)]
    lines += [f"3 {a} {b} {c}" for a, b, c in m.faces]
    Path(path).write_text("\n".join(lines) + "\n")
