"""export.py: the OBJ and PLY meshes parse back to the data, and the HTML page is self-contained
and really draws in a headless browser."""

from __future__ import annotations

import ast
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from landscape import export, store
from landscape.plane.directions import Directions, DirType
from landscape.errors import LandscapeError
from landscape.plane.grid import Grid
from landscape.store.surface_file import Surface, Track

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


# ---------------------------------------------------------------- minimal readers


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


# ---------------------------------------------------------------- meshes


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


def test_holes_missing_nonfinite_and_clipped_points_are_left_out(tmp_path):
    x, y = np.linspace(-1, 1, 6), np.linspace(-1, 1, 5)
    computed = np.ones((5, 6), bool)
    computed[0, :3] = False  # not computed yet

    def fn(X, Y):
        z = bowl(X, Y)
        z[2, 2], z[3, 4] = np.nan, np.inf  # diverged models
        return z

    s = surface(x, y, fn, computed)
    zmax = 3.0
    keep = computed & np.isfinite(s.values["train_loss"]) & (s.values["train_loss"] <= zmax)
    assert 0 < keep.sum() < keep.size - 8  # the clip removes some points of its own
    whole = keep[:-1, :-1] & keep[:-1, 1:] & keep[1:, :-1] & keep[1:, 1:]
    for writer in (export.write_obj, export.write_ply):
        out = tmp_path / f"holes.{writer.__name__[-3:]}"
        writer(out, s, zmax=zmax)
        if out.suffix == ".obj":
            v, _, f, comments = read_obj(out)
        else:
            vertex, f, comments = read_ply(out)
            v = np.stack([vertex["x"], vertex["y"], vertex["z"]], 1)
        assert len(v) == keep.sum()
        assert (v[:, 2] <= zmax).all() and np.isfinite(v).all()
        assert sorted(cells_of(v, f, x, y)) == sorted(c for c in map(tuple, np.argwhere(whole)) for _ in (0, 1))
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
    assert len(vertex["x"]) == (raw > 0).sum()
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


def test_metric_and_argument_errors(tmp_path):
    s = surface()
    export.write_obj(tmp_path / "acc.obj", s, metric="acc")
    v, *_ = read_obj(tmp_path / "acc.obj")
    assert v[:, 2].max() <= 100 and v[:, 2].min() > 0
    with pytest.raises(LandscapeError, match="loss only"):
        export.write_obj(tmp_path / "x.obj", s, metric="acc", log=True)
    with pytest.raises(LandscapeError, match="nothing to export"):
        export.write_ply(tmp_path / "x.ply", s, zmax=0.01)
    with pytest.raises(LandscapeError, match="> 0 with --log"):
        export.write_ply(tmp_path / "x.ply", s, log=True, zmax=-1)
    with pytest.raises(LandscapeError, match="no eig_ratio"):
        export.write_ply(tmp_path / "x.ply", s, metric="eig_ratio")
    export.write_obj(tmp_path / "inf.obj", s, zmax=float("inf"))  # inf: no clip
    assert len(read_obj(tmp_path / "inf.obj")[0]) == 20
    line = surface(y=None)
    for writer in (export.write_obj, export.write_ply):
        with pytest.raises(LandscapeError, match="a mesh needs a 2-D surface"):
            writer(tmp_path / "line.mesh", line)
    assert not (tmp_path / "line.mesh").exists() and not (tmp_path / "x.ply").exists()


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


def test_viridis_table_matches_matplotlib():
    from matplotlib import colormaps

    t = np.linspace(0, 1, 257)
    ref = np.round(255 * colormaps["viridis"](t)[:, :3])
    assert abs(export.viridis(t).astype(int) - ref).max() <= 6
    assert export.viridis(np.array([-1.0, 2.0])).tolist() == [[68, 1, 84], [253, 231, 37]]


def test_bilinear():
    x, y = np.array([0.0, 1.0, 3.0]), np.array([0.0, 2.0])
    z = np.array([[0.0, 1.0, 3.0], [2.0, 3.0, np.nan]])  # z = x + y, one point missing
    got = export.bilinear(x, y, z, np.array([0.5, 1.0, 0.0, 2.0, 3.5, 1.0]), np.array([1.0, 0.0, 2.0, 1.0, 0.0, 2.0]))
    np.testing.assert_allclose(got[:3], [1.5, 1.0, 2.0])
    assert np.isnan(got[3]) and np.isnan(got[4])  # next to the hole; outside the grid
    assert got[5] == 3.0  # on a grid point beside the hole: the hole carries no weight
    np.testing.assert_allclose(export.bilinear(x[::-1], y, z[:, ::-1], np.array([0.5]), np.array([1.0])), [1.5])


def test_no_matplotlib_and_plotly_only_when_needed():
    """export.py never imports matplotlib, and plotly only inside the function that needs it."""
    tree = ast.parse(Path(export.__file__).read_text())
    imported = [(node, alias.name if isinstance(node, ast.Import) else node.module or "")
                for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))
                for alias in node.names]
    assert not [name for _, name in imported if name.split(".")[0] == "matplotlib"]
    top = {id(node) for node in tree.body}
    assert not [name for node, name in imported if name.startswith("plotly") and id(node) in top]


# ---------------------------------------------------------------- the web page


def trajectory() -> Track:
    """Two training runs ending at the origin, with checkpoint names, epochs and residuals."""
    x = np.r_[np.linspace(0.9, 0.0, 6), np.linspace(-0.8, 0.0, 5)]
    y = np.r_[np.linspace(1.2, 0.0, 6), np.linspace(1.0, 0.0, 5)]
    names = [f"run{r}/epoch_{e}.pt" for r, n in ((0, 6), (1, 5)) for e in range(n)]
    epochs = [e for n in (6, 5) for e in range(n)]
    return Track(x, y, names, epochs, np.r_[np.zeros(6, int), np.ones(5, int)], ["seed 0", "seed 1"],
                 np.linspace(0.0, 0.2, 11))


def test_figure_2d_panels_hover_and_tracks():
    pytest.importorskip("plotly", reason="the html export needs plotly (pip install plotly)")
    s = surface(np.linspace(-1, 1, 9), np.linspace(-0.5, 1.5, 7), tracks={"trajectory": trajectory()},
                path=Path("out/model.surface.h5"), attrs={"xlabel": "toward B"})
    fig = export.figure(s, zmax=4.0)
    kinds = [t.type for t in fig.data]
    assert kinds[:2] == ["surface", "contour"]
    surf, cont = fig.data[:2]
    z = np.array(surf.z, dtype=float)
    raw = s.values["train_loss"]
    np.testing.assert_array_equal(np.isnan(z), raw > 4.0)  # clipped points are holes, not a flat top
    assert "train accuracy (%)" in surf.hovertemplate and "train loss" in surf.hovertemplate
    np.testing.assert_allclose(np.array(surf.customdata)[..., 1], s.values["train_acc"])
    assert surf.coloraxis == cont.coloraxis == "coloraxis"
    runs = [t for t in fig.data if t.type == "scatter3d"]
    assert [t.name for t in runs] == ["seed 0", "seed 1"] and runs[0].line.color != runs[1].line.color
    assert runs[0].marker.symbol[0] == "circle-open" and runs[0].marker.symbol[-1] == "square"
    expected = export.bilinear(s.x, s.y, z, runs[0].x, runs[0].y)
    lift = 0.01 * (np.nanmax(z) - np.nanmin(z))  # drawn just above the surface, not inside it
    np.testing.assert_allclose(np.array(runs[0].z, dtype=float), expected + lift)
    assert np.isnan(expected[0]) and np.isfinite(expected[-1])  # the start lies over a clipped cell
    hover = runs[0].hovertext
    assert "run0/epoch_0.pt" in hover[0] and "epoch 0" in hover[0] and "start" in hover[0] and "end" in hover[-1]
    assert "off the plane 2.0%" in hover[1]
    assert {t.name for t in fig.data if t.type == "scatter" and t.showlegend is not False} >= {"start", "end"}
    assert fig.layout.title.text == "model"
    assert fig.layout.scene.xaxis.title.text == "toward B" and fig.layout.scene.yaxis.title.text == "direction 2"
    assert fig.layout.xaxis.title.text == "toward B"
    assert export.figure(s, title="A & B").layout.title.text == "A &amp; B"


def test_figure_1d_and_models():
    pytest.importorskip("plotly", reason="the html export needs plotly (pip install plotly)")
    models = Track(np.array([0.0, 1.0]), np.zeros(2), ["A", "B"], [None, 30])
    s = surface(np.linspace(-0.5, 1.5, 21), None, lambda X, Y: 1 + 0.8 * np.cos(3 * X), tracks={"models": models})
    fig = export.figure(s, log=True)
    loss, acc, marks = fig.data
    assert loss.name == "train loss" and acc.name == "train accuracy (%)" and acc.yaxis == "y2"
    assert fig.layout.yaxis.type == "log"
    np.testing.assert_allclose(marks.y, 1 + 0.8 * np.cos(3 * models.x), rtol=1e-2)
    assert list(marks.text) == ["A", "B"] and "epoch 30" in marks.hovertext[1]
    assert fig.layout.title.text == "surface"  # in memory: no file stem


def test_html_is_self_contained(tmp_path):
    pytest.importorskip("plotly", reason="the html export needs plotly (pip install plotly)")
    out = tmp_path / "page.html"
    export.write_html(out, surface(tracks={"trajectory": trajectory()}, path=tmp_path / "page.h5"))
    page = out.read_text(encoding="utf-8")
    assert "<script src=" not in page.lower()
    assert not re.search(r"<script[^>]*\bsrc\s*=", page, re.I)
    assert not re.search(r"<link[^>]*href\s*=\s*[\"']?(https?:)?//", page, re.I)
    assert len(page) > 1_000_000 and "Plotly.newPlot" in page  # the bundle itself, inlined
    assert "<title>page</title>" in page


def test_missing_plotly_is_a_user_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "plotly", None)
    monkeypatch.setitem(sys.modules, "plotly.graph_objects", None)
    with pytest.raises(LandscapeError) as e:
        export.write_html(tmp_path / "x.html", surface())
    assert str(e.value) == "--kind html needs plotly: pip install plotly (or pip install 'landscape-viz[html]')"
    assert not (tmp_path / "x.html").exists()


def chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if found := shutil.which(name):
            return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None


# Headless and offline (every host name fails to resolve); WebGL in software through SwiftShader,
# so the 3-D surface draws without a GPU.
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
    "--disable-dev-shm-usage", "--disable-quic", "--no-first-run", "--no-default-browser-check",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-extensions",
    "--mute-audio", "--host-resolver-rules=MAP * ~NOTFOUND", "--window-size=900,700",
    "--virtual-time-budget=10000", "--enable-logging=stderr", "--v=0",
]


def run_chromium(browser: str, args: list[str], timeout: float = 90) -> tuple[str, str]:
    """(stdout, stderr) of a Chromium run; on a hang the whole process group is killed."""
    proc = subprocess.Popen([browser, *CHROMIUM_FLAGS, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        return proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"Chromium did not finish within {timeout:.0f} s:\n{err[-3000:]}")


def test_html_draws_in_headless_chromium(tmp_path):
    """The page opens offline in a real browser: no JavaScript error, the graph div is filled,
    and the screenshot shows the 3-D surface (WebGL) on the left and the contour map on the right."""
    pytest.importorskip("plotly", reason="the html export needs plotly (pip install plotly)")
    browser = chromium()
    if browser is None:
        pytest.skip("no Chromium binary found (apt-get install -y chromium)")
    from matplotlib.image import imread

    models = Track(np.array([-0.5, 0.5]), np.array([0.5, -0.5]), ["A", "B"], [None, 3])
    s = surface(np.linspace(-1, 1, 31), np.linspace(-1, 1, 25), path=tmp_path / "bowl.surface.h5",
                tracks={"trajectory": trajectory(), "models": models})
    page, png = tmp_path / "page.html", tmp_path / "shot.png"
    export.write_html(page, s)
    dom, log = run_chromium(browser, [f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={png}",
                                      "--dump-dom", page.as_uri()])
    assert png.exists(), f"no screenshot:\n{log[-3000:]}"
    assert "Uncaught" not in log, log[-3000:]
    assert '<svg class="main-svg"' in dom, "the plotly graph div was not populated"
    assert 'class="gl-container"' in dom and "<canvas" in dom, "the 3-D scene has no WebGL canvas"
    img = imread(png)[..., :3]
    assert img.shape[:2] == (700, 900)
    assert len(np.unique(np.round(img * 255).reshape(-1, 3), axis=0)) > 500, "a blank page"
    assert 0.05 < 1 - (img > 0.97).all(axis=-1).mean() < 0.9  # share of non-background pixels
    colourful = img.max(axis=-1) - img.min(axis=-1) > 0.2
    assert colourful[:, : int(0.45 * img.shape[1])].mean() > 0.02, "the 3-D surface (left panel) did not draw"
    assert colourful[:, int(0.55 * img.shape[1]):].mean() > 0.05, "the contour map (right panel) did not draw"
