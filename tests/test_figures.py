"""Image comparisons: every kind of figure, drawn from a fixed synthetic surface, against a committed
baseline image in tests/baseline/ (matplotlib's own `compare_images`, RMS tolerance TOL).

Reproducible text: each figure is drawn under matplotlib's testing settings (`rcdefaults`, then
`matplotlib.testing.set_font_settings_for_testing` and `set_reproducibility_for_testing`: the
DejaVu Sans that ships with matplotlib, its test hinting, a fixed SVG hash salt), so a user's
matplotlibrc or installed fonts change nothing, and the Agg renderer is used whatever the
backend. Glyph shapes still depend on the FreeType library matplotlib was built with: the
baselines record theirs (BASELINE_FREETYPE, the one bundled in matplotlib's wheels); with another
one the comparisons are skipped, saying why, rather than failing on every anti-aliased letter.

TOL is small enough that a missing label, a moved legend or another colour scale fails (see
`test_tolerance_catches_*`, which break a figure on purpose) and large enough for anti-aliasing
noise. Images are small (DPI) so that the suite stays fast.

After an intended change, regenerate the baselines, look at them, and commit them:

    LANDSCAPE_UPDATE_BASELINES=1 python -m pytest tests/test_figures.py

(or `python tests/test_figures.py`). A failing comparison leaves the image drawn and a diff image
(`*-failed-diff.png`) in pytest's temporary folder; the failure message names them.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import matplotlib as mpl
import matplotlib.testing
import numpy as np
import pytest
from matplotlib.figure import Figure
from matplotlib.ft2font import __freetype_version__ as FREETYPE
from matplotlib.testing.compare import compare_images

from landscape import plot
from landscape.plot import PlotOptions
from landscape.plane.directions import Track
from landscape.store import Surface

BASELINE = Path(__file__).parent / "baseline"
BASELINE_FREETYPE = "2.14.3"  # the FreeType the baselines were drawn with (matplotlib 3.11's wheels)
UPDATE = os.environ.get("LANDSCAPE_UPDATE_BASELINES", "") not in ("", "0")
TOL = 1.0  # RMS of the pixel difference, 0-255 scale; a missing label is about 4
DPI = 70


# ---------------------------------------------------------------- fixed synthetic surfaces


def surface(x, y, z, computed=None, tracks=None, attrs=None, values=None, name="synthetic") -> Surface:
    z = np.asarray(z, dtype=float)
    computed = np.ones(z.shape, dtype=bool) if computed is None else computed
    vals = {"train_loss": np.where(computed, z, np.nan), "train_acc": np.where(computed, 100 * np.exp(-z), np.nan)}
    vals.update({k: np.where(computed, v, np.nan) for k, v in (values or {}).items()})
    return Surface(Path(f"{name}.h5"), np.asarray(x, dtype=float), None if y is None else np.asarray(y, dtype=float),
                   vals, computed, {"split": "train", **(attrs or {})}, tracks or {})


def wall_bowl(n: int = 31) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Like the demo's surface: a bowl with a steep wall up to ~27 in one corner."""
    x = y = np.linspace(-1, 1, n)
    X, Y = np.meshgrid(x, y)
    z = 0.02 + 2.2 * (X**2 + 1.4 * Y**2) + 0.6 * np.sin(2 * X) ** 2 + 40 * np.clip(X + 0.35 * Y - 0.45, 0, None) ** 2
    return x, y, z


def bowl() -> Surface:
    return surface(*wall_bowl(), attrs={"xlabel": "direction 1", "ylabel": "direction 2"})


def partial() -> Surface:
    x, y, z = wall_bowl(21)
    computed = np.zeros(z.shape, dtype=bool)
    computed[:13] = True
    computed[13, :8] = True
    z = z.copy()
    z[2, 3] = np.nan  # a diverged point
    return surface(x, y, z, computed=computed, name="partial")


def two_runs() -> Surface:
    """A PCA plane four times wider than high, two runs that meet at the end, one partly off the plane."""
    x, y = np.linspace(-3.2, 0.8, 41), np.linspace(-0.5, 0.5, 21)
    X, Y = np.meshgrid(x, y)
    t = np.linspace(0, 1, 8)
    track = Track(np.concatenate([-2.8 * (1 - t) ** 2, -2.2 * (1 - t) ** 1.5]),
                  np.concatenate([0.35 * np.sin(3 * t) * (1 - t), -0.3 * np.sin(2.5 * t) * (1 - t)]),
                  [f"e{k}" for k in range(16)], list(range(1, 9)) * 2, np.repeat([0, 1], 8), ["seed 0", "seed 1"],
                  np.concatenate([np.linspace(0.02, 0.0, 8), np.linspace(0.15, 0.0, 8)]))
    return surface(x, y, 0.03 + 0.035 * (X - 0.3) ** 2 + 0.6 * (Y + 0.05) ** 2, tracks={"trajectory": track},
                   attrs={"xlabel": "PC1 (88.1%)", "ylabel": "PC2 (6.0%)",
                          "note": "PCA directions of the training paths, not filter-normalized"}, name="two-runs")


def line_1d(split: str = "train") -> Surface:
    x = np.linspace(-0.5, 1.5, 41)
    z = 0.05 + 0.3 * (1 - np.tanh(3 * x)) + 0.2 * np.exp(-(((x - 0.5) / 0.15) ** 2)) + (0.1 if split == "test" else 0)
    models = Track(np.array([0.0, 1.0]), np.zeros(2), ["A", "B"], [None, None])
    s = surface(x, None, z, tracks={"models": models}, attrs={"xlabel": "A → B", "split": split}, name=f"line-{split}")
    s.values[f"{split}_loss"], s.values[f"{split}_acc"] = s.values.pop("train_loss"), s.values.pop("train_acc")
    return s


def descent() -> Surface:
    """A bowl with a training path of eight checkpoints descending into it (log-spaced levels)."""
    x = y = np.linspace(-1, 1, 25)
    X, Y = np.meshgrid(x, y)
    t = np.linspace(0, 1, 8)
    path = Track(-0.9 + 1.1 * (1 - (1 - t) ** 3), 0.8 - 0.7 * t, [f"e{k}" for k in range(8)], list(range(1, 9)))
    return surface(x, y, 0.002 + 1.5 * ((X - 0.2) ** 2 + 0.6 * (Y - 0.1) ** 2), tracks={"trajectory": path},
                   name="descent")


def eigen() -> Surface:
    x, y, z = wall_bowl(25)
    X, Y = np.meshgrid(x, y)
    emax = 5 + 20 * (X**2 + Y**2) + 3 * np.sin(4 * X)
    emin = 0.5 - 3 * (X**2 + 0.5 * Y**2) + 0.4 * np.cos(5 * Y)
    return surface(x, y, z, values={"eig_max": emax, "eig_min": emin, "eig_ratio": np.abs(np.minimum(emin, 0) / emax)})


def topology() -> SimpleNamespace:
    """What `basins.topology` returns, by hand (the barcode's drawing, not the basins' numbers)."""
    def basin(lo: float, hi: float) -> SimpleNamespace:
        return SimpleNamespace(minimum=lo, saddle=hi, persistence=hi - lo, index=(0, 0))

    bs = (basin(0.02, math.inf), basin(0.35, 1.4), basin(0.6, 0.9), basin(0.8, 0.86), basin(1.1, 2.3),
          basin(1.5, 1.55), basin(2.0, 2.6))
    return SimpleNamespace(basins=bs, threshold=0.2, count=4, smoothness=0.81)


def barcode_figure() -> Figure:
    fig = Figure(figsize=(4.2, 3.0), dpi=DPI, layout="constrained")
    with mpl.rc_context(dict(plot.STYLE.rc)):
        plot.barcode(topology(), fig.add_subplot(), label="train loss")
    return fig


def opts(**kw) -> PlotOptions:
    return PlotOptions(dpi=DPI, **kw)


FIGURES: dict[str, Callable[[], Figure]] = {
    "contour": lambda: plot.draw(bowl(), "contour", opts()),
    "contour-column": lambda: plot.draw(bowl(), "contour", opts(size=(3.3, 2.9))),
    "filled": lambda: plot.draw(bowl(), "filled", opts()),
    "heatmap": lambda: plot.draw(bowl(), "heatmap", opts()),
    "surface": lambda: plot.draw(bowl(), "surface", opts()),
    "line": lambda: plot.draw(line_1d(), "line", opts()),
    "barcode": barcode_figure,
    "trajectory-two-runs": lambda: plot.draw(two_runs(), "contour", opts(epoch_labels=True)),
    "partial": lambda: plot.draw(partial(), "filled", opts()),
    "log": lambda: plot.draw(bowl(), "filled", opts(log=True)),
    "eig-min": lambda: plot.draw(eigen(), "heatmap", opts(metric="eig_min")),
    "surface-trajectory": lambda: plot.draw(descent(), "surface", opts(epoch_labels=True)),
    "line-train-test": lambda: plot.draw([line_1d(), line_1d("test")], "line", opts()),
    "slide": lambda: plot.draw(descent(), "filled", opts(style="slide")),
    "dark": lambda: plot.draw(bowl(), "contour", opts(style="dark")),
}


# ---------------------------------------------------------------- comparing


@pytest.fixture
def testing_rc():
    """matplotlib's own test settings, undone afterwards."""
    with mpl.rc_context():
        mpl.rcdefaults()
        matplotlib.testing.set_font_settings_for_testing()
        matplotlib.testing.set_reproducibility_for_testing()
        yield


def save(fig: Figure, path: Path) -> Path:
    fig.savefig(path, dpi=DPI, metadata={"Software": None})  # no version string in the file
    return path


def compare(name: str, fig: Figure, tmp_path: Path) -> str | None:
    """None if the figure matches its baseline within TOL, else compare_images' report."""
    return compare_images(BASELINE / f"{name}.png", save(fig, tmp_path / f"{name}.png"), tol=TOL)


@pytest.mark.parametrize("name", list(FIGURES))
def test_figure_matches_baseline(name, tmp_path, testing_rc):
    fig = FIGURES[name]()
    if UPDATE:
        BASELINE.mkdir(exist_ok=True)
        save(fig, BASELINE / f"{name}.png")
        pytest.skip(f"wrote {BASELINE / name}.png")
    if FREETYPE != BASELINE_FREETYPE:
        pytest.skip(f"baselines drawn with FreeType {BASELINE_FREETYPE}, this matplotlib uses {FREETYPE}; "
                    "regenerate them: LANDSCAPE_UPDATE_BASELINES=1 python -m pytest tests/test_figures.py")
    assert (BASELINE / f"{name}.png").exists(), f"no baseline for {name}: run with LANDSCAPE_UPDATE_BASELINES=1"
    report = compare(name, fig, tmp_path)
    assert report is None, report


@pytest.fixture
def comparable():
    if UPDATE or FREETYPE != BASELINE_FREETYPE:
        pytest.skip("baselines being written, or drawn with another FreeType")


def test_tolerance_catches_a_missing_label(tmp_path, testing_rc, comparable):
    fig = FIGURES["contour"]()
    labels = [t for t in fig.axes[0].texts if t.get_gid() == "contour-label"]
    labels[len(labels) // 2].remove()
    assert compare("contour", fig, tmp_path) is not None


def test_tolerance_catches_a_moved_legend(tmp_path, testing_rc, comparable):
    fig = FIGURES["line"]()
    fig.axes[0].get_legend().set_bbox_to_anchor((0.5, 0.5), transform=fig.axes[0].transAxes)
    assert compare("line", fig, tmp_path) is not None


def test_tolerance_catches_another_colour_scale(tmp_path, testing_rc, comparable):
    from matplotlib.colors import Normalize

    fig = FIGURES["heatmap"]()
    mesh = fig.axes[0].collections[0]
    mesh.set_norm(Normalize(*mesh.get_clim()))  # the old linear scale to the maximum, same limits
    assert compare("heatmap", fig, tmp_path) is not None


def test_drawing_is_deterministic(tmp_path, testing_rc):
    a, b = (save(FIGURES["trajectory-two-runs"](), tmp_path / f"{k}.png") for k in "ab")
    assert compare_images(a, b, tol=0) is None


if __name__ == "__main__":  # python tests/test_figures.py: regenerate the baselines
    os.environ["LANDSCAPE_UPDATE_BASELINES"] = "1"
    sys.exit(pytest.main([__file__, "-q", "-p", "no:cacheprovider"]))
