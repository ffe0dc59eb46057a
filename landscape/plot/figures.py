"""Figures: `draw` composes panels (`panel.py`) into one figure of a kind, several surfaces side
by side on one shared colour scale and colorbar (1-D: overlaid in one axes), with a key to the
marks below and the labels placed last; with `ax=`, it draws one panel into a caller's axes
instead. Also the spectral density's figure.

What a figure leaves out or distorts (its notes) goes to its caption (`caption_of`; `render`
writes it beside the image as plain text and LaTeX), and onto the image only with
`PlotOptions.notes`. Every figure is drawn in its look (`style.look`: fonts and markers scaled
with the figure, theme, typeface), recorded on it for saving (`made_of`).

Figures are `matplotlib.figure.Figure` objects, never pyplot's: they render headless and in
notebooks, and nothing global changes.
"""

from __future__ import annotations

import textwrap
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, overload

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.transforms import Bbox
from numpy.typing import ArrayLike

from landscape.errors import LandscapeError
from landscape.plot.artists import barcode_handles, line_legend, spectral_density, to_scale
from landscape.plot.labels import fit_axis_labels, key_below, legend_below, separate_corner_ticks, settle
from landscape.plot.options import FIGURES, Kind, PlotOptions, choice
from landscape.plot.panel import (Drawing, barcode_notes, barcode_panel, check_levels, colorbar, draw_into, key_handles,
                                  line_panel, panel_title, shared_name, surface_name, plane_notes, plane_panel, topologies)
from landscape.plot.scales import fmt_value, scale_of, value_label
from landscape.plot.style import BASE, STYLE, Style, look, using
from landscape.plot.surfaces import check_kind, check_labels, metric_values, note_lines, progress_notes, stem_of
from landscape.store import Surface


@dataclass
class Made:
    """What `draw` records on a figure it makes (`made_of`): its look, for saving it the same way,
    and its notes, for the caption."""

    style: Style
    notes: list[str]
    transparent: bool = False
    caption: str = ""  # what the figure shows, its key and its notes, as plain text


KEY_WORDS = {"key-best": "star", "key-origin": "dot"}  # the key's entries, by the gid `key_handles` gives them
WHAT = {Kind.contour: "Contour lines", Kind.filled: "Filled contours", Kind.heatmap: "Heatmap (one cell per point)",
        Kind.surface: "3-D surface", Kind.line: "1-D plot", Kind.barcode: "Persistence barcode of the basins"}


def caption_text(ss: Sequence[Surface], kind: Kind, o: PlotOptions, notes: Sequence[str], keys: Sequence[str] = (),
                 levels: str = "") -> str:
    """A figure's caption: what it shows, over which plane and grid, its key, and its notes."""
    s = ss[0]
    name = shared_name([t.metric(o.metric.value)[0] for t in ss]) if kind is not Kind.barcode else s.metric("loss")[0]
    what = f"{WHAT[kind]} of the {value_label(name, o.log)}"
    if s.is_2d:
        xl, yl = (str(v or s.attrs.get(k) or d) for v, k, d in ((o.xlabel, "xlabel", "direction 1"),
                                                                (o.ylabel, "ylabel", "direction 2")))
        grid = (f" over x = {xl} ({fmt_value(float(np.min(s.x)))} to {fmt_value(float(np.max(s.x)))}) and "
                f"y = {yl} ({fmt_value(float(np.min(s.y)))} to {fmt_value(float(np.max(s.y)))}), "
                f"{len(s.x)} x {len(s.y)} points")
    else:
        xl = str(o.xlabel or s.attrs.get("xlabel") or "x")
        grid = f" along {xl} ({fmt_value(float(np.min(s.x)))} to {fmt_value(float(np.max(s.x)))}), {len(s.x)} points"
    if len(ss) > 1:
        grid += "; " + ", ".join(surface_name(list(ss), k, o) for k in range(len(ss)))
    parts = [what + grid + "."]
    if levels:
        parts.append(levels)
    if keys:
        parts.append("; ".join(keys).capitalize() + ".")
    parts += [n.rstrip(".") + "." for n in notes]
    return " ".join(parts)


def latex(text: str) -> str:
    """Plain text as LaTeX source: special characters escaped, $...$ (mathtext, e.g. a label
    given as `$\\delta$`) kept as math."""
    parts = text.split("$")
    if len(parts) % 2 == 1 and len(parts) > 1:  # balanced: every other part is math
        return "".join(f"${p}$" if k % 2 else latex(p) for k, p in enumerate(parts))
    table = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
             "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "×": r"$\times$", "≤": r"$\le$",
             "≥": r"$\ge$", "±": r"$\pm$", "θ": r"$\theta$", "η": r"$\eta$", "λ": r"$\lambda$"}
    return "".join(table.get(ch, ch) for ch in text)


def made_of(fig: Figure) -> Made:
    """The record `draw` left on a figure (the base look and no notes for any other figure)."""
    return _MADE.get(fig) or Made(BASE, [])


_MADE: weakref.WeakKeyDictionary[Figure, Made] = weakref.WeakKeyDictionary()  # nothing hung on matplotlib's objects


def figure_notes(fig: Figure) -> list[str]:
    """The notes of a figure made by `draw`: what it leaves out or distorts, one line each (on
    the image only with `PlotOptions.notes`; always in its caption)."""
    return list(made_of(fig).notes)


def reference_size(kind: Kind, n: int = 1) -> tuple[float, float]:
    """The size (inches) a kind's figure of n panels is designed at: its look is the base look
    there, and scales with the figure elsewhere."""
    if kind is Kind.surface:
        return STYLE.size_3d[0] * n, STYLE.size_3d[1]
    if kind is Kind.line:
        return STYLE.size_line
    return STYLE.size_2d[0] * n, STYLE.size_2d[1]


def planned_size(o: PlotOptions) -> tuple[float, float] | None:
    """The size asked for: `size`, or a 16:9 slide in the slide style; None: the kind's own."""
    return o.size or (STYLE.size_slide if o.style.value == "slide" else None)


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
    check_labels(ss, options)
    ref = reference_size(kind, 1 if ax is not None or kind is Kind.line else len(ss))
    style = look(options, ref, ref if ax is not None and not options.fontsize else planned_size(options))
    with using(style):
        if ax is not None:
            return draw_into(ax, ss, kind, options, labels)
        levels, marks = "", []
        if kind is Kind.line:
            fig, notes = _line_figure(ss, options)
        elif kind is Kind.barcode:
            fig, notes = _barcode_figure(ss, options)
        else:
            fig, notes, geometric, marks = _plane_figure(ss, kind, options)
            levels = ("Contour levels are round losses evenly spaced on a log scale."
                      if geometric and kind is not Kind.surface else "")
        text = caption_text(ss, kind, options, notes, marks, levels)
    _MADE[fig] = Made(style, notes, options.transparent, text)
    return fig


def _plane_figure(ss: list[Surface], kind: Kind, o: PlotOptions) -> tuple[Figure, list[str], bool, list[str]]:
    """The figure, its notes, whether its levels are log-spaced, and its key in words ("star: ...")."""
    n = len(ss)
    named = [metric_values(s, o) for s in ss]
    everything = np.ma.concatenate([z.ravel() for _, z in named])
    scale = scale_of(everything, shared_name([name for name, _ in named]), o, any(s.tracks for s in ss))
    check_levels(scale, kind, o)
    equal = all(to_scale(s.x, s.y) for s in ss)
    is3d = kind is Kind.surface
    w, h = STYLE.size_3d if is3d else STYLE.size_2d
    if not is3d:  # a wide plane gets a lower figure, not white space
        ratio = max(float(np.ptp(s.y) / np.ptp(s.x)) if np.ptp(s.x) > 0 else 1.0 for s in ss)
        ratio = ratio if equal else min(max(ratio, 1 / 1.8), 1.8)
        h = min(h, max(2.4, (w - 1.2) * ratio + 1.1))
    size = planned_size(o)
    fig = Figure(figsize=size or (w * n, h), dpi=o.dpi, layout="constrained")
    axes = [fig.add_subplot(1, n, k + 1, projection="3d" if is3d else None) for k in range(n)]
    notes = plane_notes(ss, everything, kind, scale, equal, o)
    drawings = [plane_panel(ax, s, z, kind, o, scale, equal, panel_title(ss, k, o) if n > 1 else None)
                for k, (ax, s, (_, z)) in enumerate(zip(axes, ss, named))]
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
    note = _note(fig, ss, notes) if o.notes else None
    if o.size is None and not is3d:  # the kind's own size, or a slide's height: trimmed to the panels
        _fit(fig, axes)
    keys = [*handles.values(), *key_handles(drawings, o, any(not s.computed.all() for s in ss))]
    if keys:
        key_below(fig, keys)
    if not is3d:
        fit_axis_labels(fig, axes)
        if o.size is None:
            _grow_to_fit(fig)
    _rewrap(fig, note)
    if is3d:
        for ax in axes:
            separate_corner_ticks(ax)
        crop_3d(fig, axes)
    if any(d.pending for d in drawings) or kind is Kind.contour:  # the layout is final: place the labels, tracks' first
        renderer = settle(fig)
        for d in drawings:
            d.place_track_labels(renderer)
        for d in drawings:
            d.place_contour_labels(renderer)
    marks = [f"{KEY_WORDS[k.get_gid()]}: {k.get_label()}" for k in keys if k.get_gid() in KEY_WORDS]
    return fig, note_lines(ss, notes), scale.spacing == "uniform", marks


def _box(ax: Axes, renderer: Any) -> Bbox:
    """What a 3-D axes draws, in pixels: its projected box (panes and surface) and its axes' ticks
    and labels (the axes' own rectangle has blank corners around the box)."""
    from mpl_toolkits.mplot3d import proj3d

    corners = np.array(np.meshgrid(ax.get_xlim3d(), ax.get_ylim3d(), ax.get_zlim3d())).reshape(3, -1)
    px, py, _ = proj3d.proj_transform(*corners, ax.get_proj())
    xy = ax.transData.transform(np.column_stack([px, py]))
    boxes = [Bbox.from_extents(*xy.min(axis=0), *xy.max(axis=0))]
    boxes += [b for b in (a.get_tightbbox(renderer) for a in (ax.xaxis, ax.yaxis, ax.zaxis)) if b is not None]
    return Bbox.union(boxes)


def crop_3d(fig: Figure, axes: Sequence[Axes]) -> None:
    """Let 3-D panels fill their figure: scale and move the axes until what they draw (`_box`),
    with the legend, title and notes, spans the figure less a small margin. The layout is fixed
    from then on (constrained layout would undo it)."""
    renderer = settle(fig)
    fig.set_layout_engine("none")
    pad = 4 * fig.dpi / 72
    for _ in range(3):
        boxes = [_box(ax, renderer) for ax in axes]
        boxes += [a.get_window_extent(renderer) for a in [*fig.legends, *(ax.get_legend() for ax in axes), *fig.texts] if a]
        content = Bbox.union(boxes)
        k = min((fig.bbox.width - 2 * pad) / content.width, (fig.bbox.height - 2 * pad) / content.height, 1.6)
        if abs(k - 1) < 0.01 and abs(content.x0 + content.x1 - fig.bbox.width) < 2 and \
                abs(content.y0 + content.y1 - fig.bbox.height) < 2:
            break
        cx, cy = (content.x0 + content.x1) / 2, (content.y0 + content.y1) / 2
        for ax in axes:
            b = ax.get_position().transformed(fig.transFigure)
            x0, y0 = (b.x0 - cx) * k + fig.bbox.width / 2, (b.y0 - cy) * k + fig.bbox.height / 2
            ax.set_position(Bbox.from_bounds(x0, y0, b.width * k, b.height * k).transformed(fig.transFigure.inverted()))
        renderer = settle(fig)


def _grow_to_fit(fig: Figure) -> None:
    """Widen a figure of automatic size until nothing sticks out at its sides (an equal-aspect
    plane trimmed to its axes can leave a y label a few points outside)."""
    for _ in range(2):
        box = fig.get_tightbbox(settle(fig))
        w = fig.get_figwidth()
        over = max(0.0, -box.x0) + max(0.0, box.x1 - w)
        if over < 0.01:
            return
        fig.set_figwidth(w + over + 0.06)


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
    elif (tall or w > 1.5 * h) and spare_w * w > 0.03:
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
    note = _Note(fig.supxlabel("\n".join(lines), fontsize=STYLE.note_size, color=STYLE.muted, gid="note"), lines)
    _rewrap(fig, note)
    return note


def _rewrap(fig: Figure, note: _Note | None) -> None:
    """Wrap the note to the figure's current width (it may have been trimmed to the axes)."""
    if note is not None:
        width = max(24, int(fig.get_figwidth() * 72 * 0.92 / (0.56 * STYLE.note_size)))
        note.text.set_text("\n".join(textwrap.fill(n, width=width, break_on_hyphens=False) for n in note.lines))


def _line_figure(ss: list[Surface], o: PlotOptions) -> tuple[Figure, list[str]]:
    fig = Figure(figsize=planned_size(o) or STYLE.size_line, dpi=o.dpi, layout="constrained")
    ax = fig.add_subplot()
    d = line_panel(ax, ss, o)
    notes = progress_notes(ss, hatched=True) + d.notes
    if o.notes:
        _note(fig, ss, notes)
    if o.title:
        ax.set_title(o.title)
    line_legend(d.artist)
    return fig, note_lines(ss, notes)


def _barcode_figure(ss: list[Surface], o: PlotOptions) -> tuple[Figure, list[str]]:
    tops = topologies(ss, o)
    bars = max(min(len(t.basins), STYLE.max_bars) for _, t, _ in tops)
    n = len(ss)
    fig = Figure(figsize=planned_size(o) or (STYLE.size_2d[0] * n, min(4.8, max(1.9, 1.55 + 0.16 * bars))),
                 dpi=o.dpi, layout="constrained")
    axes = fig.subplots(1, n, sharex=True, squeeze=False)[0]
    highest = max(t for _, _, t in tops)
    for k, (ax, s, (name, topology, _)) in enumerate(zip(axes, ss, tops)):
        barcode_panel(ax, name, topology, highest, o, panel_title(ss, k, o) if n > 1 else None)
    if o.title:
        fig.suptitle(textwrap.fill(o.title, width=int(9 * fig.get_figwidth())))
    notes = barcode_notes(ss)
    if o.notes:
        _note(fig, ss, notes)
    legend_below(axes[0], barcode_handles(float(tops[0][1].threshold), [t for _, t, _ in tops]))
    fit_axis_labels(fig, axes)
    return fig, note_lines(ss, notes)


def density_figure(grid: ArrayLike, density: ArrayLike, eigenvalues: ArrayLike | None = None,
                   title: str | None = None, options: PlotOptions = PlotOptions(),
                   notes: Sequence[str] = ()) -> Figure:
    """A figure of `spectral_density`, in the look, size and resolution of `options` like every
    figure (`title`, or else `options.title`, above it); `notes` go to its caption."""
    ref = STYLE.size_line
    style = look(options, ref, planned_size(options))
    with using(style):
        fig = Figure(figsize=planned_size(options) or ref, dpi=options.dpi, layout="constrained")
        ax = fig.add_subplot()
        spectral_density(grid, density, ax, eigenvalues)
        if options.xlabel:
            ax.set_xlabel(options.xlabel)
        if options.ylabel:
            ax.set_ylabel(options.ylabel)
        if title or options.title:
            fig.suptitle(title or options.title)
        if options.notes and notes:
            _note(fig, [], notes)
    _MADE[fig] = Made(style, list(notes), options.transparent, " ".join(n.rstrip(".") + "." for n in notes))
    return fig
