"""export/html.py: the plotly page has the static figures' look (camera, colours, labelled levels,
one clip rule: the 3-D view cut cleanly, the 2-D map never), its tracks ride on the surface, its
titles fit, pages can share one plotly.js file, and it really draws in a headless browser; the
export package imports no matplotlib, and plotly only when a page is made."""

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

from landscape import export
from landscape.errors import LandscapeError, for_cli
from landscape.plane.directions import Track
from test_export_meshes import surface


def test_bilinear():
    x, y = np.array([0.0, 1.0, 3.0]), np.array([0.0, 2.0])
    z = np.array([[0.0, 1.0, 3.0], [2.0, 3.0, np.nan]])  # z = x + y, one point missing
    got = export.bilinear(x, y, z, np.array([0.5, 1.0, 0.0, 2.0, 3.5, 1.0]), np.array([1.0, 0.0, 2.0, 1.0, 0.0, 2.0]))
    np.testing.assert_allclose(got[:3], [1.5, 1.0, 2.0])
    assert np.isnan(got[3]) and np.isnan(got[4])  # next to the hole; outside the grid
    assert got[5] == 3.0  # on a grid point beside the hole: the hole carries no weight
    np.testing.assert_allclose(export.bilinear(x[::-1], y, z[:, ::-1], np.array([0.5]), np.array([1.0])), [1.5])


def test_no_matplotlib_and_plotly_only_when_needed():
    """No module of export imports matplotlib (or plot), and plotly only inside the function that needs it."""
    modules = sorted(Path(export.__file__).parent.glob("*.py"))
    assert len(modules) >= 6
    for path in modules:
        tree = ast.parse(path.read_text())
        imported = [(node, alias.name if isinstance(node, ast.Import) else node.module or "")
                    for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))
                    for alias in node.names]
        assert not [name for _, name in imported if name.split(".")[0] == "matplotlib"], path
        assert not [name for _, name in imported if name.startswith("landscape.plot")], path
        top = {id(node) for node in tree.body}
        assert not [name for node, name in imported if name.startswith("plotly") and id(node) in top], path


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
    fig = export.figure(s)
    kinds = [t.type for t in fig.data]
    assert kinds[:2] == ["surface", "contour"]  # no clip: the plain grid
    surf, cont = fig.data[:2]
    z = np.array(surf.z, dtype=float)
    raw = s.values["train_loss"]
    np.testing.assert_allclose(z, raw)
    assert "train accuracy (%)" in surf.hovertemplate and "train loss" in surf.hovertemplate
    np.testing.assert_allclose(np.array(surf.customdata)[..., 1], s.values["train_acc"])
    assert surf.coloraxis == cont.coloraxis == "coloraxis"
    runs = [t for t in fig.data if t.type == "scatter3d"]
    assert [t.name for t in runs] == ["seed 0", "seed 1"] and runs[0].line.color != runs[1].line.color
    checkpoints = np.array(runs[0].marker.size) > 0  # samples between checkpoints carry no marker
    assert checkpoints.sum() == 6 and checkpoints[0] and checkpoints[-1]
    symbols = np.array(runs[0].marker.symbol)[checkpoints]
    assert symbols[0] == "circle-open" and symbols[-1] == "square"
    rx, ry, rz = (np.array(v, dtype=float) for v in (runs[0].x, runs[0].y, runs[0].z))
    np.testing.assert_allclose(rx[checkpoints], trajectory().x[:6])
    lift = 0.02 * (np.nanmax(z) - np.nanmin(z))  # drawn just above the surface, not inside it
    np.testing.assert_allclose(rz, export.bilinear(s.x, s.y, z, rx, ry) + lift)
    assert np.isfinite(rz).all()
    assert np.hypot(np.diff(rx), np.diff(ry)).max() <= 0.125 + 1e-12  # sampled every half cell: no chord sinks
    hover = np.array(runs[0].hovertext)[checkpoints]
    assert "run0/epoch_0.pt" in hover[0] and "epoch 0" in hover[0] and "start" in hover[0] and "end" in hover[-1]
    assert "off the plane 2.0%" in hover[1]
    assert "run0/epoch_0.pt to run0/epoch_1.pt" in list(runs[0].hovertext)[1]
    assert {t.name for t in fig.data if t.type == "scatter" and t.showlegend is not False} >= {"start", "end"}
    assert fig.layout.title.text == "model"
    assert fig.layout.scene.xaxis.title.text == "toward B" and fig.layout.scene.yaxis.title.text == "direction 2"
    assert fig.layout.xaxis.title.text == "toward B"
    assert export.figure(s, title="A & B").layout.title.text == "A &amp; B"


def spike(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """A bowl with one huge outlier (a diverged model): the automatic clip cuts it."""
    z = 0.5 + X**2 + 2 * Y**2 + 0.3 * X
    z[3, 4] = 1e6
    return z


def test_the_3d_view_is_cut_cleanly_and_the_map_never():
    """One clip rule: the 3-D view is the figure's clipped mesh (vertices at exactly the clip
    height, colours and hover at its vertices); the 2-D map shows every value, the outlier too."""
    pytest.importorskip("plotly", reason="the html export needs plotly (pip install plotly)")
    x, y = np.linspace(-1, 1, 9), np.linspace(-1, 1, 7)
    s = surface(x, y, spike, tracks={"trajectory": trajectory()})
    raw = s.values["train_loss"]
    zmax = export.clip_height(export.clip.scaled(raw, False), None, False)
    assert zmax is not None and zmax < 10
    fig = export.figure(s, zmax=zmax)
    mesh, cont = fig.data[:2]
    assert (mesh.type, cont.type) == ("mesh3d", "contour")
    vz = np.array(mesh.z, dtype=float)
    assert vz.max() == pytest.approx(zmax) and np.isclose(vz, zmax).sum() == 6  # the cut: a clean edge
    assert len(vz) == x.size * y.size - 1 + 6  # every grid point but the outlier, and the cut's vertices
    faces = np.stack([mesh.i, mesh.j, mesh.k], 1)
    assert len(faces) == 2 * (8 * 6 - 4) + 2 * 6 + 2  # whole cells, and the cut cells' triangles
    np.testing.assert_allclose(np.array(mesh.customdata)[:, 0], vz)  # hover: the loss at each vertex
    np.testing.assert_allclose(mesh.intensity, vz)  # uniform levels of a linear scale: colour by height
    assert mesh.coloraxis == "coloraxis" and "train loss" in mesh.hovertemplate
    np.testing.assert_allclose(np.array(cont.z, dtype=float), raw)  # the map: never clipped
    assert fig.layout.coloraxis.cmax == pytest.approx(zmax)  # colours up to the cut, saturating above
    assert fig.layout.coloraxis.cmin == pytest.approx(raw.min())
    assert f"cut above {zmax:.4g}" in fig.layout.annotations[0].text
    tops = np.concatenate([np.array(t.z, dtype=float) for t in fig.data if t.type == "scatter3d"])
    assert np.nanmax(tops) <= zmax + 0.02 * (zmax - raw.min()) + 1e-9  # a path over the cut rides at it
    with pytest.raises(LandscapeError, match="nothing to export"):
        export.figure(s, zmax=0.01)
    assert export.figure(s, zmax=np.inf).data[0].type == "surface"  # inf: no clip


def test_camera_is_the_static_figures_view():
    """Matplotlib's view_init(elev, azim) puts the viewer along (cos e cos a, cos e sin a, sin e)
    from the box centre: the page's camera looks from there, z up; 35, -55 by default."""
    pytest.importorskip("plotly", reason="the html export needs plotly (pip install plotly)")
    s = surface(np.linspace(-1, 1, 9), np.linspace(-1, 1, 7))

    def direction(cam) -> np.ndarray:
        d = np.array([cam.eye.x - cam.center.x, cam.eye.y - cam.center.y, cam.eye.z - cam.center.z])
        assert 1.5 < np.linalg.norm(d) < 4
        assert (cam.up.x, cam.up.y, cam.up.z) == (0, 0, 1)
        return d / np.linalg.norm(d)

    for (elev, azim), given in (((35, -55), {}), ((20, 130), {"elev": 20, "azim": 130}),
                                ((60, -120), {"elev": 60, "azim": -120})):
        e, a = np.radians(elev), np.radians(azim)
        expected = [np.cos(e) * np.cos(a), np.cos(e) * np.sin(a), np.sin(e)]
        np.testing.assert_allclose(direction(export.figure(s, **given).layout.scene.camera), expected, atol=1e-9)
    eye = export.figure(s).layout.scene.camera.eye
    assert eye.x > 0 and eye.y < 0 and eye.z > 0  # from +x, -y, above: not the old view from -x, -y
    ratio = export.figure(s).layout.scene.aspectratio
    assert (ratio.x, ratio.y, ratio.z) == (1, 1, 0.75)  # matplotlib's box


def test_colours_are_the_figures_colorscale():
    pytest.importorskip("plotly", reason="the html export needs plotly (pip install plotly)")
    s = surface(np.linspace(-1, 1, 9), np.linspace(-1, 1, 7))
    default = export.figure(s).layout.coloraxis.colorscale
    assert default[0] == (0.0, "rgb(68,1,84)") and default[-1] == (1.0, "rgb(253,231,37)")  # colors.VIRIDIS
    assert len(default) == len(export.VIRIDIS)
    magma = [[0.0, "#000004"], [0.5, "rgb(183,55,121)"], [1.0, "#fcfdbf"]]
    fig = export.figure(s, colorscale=magma)
    assert [list(c) for c in fig.layout.coloraxis.colorscale] == magma
    assert fig.data[0].coloraxis == fig.data[1].coloraxis == "coloraxis"  # the surface and the map
    for bad in ("magma", [[0.2, "#000"], [1.0, "#fff"]], [[0.0, "#000"]], [[0, "#000"], [1, "#fff"], [0.5, "#888"]]):
        with pytest.raises(LandscapeError, match="colorscale must be") as e:
            export.figure(s, colorscale=bad)
        assert e.value.field == "colorscale"


def test_uniform_levels_are_drawn_and_labelled_by_plotly():
    pytest.importorskip("plotly", reason="the html export needs plotly (pip install plotly)")
    s = surface(np.linspace(-1, 1, 9), np.linspace(-1, 1, 7))
    cont = export.figure(s, levels=np.array([1.0, 1.5, 2.0, 2.5, 3.0])).data[1]
    c = cont.contours
    assert (c.start, c.end, c.size, c.showlabels, c.coloring) == (1.0, 3.0, 0.5, True, "heatmap")
    assert cont.autocontour is False
    np.testing.assert_allclose(np.array(cont.z, dtype=float), s.values["train_loss"])
    default = export.figure(s).data[1].contours  # None: about ten round levels, labelled
    n = round((default.end - default.start) / default.size) + 1
    assert 5 <= n <= 11 and default.showlabels and default.size in (0.2, 0.25, 0.5)
    assert default.start >= s.values["train_loss"].min() and default.end <= s.values["train_loss"].max()


def test_nonuniform_levels_are_labelled_with_their_values():
    """The figures' 1-2-5 levels of a log scale: the map draws the contour of each height's place
    among the levels (level k at k), labels each line with its value where the line runs, and
    the colorbar reads in losses; the 3-D surface shares those colours."""
    pytest.importorskip("plotly", reason="the html export needs plotly (pip install plotly)")
    x, y = np.linspace(-1, 1, 21), np.linspace(-1, 1, 17)
    s = surface(x, y, lambda X, Y: 0.05 + 3 * (X**2 + Y**2))
    levels = np.array([0.1, 0.2, 0.5, 1.0, 2.0, 5.0])
    fig = export.figure(s, log=True, levels=levels)
    surf, cont = fig.data[:2]
    c = cont.contours
    assert (c.start, c.end, c.size) == (0, 5, 1) and not c.showlabels
    t = np.array(cont.z, dtype=float)
    logz, p = np.log10(s.values["train_loss"]), np.log10(levels)
    beyond = np.where(logz < p[0], (logz - p[0]) / (p[1] - p[0]), np.where(logz > p[-1], 5 + (logz - p[-1]) /
                                                                            (p[-1] - p[-2]), np.nan))
    assert np.isfinite(beyond).sum() > 4  # values below the first level and above the last: linear beyond
    np.testing.assert_allclose(t, np.where(np.isnan(beyond), np.interp(logz, p, np.arange(6)), beyond), atol=1e-12)
    np.testing.assert_allclose(np.array(surf.surfacecolor, dtype=float), t)  # one colour scale for both panels
    notes = [a for a in fig.layout.annotations if a.xref == "x"]
    assert [a.text for a in notes] == ["0.1", "0.2", "0.5", "1", "2", "5"]
    for k, a in enumerate(notes):  # each label sits on its line
        assert export.bilinear(x, y, t, np.array([a.x]), np.array([a.y]))[0] == pytest.approx(k, abs=1e-9)
    positions = np.array([(a.x, a.y) for a in notes])
    gaps = np.linalg.norm(positions[:, None] - positions[None], axis=-1) + np.eye(len(notes)) * 9
    assert gaps.min() > 0.15  # spread out, not stacked
    bar = fig.layout.coloraxis.colorbar
    assert list(bar.ticktext) == ["0.1", "0.2", "0.5", "1", "2", "5"] and list(bar.tickvals) == [0, 1, 2, 3, 4, 5]
    assert bar.title.text == "train loss (log scale)"
    assert list(fig.layout.scene.zaxis.ticktext) == ["0.1", "0.2", "0.5", "1", "2", "5"]  # losses, not their logs


def test_axis_titles_fit_the_page():
    """Long plane labels are wrapped (and shortened on the 3-D box) so that at 800 x 600 no title
    is cut; the 2-D axes make room for theirs."""
    pytest.importorskip("plotly", reason="the html export needs plotly (pip install plotly)")
    attrs = {"xlabel": "toward run1/checkpoints/epoch_30_final.pt (filter-normalized)",
             "ylabel": "direction 2 (random, filter-normalized, seed 123)"}
    fig = export.figure(surface(np.linspace(-1, 1, 9), np.linspace(-1, 1, 7), attrs=attrs))
    for title, width, most in ((fig.layout.xaxis.title.text, 36, 3), (fig.layout.yaxis.title.text, 36, 3),
                               (fig.layout.scene.xaxis.title.text, 20, 2), (fig.layout.scene.yaxis.title.text, 20, 2)):
        lines = title.split("<br>")
        assert 2 <= len(lines) <= most and max(len(ln) for ln in lines) <= width, title
    assert fig.layout.scene.xaxis.title.text.endswith("…")  # the 3-D box: shortened, the map: whole
    assert "".join(fig.layout.xaxis.title.text.split("<br>")).replace(" ", "") == attrs["xlabel"].replace(" ", "")
    assert fig.layout.xaxis.automargin and fig.layout.yaxis.automargin
    m = fig.layout.margin
    assert m.t >= 60 and min(m.l, m.r, m.b) >= 10


def test_pages_share_one_plotly_js_file(tmp_path, monkeypatch):
    """With js_folder, plotly.js is written there once (not beside the temporary page) and each
    page loads it by its file name: small pages that still open offline."""
    plotly = pytest.importorskip("plotly", reason="the html export needs plotly (pip install plotly)")
    import plotly.offline

    calls = []
    real = plotly.offline.get_plotlyjs
    monkeypatch.setattr(plotly.offline, "get_plotlyjs", lambda: calls.append(1) or real())
    shared, temporary = tmp_path / "figures", tmp_path / "tmp"
    shared.mkdir()
    temporary.mkdir()
    s = surface(np.linspace(-1, 1, 31), np.linspace(-1, 1, 31), tracks={"trajectory": trajectory()})
    for name in ("a", "b"):
        export.write_html(temporary / f"{name}.html", s, js_folder=shared)
    js = f"plotly-{plotly.__version__}.min.js"
    assert sorted(p.name for p in shared.iterdir()) == [js] and len(calls) == 1  # written once, no temporary left
    assert (shared / js).read_text(encoding="utf-8") == real()
    for name in ("a", "b"):
        page = (temporary / f"{name}.html").read_text(encoding="utf-8")
        assert len(page) < 1_000_000 and "Plotly.newPlot" in page
        assert re.search(rf'<script[^>]*\bsrc="{re.escape(js)}"', page)
        assert real()[:2000] not in page  # the bundle is not inlined
    assert sorted(p.name for p in temporary.iterdir()) == ["a.html", "b.html"]


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
    line = np.array(export.figure(s, zmax=1.2).data[0].y, dtype=float)
    assert np.isfinite(line).all() and line.max() > 1.2  # a line is never clipped, as the figures' line


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
    assert str(e.value) == ("the web page (kinds='html') needs plotly: pip install plotly "
                            "(or pip install 'landscape-viz[html]')")
    assert for_cli(e.value.message, {"kinds": "--kind"}) == ("the web page (--kind html) needs plotly: pip install plotly "
                                                            "(or pip install 'landscape-viz[html]')")
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
    """The page opens offline in a real browser, loading the shared plotly.js beside it: no
    JavaScript error, the graph div is filled, the contour labels are there, and the screenshot
    shows the clipped 3-D surface (WebGL) on the left and the contour map on the right."""
    pytest.importorskip("plotly", reason="the html export needs plotly (pip install plotly)")
    browser = chromium()
    if browser is None:
        pytest.skip("no Chromium binary found (apt-get install -y chromium)")
    from matplotlib.image import imread

    models = Track(np.array([-0.5, 0.5]), np.array([0.5, -0.5]), ["A", "B"], [None, 3])
    s = surface(np.linspace(-1, 1, 31), np.linspace(-1, 1, 25), spike, path=tmp_path / "bowl.surface.h5",
                tracks={"trajectory": trajectory(), "models": models})
    page, png = tmp_path / "page.html", tmp_path / "shot.png"
    zmax = export.clip_height(export.clip.scaled(s.values["train_loss"], False), None, False)
    export.write_html(page, s, log=True, zmax=zmax, levels=[0.5, 1, 2, 5], js_folder=tmp_path)
    assert len(page.read_text(encoding="utf-8")) < 1_000_000
    dom, log = run_chromium(browser, [f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={png}",
                                      "--dump-dom", page.as_uri()])
    assert png.exists(), f"no screenshot:\n{log[-3000:]}"
    assert "Uncaught" not in log, log[-3000:]
    assert '<svg class="main-svg"' in dom, "the plotly graph div was not populated"
    labels = re.findall(r'class="annotation-text"[^>]*data-unformatted="([^"]*)"', dom)
    assert {"0.5", "1", "2"} <= set(labels), f"the contour labels are missing: {labels}"
    assert 'class="gl-container"' in dom and "<canvas" in dom, "the 3-D scene has no WebGL canvas"
    img = imread(png)[..., :3]
    assert img.shape[:2] == (700, 900)
    assert len(np.unique(np.round(img * 255).reshape(-1, 3), axis=0)) > 500, "a blank page"
    assert 0.05 < 1 - (img > 0.97).all(axis=-1).mean() < 0.9  # share of non-background pixels
    colourful = img.max(axis=-1) - img.min(axis=-1) > 0.2
    assert colourful[:, : int(0.45 * img.shape[1])].mean() > 0.02, "the 3-D surface (left panel) did not draw"
    assert colourful[:, int(0.55 * img.shape[1]):].mean() > 0.05, "the contour map (right panel) did not draw"
