"""Triangle meshes of a 2-D surface for 3-D tools: Wavefront OBJ (Blender and most others) and
ASCII Stanford PLY with viridis vertex colours (MeshLab, CloudCompare, Blender).

Heights are the metric's values themselves (log10 with `log`). Above the clip height the surface
is cut by the plane z = clip height with a clean edge, exactly as the static 3-D figure and the
web page draw it (`clip.clipped_mesh`: new vertices on the cut, never a flat top nor holes along
whole cells); cells touching a point not computed or non-finite are holes. The header says what
Z is, since a 3-D tool may want it scaled.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from landscape.errors import LandscapeError, arg
from landscape.export.clip import Heights, clipped_mesh, heights
from landscape.export.colors import viridis
from landscape.store import Surface

SNAP = 1e-9  # vertices closer than this share of the mesh's extent (per axis) are one vertex


@dataclass(frozen=True)
class Mesh:
    """A triangle mesh of a 2-D surface: the grid's drawn points and the vertices where the clip
    plane cuts the grid's edges, triangles wound counter-clockwise seen from above (normals up, +z)."""

    vertices: np.ndarray  # (n, 3) x, y, height
    values: np.ndarray  # (n,) the metric's raw value at each vertex (the clip height on the cut)
    faces: np.ndarray  # (m, 3) 0-based vertex indices
    heights: Heights

    @property
    def ramp(self) -> np.ndarray:
        """(n,) each height mapped to [0, 1] over the drawn range (0.5 for a flat surface)."""
        z = self.vertices[:, 2]
        lo, hi = float(z.min()), float(z.max())
        return np.full(len(z), 0.5) if hi - lo <= 1e-12 * max(1.0, abs(lo)) else (z - lo) / (hi - lo)


def triangles(polys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(vertices (n, 3), faces (m, 3)) of `clip.clipped_mesh`'s polygons: each quadrilateral two
    triangles, each triangle (its last vertex repeated) one, zero-area ones dropped; points within
    SNAP of the extent are one vertex (a cut vertex is computed once from each triangle sharing its
    edge, in rounding-different ways), so the mesh is welded along the cut."""
    points = polys.reshape(-1, 3)
    if not len(points):
        return np.empty((0, 3)), np.empty((0, 3), dtype=np.int64)
    lo, span = points.min(axis=0), np.ptp(points, axis=0)
    key = np.round((points - lo) / np.where(span > 0, span, 1.0) / SNAP).astype(np.int64)
    _, first, inverse = np.unique(key, axis=0, return_index=True, return_inverse=True)
    quad = inverse.reshape(-1, 4)
    faces = np.concatenate([quad[:, [0, 1, 2]], quad[:, [0, 2, 3]]])
    faces = faces[(faces[:, 0] != faces[:, 1]) & (faces[:, 1] != faces[:, 2]) & (faces[:, 0] != faces[:, 2])]
    used = np.unique(faces)
    renumber = np.full(len(first), -1, dtype=np.int64)
    renumber[used] = np.arange(len(used))
    return points[first][used], renumber[faces]


def mesh(surface: Surface, metric: str = "loss", log: bool = False, zmax: float | None = None) -> Mesh:
    """The triangle mesh of a 2-D surface cut at the clip height `zmax` (the metric's units;
    None or inf: no cut); see Mesh, `clip.heights` and `clip.clipped_mesh`."""
    if not surface.is_2d:
        raise LandscapeError(f"{surface.name}: a mesh needs a 2-D surface (this one is 1-D); "
                             f"use {arg('kinds', 'line')} or {arg('kinds', 'html')}", field="kinds")
    h = heights(surface, metric, log, zmax)  # the file's header, and the errors (nothing left below zmax)
    assert surface.y is not None
    full = heights(surface, metric, log, None).z  # NaN: not computed or non-finite
    cap = np.inf if h.zmax is None else float(np.log10(h.zmax) if log else h.zmax)
    polys, _ = clipped_mesh(np.asarray(surface.x, dtype=np.float64), np.asarray(surface.y, dtype=np.float64),
                            full, cap)
    vertices, faces = triangles(polys)
    if not len(faces):
        above = f" or above {arg('zmax')}" if h.zmax is not None else ""
        raise LandscapeError(f"{surface.name}: nothing to export: no grid cell has four corners that are computed "
                             f"and finite{above}", field="zmax" if h.zmax is not None else None)
    # decreasing coordinates mirror the cell: flip those triangles so every normal points up
    p = vertices[:, :2]
    e1, e2 = p[faces[:, 1]] - p[faces[:, 0]], p[faces[:, 2]] - p[faces[:, 0]]
    down = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0] < 0
    faces[down] = faces[down][:, ::-1]
    values = 10.0 ** vertices[:, 2] if log else vertices[:, 2].copy()
    return Mesh(vertices, values, faces, h)


def _header(m: Mesh, surface: Surface, fmt: str) -> list[str]:
    """Comment lines (without the comment mark) describing the mesh; one line each, ASCII only,
    since PLY headers are ASCII and a label may hold any text."""
    h = m.heights
    units = "decades (log10) of the metric" if h.log else "the metric's units"
    cut = "none" if h.zmax is None else (f"{h.clip_text}: the surface is cut by the plane z = "
                                         f"{np.log10(h.zmax) if h.log else h.zmax:.9g} with a clean edge "
                                         "(vertices on the cut), as in the 3-D figure")
    lines = [
        f"landscape surface mesh ({fmt}) of {surface.name}",
        f"metric: {h.name}; z = {'log10 of the value' if h.log else 'the value itself'}; x, y: the plane's coordinates",
        f"x: {surface.attrs.get('xlabel') or 'direction 1'}; y: {surface.attrs.get('ylabel') or 'direction 2'}",
        f"clip: {cut}",
        "holes: cells touching a point not computed or non-finite",
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
