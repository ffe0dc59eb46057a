"""How the figures look: every look-and-feel constant (`STYLE`), and the colours derived from a
colormap so that lines and labels stay legible on the background. Run colours are shared with
the web page: `export.colors.RUN_COLORS`.

`STYLE` is the look of the figure being drawn: `using(options, reference)` makes it the base
look scaled to the figure (fonts, markers and lines grow with it: a 16:9 slide reads from the
back of a room), in the theme asked for (paper, slide, dark) and typeface, together with the
matching matplotlib rc settings. Outside `using`, it is the base look at 9 pt.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import matplotlib as mpl
import numpy as np
from matplotlib.colors import Colormap, ListedColormap

if TYPE_CHECKING:
    from landscape.plot.options import PlotOptions


@dataclass(frozen=True)
class Style:
    """Every look-and-feel constant of the figures, in one place (the run colours, shared with the
    web page, are `export.colors.RUN_COLORS`)."""

    rc: tuple[tuple[str, Any], ...] = (("font.size", 9), ("axes.titlesize", 9), ("legend.fontsize", 7.5),
                                       ("pdf.fonttype", 42))  # 42: text stays editable in the PDF
    label_size: float = 7.5  # contour labels, track labels (points)
    note_size: float = 7.0
    cmap: str = "viridis"
    line_width: float = 0.9
    line_luminance: float = 0.62  # contour lines are darkened to at most this luminance (legible on white)
    ink_luminance: float = 0.33  # and their labels to at most this
    loss_color: str = "tab:blue"
    acc_color: str = "tab:red"
    best_color: str = "red"  # star at the minimum loss (maximum accuracy)
    missing_face: str = "0.93"  # cells not computed yet: light grey, hatched
    missing_hatch: str = "////"
    missing_ink: str = "0.6"
    diverged_face: str = "#fbe3e3"  # computed cells with an inf or NaN value
    diverged_hatch: str = "xxxx"
    diverged_ink: str = "#d62728"
    off_plane: float = 0.10  # a checkpoint with a larger projection residual is drawn hollow and noted
    max_aspect: float = 2.0  # equal aspect unless one range exceeds the other by more than this
    size_2d: tuple[float, float] = (4.2, 3.6)  # inches, one panel
    size_3d: tuple[float, float] = (5.0, 4.0)
    size_line: tuple[float, float] = (5.0, 3.4)
    paper_levels: tuple[float, float, float] = (0.1, 10.0, 0.5)  # vmin, vmax, step of the paper's contours
    min_levels: int = 6  # fewer paper levels than this inside the data: use nice levels instead
    nice_levels: int = 10  # about this many levels when not the paper's
    max_levels: int = 500
    max_bars: int = 40  # the barcode shows at most this many basins (the most persistent)
    size_slide: tuple[float, float] = (13.33, 7.5)  # a 16:9 slide, full width
    elev: float = 35.0
    azim: float = -55.0
    star_size: float = 9.0  # markers (points): the lowest loss on the plane
    origin_size: float = 3.5  # the model at (0, 0)
    track_size: float = 4.0  # checkpoints of a training path, marked models
    point_size: float = 2.5  # isolated computed points of a 1-D curve
    scale: float = 1.0  # fonts, markers and lines relative to the 9 pt base look
    ink: str = "black"  # text, axes, the origin's dot
    paper: str = "white"  # the background
    muted: str = "dimgray"  # notes and keys
    dark: bool = False

    @property
    def rc_size(self) -> float:
        """The font size (points) of axis labels and ticks."""
        return float(dict(self.rc).get("font.size", 9))

    def scaled(self, k: float) -> Style:
        """This look with fonts, markers and lines k times as large."""
        fonts = tuple((key, v * k if key.endswith("size") and isinstance(v, (int, float)) else v) for key, v in self.rc)
        sizes = {f: getattr(self, f) * k for f in ("label_size", "note_size", "line_width", "star_size",
                                                   "origin_size", "track_size", "point_size")}
        return dataclasses.replace(self, rc=fonts, scale=self.scale * k, **sizes)

    def darkened(self) -> Style:
        """The dark theme: light ink on a dark background; lines and labels lightened, not darkened."""
        ink, paper = "#e8e8e8", "#1b1d22"
        rc = dict(self.rc) | {"text.color": ink, "axes.labelcolor": ink, "axes.edgecolor": "#b0b0b0",
                              "xtick.color": ink, "ytick.color": ink, "axes.facecolor": paper,
                              "figure.facecolor": paper, "savefig.facecolor": paper, "legend.facecolor": paper,
                              "legend.edgecolor": "#555555", "hatch.color": "#9a9a9a"}
        return dataclasses.replace(self, rc=tuple(rc.items()), ink=ink, paper=paper, muted="#b8b8b8", dark=True,
                                   missing_face="#33363d", missing_ink="#8a8a8a", diverged_face="#4a2a2c",
                                   best_color="#ff5a5a", line_luminance=0.30, ink_luminance=0.55)


BASE = Style()
_current: ContextVar[Style] = ContextVar("landscape_style", default=BASE)


class _Current:
    """`STYLE`: the look of the figure being drawn (see `using`); the base look outside it."""

    def __getattr__(self, name: str) -> Any:
        return getattr(_current.get(), name)

    def __repr__(self) -> str:
        return f"STYLE -> {_current.get()!r}"


STYLE = cast(Style, _Current())


def current() -> Style:
    """The look in force (`STYLE` is a view of it): to keep, and to draw in again later (`using`)."""
    return _current.get()

FONTS = {  # rc settings of each `Font`: text and mathtext alike (the PDF embeds them as TrueType)
    "sans": {"font.family": "sans-serif", "mathtext.fontset": "dejavusans"},
    # named, not "serif": a figure shown later, outside its look (a notebook), keeps its typeface
    "serif": {"font.family": ["STIXGeneral", "DejaVu Serif"], "mathtext.fontset": "stix"},
    "cm": {"font.family": ["cmr10", "DejaVu Serif"], "mathtext.fontset": "cm", "axes.formatter.use_mathtext": True,
           "axes.unicode_minus": False},
}


def look(options: PlotOptions, reference: tuple[float, float], size: tuple[float, float] | None = None) -> Style:
    """The look of a figure of `size` inches (default: `reference`, the kind's own size): fonts
    `options.fontsize`, or 9 pt at the reference size scaled with the figure (0.95 to 3 times;
    `slide`: at least twice); theme and typeface as asked; text kept as text in SVG and PDF."""
    w, h = size or options.size or (BASE.size_slide if options.style.value == "slide" else reference)
    k = options.fontsize / 9.0 if options.fontsize else min(3.0, max(0.95, min(w / reference[0], h / reference[1])))
    if options.style.value == "slide" and not options.fontsize:
        k = max(k, 2.0)
    style = BASE.scaled(k)
    # SVG text stays text in the default typeface; cm and STIX are drawn as paths there (few viewers have them)
    rc = dict(style.rc) | FONTS[options.font.value] | {"svg.fonttype": "none" if options.font.value == "sans" else "path"}
    style = dataclasses.replace(style, rc=tuple(rc.items()))
    return style.darkened() if options.style.value == "dark" else style


@contextmanager
def using(style: Style) -> Iterator[Style]:
    """Make `style` the current look (`STYLE`) and its rc settings matplotlib's, for the block."""
    token = _current.set(style)
    try:
        with mpl.rc_context(dict(style.rc)):
            yield style
    finally:
        _current.reset(token)


POINT: dict[str, Any] = dict(mec="white", mew=0.5, ls="none", zorder=5)  # a marked point (origin, best)


def luminance(rgba: Sequence[float]) -> float:
    """Relative luminance of an RGB(A) colour (Rec. 709 weights)."""
    r, g, b = rgba[:3]
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def darkened(rgba: Sequence[float], most: float) -> tuple[float, float, float, float]:
    """The colour scaled toward black until its luminance is at most `most` (legible on white)."""
    lum = luminance(rgba)
    k = min(1.0, most / lum) if lum > 0 else 1.0
    return (rgba[0] * k, rgba[1] * k, rgba[2] * k, rgba[3] if len(rgba) > 3 else 1.0)


def lightened(rgba: Sequence[float], least: float) -> tuple[float, float, float, float]:
    """The colour mixed toward white until its luminance is at least `least` (legible on dark)."""
    lum = luminance(rgba)
    t = 0.0 if lum >= least else (least - lum) / max(1e-9, 1.0 - lum)
    return (rgba[0] + (1 - rgba[0]) * t, rgba[1] + (1 - rgba[1]) * t, rgba[2] + (1 - rgba[2]) * t,
            rgba[3] if len(rgba) > 3 else 1.0)


def legible(rgba: Sequence[float], level: float) -> tuple[float, float, float, float]:
    """The colour darkened (on white) or lightened (dark theme) to stand out at `level`."""
    return lightened(rgba, level) if STYLE.dark else darkened(rgba, level)


def line_cmap(cmap: Colormap) -> Colormap:
    """The colormap with its light end darkened (its dark end lightened in the dark theme):
    contour lines stay visible on the background."""
    rgba = cmap(np.linspace(0, 1, 256))
    return ListedColormap([legible(c, STYLE.line_luminance) for c in rgba], name=f"{cmap.name}_lines")
