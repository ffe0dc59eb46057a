"""Texts placed where they collide with nothing: contour values on their lines, names beside
their points, legends and notes below the axes, 3-D tick labels apart at the corner.

Labels are placed in display pixels once the figure's layout is settled: contour values on
their lines, track names beside their points (with a leader line when moved away), each where
it covers no other label, marker, path or (for contour labels) other contour line, and inside
the axes. Whatever is placed later avoids everything placed before.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.contour import QuadContourSet
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.layout_engine import ConstrainedLayoutEngine
from matplotlib.path import Path as MplPath
from matplotlib.patheffects import withStroke
from matplotlib.text import Annotation, Text
from matplotlib.transforms import Bbox
from matplotlib.ticker import FixedLocator

from landscape.plot.scales import fmt_value
from landscape.plot.style import STYLE, legible


def root(artist: Any) -> Figure:
    """The figure an artist is drawn in (the root one, not a subfigure)."""
    try:
        return artist.get_figure(root=True)
    except TypeError:  # matplotlib < 3.10: .figure may be a SubFigure, whose .figure is the root
        return artist.figure.figure


def settle(fig: Figure) -> Any:
    """Settle the layout (constrained layout, equal aspect) and return the renderer that measures text."""
    fig.draw_without_rendering()
    return fig._get_renderer()  # the renderer matplotlib's own clabel measures with


def _text_size(text: str, fontsize: float, fig: Figure, renderer: Any) -> tuple[float, float]:
    bb = Text(0, 0, text, fontproperties=FontProperties(size=fontsize), figure=fig).get_window_extent(renderer)
    return bb.width, bb.height


def _polyline(points: np.ndarray, step: float) -> np.ndarray:
    """Points every `step` pixels along a polyline (k, 2); segments with a non-finite end are gaps."""
    p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if len(p) < 2:
        return p[np.isfinite(p).all(axis=1)]
    a, b = p[:-1], p[1:]
    ok = np.isfinite(a).all(axis=1) & np.isfinite(b).all(axis=1)
    a, b = a[ok], b[ok]
    n = np.maximum(1, np.ceil(np.hypot(*(b - a).T) / step)).astype(int)
    t = np.concatenate([np.arange(k) / k for k in n] + [np.zeros(0)])
    starts = np.repeat(a, n, axis=0)
    return np.concatenate([starts + t[:, None] * np.repeat(b - a, n, axis=0), b])


def _overlaps(box: np.ndarray, boxes: Sequence[np.ndarray]) -> bool:
    if not len(boxes):
        return False
    b = np.asarray(boxes)
    return bool(np.any((b[:, 0] < box[2]) & (b[:, 2] > box[0]) & (b[:, 1] < box[3]) & (b[:, 3] > box[1])))


def _count(box: np.ndarray, boxes: np.ndarray) -> int:
    """How many of `boxes` (k, 4) overlap `box`."""
    b = boxes
    return int(np.count_nonzero((b[:, 0] < box[2]) & (b[:, 2] > box[0]) & (b[:, 1] < box[3]) & (b[:, 3] > box[1])))


def _within(box: np.ndarray, frame: np.ndarray) -> bool:
    return bool(box[0] >= frame[0] and box[1] >= frame[1] and box[2] <= frame[2] and box[3] <= frame[3])


def _in_box(points: np.ndarray, box: np.ndarray) -> np.ndarray:
    return (points[:, 0] > box[0]) & (points[:, 0] < box[2]) & (points[:, 1] > box[1]) & (points[:, 1] < box[3])


def _in_rect(points: np.ndarray, center: np.ndarray, hw: float, hh: float, angle: float) -> bool:
    """Whether any point lies in the rectangle of half sizes (hw, hh) at `center`, rotated by `angle` (rad)."""
    if not len(points):
        return False
    d = points - center
    c, s = math.cos(angle), math.sin(angle)
    return bool(np.any((np.abs(d[:, 0] * c + d[:, 1] * s) < hw) & (np.abs(d[:, 1] * c - d[:, 0] * s) < hh)))


@dataclass
class _Space:
    """What is taken in one axes, in display pixels."""

    frame: np.ndarray  # (4,) x0, y0, x1, y1: where labels may go
    boxes: list[np.ndarray]  # texts and markers
    points: np.ndarray  # (k, 2) samples of drawn paths (tracks, leader lines, vertical marks)

    def free(self, box: np.ndarray) -> bool:
        return _within(box, self.frame) and not _overlaps(box, self.boxes)

    def add_points(self, points: np.ndarray) -> None:
        self.points = np.concatenate([self.points, points.reshape(-1, 2)])


def _taken(ax: Axes, renderer: Any, pad: float) -> _Space:
    """Texts, markers and lines already in `ax` (contour lines are handled by `label_contours`)."""
    px = root(ax).dpi / 72
    frame = np.array(ax.bbox.extents) + np.array([pad, pad, -pad, -pad])
    for t in ax.texts:
        if isinstance(t, Annotation):
            t.update_positions(renderer)  # an annotation is positioned when drawn; this one may not be yet
    boxes = [np.array(Text.get_window_extent(t, renderer).extents)  # text only: a leader line is sampled below
             for t in ax.texts if t.get_visible() and t.get_text()]
    points = [np.zeros((0, 2))]
    for ln in ax.lines:
        if not ln.get_visible():
            continue
        xy = ln.get_transform().transform(np.asarray(ln.get_xydata(), dtype=np.float64))
        if ln.get_marker() not in (None, "", " ", "None", "none"):
            r = ln.get_markersize() * px / 2 + pad
            boxes += [np.array([a - r, b - r, a + r, b + r]) for a, b in xy if np.isfinite(a) and np.isfinite(b)]
        if ln.get_linestyle() not in ("None", "", " ", "none") and ln.get_linewidth() > 0:
            points.append(_polyline(xy, 2 * px))
    for t in ax.texts:
        if isinstance(t, Annotation) and t.arrow_patch is not None and t.xycoords == "data":
            end = np.array(Text.get_window_extent(t, renderer).extents)
            points.append(_polyline(np.array([ax.transData.transform(t.xy), [(end[0] + end[2]) / 2, (end[1] + end[3]) / 2]]),
                                    2 * px))
    return _Space(frame, boxes, np.concatenate(points))


def _components(path: MplPath) -> list[tuple[np.ndarray, bool]]:
    """The connected pieces of a contour path: (vertices (m, 2), closed)."""
    verts, codes = path.vertices, path.codes
    if codes is None:
        return [(verts, False)] if len(verts) > 1 else []
    starts = np.flatnonzero(codes == MplPath.MOVETO).tolist() + [len(codes)]
    out = []
    for a, b in zip(starts[:-1], starts[1:]):
        closed = codes[b - 1] == MplPath.CLOSEPOLY
        v = verts[a:b]
        if closed:
            v = np.concatenate([v[:-1], v[:1]])  # the CLOSEPOLY vertex is a placeholder
        if len(v) > 1:
            out.append((v, bool(closed)))
    return out


@dataclass
class _Line:
    """One connected contour line in display pixels: its vertices and their arc lengths."""

    level: int
    cum: np.ndarray  # (m,) arc length at each vertex
    xy: np.ndarray  # (m, 2) vertices (a closed line repeats its first vertex at the end)
    closed: bool

    @classmethod
    def of(cls, level: int, display: np.ndarray, closed: bool) -> _Line:
        d = display[np.isfinite(display).all(axis=1)]
        cum = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(d, axis=0).T))]) if len(d) else np.zeros(1)
        return cls(level, cum, d if len(d) else np.zeros((1, 2)), closed)

    @property
    def length(self) -> float:
        return float(self.cum[-1])

    def at(self, s: np.ndarray | float) -> np.ndarray:
        """Points at arc lengths `s` (any shape); wraps around a closed line."""
        s = np.asarray(s, dtype=np.float64)
        if self.closed:
            s = np.mod(s, self.length)
        return np.stack([np.interp(s, self.cum, self.xy[:, 0]), np.interp(s, self.cum, self.xy[:, 1])], axis=-1)


@dataclass(frozen=True)
class _Spot:
    """A feasible place for one contour label."""

    line: int
    center: np.ndarray
    box: np.ndarray
    score: float


class _Points:
    """Points sorted by x, for quick "which points lie in this box" queries."""

    def __init__(self, points: np.ndarray, owner: np.ndarray, arc: np.ndarray):
        order = np.argsort(points[:, 0], kind="stable")
        self.points, self.owner, self.arc = points[order], owner[order], arc[order]

    def within(self, box: np.ndarray) -> np.ndarray:
        """Indices of the points inside box (x0, y0, x1, y1)."""
        a, b = np.searchsorted(self.points[:, 0], [box[0], box[2]])
        y = self.points[a:b, 1]
        return a + np.flatnonzero((y > box[1]) & (y < box[3]))


def _labelled(levels: np.ndarray) -> list[float]:
    """Which levels get a label: all of a few, every other of many, about twelve of very many."""
    n = len(levels)
    k = 1 if n <= 10 else 2 if n <= 24 else math.ceil(n / 12)
    return [float(v) for v in levels[::k]]


def label_contours(cs: QuadContourSet, levels: Sequence[float] | None = None,
                   fmt: Callable[[float], str] | None = None, fontsize: float | None = None,
                   renderer: Any = None) -> list[Text]:
    """Label the lines of `cs` with their values where the labels collide with nothing: not with
    each other, with other contour lines, with markers, paths and texts already in the axes, and
    not cut by the axes' edges. A label sits on a straight stretch of its line, which is broken
    under it. Call it when the figure's layout is final (`draw` does): positions are computed for
    the current size. `levels`: which to label (default: all of up to ten, else every other one);
    `fmt`: value -> text (default: up to four significant digits). Returns the labels added; a level
    whose lines have no free stretch stays unlabelled rather than crowd the others. `renderer`:
    one from a draw of the final layout (by default the figure is drawn to settle it)."""
    ax = cs.axes
    fig = root(ax)
    renderer = renderer or settle(fig)
    px = fig.dpi / 72
    size = fontsize or STYLE.label_size
    fmt = fmt or fmt_value
    gap = 1.5 * px
    space = _taken(ax, renderer, gap)
    all_levels = [float(v) for v in cs.levels]
    wanted = _labelled(np.asarray(all_levels)) if levels is None else [v for v in all_levels if v in set(levels)]
    lines = [_Line.of(k, cs.get_transform().transform(v), closed)
             for k, path in enumerate(cs.get_paths()) for v, closed in _components(path)]
    lines = [ln for ln in lines if ln.length > 0]
    if not lines or not wanted:
        return []
    samples = [(ln.at(np.arange(0.0, ln.length, px)), i) for i, ln in enumerate(lines)]  # every pixel
    every = _Points(np.concatenate([p for p, _ in samples]),
                    np.concatenate([np.full(len(p), i) for p, i in samples]),
                    np.concatenate([np.arange(len(p)) * px for p, _ in samples]))
    marks = _Points(space.points, np.zeros(len(space.points), dtype=int), np.zeros(len(space.points)))
    fw, fh = space.frame[2] - space.frame[0], space.frame[3] - space.frame[1]
    spread = 0.3 * min(fw, fh)
    placed: list[tuple[int, np.ndarray]] = []  # (level index, centre)
    boxes = list(space.boxes)

    def spots(i: int, w: float, h: float, away_from: list[np.ndarray], keep_off: float) -> list[_Spot]:
        """Where on line i a label of size (w, h) fits: a straight stretch, inside the frame, on
        nothing taken, crossed by no other line; scored (lower is better)."""
        ln = lines[i]
        if ln.length < w + 2 * gap:
            return []
        step = max(2 * px, w / 5)
        sc = np.arange(0.0, ln.length, step) if ln.closed else np.arange(w / 2 + gap, ln.length - w / 2 - gap, step)
        if not len(sc):
            return []
        window = ln.at(sc[:, None] + np.linspace(-w / 2, w / 2, 9)[None, :])  # (k, 9, 2)
        a, chord = window[:, 0], window[:, -1] - window[:, 0]
        cl = np.maximum(np.hypot(*chord.T), 1e-9)
        bend = np.max(np.abs(chord[:, None, 0] * (window[:, :, 1] - a[:, None, 1])
                             - chord[:, None, 1] * (window[:, :, 0] - a[:, None, 0])), axis=1) / cl
        angle = (np.arctan2(chord[:, 1], chord[:, 0]) + np.pi / 2) % np.pi - np.pi / 2  # upright, as clabel
        c = ln.at(sc)
        hw, hh = w / 2 + gap, h / 2 + gap / 2
        ex = np.abs(np.cos(angle)) * hw + np.abs(np.sin(angle)) * hh
        ey = np.abs(np.sin(angle)) * hw + np.abs(np.cos(angle)) * hh
        box = np.column_stack([c[:, 0] - ex, c[:, 1] - ey, c[:, 0] + ex, c[:, 1] + ey])
        f = space.frame
        ok = ((cl >= 0.8 * w) & (bend <= 0.3 * h) & (box[:, 0] >= f[0]) & (box[:, 1] >= f[1])
              & (box[:, 2] <= f[2]) & (box[:, 3] <= f[3]))
        if boxes:
            b = np.asarray(boxes)
            ok &= ~np.any((b[None, :, 0] < box[:, None, 2]) & (b[None, :, 2] > box[:, None, 0])
                          & (b[None, :, 1] < box[:, None, 3]) & (b[None, :, 3] > box[:, None, 1]), axis=1)
        for q in away_from:
            ok &= np.hypot(*(c - q).T) >= keep_off
        found = []
        for k in np.flatnonzero(ok):
            near = every.within(box[k] + np.array([-2 * h, -2 * h, 2 * h, 2 * h]))
            d = np.abs(every.arc[near] - sc[k])
            if ln.closed:
                d = np.minimum(d, ln.length - d)
            other = every.points[near[(every.owner[near] != i) | (d > w / 2 + 2 * gap)]]
            if _in_rect(other, c[k], w / 2 + gap / 2, h / 2, angle[k]):
                continue
            if _in_rect(marks.points[marks.within(box[k])], c[k], hw, hh, angle[k]):
                continue
            closest = float(np.min(np.hypot(*(other - c[k]).T))) if len(other) else 4 * h
            edge = min(box[k, 0] - f[0], box[k, 1] - f[1], f[2] - box[k, 2], f[3] - box[k, 3])
            nearest = min((float(np.hypot(*(c[k] - q))) for _, q in placed), default=spread)
            score = (2 * bend[k] / h + max(0.0, 1 - edge / (3 * h)) + max(0.0, 1 - nearest / spread)
                     + 0.5 * max(0.0, 1 - closest / (2 * h)))
            found.append(_Spot(i, c[k], box[k], score))
        return found

    chosen: list[tuple[float, _Spot]] = []

    def take(level: float, candidates: list[_Spot]) -> None:
        if candidates:
            best = min(candidates, key=lambda s: s.score)
            chosen.append((level, best))
            boxes.append(best.box)
            placed.append((all_levels.index(level), best.center))

    sizes = {v: _text_size(fmt(v), size, fig, renderer) for v in wanted}
    for v in wanted:  # one label per labelled level first
        k = all_levels.index(v)
        take(v, [s for i, ln in enumerate(lines) if ln.level == k for s in spots(i, *sizes[v], [], 0.0)])
    for v in wanted:  # then one on each further long piece of its line, away from its other labels
        k = all_levels.index(v)
        for i, ln in enumerate(lines):
            mine = [c for lev, c in placed if lev == k]
            if ln.level == k and ln.length > 3 * sizes[v][0] and not any(s.line == i for _, s in chosen):
                take(v, spots(i, *sizes[v], mine, 0.4 * min(fw, fh)))
    added = []
    for v, spot in chosen:
        ink = legible(cs.to_rgba(v), STYLE.ink_luminance)
        data = ax.transData.inverted().transform(spot.center)
        (text,) = cs.clabel([v], manual=[tuple(data)], inline=True, inline_spacing=gap, fmt={v: fmt(v)},
                            fontsize=size, colors=[ink])[-1:]
        text.set_gid("contour-label")
        added.append(text)
    return added


@dataclass(frozen=True)
class PointLabel:
    """A text to put beside a point of the plane (a track's start, an epoch, a model's name)."""

    text: str
    xy: tuple[float, float]  # data coordinates
    color: Any = "black"
    radius: float = 2.5  # radius of the point's marker, in points


_ANGLES = np.deg2rad(np.arange(0, 360, 22.5))
_DIRECTIONS = np.column_stack([np.cos(_ANGLES), np.sin(_ANGLES)])  # 16 ways to go from a point
_REACH = (0, 4, 8, 13, 19, 27, 37, 50, 65, 85)  # points beyond the marker; beyond 0 a leader line


def place_labels(ax: Axes, labels: Sequence[PointLabel], renderer: Any = None) -> list[Annotation]:
    """Put each label beside its point where it covers no other text, marker or drawn path and stays
    inside the axes: close to the point when there is room, further out with a leader line when
    not. Labels are placed in order (put the important ones first); returns the annotations.
    `renderer`: as for `label_contours`."""
    if not labels:
        return []
    fig = root(ax)
    renderer = renderer or settle(fig)
    px = fig.dpi / 72
    gap = 1.5 * px
    space = _taken(ax, renderer, gap)
    anchors = ax.transData.transform(np.array([lb.xy for lb in labels], dtype=np.float64))
    units = _DIRECTIONS
    out = []
    for lb, p in zip(labels, anchors):
        w, h = _text_size(lb.text, STYLE.label_size, fig, renderer)
        r0 = (lb.radius + 1.5) * px
        near = anchors[(np.hypot(*(anchors - p).T) < 40 * px)]
        others = anchors[np.hypot(*(anchors - p).T) > px]
        outward = p - near.mean(axis=0)
        outward = outward / np.hypot(*outward) if np.hypot(*outward) > px else None
        taken = np.asarray(space.boxes).reshape(-1, 4)
        options: list[tuple[float, float, np.ndarray, np.ndarray, bool]] = []  # (clashes, score, centre, box, leader)
        for extra in _REACH:
            r = r0 + extra * px
            for u in units:
                side = np.where(np.abs(u) > 0.3, np.sign(u), 0.0)  # which edge of the box faces the point
                c = p + u * r + side * np.array([w / 2, h / 2])
                box = np.array([c[0] - w / 2 - gap / 2, c[1] - h / 2, c[0] + w / 2 + gap / 2, c[1] + h / 2])
                if not _within(box, space.frame):
                    continue
                leader = _polyline(np.array([p + u * (r0 + gap), p + u * r]), 2 * px) if extra else np.zeros((0, 2))
                clashes = (_count(box, taken) + int(_in_box(space.points, box).any())
                           + sum(_count(np.array([q[0], q[1], q[0], q[1]]), taken) for q in leader[::3]))
                if len(others) and np.min(np.hypot(*(others - c).T)) < np.hypot(*(p - c)) - px:
                    clashes += 0.5  # nearer another point than its own ("7" beside checkpoint 6): worse than
                    # any free place, better than covering something
                turn = 0.0 if outward is None else (1 - float(u @ outward)) / 2
                options.append((clashes, extra + 8 * turn, c, box, bool(extra)))
        if options:
            _, _, c, box, leader = min(options, key=lambda o: (o[0], o[1]))
        else:  # no room at all inside the axes: beside the point, clipped
            c = p + np.array([r0 + w / 2, 0.0])
            box, leader = np.array([p[0] + r0, p[1] - h / 2, p[0] + r0 + w, p[1] + h / 2]), False
        kw: dict[str, Any] = dict(xytext=tuple((c - p) / px), textcoords="offset points", ha="center", va="center",
                                  fontsize=STYLE.label_size, color=lb.color, zorder=6, gid="track-label",
                                  path_effects=[withStroke(linewidth=2.5, foreground=STYLE.paper)])
        if leader:
            kw["arrowprops"] = dict(arrowstyle="-", color=lb.color, lw=0.9 * STYLE.scale, shrinkA=1,
                                    shrinkB=lb.radius + 0.5, zorder=6,
                                    path_effects=[withStroke(linewidth=2.4 * STYLE.scale, foreground=STYLE.paper)])
            space.add_points(_polyline(np.array([p, c]), 2 * px))
        out.append(ax.annotate(lb.text, lb.xy, **kw))
        space.boxes.append(box)
    return out


def legend_below(ax: Axes, handles: Sequence[Any]) -> Any:
    """A legend under the axes' x label, where it covers no data, in as many columns as fit the
    figure's width; the figure's constrained layout makes room for it. In a figure without that
    layout: inside the axes, where matplotlib finds it covers least."""
    fig = root(ax)
    if not isinstance(fig.get_layout_engine(), ConstrainedLayoutEngine):
        return ax.legend(handles=list(handles), loc="best")
    renderer = settle(fig)
    for ncols in range(min(len(handles), 4), 0, -1):
        legend = ax.legend(handles=list(handles), loc="upper center", bbox_to_anchor=(0.5, 0.0), ncols=ncols,
                           frameon=False, borderaxespad=0.0, columnspacing=1.2, handlelength=1.8)
        if ncols == 1 or legend.get_window_extent(renderer).width <= ax.bbox.width:  # wider pushes the layout
            break
    anchor_below(ax, legend)
    return legend


def anchor_below(ax: Axes, legend: Any) -> None:
    """Anchor a legend just under the axes' x label, for the figure's current layout (again after
    anything is added to the figure: the layout moves the axes when it makes room)."""
    for _ in range(2):
        renderer = settle(root(ax))
        below = ax.xaxis.get_tightbbox(renderer)
        y = ax.transAxes.inverted().transform((0, below.y0))[1] if below is not None else 0.0
        legend.set_bbox_to_anchor((0.5, y - 0.02), transform=ax.transAxes)


def key_below(fig: Figure, handles: Sequence[Any]) -> Any:
    """The figure's key (its legend: runs, the star, the dot) below everything, across the figure,
    in as many columns as fit its width; constrained layout makes room for it without narrowing
    any axes. On a canvas wider than its panels need (a square plane on a 16:9 slide), the key
    goes to the right instead, in the free width. Returns the legend."""
    renderer = settle(fig)  # one layout: a legend measures itself without another
    panels = Bbox.union([a.get_tightbbox(renderer) for a in fig.axes])
    kw = dict(handles=list(handles), frameon=False, borderaxespad=0.2, handlelength=1.8)
    legend = fig.legend(loc="outside right center", ncols=1, **kw)
    if fig.bbox.width - panels.width > legend.get_window_extent(renderer).width + 0.1 * fig.bbox.width:
        return legend
    for ncols in range(min(len(handles), 4), 0, -1):
        legend.remove()
        legend = fig.legend(loc="outside lower center", ncols=ncols, columnspacing=1.2, **kw)
        if ncols == 1 or legend.get_window_extent(renderer).width <= 0.98 * fig.bbox.width:
            break
    return legend


def fit_axis_labels(fig: Figure, axes: Sequence[Axes]) -> None:
    """Wrap an axis label that is longer than its axes side (a long y label would be cut at the
    figure's edge: "toward epoch_8.pt (orthogonalized)"), for the figure's current layout."""
    renderer = settle(fig)
    changed = False
    for ax in axes:
        for label, side, vertical in ((ax.xaxis.label, ax.bbox.width, False), (ax.yaxis.label, ax.bbox.height, True)):
            text = " ".join(label.get_text().split())
            if not text:
                continue
            box = label.get_window_extent(renderer)
            length = box.height if vertical else box.width
            if length > 1.02 * side:
                chars = max(10, int(len(text) * side / max(length, 1.0) * 0.95))
                label.set_text(textwrap.fill(text, width=chars, break_on_hyphens=False))
                changed = True
    if changed:
        settle(fig)


def separate_corner_ticks(ax: Axes) -> None:
    """Where the x and y axes of a 3-D box meet, their end tick labels can run together
    ("1.0−1.0"): drop the x ticks whose labels touch a y tick label. The boxes are read from
    the ticks the last draw placed (asking the axis for its tick labels would move them back to
    unprojected positions)."""
    renderer = settle(ax.get_figure(root=True))

    def drawn(axis: Any) -> list[tuple[float, Any]]:
        locs = axis.get_majorticklocs()
        return [(float(v), t.label1.get_window_extent(renderer)) for v, t in zip(locs, axis.majorTicks)
                if t.label1.get_visible() and t.label1.get_text()]

    ys = [box for _, box in drawn(ax.yaxis)]
    xs = drawn(ax.xaxis)
    keep = [v for v, box in xs if not any(box.padded(2).overlaps(b) for b in ys)]
    if len(xs) > len(keep) >= 2:
        ax.xaxis.set_major_locator(FixedLocator(keep))


def note_below(ax: Axes, lines: Sequence[str], under: Any = None) -> Annotation | None:
    """Small print under the axes, below its axis labels (and below `under`, e.g. a legend under
    the axes): what a panel leaves out or distorts, one line each, wrapped to the axes' width.
    A constrained layout makes room for it. Returns the note (gid "note"); None when `lines` is
    empty."""
    if not lines:
        return None
    fig = root(ax)
    width = max(24, int(ax.get_position().width * fig.get_figwidth() * 72 * 0.92 / (0.56 * STYLE.note_size)))
    text = "\n".join(textwrap.fill(n, width=width, break_on_hyphens=False) for n in lines)

    def anchor(renderer: Any) -> Bbox:
        """A line across the axes' width at the bottom of everything below them."""
        axes = [getattr(ax, name) for name in ("xaxis", "yaxis", "zaxis") if hasattr(ax, name)]
        boxes = [ax.bbox] + [b for b in (a.get_tightbbox(renderer) for a in axes) if b is not None]
        if under is not None:
            boxes.append(under.get_window_extent(renderer))
        y0 = min(b.y0 for b in boxes)
        return Bbox.from_extents(ax.bbox.x0, y0, ax.bbox.x1, y0)

    return ax.annotate(text, (0.5, 0.0), xycoords=anchor, xytext=(0, -3), textcoords="offset points", ha="center",
                       va="top", fontsize=STYLE.note_size, color="dimgray", gid="note")
