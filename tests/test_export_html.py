"""export/html.py: the plotly page is self-contained and really draws in a headless browser; the
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
