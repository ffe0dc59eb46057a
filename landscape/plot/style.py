"""How the figures look: every look-and-feel constant (`STYLE`), and the colours derived from a
colormap so that lines and labels stay legible on white. Run colours are shared with the web
page: `export.colors.RUN_COLORS`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from matplotlib.colors import Colormap, ListedColormap


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
    elev: float = 35.0
    azim: float = -55.0


STYLE = Style()


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


def line_cmap(cmap: Colormap) -> Colormap:
    """The colormap with its light end darkened: contour lines on white stay visible."""
    rgba = cmap(np.linspace(0, 1, 256))
    out = ListedColormap([darkened(c, STYLE.line_luminance) for c in rgba], name=f"{cmap.name}_lines")
    return out
