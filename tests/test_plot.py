"""Figures and the VTK export, on small surface files written by hand."""

from __future__ import annotations

import re
from enum import Enum
from pathlib import Path

import h5py
import matplotlib.image
import numpy as np
import pytest
import torch
from matplotlib.colors import BoundaryNorm, CenteredNorm
from matplotlib.figure import Figure
from matplotlib.text import Annotation, Text

from landscape import plot, store
from landscape.plane.directions import Directions, DirType
from landscape.errors import LandscapeError
from landscape.plane.grid import Grid
from landscape.plot import PlotOptions
from landscape.store.surface_file import Track


def bowl(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    return 0.2 + (X - 0.25) ** 2 + 0.5 * Y**2 + 0.3 * np.sin(3 * X) ** 2


def make_surface(path: Path, x, y, fn=bowl, computed=None, attrs=None, tracks=None,
                 labels=("direction 1", "direction 2")) -> Path:
    """A surface file as `landscape compute` writes it: store.create, then a Writer fills points."""
    grid = Grid(tuple(np.asarray(x, dtype=float)), None if y is None else tuple(np.asarray(y, dtype=float)))
    d = {"w": torch.zeros(3)}
    dirs = Directions(d, None if y is None else d, DirType.weights, "random", labels)
    store.create(path, grid, ["train_loss", "train_acc"], dirs, {"split": "train", **(attrs or {})}, {})
    X, Y = np.meshgrid(x, y) if y is not None else (np.asarray(x, dtype=float), np.zeros(len(x)))
    loss = np.asarray(fn(X, Y), dtype=float)
    acc = 100 * np.exp(-np.nan_to_num(loss, nan=1.0, posinf=1.0))
    flat = np.arange(loss.size) if computed is None else np.flatnonzero(np.asarray(computed).ravel())
    if len(flat):
        with store.Writer(path) as w:
            w.write(flat, {"train_loss": loss.ravel()[flat], "train_acc": acc.ravel()[flat]})
    for name, track in (tracks or {}).items():
        store.write_track(path, name, track)
    return path


@pytest.fixture
def surface2d(tmp_path: Path) -> Path:
    return make_surface(tmp_path / "model.surface.h5", np.linspace(-1, 1, 9), np.linspace(-1, 1, 7))


@pytest.fixture
def surface1d(tmp_path: Path) -> Path:
    models = Track(np.array([0.0, 1.0]), np.zeros(2), ["A", "B"], [None, None])
    return make_surface(tmp_path / "interp.h5", np.linspace(-0.5, 1.5, 21), None,
                        lambda X, Y: 1 + 0.8 * np.cos(3 * X), tracks={"models": models})


def assert_png(path: Path, size: tuple[float, float], dpi: int) -> None:
    img = matplotlib.image.imread(path)
    assert img.shape[:2] == (round(size[1] * dpi), round(size[0] * dpi))
    assert img[..., :3].std() > 0.05, "the image is blank"


def texts(fig: Figure) -> list[str]:
    """Annotations and figure texts (not the contour labels)."""
    notes = [t for ax in fig.axes for t in ax.texts if isinstance(t, Annotation)]
    return [t.get_text() for t in notes] + [t.get_text() for t in fig.texts]


@pytest.fixture(autouse=True)
def no_pyplot_figures():
    """Nothing here may go through pyplot's global state."""
    import matplotlib.pyplot as plt

    yield
    assert plt.get_fignums() == []


@pytest.mark.parametrize("kind", ["contour", "filled", "heatmap", "surface"])
def test_each_2d_kind_renders_each_format(surface2d, kind):
    opts = PlotOptions(kinds=(kind,), formats=("png", "pdf", "svg"), dpi=40, size=(4, 3))
    written = plot.render_file(surface2d, opts)
    assert [p.name for p in written] == [f"model.{kind}.png", f"model.{kind}.pdf", f"model.{kind}.svg"]
    assert_png(written[0], (4, 3), 40)
    assert written[1].read_bytes().startswith(b"%PDF")
    assert b"<svg" in written[2].read_bytes()[:2000]
    assert not [p for p in surface2d.parent.iterdir() if p.name.endswith(".tmp")]


def test_line_renders_each_format(surface1d):
    written = plot.render_file(surface1d, PlotOptions(formats=("png", "pdf", "svg"), dpi=50, size=(5, 3)))
    assert [p.name for p in written] == ["interp.line.png", "interp.line.pdf", "interp.line.svg"]
    assert_png(written[0], (5, 3), 50)


def test_default_kinds_names_and_out_dir(surface2d, tmp_path):
    written = plot.render_file(surface2d, PlotOptions(dpi=30), out_dir=tmp_path / "figs")
    assert [p.name for p in written] == ["model.contour.png", "model.filled.png", "model.surface.png"]
    assert all(p.parent == tmp_path / "figs" and p.stat().st_size > 0 for p in written)
    everything = plot.render_file(surface2d, PlotOptions(kinds=("all",), dpi=30))
    assert [p.name for p in everything] == ["model.contour.png", "model.filled.png", "model.heatmap.png",
                                            "model.surface.png", "model.barcode.png", "model.vtk"]


def test_kind_that_does_not_fit_names_the_fitting_ones(surface1d, surface2d):
    with pytest.raises(LandscapeError, match="line"):
        plot.render_file(surface1d, PlotOptions(kinds=("contour",)))
    with pytest.raises(LandscapeError, match="contour, filled"):
        plot.render_file(surface2d, PlotOptions(kinds=("line",)))
    assert not list(surface2d.parent.glob("*.png"))  # checked before anything is written


def test_orientation_on_non_square_grid():
    x, y = np.linspace(-1, 2, 7), np.linspace(-1, 1, 5)
    X, Y = np.meshgrid(x, y)
    z = (X - 0.5) ** 2 + 0.1 * Y  # minimum at x = 0.5, y = -1
    cs = plot.contour(x, y, z)
    ax = cs.axes
    assert ax.get_xlim() == pytest.approx((-1, 2)) and ax.get_ylim() == pytest.approx((-1, 1))
    (best,) = [ln for ln in ax.lines if ln.get_gid() == "best"]
    assert best.get_xdata()[0] == pytest.approx(0.5) and best.get_ydata()[0] == pytest.approx(-1)
    (origin,) = [ln for ln in ax.lines if ln.get_gid() == "origin"]
    assert origin.get_xdata()[0] == 0 and origin.get_ydata()[0] == 0


def test_orientation_through_a_file(tmp_path):
    x, y = np.linspace(-1, 2, 7), np.linspace(-1, 1, 5)
    path = make_surface(tmp_path / "s.h5", x, y, lambda X, Y: (X - 0.5) ** 2 + 0.1 * Y + 1,
                        labels=("toward B", "toward C"))
    for kind in ("contour", "filled", "heatmap"):
        ax = plot.draw(store.read_surface(path), kind).axes[0]
        (best,) = [ln for ln in ax.lines if ln.get_gid() == "best"]
        assert (best.get_xdata()[0], best.get_ydata()[0]) == pytest.approx((0.5, -1))
        assert (ax.get_xlabel(), ax.get_ylabel()) == ("toward B", "toward C")
        if kind != "heatmap":
            assert ax.get_xlim() == pytest.approx((-1, 2)) and ax.get_ylim() == pytest.approx((-1, 1))
    ax = plot.draw(store.read_surface(path), "contour", PlotOptions(metric="acc")).axes[0]
    (best,) = [ln for ln in ax.lines if ln.get_gid() == "best"]
    assert (best.get_xdata()[0], best.get_ydata()[0]) == pytest.approx((0.5, -1))  # highest accuracy


def test_masked_nan_inf_and_partial_points(tmp_path):
    x, y = np.linspace(-1, 1, 7), np.linspace(-1, 1, 7)

    def broken(X, Y):
        z = bowl(X, Y)
        z[0, 0], z[0, 1], z[6, 6] = np.nan, np.inf, 1e9  # diverged points and one huge value
        return z

    computed = np.ones((7, 7), dtype=bool)
    computed[3:, :] = False
    computed[3, :2] = True
    path = make_surface(tmp_path / "partial.h5", x, y, broken, computed=computed)
    s = store.read_surface(path)
    assert plot.describe(s) == ("26 of 49 points not computed yet (hatched in the figures); "
                                "2 computed points have an inf or NaN loss (hatched red in the figures)")
    written = plot.render_file(path, PlotOptions(kinds=("all",), dpi=30))
    assert len(written) == 6
    assert matplotlib.image.imread(written[0]).shape[1] == round(plot.STYLE.size_2d[0] * 30)
    vtk = parse_vtk(written[-1])
    assert np.isfinite(vtk["points"]).all()
    assert vtk["computed"].sum() == 49 - 26 - 2


def test_describe_is_empty_for_a_complete_file(surface2d):
    assert plot.describe(store.read_surface(surface2d)) == ""


def test_no_computed_point_is_a_user_error(tmp_path):
    path = make_surface(tmp_path / "empty.h5", np.linspace(-1, 1, 5), np.linspace(-1, 1, 5),
                        computed=np.zeros((5, 5), dtype=bool))
    with pytest.raises(LandscapeError, match="no computed points"):
        plot.render_file(path)
    with pytest.raises(LandscapeError, match="no computed points"):
        plot.contour([0, 1], [0, 1], np.full((2, 2), np.nan))


def test_one_computed_point_renders(tmp_path):
    computed = np.zeros((5, 5), dtype=bool)
    computed[2, 2] = True
    path = make_surface(tmp_path / "one.h5", np.linspace(-1, 1, 5), np.linspace(-1, 1, 5), computed=computed)
    assert len(plot.render_file(path, PlotOptions(kinds=("all",), dpi=30))) == 6


def test_paper_layout_with_holes(tmp_path):
    """A file of the paper's code: no `computed`, -1 where not computed, no attributes."""
    x = np.linspace(-1, 1, 6)
    X, Y = np.meshgrid(x, x)
    loss, acc = bowl(X, Y), 90 - 10 * bowl(X, Y)
    loss[4:, :], acc[4:, :] = -1, -1
    path = tmp_path / "resnet56.h5_[-1.0,1.0,6]x[-1.0,1.0,6].h5"
    with h5py.File(path, "w") as f:
        f["dir_file"] = "resnet56.h5"
        f["xcoordinates"], f["ycoordinates"] = x, x
        f["train_loss"], f["train_acc"] = loss, acc
    s = store.read_surface(path)
    assert plot.describe(s) == "12 of 36 points not computed yet (hatched in the figures)"
    written = plot.render_file(path, PlotOptions(dpi=30))
    assert len(written) == 3 and all(p.exists() for p in written)
    z = plot.draw(s, "filled").axes[0].collections[0]
    assert z.levels.min() >= 0  # the -1 holes are not data


def test_shared_color_scale_in_compare(tmp_path):
    a = make_surface(tmp_path / "a.h5", np.linspace(-1, 1, 9), np.linspace(-1, 1, 9))
    b = make_surface(tmp_path / "b.h5", np.linspace(-1, 1, 7), np.linspace(-1, 1, 5), lambda X, Y: 3 * bowl(X, Y) + 1)
    surfaces = [store.read_surface(a), store.read_surface(b)]
    for kind in ("contour", "filled", "heatmap"):
        fig = plot.draw(surfaces, kind)
        panels = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
        assert len(panels) == 2 and len(fig.axes) == 3  # one colorbar
        mappables = [ax.collections[0] for ax in panels]
        assert len({(m.norm.vmin, m.norm.vmax) for m in mappables}) == 1
        if kind != "heatmap":
            assert np.array_equal(mappables[0].levels, mappables[1].levels)
        assert [ax.get_title() for ax in panels] == ["a", "b"]
    written = plot.render_compare([a, b], PlotOptions(kinds=("filled", "surface"), dpi=30), out_dir=tmp_path / "cmp")
    stem = plot.compare_stem(surfaces)
    assert re.fullmatch(r"a\+b\.[0-9a-f]{6}", stem)
    assert [p.name for p in written] == [f"{stem}.filled.png", f"{stem}.surface.png"]
    with pytest.raises(LandscapeError, match="at least two"):
        plot.render_compare([a])


def test_compare_1d_overlays_lines_and_refuses_mixed(tmp_path, surface1d, surface2d):
    other = make_surface(tmp_path / "other.h5", np.linspace(-0.5, 1.5, 11), None, lambda X, Y: 2 + X)
    fig = plot.draw([store.read_surface(surface1d), store.read_surface(other)], "line")
    assert sum(len(ax.lines) for ax in fig.axes) >= 4
    assert re.fullmatch(r"interp\+other\.[0-9a-f]{6}\.line\.png",
                        plot.render_compare([surface1d, other], PlotOptions(dpi=30))[0].name)
    with pytest.raises(LandscapeError, match="1-D and 2-D"):
        plot.render_compare([surface1d, surface2d])


def test_drawing_functions_use_the_given_axes():
    x, y = np.linspace(-1, 1, 5), np.linspace(-1, 1, 4)
    z = bowl(*np.meshgrid(x, y))
    fig = Figure()
    axes = fig.subplots(1, 3)
    assert plot.contour(x, y, z, ax=axes[0]).axes is axes[0]
    assert plot.filled(x, y, z, ax=axes[1]).axes is axes[1]
    assert plot.heatmap(x, y, z, ax=axes[2]).axes is axes[2]
    ax3 = fig.add_subplot(2, 2, 4, projection="3d")
    assert plot.surface3d(x, y, z, ax=ax3).axes is ax3
    ax1 = Figure().add_subplot()
    lines = plot.line(x, z[0], z[1], ax=ax1)
    assert lines[0].axes is ax1 and lines[1].axes is not ax1 and len(lines) == 2
    assert len(ax1.figure.axes) == 2  # the twin accuracy axis


def test_surface_clips_at_zmax_and_leaves_holes():
    x = y = np.linspace(-1, 1, 6)
    z = bowl(*np.meshgrid(x, y))
    z[0, 0], z[2, 2] = 1e6, np.nan
    surf = plot.surface3d(x, y, z)
    assert surf.axes.get_zlim()[1] < 10  # the automatic cap ignores the outlier
    assert surf.norm.vmax < 10
    surf = plot.surface3d(x, y, z, zmax=0.5)
    assert surf.axes.get_zlim()[1] == pytest.approx(0.5)


def test_trajectory_overlay(tmp_path):
    track = Track(np.array([-0.8, -0.5, -0.2, 0.0]), np.array([0.7, 0.3, 0.1, 0.0]), ["e1", "e2", "e3", "e4"],
                  [1, 2, 3, 4])
    path = make_surface(tmp_path / "traj.h5", np.linspace(-1, 1, 9), np.linspace(-1, 1, 9),
                        attrs={"note": "PCA directions, not filter-normalized"}, tracks={"trajectory": track})
    s = store.read_surface(path)
    for kind in ("contour", "filled", "heatmap"):
        fig = plot.draw(s, kind, PlotOptions(epoch_labels=True))
        (path_line,) = [ln for ln in fig.axes[0].lines if ln.get_gid() == "trajectory"]
        assert np.allclose(path_line.get_xdata(), track.x) and np.allclose(path_line.get_ydata(), track.y)
        assert path_line.get_marker() == "o"
        assert {"start (1)", "2", "3", "end (4)"} <= set(texts(fig))  # every epoch
        assert "PCA directions, not filter-normalized" in texts(fig)
    assert {"start", "end"} <= set(texts(plot.draw(s, "contour")))
    assert "2" not in texts(plot.draw(s, "contour"))  # epoch labels only when asked


def test_models_overlay_2d_and_1d(tmp_path, surface1d):
    models = Track(np.array([0.0, 1.0, 0.0]), np.array([0.0, 0.0, 1.0]), ["A", "B", "C"], [None] * 3)
    path = make_surface(tmp_path / "plane.h5", np.linspace(-0.5, 1.5, 9), np.linspace(-0.5, 1.5, 9),
                        tracks={"models": models})
    fig = plot.draw(store.read_surface(path), "contour")
    assert [ln for ln in fig.axes[0].lines if ln.get_gid() == "models"]
    assert {"A", "B", "C"} <= set(texts(fig))
    fig = plot.draw(store.read_surface(surface1d), "line")
    vertical = [ln for ln in fig.axes[0].lines if np.ptp(ln.get_xdata()) == 0 and len(ln.get_xdata()) == 2]
    assert len(vertical) == 2 and {"A", "B"} <= set(texts(fig))


def parse_vtk(path: Path) -> dict[str, np.ndarray]:
    """A minimal reader of the legacy ASCII STRUCTURED_GRID written by write_vtk."""
    lines = path.read_text().splitlines()
    assert lines[0].startswith("# vtk DataFile") and lines[2] == "ASCII" and lines[3] == "DATASET STRUCTURED_GRID"
    nx, ny, nz = map(int, lines[4].split()[1:])
    n = int(lines[5].split()[1])
    assert n == nx * ny * nz
    out = {"dims": np.array([nx, ny, nz]), "points": np.array([list(map(float, r.split())) for r in lines[6:6 + n]])}
    k = 6 + n
    assert lines[k] == f"POINT_DATA {n}"
    k += 1
    while k < len(lines):
        name = lines[k].split()[1]
        out[name] = np.array([float(v) for v in lines[k + 2:k + 2 + n]])
        k += 2 + n
    return out


def test_vtk_parses_back(tmp_path):
    x, y = np.linspace(-1, 1, 5), np.linspace(-0.5, 0.5, 3)
    path = make_surface(tmp_path / "v.surface.h5", x, y)
    (written,) = plot.render_file(path, PlotOptions(kinds=("vtk",), formats=("pdf",)))
    assert written.name == "v.vtk"
    vtk = parse_vtk(written)
    X, Y = np.meshgrid(x, y)
    assert list(vtk["dims"]) == [5, 3, 1]
    assert np.allclose(vtk["points"][:, 0], X.ravel()) and np.allclose(vtk["points"][:, 1], Y.ravel())
    assert np.allclose(vtk["points"][:, 2], bowl(X, Y).ravel(), rtol=1e-7)
    assert np.allclose(vtk["train_loss"], bowl(X, Y).ravel(), rtol=1e-7)
    logged = parse_vtk(plot.render_file(path, PlotOptions(kinds=("vtk",), log=True, zmax=1.0))[0])
    assert np.allclose(logged["points"][:, 2], np.minimum(np.log10(bowl(X, Y)), 0.0).ravel(), rtol=1e-7)


def test_levels():
    def levels(lo, hi, **kw):
        return plot._levels(np.linspace(lo, hi, 50), PlotOptions(**kw))

    paper = levels(0.05, 20)
    assert paper[0] == pytest.approx(0.1) and np.allclose(np.diff(paper), 0.5) and paper[-1] <= 10
    small = levels(0.01, 0.3)  # far below the paper's range: still about ten levels
    assert 6 <= ((small > 0.01) & (small < 0.3)).sum() <= 12
    assert np.allclose(np.diff(levels(0.0, 3.0, vlevel=0.25)), 0.25)
    assert len(levels(0.0, 3.0, levels=7)) == 7
    assert levels(0.0, 3.0, vmin=1, vmax=2, levels=3) == pytest.approx([1.25, 1.5, 1.75])
    logged = plot._levels(np.log10(np.geomspace(0.01, 100, 50)), PlotOptions(log=True))  # round losses
    assert 10 ** logged == pytest.approx([0.01, 0.03, 0.1, 0.3, 1, 3, 10, 30, 100])
    assert np.allclose(np.diff(plot._levels(np.linspace(-2, 2, 9), PlotOptions(log=True, vlevel=0.5))), 0.5)
    assert len(levels(1.0, 1.0)) >= 1  # a flat surface does not crash


@pytest.mark.parametrize("bad", [
    dict(kinds=("pie",)), dict(kinds=()), dict(metric="f1"), dict(formats=("jpg",)), dict(formats=()),
    dict(vmin=2.0, vmax=1.0), dict(vmin=1.0, vmax=1.0), dict(levels=0), dict(vlevel=0.0), dict(vlevel=-1.0),
    dict(levels=5, vlevel=0.5), dict(dpi=5), dict(size=(0, 3)), dict(size=(4,)), dict(cmap="nope"),
    dict(log=True, metric="acc"), dict(log=True, vmin=0.0), dict(vmin=float("nan")), dict(elev=float("inf")),
])
def test_invalid_options(bad):
    with pytest.raises(LandscapeError):
        PlotOptions(**bad)


def test_options_accept_lists_strings_and_enums():
    class Kind(str, Enum):
        contour = "contour"

    opts = PlotOptions(kinds=[Kind.contour, "heatmap"], formats="pdf", size=[3, 2], metric="eig_ratio")
    assert opts.kinds == (plot.Kind.contour, plot.Kind.heatmap) and opts.kinds == ("contour", "heatmap")
    assert opts.formats == (plot.Format.pdf,) and opts.size == (3, 2) and opts.metric is plot.Metric.eig_ratio
    assert PlotOptions(kinds="all").kinds == (plot.Kind.all,)
    with pytest.raises(LandscapeError, match="eig_ratio"):  # the message lists the choices
        PlotOptions(metric="hessian")


def test_failed_write_leaves_no_partial_file(surface2d, monkeypatch):
    def broken_savefig(self, fname, **kwargs):
        fname.write(b"half an image")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Figure, "savefig", broken_savefig)
    with pytest.raises(LandscapeError, match="No space left"):
        plot.render_file(surface2d, PlotOptions(kinds=("contour",)))
    assert not [p for p in surface2d.parent.iterdir() if p.name.startswith((".model", "model.contour"))]


def test_unwritable_out_dir(surface2d, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(LandscapeError, match="output folder"):
        plot.render_file(surface2d, out_dir=blocker / "figs")


def test_draw_refuses_vtk_and_tiny_grids(tmp_path, surface2d):
    for kind in ("vtk", "html", "all"):
        with pytest.raises(LandscapeError, match=kind):
            plot.draw(store.read_surface(surface2d), kind)
    thin = make_surface(tmp_path / "thin.h5", np.linspace(-1, 1, 5), np.array([0.0]))
    with pytest.raises(LandscapeError, match="at least 2 points"):
        plot.render_file(thin)


# ---------------------------------------------------------------- the figures' faults, each with its test


def wall(n: int = 31) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Like the demo's surface: a bowl with a steep wall up to ~27 in one corner."""
    x = y = np.linspace(-1, 1, n)
    X, Y = np.meshgrid(x, y)
    z = 0.02 + 2.2 * (X**2 + 1.4 * Y**2) + 0.6 * np.sin(2 * X) ** 2 + 40 * np.clip(X + 0.35 * Y - 0.45, 0, None) ** 2
    return x, y, z


def in_memory(x, y, z, computed=None, tracks=None, attrs=None, values=None, name="mem") -> store.Surface:
    z = np.asarray(z, dtype=float)
    computed = np.ones(z.shape, dtype=bool) if computed is None else np.asarray(computed, dtype=bool)
    vals = {"train_loss": np.where(computed, z, np.nan), "train_acc": np.where(computed, 100 * np.exp(-z), np.nan)}
    vals.update({k: np.where(computed, v, np.nan) for k, v in (values or {}).items()})
    return store.Surface(None if name is None else Path(f"{name}.h5"), np.asarray(x, dtype=float),
                         None if y is None else np.asarray(y, dtype=float), vals, computed,
                         {"split": "train", **(attrs or {})}, tracks or {})


def drawn(fig: Figure):
    """Render `fig` with Agg (as savefig does) and return its renderer."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return canvas.get_renderer()


def assert_apart(boxes, frame) -> None:
    """No two boxes overlap and every box lies inside the frame (all in display pixels)."""
    for k, a in enumerate(boxes):
        assert a.x0 >= frame.x0 - 0.5 and a.x1 <= frame.x1 + 0.5 and a.y0 >= frame.y0 - 0.5 and a.y1 <= frame.y1 + 0.5, \
            f"label {k} at {a.extents} leaves the axes {frame.extents}"
        for b in boxes[k + 1:]:
            assert not a.overlaps(b), f"labels at {a.extents} and {b.extents} overlap"


def labels_of(ax, *gids):
    return [t for t in ax.texts if t.get_gid() in gids and t.get_text()]


def extents(texts_, renderer):
    """The texts' own boxes (an annotation's extent would include its leader line)."""
    return [Text.get_window_extent(t, renderer) for t in texts_]


def test_surface_is_cut_cleanly_at_the_clip_height():
    """No flat top, no saw teeth: the surface ends exactly on the line where it crosses the cap."""
    x, y = np.linspace(-1, 1, 9), np.linspace(-1, 1, 7)
    X, Y = np.meshgrid(x, y)
    z = 2 + X + 0.3 * Y  # a tilted plane, cut at z = 2.5: along the line x + 0.3 y = 0.5
    polys, heights = plot._clipped_mesh(x, y, z, 2.5)
    assert polys.shape[1:] == (4, 3) and np.all(polys[:, :, 2] <= 2.5 + 1e-12)
    on_cap = polys[np.isclose(polys[:, :, 2], 2.5)]
    assert np.allclose(on_cap[:, 0] + 0.3 * on_cap[:, 1], 0.5)  # every top vertex lies on the cut line
    area = sum(0.5 * abs(np.dot(p[:, 0], np.roll(p[:, 1], 1)) - np.dot(p[:, 1], np.roll(p[:, 0], 1))) for p in polys)
    fine = np.linspace(-1, 1, 2001)
    FX, FY = np.meshgrid(fine, fine)
    assert area == pytest.approx(4 * np.mean(FX + 0.3 * FY <= 0.5), abs=5e-3)  # the whole part below, nothing else
    fig = plot.draw(in_memory(*wall()), "surface")
    ax = fig.axes[0]
    cap = ax.get_zlim()[1]
    over = int((wall()[2] > cap).sum())
    assert over > 0 and f"clipped above z = {plot._fmt_value(cap)}: {over} of {31 * 31} points" in texts(fig)[-1]
    assert plot.draw(in_memory(*wall()), "surface", PlotOptions(zmax=np.inf)).axes[0].get_zlim()[1] > 25
    assert "clipped" not in " ".join(texts(plot.draw(in_memory(*wall()), "surface", PlotOptions(zmax=np.inf))))


@pytest.mark.parametrize("size", [None, (3.3, 2.9)])
def test_contour_labels_do_not_collide(size):
    """Label extents, as the renderer draws them, overlap nothing and stay inside the axes, at the
    default size and at a journal's column width."""
    fig = plot.draw(in_memory(*wall()), "contour", PlotOptions(size=size))
    renderer = drawn(fig)
    ax = fig.axes[0]
    labels = labels_of(ax, "contour-label")
    assert len(labels) >= 4 and all(t.get_fontsize() >= 7 for t in labels)
    assert_apart(extents(labels, renderer), ax.get_window_extent(renderer))
    assert len({t.get_text() for t in labels}) >= 4  # several levels are named, not one repeated
    if size:
        assert tuple(fig.get_size_inches()) == pytest.approx(size)


def test_line_plot_legend_covers_no_curve_and_marks_the_model(surface1d):
    fig = plot.draw(store.read_surface(surface1d), "line")
    renderer = drawn(fig)
    ax = fig.axes[0]
    legend = ax.get_legend()
    assert legend is not None and [t.get_text() for t in legend.get_texts()] == ["train loss", "train accuracy (%)"]
    assert not legend.get_window_extent(renderer).overlaps(ax.get_window_extent(renderer))
    origin = [ln for a in fig.axes for ln in a.lines if ln.get_gid() == "origin"]
    assert len(origin) == 2 and all(ln.get_xdata()[0] == 0 for ln in origin)  # on the loss and accuracy curves


def test_partial_file_shows_the_whole_grid_and_says_how_much(tmp_path):
    x, y = np.linspace(-1, 1, 7), np.linspace(-1, 2, 7)
    computed = np.zeros((7, 7), dtype=bool)
    computed[:3] = True  # the lower rows only: y up to 0
    s = store.read_surface(make_surface(tmp_path / "p.h5", x, y, computed=computed))
    for kind in ("contour", "filled", "heatmap"):
        fig = plot.draw(s, kind)
        ax = fig.axes[0]
        assert ax.get_ylim()[1] >= 2 and ax.get_xlim()[0] <= -1  # the whole grid, not the computed part
        hatched = [c for c in ax.collections if c.get_gid() == "missing"]
        assert len(hatched) == 1 and hatched[0].get_hatch()
        assert "21 of 49 points computed" in texts(fig)[-1]
    line_path = make_surface(tmp_path / "l.h5", np.linspace(-0.5, 1.5, 21), None, lambda X, Y: 1 + X**2,
                             computed=np.arange(21) < 12)
    fig = plot.draw(store.read_surface(line_path), "line")
    assert fig.axes[0].get_xlim()[1] >= 1.5 and "12 of 21 points computed" in texts(fig)[-1]
    assert [p for p in fig.axes[0].patches if p.get_gid() == "missing"]


def test_log_scale_reads_in_loss_units():
    """--log: the colorbar's ticks, the contour labels and the 3-D z axis all show losses."""
    s = in_memory(*wall())
    fig = plot.draw(s, "filled", PlotOptions(log=True))
    cbar = fig.axes[1]
    formatter = cbar.yaxis.get_major_formatter()
    ticks = cbar.get_yticks()
    assert len(ticks) >= 3
    for t in ticks:
        assert float(formatter(t)) == pytest.approx(10 ** t, rel=1e-3)
    assert cbar.get_ylabel() == "train loss (log scale)"
    fig = plot.draw(s, "contour", PlotOptions(log=True))
    shown = {t.get_text() for t in labels_of(fig.axes[0], "contour-label")}
    assert shown and shown <= {"0.03", "0.1", "0.3", "1", "3", "10", "30"}
    fig = plot.draw(s, "surface", PlotOptions(log=True))
    z = fig.axes[0].zaxis
    assert {z.get_major_formatter()(t) for t in z.get_major_locator()()} >= {"0.1", "1", "10"}


def test_heatmap_uses_the_contour_levels():
    s = in_memory(*wall())
    mesh = plot.draw(s, "heatmap").axes[0].collections[0]
    levels = plot.draw(s, "filled").axes[0].collections[0].levels
    assert isinstance(mesh.norm, BoundaryNorm) and np.allclose(mesh.norm.boundaries, levels)
    colours = mesh.to_rgba(mesh.get_array())
    assert len(np.unique(np.round(colours, 3), axis=0)) >= 10  # the basin is not one colour
    assert plot.heatmap(*wall()).norm.vmax < 15  # the standalone function too


def pca_plane(tmp_path: Path, **kw) -> Path:
    """A trajectory plane 4 times wider than high, two runs clustering at the end, one partly off the plane."""
    t = np.linspace(0, 1, 8)
    x = np.concatenate([-2.8 * (1 - t) ** 2, -2.2 * (1 - t) ** 1.5])
    y = np.concatenate([0.35 * np.sin(3 * t) * (1 - t), -0.3 * np.sin(2.5 * t) * (1 - t)])
    track = Track(x, y, [f"e{k}" for k in range(16)], list(range(1, 9)) * 2, np.repeat([0, 1], 8), ["seed 0", "seed 1"],
                  np.concatenate([np.linspace(0.02, 0, 8), np.linspace(0.15, 0, 8)]))
    return make_surface(tmp_path / "pca.h5", np.linspace(-3.2, 0.8, 41), np.linspace(-0.5, 0.5, 21),
                        lambda X, Y: 0.03 + 0.035 * (X - 0.3) ** 2 + 0.6 * (Y + 0.05) ** 2,
                        tracks={"trajectory": track}, labels=("PC1 (88.1%)", "PC2 (6.0%)"), **kw)


@pytest.mark.parametrize("size", [None, (3.3, 2.9)])
def test_trajectory_runs_labels_and_aspect(tmp_path, size):
    s = store.read_surface(pca_plane(tmp_path))
    for kind in ("contour", "filled"):
        fig = plot.draw(s, kind, PlotOptions(epoch_labels=True, size=size))
        renderer = drawn(fig)
        ax = fig.axes[0]
        assert ax.get_aspect() == "auto" and "axes not to scale" in texts(fig)[-1]  # not a thin strip
        track_labels = labels_of(ax, "track-label")
        names = [t.get_text() for t in track_labels]
        assert sorted(names) == sorted(["start (1)", "end (8)", *map(str, range(2, 8))] * 2)  # every epoch
        assert_apart(extents(track_labels + labels_of(ax, "contour-label"), renderer), ax.get_window_extent(renderer))
        paths = [ln for ln in ax.lines if ln.get_gid() == "trajectory"]
        assert len(paths) == 2 and paths[0].get_color() != paths[1].get_color()  # a colour per run
        legend = ax.get_legend()
        assert [t.get_text() for t in legend.get_texts()] == ["seed 0 (up to 2.0% off the plane)",
                                                              "seed 1 (up to 15% off the plane)"]
        hollow = [ln for ln in ax.lines if ln.get_gid() == "off-plane"]
        assert len(hollow) == 1 and len(hollow[0].get_xdata()) == 3  # the three checkpoints over 10% off
        assert "more than 10% off the plane" in texts(fig)[-1]


def test_model_labels_avoid_contour_labels(tmp_path):
    models = Track(np.array([0.0, 1.0, 0.0]), np.array([0.0, 0.0, 1.0]), ["A", "B", "C"], [None] * 3)
    path = make_surface(tmp_path / "plane.h5", np.linspace(-0.5, 1.5, 31), np.linspace(-0.5, 1.5, 31),
                        lambda X, Y: 0.1 + (X**2 + Y**2) * ((X - 1) ** 2 + Y**2 + 0.3) * (X**2 + (Y - 1) ** 2 + 0.3),
                        tracks={"models": models})
    for size in (None, (3.3, 3.0)):
        fig = plot.draw(store.read_surface(path), "contour", PlotOptions(size=size))
        renderer = drawn(fig)
        ax = fig.axes[0]
        boxes = labels_of(ax, "track-label", "contour-label")
        assert {"A", "B", "C"} <= {t.get_text() for t in boxes}
        assert_apart(extents(boxes, renderer), ax.get_window_extent(renderer))


def test_equal_aspect_for_a_square_plane(surface2d):
    ax = plot.draw(store.read_surface(surface2d), "contour").axes[0]
    assert ax.get_aspect() == 1.0
    assert plot.to_scale([0, 1.9], [0, 1]) and not plot.to_scale([0, 2.3], [0, 1]) and not plot.to_scale([0, 1], [0, 4])


def test_compare_names_never_collide_and_replacements_are_reported(tmp_path):
    a = make_surface(tmp_path / "a.h5", np.linspace(-1, 1, 5), np.linspace(-1, 1, 5))
    b = make_surface(tmp_path / "b.h5", np.linspace(-1, 1, 5), np.linspace(-1, 1, 5))
    c = make_surface(tmp_path / "c.h5", np.linspace(-1, 1, 5), np.linspace(-1, 1, 5))
    (tmp_path / "x").mkdir()
    a2 = make_surface(tmp_path / "x" / "a.h5", np.linspace(-1, 1, 5), np.linspace(-1, 1, 5))
    out = tmp_path / "figs"
    opts = PlotOptions(kinds=("heatmap",), dpi=20)
    first = plot.render_compare([a, b], opts, out)
    names = {p.name for p in first}
    for other in ([a, c], [b, a], [a2, b]):  # other files, another order, same names in another folder
        again = plot.render_compare(other, opts, out)
        assert not names & {p.name for p in again} and again.replaced == []
        names |= {p.name for p in again}
    assert len(list(out.iterdir())) == 4
    same = plot.render_compare([a, b], opts, out)
    assert list(same) == list(first) and same.replaced == list(first)  # reported, so never silent
    with pytest.raises(LandscapeError, match="already exist"):
        plot.render_compare([a, b], opts, out, overwrite=False)
    long = [make_surface(tmp_path / f"{'n' * 30}{k}.h5", np.linspace(-1, 1, 3), np.linspace(-1, 1, 3)) for k in range(3)]
    stem = plot.compare_stem([store.read_surface(p) for p in long])
    assert re.fullmatch(r"n{30}0\+2-more\.[0-9a-f]{6}", stem)


def test_render_file_overwrite_flag(surface2d):
    opts = PlotOptions(kinds=("contour", "vtk"), dpi=20)
    first = plot.render_file(surface2d, opts)
    assert first.replaced == []
    assert plot.render_file(surface2d, opts).replaced == list(first)
    before = {p: p.stat().st_mtime_ns for p in first}
    with pytest.raises(LandscapeError, match="model.contour.png"):
        plot.render_file(surface2d, PlotOptions(kinds=("heatmap", "contour"), dpi=20), overwrite=False)
    assert not (surface2d.parent / "model.heatmap.png").exists()  # nothing written when refused
    assert {p: p.stat().st_mtime_ns for p in first} == before


def test_in_memory_surface(tmp_path):
    s = in_memory(*wall(9), name=None)
    written = plot.render_file(s, PlotOptions(kinds=("contour",), dpi=20), out_dir=tmp_path)
    assert [p.name for p in written] == ["surface.contour.png"]
    with pytest.raises(LandscapeError, match="out_dir"):
        plot.render_file(s, PlotOptions(kinds=("contour",), dpi=20))


@pytest.mark.parametrize("metric,label,cmap", [("eig_max", "largest Hessian eigenvalue", "plasma"),
                                               ("eig_min", "smallest Hessian eigenvalue", "RdBu_r"),
                                               ("eig_ratio", "|λmin/λmax|", "cividis")])
def test_eigenvalue_maps(metric, label, cmap):
    x, y, z = wall(15)
    X, Y = np.meshgrid(x, y)
    emax, emin = 5 + 20 * (X**2 + Y**2), 0.5 - 3 * X**2
    s = in_memory(x, y, z, values={"eig_max": emax, "eig_min": emin, "eig_ratio": np.abs(np.minimum(emin, 0) / emax)})
    for kind in ("heatmap", "filled", "contour", "surface"):
        fig = plot.draw(s, kind, PlotOptions(metric=metric))
        ax = fig.axes[0]
        assert not [ln for ln in ax.lines if ln.get_gid() == "best"]  # no "minimum" star
        if kind in ("heatmap", "filled"):
            assert fig.axes[1].get_ylabel() == label
            mappable = ax.collections[0]
            assert mappable.get_cmap().name == cmap
            if metric == "eig_min":
                assert isinstance(mappable.norm, CenteredNorm) and mappable.norm.vcenter == 0
        if kind == "surface":
            assert ax.get_zlabel() == label
    with pytest.raises(LandscapeError, match="no eig_max"):
        plot.draw(in_memory(x, y, z), "heatmap", PlotOptions(metric="eig_max"))
    with pytest.raises(LandscapeError, match="--log"):
        PlotOptions(metric=metric, log=True)


def test_eigen_metric_missing_from_file_fails_before_writing(surface2d):
    with pytest.raises(LandscapeError, match="eig_ratio"):
        plot.render_file(surface2d, PlotOptions(kinds=("contour", "heatmap"), metric="eig_ratio"))
    assert not list(surface2d.parent.glob("*.png"))


def test_exports_are_dispatched_to_the_export_module(surface2d, monkeypatch):
    from landscape import export

    calls = []

    def fake(kind):
        def write(path, surface, *args, **kwargs):
            Path(path).write_text(kind)
            calls.append((kind, Path(path), args, kwargs))
        return write

    for kind in ("html", "obj", "ply"):
        monkeypatch.setattr(export, f"write_{kind}", fake(kind))
    s = store.read_surface(surface2d)
    opts = PlotOptions(kinds=("html", "obj", "ply"), zmax=0.5, title="T")
    written = plot.render_file(surface2d, opts)
    assert [p.name for p in written] == ["model.html", "model.obj", "model.ply"]
    assert [p.read_text() for p in written] == ["html", "obj", "ply"]
    assert all(path.parent != surface2d.parent for _, path, _, _ in calls)  # written to a temporary path
    zmax = plot.clip_height(s, opts)
    assert zmax == 0.5
    assert calls[0][3] == dict(metric="loss", log=False, zmax=zmax, title="T")
    assert calls[1][2] == ("loss", False, zmax) and calls[2][2] == ("loss", False, zmax)
    auto = plot.clip_height(in_memory(*wall()), PlotOptions())
    assert auto == pytest.approx(plot.draw(in_memory(*wall()), "surface").axes[0].get_zlim()[1])
    assert plot.clip_height(s, PlotOptions()) is None  # an ordinary bowl is not cut
    everything = [p.name for p in plot.render_file(surface2d, PlotOptions(kinds="all", dpi=20))]
    assert not [n for n in everything if n.endswith((".html", ".obj", ".ply"))]


def hand_made_topology():
    from types import SimpleNamespace

    def basin(lo, hi):
        return SimpleNamespace(minimum=lo, saddle=hi, persistence=hi - lo, index=(0, 0))

    bs = (basin(0.02, np.inf), basin(0.35, 1.4), basin(0.6, 0.9), basin(0.8, 0.86), basin(1.1, 2.3), basin(1.5, 1.55))
    return SimpleNamespace(basins=bs, threshold=0.2, count=4, smoothness=0.81)


def test_barcode_bars_threshold_and_caption():
    bars = plot.barcode(hand_made_topology())
    ax = bars.patches[0].axes
    assert len(bars.patches) == 6
    lefts = [p.get_x() for p in bars.patches]
    assert lefts == sorted(lefts)  # deepest first
    counted = [p.get_facecolor() != bars.patches[3].get_facecolor() for p in bars.patches]
    assert counted == [True, True, True, False, True, False]  # persistence above 0.2 in colour
    assert [ln for ln in ax.lines if ln.get_gid() == "essential"]  # the infinite bar is an arrow
    (ticks,) = [ln for ln in ax.lines if ln.get_gid() == "threshold"]
    assert np.allclose(ticks.get_xdata(), [p.get_x() + 0.2 for p in bars.patches])
    assert ax.get_title(loc="left") == "4 basins above the threshold; smoothness 0.81"


def test_barcode_kind(surface2d, tmp_path):
    s = store.read_surface(surface2d)
    fig = plot.draw(s, "barcode")
    assert "above the threshold; smoothness" in fig.axes[0].get_title(loc="left")
    assert [p.name for p in plot.render_file(surface2d, PlotOptions(kinds=("barcode",), dpi=20))] == ["model.barcode.png"]
    with pytest.raises(LandscapeError, match="--metric loss"):
        plot.draw(s, "barcode", PlotOptions(metric="acc"))
    assert "barcode" not in [k.value for k in plot._kinds([s], PlotOptions(kinds="all", metric="acc"))]


def test_a_tall_plane_keeps_its_long_labels_inside_the_figure():
    # a Hessian plane: x spans less than y, labels carry eigenvalues (the figure is narrowed to the plane)
    x, y = np.linspace(-0.136, 0.136, 31), np.linspace(-0.179, 0.179, 31)
    X, Y = np.meshgrid(x, y)
    s = in_memory(x, y, 0.002 + X**2 + 2 * Y**2, attrs={"xlabel": "Hessian eigenvector 1 (λ=0.6878)",
                                                         "ylabel": "Hessian eigenvector 2 (λ=0.4359)"})
    fig = plot.draw(s, "contour", PlotOptions(dpi=110))
    renderer = drawn(fig)
    assert fig.get_figwidth() < plot.STYLE.size_2d[0]  # narrowed, not padded with white space
    frame = fig.bbox
    for ax in fig.axes:
        for label in (ax.xaxis.label, ax.yaxis.label):
            box = label.get_window_extent(renderer)
            assert frame.x0 - 0.5 <= box.x0 and box.x1 <= frame.x1 + 0.5, f"{label.get_text()!r} is cut off"


def test_density_legend_sits_below_the_x_label():
    grid = np.linspace(-0.1, 1.0, 200)
    fig = plot.density_figure(grid, np.exp(-((grid - 0.5) ** 2) / 0.01), eigenvalues=[0.5, 0.9])
    renderer = drawn(fig)
    ax = fig.axes[0]
    label, legend = ax.xaxis.label.get_window_extent(renderer), ax.get_legend().get_window_extent(renderer)
    assert legend.y1 <= label.y0 + 0.5 and legend.y0 >= fig.bbox.y0 - 0.5


def test_3d_tick_labels_do_not_run_together_at_the_corner():
    x, y, z = wall(31)
    fig = plot.draw(in_memory(x, y, z), "surface")
    renderer = drawn(fig)
    ax = fig.axes[0]
    boxes = {}
    for name, axis in (("x", ax.xaxis), ("y", ax.yaxis)):  # the boxes where the draw put them
        boxes[name] = [t.label1.get_window_extent(renderer) for t in axis.majorTicks[:len(axis.get_majorticklocs())]
                       if t.label1.get_visible() and t.label1.get_text()]
    assert len(boxes["x"]) >= 2 and len(boxes["y"]) >= 2
    assert not any(a.overlaps(b) for a in boxes["x"] for b in boxes["y"])
