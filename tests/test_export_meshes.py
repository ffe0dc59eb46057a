"""export/meshes.py: the OBJ and PLY meshes parse back to the data, with holes where points are
missing, a clean cut at the clip height and every normal up; and the helpers the other
test_export_* files share."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from landscape import export, store
from landscape.errors import LandscapeError
from landscape.plane.directions import Directions, DirType
from landscape.plane.grid import Grid
from landscape.store import Surface


X5 = np.linspace(-1.0, 1.0, 5)

Y4 = np.array([-0.5, 0.0, 0.5, 1.5])  # non-square, uneven


def bowl(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    return 0.5 + X**2 + 2 * Y**2 + 0.3 * X


def surface(x=X5, y=Y4, fn=bowl, computed=None, tracks=None, path=None, attrs=None) -> Surface:
    """A surface in memory as read_surface gives it: values NaN where not computed."""
    x = np.asarray(x, dtype=float)
    if y is None:
        loss = np.asarray(fn(x, np.zeros_like(x)), dtype=float)
    else:
        X, Y = np.meshgrid(x, np.asarray(y, dtype=float))
        loss = np.asarray(fn(X, Y), dtype=float)
    computed = np.ones(loss.shape, bool) if computed is None else np.asarray(computed, bool)
    acc = 100 * np.exp(-np.nan_to_num(loss, nan=1.0, posinf=1.0, neginf=1.0))
    values = {"train_loss": np.where(computed, loss, np.nan), "train_acc": np.where(computed, acc, np.nan)}
    return Surface(path, x, None if y is None else np.asarray(y, dtype=float), values, computed,
                   {"split": "train", **(attrs or {})}, tracks or {})


def surface_file(path: Path, x, y, fn=bowl, computed=None) -> Path:
    """A surface file as `landscape compute` writes it (as tests/test_plot.py's make_surface)."""
    grid = Grid(tuple(np.asarray(x, dtype=float)), None if y is None else tuple(np.asarray(y, dtype=float)))
    d = {"w": torch.zeros(3)}
    dirs = Directions(d, None if y is None else d, DirType.weights, "random", ("toward B", "toward C"))
    store.create(path, grid, ["train_loss", "train_acc"], dirs, {"split": "train", "xlabel": "toward B",
                                                                  "ylabel": "toward C"}, {})
    X, Y = np.meshgrid(x, y) if y is not None else (np.asarray(x, dtype=float), np.zeros(len(x)))
    loss = np.asarray(fn(X, Y), dtype=float)
    flat = np.arange(loss.size) if computed is None else np.flatnonzero(np.asarray(computed).ravel())
    with store.Writer(path) as w:
        w.write(flat, {"train_loss": loss.ravel()[flat], "train_acc": 100 * np.exp(-loss.ravel()[flat])})
    return path


def read_obj(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """(vertices (n, 3), texture u (n,), faces (m, 3) 0-based, comments) of an OBJ file."""
    v, vt, f, comments = [], [], [], []
    for line in path.read_text().splitlines():
        kind, _, rest = line.partition(" ")
        if kind == "#":
            comments.append(rest)
        elif kind == "v":
            v.append([float(t) for t in rest.split()])
        elif kind == "vt":
            vt.append([float(t) for t in rest.split()])
        elif kind == "f":
            refs = [t.split("/") for t in rest.split()]
            assert len(refs) == 3 and all(a == b for a, b in refs), line  # triangles, vertex = its vt
            f.append([int(a) - 1 for a, _ in refs])
        else:
            assert kind in ("o", ""), f"unexpected OBJ line {line!r}"
    v_, vt_ = np.array(v).reshape(-1, 3), np.array(vt).reshape(-1, 2)
    assert len(vt_) == len(v_)
    return v_, vt_[:, 0], np.array(f, dtype=int).reshape(-1, 3), comments


def read_ply(path: Path) -> tuple[dict[str, np.ndarray], np.ndarray, list[str]]:
    """(vertex properties by name, faces (m, 3), comments) of an ASCII PLY file."""
    raw = path.read_bytes()
    header, _, body = raw.partition(b"end_header\n")
    header.decode("ascii")  # a PLY header is ASCII
    lines = header.decode().splitlines()
    assert lines[:2] == ["ply", "format ascii 1.0"]
    comments = [ln[8:] for ln in lines if ln.startswith("comment ")]
    elements, props = [], {}
    for ln in lines:
        words = ln.split()
        if words[0] == "element":
            elements.append((words[1], int(words[2])))
            props[words[1]] = []
        elif words[0] == "property":
            props[elements[-1][0]].append(words[1:])
    assert [e for e, _ in elements] == ["vertex", "face"]
    assert props["face"] == [["list", "uchar", "int", "vertex_indices"]]
    rows = body.decode().splitlines()
    (_, nv), (_, nf) = elements
    assert len(rows) == nv + nf
    table = np.array([[float(t) for t in r.split()] for r in rows[:nv]]).reshape(nv, len(props["vertex"]))
    vertex = {p[-1]: table[:, k] for k, p in enumerate(props["vertex"])}
    types = {p[-1]: p[0] for p in props["vertex"]}
    assert [types[c] for c in ("x", "y", "z", "red", "green", "blue")] == ["float"] * 3 + ["uchar"] * 3
    faces = np.array([[int(t) for t in r.split()] for r in rows[nv:]], dtype=int).reshape(nf, 4)
    assert (faces[:, 0] == 3).all()
    return vertex, faces[:, 1:], comments


def normals_z(v: np.ndarray, f: np.ndarray) -> np.ndarray:
    e1, e2 = v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]]
    return np.cross(e1, e2)[:, 2]


def cells_of(v: np.ndarray, f: np.ndarray, x: np.ndarray, y: np.ndarray) -> list[tuple[int, int]]:
    """The grid cell (j, i) each face lies in, checking its corners are corners of that cell."""
    out = []
    for tri in f:
        i = sorted({int(np.argmin(abs(x - v[k, 0]))) for k in tri})
        j = sorted({int(np.argmin(abs(y - v[k, 1]))) for k in tri})
        assert len(i) == 2 and len(j) == 2 and i[1] == i[0] + 1 and j[1] == j[0] + 1, tri
        out.append((j[0], i[0]))
    return out


def value_at(s: Surface, vx: float, vy: float, name: str = "train_loss") -> float:
    i, j = int(np.argmin(abs(s.x - vx))), int(np.argmin(abs(s.y - vy)))
    assert s.x[i] == pytest.approx(vx) and s.y[j] == pytest.approx(vy)
    return float(s.values[name][j, i])


def test_obj_full_grid_parses_back_with_upward_normals(tmp_path):
    s = surface(path=tmp_path / "bowl.surface.h5")
    out = tmp_path / "bowl.obj"
    export.write_obj(out, s)
    v, u, f, comments = read_obj(out)
    assert len(v) == 20 and len(f) == 2 * 4 * 3
    assert f.min() == 0 and f.max() == len(v) - 1  # 1-based in the file, every vertex used
    for vx, vy, vz in v:
        assert vz == pytest.approx(value_at(s, vx, vy), rel=1e-8)
    assert (normals_z(v, f) > 0).all()
    assert sorted(set(cells_of(v, f, s.x, s.y))) == [(j, i) for j in range(3) for i in range(4)]
    assert u.min() == 0 and u.max() == 1 and u[np.argmin(v[:, 2])] == 0 and u[np.argmax(v[:, 2])] == 1
    text = "\n".join(comments)
    assert "train_loss" in text and "bowl.surface.h5" in text and "clip: none" in text and "scale Z" in text


def read_mesh(path: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(vertices (n, 3), faces (m, 3), comments) of an OBJ or PLY file."""
    if path.suffix == ".obj":
        v, _, f, comments = read_obj(path)
        return v, f, comments
    vertex, f, comments = read_ply(path)
    return np.stack([vertex["x"], vertex["y"], vertex["z"]], 1), f, comments


def area_xy(v: np.ndarray, f: np.ndarray) -> float:
    """The area the triangles cover seen from above."""
    return float(normals_z(v, f).sum() / 2)


def holes_surface() -> tuple[Surface, np.ndarray]:
    """A bowl with points not computed, a NaN and an inf; and where the points are drawable."""
    x, y = np.linspace(-1, 1, 6), np.linspace(-1, 1, 5)
    computed = np.ones((5, 6), bool)
    computed[0, :3] = False  # not computed yet

    def fn(X, Y):
        z = bowl(X, Y)
        z[2, 2], z[3, 4] = np.nan, np.inf  # diverged models
        return z

    s = surface(x, y, fn, computed)
    return s, computed & np.isfinite(s.values["train_loss"])


def test_holes_where_points_are_missing_or_nonfinite(tmp_path):
    """Without a clip, the mesh is the grid's cells whose four corners are drawn: two triangles
    each, the other cells holes; every vertex a grid point with its value."""
    s, keep = holes_surface()
    whole = keep[:-1, :-1] & keep[:-1, 1:] & keep[1:, :-1] & keep[1:, 1:]
    used = np.zeros_like(keep)
    for j, i in np.argwhere(whole):
        used[j:j + 2, i:i + 2] = True
    for writer in (export.write_obj, export.write_ply):
        out = tmp_path / f"holes.{writer.__name__[-3:]}"
        writer(out, s)
        v, f, comments = read_mesh(out)
        assert len(v) == used.sum() and np.isfinite(v).all()
        assert sorted(cells_of(v, f, s.x, s.y)) == sorted(c for c in map(tuple, np.argwhere(whole)) for _ in (0, 1))
        assert (normals_z(v, f) > 0).all()
        assert any("clip: none" in c for c in comments)


def test_the_clip_cuts_with_a_clean_edge_at_the_cap(tmp_path):
    """A bowl with one huge outlier: the automatic clip cuts it off at the clip height with a
    clean edge (vertices at exactly the cap, the cells around the outlier partly kept), not a
    hole of the four whole cells around it, and not a flat top."""
    x, y = np.linspace(-1, 1, 9), np.linspace(-1, 1, 7)

    def spike(X, Y):
        z = bowl(X, Y)
        z[3, 4] = 1e6
        return z

    s = surface(x, y, spike)
    zmax = export.clip_height(export.clip.scaled(s.values["train_loss"], False), None, False)
    assert zmax is not None and 3 < zmax < 10  # the automatic clip of the figures cuts the outlier only
    polys, _ = export.clip.clipped_mesh(x, y, s.values["train_loss"], zmax)
    for writer in (export.write_obj, export.write_ply):
        out = tmp_path / f"spike.{writer.__name__[-3:]}"
        writer(out, s, zmax=zmax)
        v, f, comments = read_mesh(out)
        assert v[:, 2].max() == pytest.approx(zmax, rel=1e-8)  # not the outlier, no flat top above the cap
        on_cut = np.isclose(v[:, 2], zmax, rtol=1e-8)
        assert on_cut.sum() == 6  # on the 4 edges and the 2 cell diagonals from the outlier to its neighbours
        assert len(f) == 2 * 44 + 2 * 6 + 2  # whole cells; the 6 triangles holding the outlier cut to quads
        px, py = polys[:, :, 0], polys[:, :, 1]
        shoelace = px * np.roll(py, -1, axis=1) - np.roll(px, -1, axis=1) * py
        assert area_xy(v, f) == pytest.approx(shoelace.sum() / 2, rel=1e-9)  # the 3-D figure's polygons
        assert area_xy(v, f) > 4 - 4 / 12 + 0.08  # the grid less the 4 cells (1/12 each), and then some
        d = np.linalg.norm(v[:, None, :] - v[None, :, :], axis=-1)
        assert np.sort(d, axis=1)[:, 1].min() > 1e-6  # one vertex per point: the cut is welded
        assert (normals_z(v, f) > 0).all()
        assert any(f"values above {zmax:g} left out" in c and "clean edge" in c for c in comments)


def test_the_clip_keeps_holes_of_missing_points(tmp_path):
    """With holes and a given clip: the cut vertices lie at the clip height, and no triangle lies
    in a cell touching a point not computed or non-finite."""
    s, keep = holes_surface()
    zmax = 3.0
    for writer in (export.write_obj, export.write_ply):
        out = tmp_path / f"holes.{writer.__name__[-3:]}"
        writer(out, s, zmax=zmax)
        v, f, comments = read_mesh(out)
        assert (v[:, 2] <= zmax + 1e-9).all() and np.isclose(v[:, 2], zmax).sum() >= 3
        centre = v[f].mean(axis=1)
        i = np.searchsorted(s.x, centre[:, 0]) - 1
        j = np.searchsorted(s.y, centre[:, 1]) - 1
        assert (keep[j, i] & keep[j + 1, i] & keep[j, i + 1] & keep[j + 1, i + 1]).all()
        assert (normals_z(v, f) > 0).all()
        assert any("values above 3 left out" in c for c in comments)


def test_decreasing_coordinates_keep_normals_up(tmp_path):
    s = surface(X5[::-1], Y4[::-1])
    export.write_obj(tmp_path / "rev.obj", s)
    v, _, f, _ = read_obj(tmp_path / "rev.obj")
    assert len(f) == 24 and (normals_z(v, f) > 0).all()


def test_log_heights_and_ply_values_colours(tmp_path):
    s = surface(fn=lambda X, Y: bowl(X, Y) - 0.6)  # a few losses <= 0: their log is left out
    raw = s.values["train_loss"]
    out = tmp_path / "log.ply"
    export.write_ply(out, s, log=True)
    vertex, f, comments = read_ply(out)
    assert len(vertex["x"]) == 14  # the points of the cells whose four losses are > 0
    for vx, vy, vz, value in zip(vertex["x"], vertex["y"], vertex["z"], vertex["train_loss"]):
        assert value == pytest.approx(value_at(s, vx, vy), rel=1e-7)
        assert vz == pytest.approx(np.log10(value), rel=1e-7, abs=1e-9)
    rgb = np.stack([vertex[c] for c in ("red", "green", "blue")], 1)
    assert (rgb == np.round(rgb)).all() and rgb.min() >= 0 and rgb.max() <= 255
    assert tuple(rgb[np.argmin(vertex["z"])]) == (68, 1, 84)  # viridis ends
    assert tuple(rgb[np.argmax(vertex["z"])]) == (253, 231, 37)
    assert any("log10" in c for c in comments)
    v = np.stack([vertex["x"], vertex["y"], vertex["z"]], 1)
    assert (normals_z(v, f) > 0).all()
    export.write_obj(tmp_path / "log.obj", s, log=True)  # the same mesh in both formats
    vo, _, fo, _ = read_obj(tmp_path / "log.obj")
    np.testing.assert_allclose(vo, v, rtol=1e-7)
    np.testing.assert_array_equal(fo, f)


def test_mesh_of_a_partly_computed_file_and_eig_values(tmp_path):
    x, y = np.linspace(-1, 1, 7), np.linspace(-1, 1, 4)
    computed = np.zeros((4, 7), bool)
    computed[:, :4] = True  # a run stopped halfway
    path = surface_file(tmp_path / "half.surface.h5", x, y, computed=computed)
    s = store.read_surface(path)
    export.write_obj(tmp_path / "half.obj", s)
    v, _, f, comments = read_obj(tmp_path / "half.obj")
    assert len(v) == 16 and len(f) == 2 * 3 * 3 and v[:, 0].max() == pytest.approx(x[3])
    assert "# x: toward B; y: toward C" in [f"# {c}" for c in comments]
    s.values["eig_ratio"] = np.where(computed, 0.25, np.nan)
    export.write_ply(tmp_path / "eig.ply", s, metric="eig_ratio")
    vertex, _, _ = read_ply(tmp_path / "eig.ply")
    assert (vertex["eig_ratio"] == 0.25).all()
    assert {tuple(c) for c in np.stack([vertex[c] for c in ("red", "green", "blue")], 1)} == {
        tuple(export.viridis(np.array([0.5]))[0])}  # a flat surface: the ramp's middle


def test_no_cell_to_draw_is_a_user_error(tmp_path):
    """Every other point computed: no cell has four drawn corners, so there is no mesh to write."""
    computed = (np.add.outer(np.arange(4), np.arange(5)) % 2).astype(bool)
    for writer in (export.write_obj, export.write_ply):
        with pytest.raises(LandscapeError, match="no grid cell has four corners that are computed and finite"):
            writer(tmp_path / "x.mesh", surface(computed=computed))
    assert not (tmp_path / "x.mesh").exists()
