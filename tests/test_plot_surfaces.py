"""plot/surfaces.py: a surface as the figures see it (what is computed, diverged, drawable), and
the helpers the other test_plot_* files share: surface files written by hand, in-memory
surfaces, and the guard that nothing goes through pyplot."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from matplotlib.figure import Figure
from matplotlib.text import Annotation

from landscape import plot, store
from landscape.errors import LandscapeError, for_cli
from landscape.plane.directions import Directions, DirType, Track
from landscape.plane.grid import Grid
from landscape.plot import PlotOptions


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


def texts(fig: Figure) -> list[str]:
    """Annotations and figure texts (not the contour labels), then the figure's notes (which go to
    its caption, and onto the image only with `PlotOptions.notes`) as one text, last."""
    notes = [t for ax in fig.axes for t in ax.texts if isinstance(t, Annotation)]
    caption = ["\n".join(plot.figure_notes(fig))] if plot.figure_notes(fig) else []
    return [t.get_text() for t in notes] + [t.get_text() for t in fig.texts] + caption


@pytest.fixture(autouse=True)
def no_pyplot_figures():
    """Nothing here may go through pyplot's global state."""
    import matplotlib.pyplot as plt

    yield
    assert plt.get_fignums() == []


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


def test_describe_is_empty_for_a_complete_file(surface2d):
    assert plot.blanks(store.read_surface(surface2d)) == ""


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
    assert plot.blanks(s) == "12 of 36 points not computed yet (hatched in the figures)"
    written = plot.render_file(path, PlotOptions(dpi=30))
    assert len(written) == 3 and all(p.exists() for p in written)
    z = plot.draw(s, "filled").axes[0].collections[0]
    assert z.levels.min() >= 0  # the -1 holes are not data


def test_eigen_metric_missing_from_file_fails_before_writing(surface2d):
    with pytest.raises(LandscapeError, match="eig_ratio"):
        plot.render_file(surface2d, PlotOptions(kinds=("contour", "heatmap"), metric="eig_ratio"))
    assert not list(surface2d.parent.glob("*.png"))


def test_no_positive_loss_on_a_log_scale_names_the_argument():
    x, y, z = wall(9)
    with pytest.raises(LandscapeError) as e:
        plot.draw(in_memory(x, y, -z), "contour", PlotOptions(log=True))  # every loss <= 0
    assert "log=True needs positive values" in str(e.value) and "drop log=True" in str(e.value)
    assert "--log needs positive values" in for_cli(e.value.message) and e.value.field == "log"
    assert plot.clip_height(in_memory(x, y, z), PlotOptions(zmax=np.inf)) is None  # inf: no cut, nothing checked
