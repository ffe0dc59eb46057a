"""Figures: `draw` composes panels (`panel.py`) into one figure of a kind, several surfaces side
by side on one shared colour scale and colorbar (1-D: overlaid in one axes), with the notes below
and the labels placed last; with `ax=`, it draws one panel into a caller's axes instead. Also
the spectral density's figure.

Figures are `matplotlib.figure.Figure` objects, never pyplot's: they render headless and in
notebooks, and nothing global changes.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, overload

import matplotlib as mpl
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.text import Text
from numpy.typing import ArrayLike

from landscape.errors import LandscapeError
from landscape.plot.artists import barcode_handles, line_legend, spectral_density, to_scale
from landscape.plot.labels import legend_below, separate_corner_ticks, settle
from landscape.plot.options import FIGURES, Kind, PlotOptions, choice
from landscape.plot.panel import (Drawing, barcode_notes, barcode_panel, check_levels, colorbar, draw_into, line_panel,
                                  plane_notes, plane_panel, topologies)
from landscape.plot.scales import scale_of
from landscape.plot.style import STYLE
from landscape.plot.surfaces import check_kind, metric_values, note_lines, progress_notes, stem_of
from landscape.store import Surface


@overload
def draw(surfaces: Surface | Sequence[Surface], kind: Kind | str, options: PlotOptions = ...,
         ax: None = None, *, labels: bool = True) -> Figure: ...


@overload
def draw(surfaces: Surface | Sequence[Surface], kind: Kind | str, options: PlotOptions = ...,
         ax: Axes = ..., *, labels: bool = True) -> Drawing: ...


def draw(surfaces: Surface | Sequence[Surface], kind: Kind | str, options: PlotOptions = PlotOptions(),
         ax: Axes | None = None, *, labels: bool = True) -> Figure | Drawing:
    """One figure of `kind` (contour, filled, heatmap, surface, line or barcode). Several surfaces
    go side by side in one row on one shared color scale and one colorbar (1-D: one axes).

    With `ax`, the kind is drawn into that axes instead (a 3-D one for "surface") and `draw`
    returns the `Drawing`: its artist, colour scale, colorbar, hatching, tracks, legend, notes
    (drawn under the axes) and labels. One surface per axes (several 1-D ones overlay). The
    labels are placed for the figure's layout at that moment; `labels` False leaves them to
    `Drawing.place_labels()`, to call once the figure is complete."""
    ss = [surfaces] if isinstance(surfaces, Surface) else list(surfaces)
    kind = choice(Kind, kind, "plot kind", "kinds")
    if kind not in FIGURES:
        raise LandscapeError(f"{kind.value} is a file export or a set of kinds, not a figure; use render_file"
                             + (" or export.write_vtk" if kind is Kind.vtk else ""), field="kinds")
    check_kind(ss, kind, options)
    with mpl.rc_context(dict(STYLE.rc)):
        if ax is not None:
            return draw_into(ax, ss, kind, options, labels)
        if kind is Kind.line:
            return _line_figure(ss, options)
        if kind is Kind.barcode:
            return _barcode_figure(ss, options)
        return _plane_figure(ss, kind, options)


def _plane_figure(ss: list[Surface], kind: Kind, o: PlotOptions) -> Figure:
    n = len(ss)
    named = [metric_values(s, o) for s in ss]
    everything = np.ma.concatenate([z.ravel() for _, z in named])
    scale = scale_of(everything, named[0][0], o)
    check_levels(scale, kind, o)
    equal = all(to_scale(s.x, s.y) for s in ss)
    is3d = kind is Kind.surface
    w, h = STYLE.size_3d if is3d else STYLE.size_2d
    if not is3d:  # a wide plane gets a lower figure, not white space
        ratio = max(float(np.ptp(s.y) / np.ptp(s.x)) if np.ptp(s.x) > 0 else 1.0 for s in ss)
        ratio = ratio if equal else min(max(ratio, 1 / 1.8), 1.8)
        h = min(h, max(2.4, (w - 1.2) * ratio + 1.1))
    fig = Figure(figsize=o.size or (w * n, h), dpi=o.dpi, layout="constrained")
    axes = [fig.add_subplot(1, n, k + 1, projection="3d" if is3d else None) for k in range(n)]
    notes = plane_notes(ss, everything, kind, scale, equal)
    drawings = [plane_panel(ax, s, z, kind, o, scale, equal, str(s.attrs.get("title") or stem_of(s)) if n > 1 else None)
                for ax, s, (_, z) in zip(axes, ss, named)]
    handles: dict[str, Any] = {}
    for d in drawings:
        for track in d.tracks:
            handles.update((hd.get_label(), hd) for hd in track.handles)
            notes += track.notes
    cbar = colorbar(drawings[-1], axes)
    for d in drawings:
        d.colorbar = cbar
    if o.title:
        fig.suptitle(textwrap.fill(o.title, width=int(9 * fig.get_figwidth())))
    note = _note(fig, ss, notes)
    if o.size is None and not is3d:
        _fit(fig, axes)
    if handles:
        legend_below(axes[0], list(handles.values()))
    _rewrap(fig, note)
    if is3d:
        for ax in axes:
            separate_corner_ticks(ax)
    if any(d.pending for d in drawings) or kind is Kind.contour:  # the layout is final: place the labels, tracks' first
        renderer = settle(fig)
        for d in drawings:
            d.place_track_labels(renderer)
        for d in drawings:
            d.place_contour_labels(renderer)
    return fig


def _fit(fig: Figure, axes: Sequence[Axes]) -> None:
    """Trim the figure to its equal-aspect axes: a wide plane gets a lower figure (a tall one a
    narrower), not white space, and the colorbar stays as tall as the axes."""
    tall = any(np.ptp(a.get_ylim()) > 1.05 * np.ptp(a.get_xlim()) for a in axes)
    fig.draw_without_rendering()
    spare_h = min(a.get_position(original=True).height - a.get_position().height for a in axes)
    spare_w = min(a.get_position(original=True).width - a.get_position().width for a in axes)
    w, h = fig.get_size_inches()
    if spare_h * h > 0.03:
        fig.set_figheight(max(1.8, h - 0.97 * spare_h * h))
    elif tall and spare_w * w > 0.03:
        fig.set_figwidth(max(2.0, w - 0.97 * spare_w * w * len(axes)))
        renderer = settle(fig)  # but not so narrow that an axis label is cut off
        left = min(a.get_tightbbox(renderer).x0 for a in axes)
        need = max(a.get_position().x0 * fig.bbox.width - left + a.xaxis.label.get_window_extent(renderer).width
                   for a in axes) + 12
        if need > fig.bbox.width:
            fig.set_figwidth(min(w, need / fig.dpi))


@dataclass
class _Note:
    """The small print below a figure: its text and the lines it wraps."""

    text: Text
    lines: list[str]


def _note(fig: Figure, ss: Sequence[Surface], extra: Sequence[str] = ()) -> _Note | None:
    """Small print below the figure: the files' `note` attributes (e.g. "PCA directions, not
    filter-normalized") and what the figure leaves out or distorts, one line each (wrapped)."""
    lines = note_lines(ss, extra)
    if not lines:
        return None
    note = _Note(fig.supxlabel("\n".join(lines), fontsize=STYLE.note_size, color="dimgray", gid="note"), lines)
    _rewrap(fig, note)
    return note


def _rewrap(fig: Figure, note: _Note | None) -> None:
    """Wrap the note to the figure's current width (it may have been trimmed to the axes)."""
    if note is not None:
        width = max(24, int(fig.get_figwidth() * 72 * 0.92 / (0.56 * STYLE.note_size)))
        note.text.set_text("\n".join(textwrap.fill(n, width=width, break_on_hyphens=False) for n in note.lines))


def _line_figure(ss: list[Surface], o: PlotOptions) -> Figure:
    fig = Figure(figsize=o.size or STYLE.size_line, dpi=o.dpi, layout="constrained")
    ax = fig.add_subplot()
    d = line_panel(ax, ss, o)
    _note(fig, ss, progress_notes(ss, hatched=True))
    if o.title:
        ax.set_title(o.title)
    line_legend(d.artist)
    return fig


def _barcode_figure(ss: list[Surface], o: PlotOptions) -> Figure:
    tops = topologies(ss, o)
    bars = max(min(len(t.basins), STYLE.max_bars) for _, t, _ in tops)
    n = len(ss)
    fig = Figure(figsize=o.size or (STYLE.size_2d[0] * n, min(4.8, max(2.2, 1.5 + 0.14 * bars))), dpi=o.dpi,
                 layout="constrained")
    axes = fig.subplots(1, n, sharex=True, squeeze=False)[0]
    highest = max(t for _, _, t in tops)
    for ax, s, (name, topology, _) in zip(axes, ss, tops):
        barcode_panel(ax, name, topology, highest, o, stem_of(s) if n > 1 else None)
    if o.title:
        fig.suptitle(textwrap.fill(o.title, width=int(9 * fig.get_figwidth())))
    _note(fig, ss, barcode_notes(ss))
    legend_below(axes[0], barcode_handles(float(tops[0][1].threshold)))
    return fig


def density_figure(grid: ArrayLike, density: ArrayLike, eigenvalues: ArrayLike | None = None,
                   title: str | None = None) -> Figure:
    """A figure of `spectral_density`."""
    with mpl.rc_context(dict(STYLE.rc)):
        fig = Figure(figsize=STYLE.size_line, layout="constrained")
        spectral_density(grid, density, fig.add_subplot(), eigenvalues)
        if title:
            fig.suptitle(title)
        return fig
