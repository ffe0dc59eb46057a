"""One surface drawn into one axes: the kind's artist on the figure's colour scale, the hatching
of points not computed or diverged, the tracks, the axis labels, and the notes; returned as a
`Drawing`, so that a caller (or a test) can reach every artist without searching the axes.

The figure-level `draw` composes panels (one per surface, one shared colour scale and colorbar,
the notes below the figure); `draw(..., ax=ax)` draws one panel into a caller's axes with its own
colorbar, legend and notes (`draw_into`). Labels are placed last, once the layout is final
(`Drawing.place_labels`).
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.colorbar import Colorbar
from matplotlib.colors import BoundaryNorm
from matplotlib.legend import Legend
from matplotlib.lines import Line2D
from matplotlib.text import Annotation, Text
from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator

from landscape.errors import LandscapeError, arg
from landscape.export.clip import drawable
from landscape.export.html import LIFT, bilinear
from landscape.plot.artists import (barcode, barcode_handles, contour, filled, heatmap, line, line_legend,
                                    mark_missing, mark_missing_1d, surface3d, to_scale, z_ticks)
from landscape.plot.labels import (PointLabel, anchor_below, label_contours, legend_below, note_below, place_labels, root,
                                   separate_corner_ticks, settle)
from landscape.plot.options import Kind, PlotOptions
from landscape.plot.scales import Scale, extend_for, fmt_value, loss_axis, percent, scale_of, value_label
from landscape.plot.style import POINT, STYLE, Style, current as STYLE_NOW, using
from landscape.plot.surfaces import blanks, metric_values, note_lines, progress_notes, stem_of
from landscape.plot.tracks import TrackDrawing, draw_track, draw_track_3d, overlay_track
from landscape.store import Surface


@dataclass
class Drawing:
    """What `draw(..., ax=ax)` drew into one axes (the figure-level `draw` composes these).

    `artist` is the kind's own: a QuadContourSet (contour, filled), a QuadMesh (heatmap), a
    Poly3DCollection (surface), a BarContainer (barcode), or the list of Line2D (line: loss, and
    accuracy on a twin axis). Labels wait in the tracks until `place_labels`, which puts them,
    then the contour values, where they collide with nothing in the layout of that moment."""

    ax: Axes
    kind: Kind
    artist: Any = None
    scale: Scale | None = None  # the colour scale (levels, norm, clip height); None for line and barcode
    hatched: list[Any] = field(default_factory=list)  # gid "missing" (not computed) and "diverged"
    tracks: list[TrackDrawing] = field(default_factory=list)  # trajectories and marked models
    colorbar: Colorbar | None = None
    legend: Legend | None = None
    notes: list[str] = field(default_factory=list)  # what the panel leaves out or distorts
    note: Annotation | None = None  # the notes as drawn under the axes (axes-level only)
    contour_labels: list[Text] = field(default_factory=list)
    track_labels: list[Annotation] = field(default_factory=list)
    topology: Any = None  # the barcode's `basins.topology`
    placed: set[str] = field(default_factory=set)  # "tracks", "contours": labels placed already (once only)
    style: Style | None = None  # the look it was drawn in: labels placed later are placed in it too

    @property
    def handles(self) -> list[Any]:
        """Legend entries of the tracks: one per training run when there are several."""
        return list({h.get_label(): h for t in self.tracks for h in t.handles}.values())

    @property
    def pending(self) -> list[PointLabel]:
        """The tracks' labels, to place once the layout is final."""
        return [label for t in self.tracks for label in t.labels]

    def place_track_labels(self, renderer: Any = None) -> None:
        """Place the tracks' labels (once; see `place_labels`)."""
        if "tracks" not in self.placed:
            self.placed.add("tracks")
            with using(self.style or STYLE_NOW()):
                self.track_labels += place_labels(self.ax, self.pending, renderer)

    def place_contour_labels(self, renderer: Any = None) -> None:
        """Label the contour lines with their values (once; see `place_labels`)."""
        if self.kind is Kind.contour and self.scale is not None and "contours" not in self.placed:
            self.placed.add("contours")
            with using(self.style or STYLE_NOW()):
                self.contour_labels += label_contours(self.artist, fmt=self.scale.fmt, renderer=renderer)

    def place_labels(self, renderer: Any = None) -> None:
        """Place the tracks' labels, then the contour values, for the figure's current layout
        (`renderer`: from a draw of it; by default the figure is drawn to settle it). Once only:
        a second call changes nothing."""
        waiting = (self.pending and "tracks" not in self.placed) or (
            self.kind is Kind.contour and "contours" not in self.placed)
        if waiting:
            if renderer is None and self.legend is not None and self.legend.axes is self.ax:
                anchor_below(self.ax, self.legend)  # the caller may have added to the figure since
            renderer = renderer or settle(root(self.ax))
            self.place_track_labels(renderer)
            self.place_contour_labels(renderer)


# ---------------------------------------------------------------- names, titles and the key


def shared_name(names: list[str]) -> str:
    """The value's name for an axis or colorbar over several surfaces: theirs when they agree,
    else the quantity they share ("train_loss" and "test_loss": "loss")."""
    if len(set(names)) == 1:
        return names[0]
    kinds = {n.rpartition("_")[2] if n.endswith(("_loss", "_acc")) else n for n in names}
    return kinds.pop() if len(kinds) == 1 else names[0]


def surface_name(ss: list[Surface], k: int, o: PlotOptions) -> str:
    """What a panel title or legend calls surface k: `labels[k]`, or its title or file stem, with
    its split when the surfaces' splits differ and the name does not say it."""
    s = ss[k]
    if o.labels is not None and k < len(o.labels):
        return o.labels[k]
    name = str(s.attrs.get("title") or stem_of(s))
    splits = [str(t.attrs.get("split") or "train") for t in ss]
    split = splits[k]
    if len(set(splits)) > 1 and split not in name:
        name = f"{name} ({split})"
    return name


def panel_title(ss: list[Surface], k: int, o: PlotOptions) -> str:
    """The title of panel k of a comparison (see `surface_name`)."""
    return surface_name(ss, k, o)


def wrapped(text: str, inches: float, size: float) -> str:
    """`text` wrapped to lines of about `inches` at font `size` (points)."""
    return textwrap.fill(text, width=max(12, int(inches * 72 / (0.55 * size))), break_on_hyphens=False)


def key_handles(drawings: list[Drawing], o: PlotOptions, partial: bool = False) -> list[Line2D]:
    """The key to the marks of a 2-D figure: what the star and the dot are ("lowest loss on this
    plane", "model"), for those drawn; `partial`: not every point is computed ("lowest computed
    loss")."""
    gids = {ln.get_gid() for d in drawings for ln in d.ax.lines}
    keys = []
    if "best" in gids:
        best = drawings[0].scale.best if drawings[0].scale is not None else "min"
        what = "accuracy" if o.metric.value == "acc" else "loss"
        text = (f"{'lowest' if best == 'min' else 'highest'} {'computed ' if partial else ''}{what}"
                f"{'' if partial else ' on this plane'}")
        keys.append(Line2D([], [], marker="*", ms=STYLE.star_size, color=STYLE.best_color, label=text, gid="key-best",
                           **(POINT | {"mec": STYLE.paper})))
    if "origin" in gids and "models" not in gids:
        keys.append(Line2D([], [], marker="o", ms=STYLE.origin_size, color=STYLE.ink, label="model", gid="key-origin",
                           **(POINT | {"mec": STYLE.paper})))
    return keys


# ---------------------------------------------------------------- panels (drawn, labels not placed)


def plane_notes(ss: list[Surface], everything: np.ma.MaskedArray, kind: Kind, scale: Scale, equal: bool,
                o: PlotOptions = PlotOptions()) -> list[str]:
    """What a contour, filled, heatmap or 3-D figure of these surfaces leaves out or distorts:
    points not computed or diverged, the clipped share of a 3-D surface, unequal axes, what the
    star marks in a partial file."""
    is3d = kind is Kind.surface
    notes = progress_notes(ss, hatched=not is3d)
    if is3d:
        over = int((everything > scale.cap).sum())
        if over:
            shown = scale.fmt(scale.cap)
            notes.append(f"clipped above z = {shown}{' (' + scale.label + ')' if scale.log else ''}: {over} of "
                         f"{everything.count()} points ({percent(over / everything.count())}) left out")
        if o.smooth and not all(drawable(s.metric(o.metric.value)[1]).all() for s in ss):
            notes.append("no smooth mesh: some points are not computed or not finite")
    elif not equal:
        notes.append("axes not to scale")
    return notes


def check_levels(scale: Scale, kind: Kind, o: PlotOptions) -> None:
    """Raise LandscapeError if a contour or filled figure would have no level inside the data."""
    if len(scale.levels) == 0 and kind in (Kind.contour, Kind.filled):
        raise LandscapeError(f"no contour level falls inside the data ({scale.lo:.3g} to {scale.hi:.3g}"
                             f"{', log10' if o.log else ''}); widen {arg('vmin')}/{arg('vmax')}", field="vmin")


def plane_panel(ax: Axes, s: Surface, z: np.ma.MaskedArray, kind: Kind, o: PlotOptions, scale: Scale, equal: bool,
                title: str | None = None) -> Drawing:
    """A contour, filled, heatmap or 3-D panel of `s` (its values z) on `scale`: hatching, tracks
    (labels not yet placed) and axis labels; no colorbar, legend or notes."""
    is3d = kind is Kind.surface
    d = Drawing(ax, kind, scale=scale)
    if kind is Kind.contour:
        d.artist = contour(s.x, s.y, z, ax, scale.levels, scale.norm, scale.cmap, scale.best, o.log, labels=False)
    elif kind is Kind.filled:
        d.artist = filled(s.x, s.y, z, ax, scale.levels, scale.norm, scale.cmap, scale.best,
                          scale.extend if len(scale.levels) > 1 else None)
    elif kind is Kind.heatmap:
        d.artist = heatmap(s.x, s.y, z, ax, scale.norm, scale.cmap, scale.best)
    else:
        d.artist = surface3d(s.x, s.y, z, ax, scale.cap, o.elev, o.azim, scale.cmap, scale.norm3d, o.smooth)
        ax.set_zlabel(scale.label)
        if o.log:
            loss_axis(ax.zaxis, scale.norm3d.vmin, scale.norm3d.vmax)
            ticks = ax.zaxis.get_major_locator()()
            if len(ticks) > z_ticks(STYLE.elev if o.elev is None else o.elev):
                ax.zaxis.set_major_locator(FixedLocator(ticks[::2]))
        grid = z.filled(np.nan)
        lift = LIFT * float(scale.norm3d.vmax - scale.norm3d.vmin)
        d.tracks = [draw_track_3d(ax, track, lambda px, py: bilinear(s.x, s.y, grid, px, py), name, o.epoch_labels,
                                  scale.cap, lift) for name, track in s.tracks.items()]
    if not is3d:
        if not equal:
            ax.set_aspect("auto")
        v = s.metric(o.metric.value)[1]
        if not s.computed.all() or not drawable(v[s.computed]).all():
            d.hatched = mark_missing(ax, s.x, s.y, s.computed, drawable(v), cells=kind is Kind.heatmap)
        d.tracks = [draw_track(ax, track, name, o.epoch_labels) for name, track in s.tracks.items()]
    xl, yl = (str(given or s.attrs.get(k) or default) for given, k, default in
              ((o.xlabel, "xlabel", "direction 1"), (o.ylabel, "ylabel", "direction 2")))
    if is3d:  # 3-D axis labels run along the box edges: keep them short
        xl, yl = textwrap.fill(xl, 24), textwrap.fill(yl, 24)
        if ax.figure.get_figwidth() < 4.0:  # a column's width: fewer ticks, so that the labels stay clear
            ax.xaxis.set_major_locator(MaxNLocator(2, steps=[1, 2, 5, 10]))
            ax.yaxis.set_major_locator(MaxNLocator(2, steps=[1, 2, 5, 10]))
        ax.set_box_aspect(None, zoom=0.92)
    pad = {"labelpad": (6 + 3 * max(xl.count("\n"), yl.count("\n"))) * STYLE.scale} if is3d else {}  # clear the ticks
    ax.set_xlabel(xl, **pad)
    ax.set_ylabel(yl, **pad)
    if title is not None:
        ax.set_title(title)
    return d


def colorbar(d: Drawing, axes: list[Axes]) -> Colorbar | None:
    """The colorbar of a filled or heatmap panel (or of several contour panels), beside `axes`,
    in the metric's units; None where the kind has none (a single contour map: its lines are
    labelled; the 3-D surface)."""
    scale, kind = d.scale, d.kind
    assert scale is not None
    if not (kind in (Kind.heatmap, Kind.filled) or (kind is Kind.contour and len(axes) > 1)):
        return None
    extend = None if isinstance(scale.norm, BoundaryNorm) or kind is not Kind.heatmap else \
        extend_for(np.array([scale.norm.vmin, scale.norm.vmax]), scale.lo, scale.hi)
    cbar = d.ax.figure.colorbar(d.artist, ax=axes, label=scale.label, spacing=scale.spacing,
                                **({"extend": extend} if extend else {}))
    if scale.log:
        loss_axis(cbar.ax.yaxis, *sorted(cbar.ax.get_ylim()))
    elif scale.spacing == "uniform":  # log-spaced levels: each written as people write it (0.05, not 0.050)
        cbar.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: fmt_value(v)))
    return cbar


LINE_STYLES = ("-", "--", ":", "-.")  # one per split or file, as the paper's solid train and dashed test curves


def line_panel(ax: Axes, ss: list[Surface], o: PlotOptions) -> Drawing:
    """The 1-D surfaces' loss (blue, left axis) and accuracy (red, twin right axis) in one axes,
    as the paper draws them: one line style per split (or file), the legend saying which; axes
    named by the quantity they share. Over the whole grid, with the stretches not computed
    hatched grey, diverged points red, and the marked models as labelled vertical lines; no
    legend or notes drawn (`Drawing.notes` holds what the curves leave out)."""
    d = Drawing(ax, Kind.line, artist=[])
    twin = None
    marked: set[tuple[Any, ...]] = set()
    many = len(ss) > len(LINE_STYLES)
    loss_names = [s.metric("loss")[0] for s in ss]
    acc_names = [next((n for n in s.values if n.endswith("_acc")), None) for s in ss]
    loss_axis_label = value_label(shared_name(loss_names))
    acc_axis_label = value_label(shared_name([n for n in acc_names if n] or ["_acc"]))
    for k, s in enumerate(ss):
        name, loss = s.metric("loss")
        acc_name = acc_names[k]
        if len(ss) == 1:
            entries = (value_label(name), value_label(acc_name or "_acc"))
        else:
            who = surface_name(ss, k, o)
            entries = (f"{who}: loss", f"{who}: accuracy")
        lines = line(s.x, loss, s.values[acc_name] if acc_name else None, ax, twin=twin, log=o.log,
                     color=f"C{k}" if many else None, acc_color=f"C{k}" if many else None,
                     ls=LINE_STYLES[k % len(LINE_STYLES)], loss_label=loss_axis_label, acc_label=acc_axis_label,
                     entries=entries, legend=False)
        twin = lines[-1].axes if len(lines) > 1 else twin
        d.artist += lines
        finite = drawable(loss)
        if not s.computed.all() or not finite[s.computed].all():
            d.hatched += mark_missing_1d(ax, s.x, s.computed, finite)
        for track in s.tracks.values():
            key = (tuple(track.names), tuple(np.round(np.asarray(track.x, dtype=np.float64), 12)))
            if key in marked:  # the same models in another file of the comparison: marked once
                continue
            marked.add(key)
            drawn = overlay_track(ax, track, vertical=True)
            d.tracks.append(TrackDrawing([a for a in drawn if not isinstance(a, Annotation)], [], [], []))
            d.track_labels += [a for a in drawn if isinstance(a, Annotation)]
        if str(s.attrs.get("dir_type", "")) == "states" and (s.computed & ~finite).any():
            d.notes.append(f"{stem_of(s) + ': ' if len(ss) > 1 else ''}diverged points: with "
                           "interpolated states, BatchNorm's running variances can fall below zero beyond the "
                           "models (x < 0 or x > 1)")
    lo = min(float(np.min(s.x)) for s in ss)
    hi = max(float(np.max(s.x)) for s in ss)
    pad = 0.02 * (hi - lo or 1.0)
    ax.set_xlim(lo - pad, hi + pad)  # the whole grid, computed or not
    if o.vmin is not None or o.vmax is not None:
        ax.set_ylim(o.vmin, o.vmax)
    ax.set_xlabel(str(o.xlabel or ss[0].attrs.get("xlabel") or "x"))
    if o.ylabel:
        ax.set_ylabel(o.ylabel)
    return d


def topologies(ss: list[Surface], o: PlotOptions) -> list[tuple[str, Any, float]]:
    """(the loss's name, its `basins.topology`, its largest drawable value) of each surface."""
    from landscape import basins

    tops = []
    for s in ss:
        name, v = s.metric("loss")
        z = np.where(s.computed & drawable(v), v, np.nan)  # as the other figures: huge values count as diverged
        if not np.isfinite(z).any():
            raise LandscapeError(f"{s.name}: no computed points to plot ({blanks(s) or 'every value is inf or NaN'})")
        tops.append((name, basins.topology(z, o.threshold), float(np.nanmax(z))))
    return tops


def barcode_panel(ax: Axes, name: str, topology: Any, top: float, o: PlotOptions, title: str | None = None) -> Drawing:
    """The barcode of one surface's basins (`topologies`), its bars up to `top`; `title` goes above
    the caption. No legend or notes."""
    bars = barcode(topology, ax, label=value_label(name), log=o.log, legend=False, top=top)
    if title is not None:
        ax.set_title(f"{title}\n{ax.get_title(loc='left')}", loc="left", fontsize=STYLE.note_size + 1)
    return Drawing(ax, Kind.barcode, artist=bars, topology=topology)


def barcode_notes(ss: list[Surface]) -> list[str]:
    """What a barcode leaves out: the points not computed (its basins are of the computed ones)."""
    notes = progress_notes(ss, hatched=False)
    if notes:
        notes.append("basins of the computed points only")
    return notes


# ---------------------------------------------------------------- one panel in a caller's axes


def draw_into(ax: Axes, ss: list[Surface], kind: Kind, o: PlotOptions, labels: bool = True) -> Drawing:
    """`draw(..., ax=ax)`: one surface (several overlaid for `line`) drawn into `ax`, complete with
    its colorbar, legend and notes under the axes; `labels` False leaves the labels to
    `Drawing.place_labels` once the caller's figure is complete."""
    if len(ss) > 1 and kind is not Kind.line:
        raise LandscapeError(f"one axes holds one surface of kind {kind.value}; draw each into its own axes, or leave "
                             f"out {arg('ax')} for a figure of them side by side", field="ax")
    is3d = getattr(ax, "name", "") == "3d"
    if (kind is Kind.surface) != is3d:
        need = "3-D axes (projection='3d')" if kind is Kind.surface else "2-D axes"
        raise LandscapeError(f"a {kind.value} panel needs {need}; got {'3-D' if is3d else '2-D'} axes", field="ax")
    if STYLE.dark:  # the caller's axes, in the dark theme's colours (its figure stays the caller's)
        ax.set_facecolor(STYLE.paper)
    if kind is Kind.line:
        d = line_panel(ax, ss, o)
        if o.title:
            ax.set_title(o.title)
        d.legend = line_legend(d.artist)
        d.notes = note_lines(ss, progress_notes(ss, hatched=True) + d.notes)
    elif kind is Kind.barcode:
        ((name, topology, top),) = topologies(ss, o)
        d = barcode_panel(ax, name, topology, top, o, title=o.title)
        d.legend = legend_below(ax, barcode_handles(float(topology.threshold), [topology]))
        d.notes = note_lines(ss, barcode_notes(ss))
    else:
        (s,) = ss
        name, z = metric_values(s, o)
        scale = scale_of(z.ravel(), name, o, bool(s.tracks))
        check_levels(scale, kind, o)
        equal = to_scale(s.x, s.y)
        d = plane_panel(ax, s, z, kind, o, scale, equal)
        d.colorbar = colorbar(d, [ax])
        if o.title:
            ax.set_title(o.title)
        keys = d.handles + key_handles([d], o, not s.computed.all())
        if keys:
            d.legend = legend_below(ax, keys)
        d.notes = note_lines(ss, plane_notes(ss, z.ravel(), kind, scale, equal, o)
                             + [n for t in d.tracks for n in t.notes])
    d.note = note_below(ax, d.notes, d.legend) if o.notes else None
    d.style = STYLE_NOW()
    if is3d:
        separate_corner_ticks(ax)
    if labels:
        d.place_labels()
    return d
