"""Figures and the VTK export, on small surface files written by hand."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import h5py
import matplotlib.image
import numpy as np
import pytest
import torch
from matplotlib.figure import Figure
from matplotlib.text import Annotation

from landscape import plot, store
from landscape.directions import Directions, DirType
from landscape.errors import LandscapeError
from landscape.grid import Grid
from landscape.plot import PlotOptions
from landscape.store import Track


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
                                            "model.surface.png", "model.vtk"]


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
    assert plot.describe(s) == ("26 of 49 points not computed yet (shown blank); "
                                "2 computed points have an inf or NaN loss (shown blank)")
    written = plot.render_file(path, PlotOptions(kinds=("all",), dpi=30))
    assert len(written) == 5
    assert_png(written[0], plot.STYLE.size_2d, 30)
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
    assert len(plot.render_file(path, PlotOptions(kinds=("all",), dpi=30))) == 5


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
    assert plot.describe(s) == "12 of 36 points not computed yet (shown blank)"
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
    assert [p.name for p in written] == ["compare.filled.png", "compare.surface.png"]
    with pytest.raises(LandscapeError, match="at least two"):
        plot.render_compare([a])


def test_compare_1d_overlays_lines_and_refuses_mixed(tmp_path, surface1d, surface2d):
    other = make_surface(tmp_path / "other.h5", np.linspace(-0.5, 1.5, 11), None, lambda X, Y: 2 + X)
    fig = plot.draw([store.read_surface(surface1d), store.read_surface(other)], "line")
    assert sum(len(ax.lines) for ax in fig.axes) >= 4
    assert plot.render_compare([surface1d, other], PlotOptions(dpi=30))[0].name == "compare.line.png"
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
        assert {"start", "end", "1", "2", "3", "4"} <= set(texts(fig))
        assert "PCA directions, not filter-normalized" in texts(fig)
    assert "1" not in texts(plot.draw(s, "contour"))  # epoch labels only when asked


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
    logged = plot._levels(np.log10(np.geomspace(0.01, 100, 50)), PlotOptions(log=True))
    assert np.allclose(np.diff(logged), np.diff(logged)[0]) and logged[0] >= -2 and logged[-1] <= 2
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

    opts = PlotOptions(kinds=[Kind.contour, "heatmap"], formats="pdf", size=[3, 2])
    assert opts.kinds == ("contour", "heatmap") and type(opts.kinds[0]) is str
    assert opts.formats == ("pdf",) and opts.size == (3, 2)


def test_failed_write_leaves_no_partial_file(surface2d, monkeypatch):
    def broken_savefig(self, fname, **kwargs):
        Path(fname).write_bytes(b"half an image")
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
    with pytest.raises(LandscapeError, match="vtk"):
        plot.draw(store.read_surface(surface2d), "vtk")
    thin = make_surface(tmp_path / "thin.h5", np.linspace(-1, 1, 5), np.array([0.0]))
    with pytest.raises(LandscapeError, match="at least 2 points"):
        plot.render_file(thin)
