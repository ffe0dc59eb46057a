"""Tracks on a figure: training paths (each run in its colour, checkpoints off the plane
hollow, start/end and epochs labelled) and marked models (markers with their names).

`draw_track` draws and returns the labels still to place (`labels.place_labels`, once the
figure's layout is final); `overlay_track` places them at once. Run colours are the table the
web page uses too (`export.colors.RUN_COLORS`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.lines import Line2D
from matplotlib.patheffects import withStroke

from landscape.export import colors
from landscape.plane.directions import Track
from landscape.plot.labels import PointLabel, place_labels, root
from landscape.plot.scales import percent
from landscape.plot.style import STYLE


def run_color(run: int) -> str:
    """The run's colour of `export.colors.RUN_COLORS` (the first is black: the ink, in the dark theme)."""
    c = colors.run_color(run)
    return STYLE.ink if STYLE.dark and c.lower() in ("black", "#000000", "k") else c


@dataclass
class TrackDrawing:
    """What `draw_track` drew, and the labels still to place once the figure is complete."""

    artists: list[Any]
    labels: list[PointLabel]
    handles: list[Line2D]  # legend entries: one per run when there are several
    notes: list[str]


def draw_track(ax: Axes, track: Track, name: str = "trajectory", epoch_labels: bool = False) -> TrackDrawing:
    """Draw a track on a 2-D figure, its labels not yet placed (see `place_labels`). "trajectory":
    each run's checkpoints joined in training order, in its own colour, "start"/"end" (and with
    `epoch_labels` every known epoch) to label; checkpoints more than STYLE.off_plane of whose
    displacement lies off the plane (`Track.residual`) are drawn hollow. "models": markers
    labelled with their names."""
    ms = STYLE.track_size
    if name == "models":
        drawn = ax.plot(track.x, track.y, marker="o", ls="none", color=STYLE.ink, mfc=STYLE.paper, ms=ms, mew=0.9,
                        gid="models", zorder=4)
        return TrackDrawing(list(drawn), [PointLabel(n, (float(a), float(b)), STYLE.ink, ms / 2)
                                          for n, a, b in zip(track.names, track.x, track.y)], [], [])
    runs = track.runs()
    drawn: list[Any] = []
    ends: list[PointLabel] = []
    epochs: list[PointLabel] = []
    handles: list[Line2D] = []
    worst = 0.0
    for r, (run_name, idx) in enumerate(runs):
        if not len(idx):
            continue
        color = run_color(r)
        xs, ys = np.asarray(track.x)[idx], np.asarray(track.y)[idx]
        residual = None if track.residual is None else np.asarray(track.residual, dtype=np.float64)[idx]
        text = run_name or "training path"
        if residual is not None and np.isfinite(residual).any():
            top = float(np.nanmax(residual))
            worst = max(worst, top)
            text += f" (up to {percent(top)} off the plane)"
        (path,) = ax.plot(xs, ys, color=color, lw=1.2 * STYLE.line_width, marker="o", ms=ms, mfc=color, mec=STYLE.paper,
                          mew=0.6, gid="trajectory", zorder=4, label=text)
        drawn.append(path)
        handles.append(path)
        if residual is not None:
            off = np.nan_to_num(residual, nan=0.0) > STYLE.off_plane
            if off.any():
                drawn += ax.plot(xs[off], ys[off], ls="none", marker="o", ms=ms, mfc=STYLE.paper, mec=color, mew=1.0,
                                 gid="off-plane", zorder=4.5)
        marks = [track.epochs[k] for k in idx]
        for k, (role, at) in enumerate((("start", 0), ("end", len(idx) - 1))):
            if k == 1 and at == 0:
                break
            e = marks[at]
            ends.append(PointLabel(f"{role} ({e})" if epoch_labels and e is not None else role,
                                   (float(xs[at]), float(ys[at])), color, ms / 2))
        if epoch_labels:
            epochs += [PointLabel(str(e), (float(xs[k]), float(ys[k])), color, ms / 2)
                       for k, e in enumerate(marks) if e is not None and 0 < k < len(idx) - 1]
    notes = []
    if worst > STYLE.off_plane:
        notes.append(f"hollow markers: checkpoints more than {percent(STYLE.off_plane)} off the plane "
                     f"(up to {percent(worst)})")
    return TrackDrawing(drawn, ends + epochs, handles if len(runs) > 1 else [], notes)


def draw_track_3d(ax: Axes, track: Track, surface_z: Any, name: str = "trajectory", epoch_labels: bool = False,
                  cap: float | None = None, lift: float = 0.0) -> TrackDrawing:
    """Draw a track on a 3-D surface: each checkpoint at the surface's height there (`surface_z(x, y)`,
    no higher than `cap`) lifted by `lift`, joined in training order in its run's colour, start and
    end labelled (every epoch with `epoch_labels`), drawn over the surface. "models": their names."""
    ms = STYLE.track_size
    ax.computed_zorder = False  # the path stays over the surface it descends
    drawn: list[Any] = []
    handles: list[Line2D] = []
    taken: list[np.ndarray] = []  # the labels' boxes, in pixels: start and end first, then the epochs that fit
    worst = 0.0
    runs = [("", np.arange(len(track.x)))] if name == "models" else track.runs()
    for r, (run_name, idx) in enumerate(runs):
        if not len(idx):
            continue
        xs, ys = np.asarray(track.x, dtype=np.float64)[idx], np.asarray(track.y, dtype=np.float64)[idx]
        zs = np.asarray(surface_z(xs, ys), dtype=np.float64)
        if cap is not None:
            zs = np.minimum(zs, cap)
        zs = zs + lift
        if name == "models":
            drawn += ax.plot(xs, ys, zs, ls="none", marker="o", ms=ms, color=STYLE.ink, mfc=STYLE.paper, mew=0.9,
                             gid="models", zorder=10)
            texts = [(n, k) for k, n in enumerate(np.asarray(track.names)[idx])]
            color: Any = STYLE.ink
        else:
            color = run_color(r)
            t = np.linspace(0.0, 1.0, 16)[:-1]  # the path between checkpoints follows the surface
            px = np.concatenate([a + t * (b - a) for a, b in zip(xs[:-1], xs[1:])] + [xs[-1:]])
            py = np.concatenate([a + t * (b - a) for a, b in zip(ys[:-1], ys[1:])] + [ys[-1:]])
            pz = np.asarray(surface_z(px, py), dtype=np.float64)
            pz = (np.minimum(pz, cap) if cap is not None else pz) + lift
            (path,) = ax.plot(px, py, pz, color=color, lw=1.4 * STYLE.line_width, gid="trajectory", zorder=10,
                              label=run_name or "training path", marker="o", ms=ms, mfc=color, mec=STYLE.paper,
                              mew=0.6, markevery=list(range(0, len(px), len(t))))
            drawn.append(path)
            handles.append(path)
            marks = [track.epochs[k] for k in idx]
            texts = [("start", 0), ("end", len(idx) - 1)] if len(idx) > 1 else [("start", 0)]
            if epoch_labels:
                texts = [(f"{role} ({marks[k]})" if marks[k] is not None else role, k) for role, k in texts]
                texts += [(str(e), k) for k, e in enumerate(marks) if e is not None and 0 < k < len(idx) - 1]
        for text, k in texts:
            if np.isfinite(zs[k]) and room(ax, (xs[k], ys[k], zs[k]), f" {text}", taken):
                drawn.append(ax.text(xs[k], ys[k], zs[k], f" {text}", fontsize=STYLE.label_size, color=color,
                                     zorder=11, gid="track-label", ha="left", va="bottom",
                                     path_effects=[withStroke(linewidth=2.5, foreground=STYLE.paper)]))
        if name != "models" and track.residual is not None:
            off = np.nan_to_num(np.asarray(track.residual, dtype=np.float64)[idx], nan=0.0)
            worst = max(worst, float(off.max()) if len(off) else 0.0)
    notes = ([f"checkpoints up to {percent(worst)} off the plane (drawn where they project onto it)"]
             if worst > STYLE.off_plane else [])
    return TrackDrawing(drawn, [], handles if len(runs) > 1 else [], notes)


def room(ax: Axes, xyz: tuple[float, float, float], text: str, taken: list[np.ndarray]) -> bool:
    """Whether a label of `text` to the right of the 3-D point `xyz` (projected for the current
    view) clears every label kept so far (`taken`, boxes in pixels); if so, it is kept there."""
    from mpl_toolkits.mplot3d import proj3d

    px, py, _ = proj3d.proj_transform(*xyz, ax.get_proj())
    x, y = ax.transData.transform((px, py))
    size = STYLE.label_size * root(ax).dpi / 72
    box = np.array([x, y, x + 0.6 * size * len(text), y + 1.2 * size])
    if any(b[0] < box[2] and b[2] > box[0] and b[1] < box[3] and b[3] > box[1] for b in taken):
        return False
    taken.append(box)
    return True


def overlay_track(ax: Axes, track: Track, name: str = "trajectory", epoch_labels: bool = False,
                  vertical: bool = False) -> list[Any]:
    """Draw a track and place its labels now (see `draw_track`); several runs get a legend.
    `vertical`: a 1-D figure, where each point is a labelled vertical mark at its x."""
    drawn: list[Any] = []
    if vertical:
        for x, text in zip(track.x, track.names):
            drawn.append(ax.axvline(x, color="gray", ls=":", lw=STYLE.line_width))
            drawn.append(ax.annotate(text, (x, 1), xycoords=("data", "axes fraction"), xytext=(0, 2),
                                     textcoords="offset points", ha="center", va="bottom", fontsize=STYLE.label_size))
        return drawn
    done = draw_track(ax, track, name, epoch_labels)
    if done.handles:
        ax.legend(handles=done.handles, loc="best")
    return done.artists + place_labels(ax, done.labels)
