"""Animations for talks: a GIF (Pillow, which matplotlib already needs) or an MP4 (imageio with
its own ffmpeg: the `video` extra) of

- `path`: a training path descending the surface, checkpoint by checkpoint, on a 2-D map
  (contour lines by default) beside the 3-D surface, each run in its colour;
- `turn`: the 3-D surface turning through 360 degrees (its training path on it, if it has one);
- `sequence`: several surface files of one plane and grid (the same plane at several
  checkpoints) one after another, on ONE colour scale, each frame titled with its file.

The figures are `draw`'s panels in the frame's axes, drawn once and changed frame by frame,
rendered with Agg (no pyplot) at a fixed size (`PlotOptions.size` at `.dpi`, even sides) in the
look of `PlotOptions.style`. The file is written whole at the end: never half a video.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import shutil
import tempfile
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import CenteredNorm, Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.transforms import Bbox

from landscape import store
from landscape.errors import LandscapeError, arg
from landscape.export import clip
from landscape.export.html import LIFT, bilinear
from landscape.plane.directions import Track
from landscape.plot.artists import surface3d
from landscape.plot.figures import draw
from landscape.plot.labels import root
from landscape.plot.options import Kind, PlotOptions, _Choice, choice
from landscape.plot.panel import Drawing
from landscape.plot.render import Outputs, compare_stem, write_file
from landscape.plot.scales import contour_levels, loss_axis, percent, spread
from landscape.plot.style import BASE, STYLE, look, using
from landscape.plot.surfaces import check_kind, metric_values, stem_of
from landscape.plot.tracks import run_color
from landscape.store import Surface


class Animation(_Choice):
    """What an animation shows: a path descending, the surface turning, or a sequence of files."""

    path = "path"
    turn = "turn"
    sequence = "sequence"


class VideoFormat(_Choice):
    """An animated GIF (loops in slides and browsers) or an MP4 (H.264: the `video` extra)."""

    gif = "gif"
    mp4 = "mp4"


DPI = 100  # pixels per inch of the frames by default: 9.6 x 4.4 inches make 960 x 440 pixels
TURN_FRAMES = 72  # a whole turn, 5 degrees a frame
HOLD_SECONDS = 1.0  # the last frame of a path or a sequence stays this long before the loop restarts
MAX_PIXELS = 4096  # per side of a frame
DENSE = 12  # points of the 3-D path between two checkpoints
SIZES = {  # inches of a frame by default (`slide`: 13.33 x 7.5); the fonts are 9 pt at these sizes
    Animation.path: (9.6, 4.4), Animation.turn: (6.4, 4.8),  # a path: a 2-D map beside the 3-D surface
    Kind.contour: (6.0, 4.6), Kind.filled: (6.0, 4.6), Kind.heatmap: (6.0, 4.6), Kind.surface: (6.4, 4.8),
    Kind.line: (6.0, 4.0)}
MAPS = (Kind.contour, Kind.filled, Kind.heatmap)
VIDEO_MISSING = (f"an MP4 ({arg('format', 'mp4')}) needs imageio and its ffmpeg: pip install imageio imageio-ffmpeg "
                 "(or the `video` extra: pip install 'landscape-viz[video]')")

Emit = Callable[[np.ndarray], None]


def animate(files: str | Path | Surface | Sequence[str | Path | Surface], what: Animation | str | None = None,
            options: PlotOptions = PlotOptions(dpi=DPI), *, format: VideoFormat | str = VideoFormat.gif,
            fps: float | None = None, out_dir: str | Path | None = None, overwrite: bool = True,
            on_frame: Callable[[int, int], None] | None = None) -> Outputs:
    """Write an animation of surface files (paths, or `Surface`s with `out_dir`) as
    `<stem>.<what>.<format>` (a sequence: `<compare_stem>.sequence.<format>`) next to the first
    file or in `out_dir`; returns the path written (in `.replaced` too if it existed).

    `what` (default: several files: sequence; one with a training path: path; else turn):
    - `path`: a frame per checkpoint, the path (its runs together) drawn up to it on the 2-D map
      (`options.kinds[0]`: contour, the default, filled or heatmap) and on the 3-D surface; the
      last frame held a second.
    - `turn`: the 3-D surface turning 360 degrees in 72 frames from `options.azim`.
    - `sequence`: a frame per file, in the order given (`options.kinds[0]`: filled, the default,
      contour, heatmap or surface; 1-D files: line) on the colour scale, levels and z range of all
      of them; titled `options.labels[i]`, else the file's `title` or `epoch`, else its stem.
    `fps` defaults to 12 for a turn, else about n / 5 for n frames (at least 2 for a path, 1 for
    a sequence). Frames are `options.size` (default per animation; `slide`: 13.33 x 7.5) at
    `options.dpi` (100 by default here); `options.title` tops every frame; `transparent` is
    ignored. `on_frame(i, n)`: frame i of n is drawn. LandscapeError, before anything is drawn or
    written, for what cannot work (a path without a training path, a sequence of one file or of
    files on different grids or planes, an MP4 without imageio, an output that exists with
    `overwrite` False)."""
    ss = _surfaces(files)
    what = _what(ss, what)
    fmt = choice(VideoFormat, format, "animation format", "format")
    kind, n = _check(ss, what, options)
    fps = _fps(fps, what, n)
    reference = SIZES[kind if what is Animation.sequence else what]
    size = options.size or (BASE.size_slide if options.style.value == "slide" else reference)
    o = dataclasses.replace(options, size=size)
    _check_pixels(size, o.dpi)
    first = ss[0]
    folder = Path(out_dir) if out_dir is not None else first.path.parent if first.path is not None else None
    if folder is None:
        raise LandscapeError(f"a surface computed in memory has no folder; give {arg('out_dir')}", field="out_dir")
    target = folder / f"{compare_stem(ss) if what is Animation.sequence else stem_of(first)}.{what.value}.{fmt.value}"
    existed = target.exists()
    if existed and not overwrite:
        raise LandscapeError(f"{str(target)!r} already exists; allow replacing it ({arg('overwrite', True)}) or choose "
                             f"another {arg('out_dir')}", field="overwrite")
    video = _video() if fmt is VideoFormat.mp4 else None
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise LandscapeError(f"cannot create output folder {str(folder)!r}: {e.strerror or e}; choose another "
                             f"{arg('out_dir')}", field="out_dir") from None
    if options.transparent:
        warnings.warn("an animation's frames are opaque: transparent is ignored", stacklevel=2)
    hold = 0 if what is Animation.turn else max(1, round(HOLD_SECONDS * fps))

    def render(emit: Emit) -> None:
        done = itertools.count(1)

        def counted(frame: np.ndarray) -> None:
            emit(frame)
            i = next(done)
            if on_frame is not None:
                on_frame(i, n)

        with using(look(o, reference, size)):
            if what is Animation.path:
                _path(first, o, kind, counted)
            elif what is Animation.turn:
                _turn(first, o, counted)
            else:
                _sequence(ss, o, kind, counted)

    if video is None:
        _write_gif(target, render, fps, hold)
    else:
        _write_mp4(video, target, render, fps, hold)
    return Outputs([target], [target] if existed else [])


def _surfaces(given: Any) -> list[Surface]:
    items = [given] if isinstance(given, (str, Path, Surface)) else list(given)
    if not items:
        raise LandscapeError(f"no surface file given; give one or more {arg('files')}", field="files")
    return [f if isinstance(f, Surface) else store.read_surface(f) for f in items]


def _trajectory(s: Surface) -> Track | None:
    track = s.tracks.get("trajectory")
    return track if track is not None and len(track.x) else None


def _what(ss: list[Surface], what: Animation | str | None) -> Animation:
    if what is not None:
        return choice(Animation, what, "animation", "what")
    return Animation.sequence if len(ss) > 1 else Animation.path if ss[0].is_2d and _trajectory(ss[0]) else \
        Animation.turn


def _check(ss: list[Surface], what: Animation, o: PlotOptions) -> tuple[Kind, int]:
    """Raise LandscapeError if `what` cannot be made of these surfaces; the kind of the frames
    (a sequence), of the 2-D map (a path) or `surface` (a turn), and the number of frames."""
    s = ss[0]
    asked = o.kinds[0] if o.kinds else None
    if what is not Animation.sequence:
        if len(ss) > 1:
            raise LandscapeError(f"{arg('what', what.value)} animates one surface file, got {len(ss)}; give one, or "
                                 f"animate them one after another ({arg('what', 'sequence')})", field="what")
        if not s.is_2d:
            raise LandscapeError(f"{s.name} is a 1-D surface: it has no 3-D view to turn nor a plane for a path; "
                                 f"animate several 1-D files one after another ({arg('what', 'sequence')})",
                                 field="what")
        check_kind(ss, Kind.surface, o)
        s.metric(o.metric.value)
    if what is Animation.turn:
        return Kind.surface, TURN_FRAMES
    if what is Animation.path:
        track = _trajectory(s)
        if track is None:
            raise LandscapeError(f"{s.name} has no training path to animate (a trajectory surface has one); "
                                 f"turn its 3-D view instead ({arg('what', 'turn')})", field="what")
        n = max(len(idx) for _, idx in track.runs())
        if n < 2:
            raise LandscapeError(f"{s.name}: its training path has one checkpoint, nothing to animate; turn its 3-D "
                                 f"view instead ({arg('what', 'turn')})", field="what")
        if asked is not None and asked not in MAPS:
            raise LandscapeError(f"a path is drawn on a 2-D map (contour, filled or heatmap) beside the 3-D surface, "
                                 f"not on {arg('kinds', asked.value)}", field="kinds")
        check_kind(ss, asked or Kind.contour, o)
        return asked or Kind.contour, n
    if len(ss) < 2:
        raise LandscapeError(f"a sequence needs two or more surface {arg('files')}, got one: the same plane at several "
                             "checkpoints, each computed with the directions of the first", field="files")
    kind = asked or (Kind.filled if s.is_2d else Kind.line)
    if kind not in (*MAPS, Kind.surface, Kind.line):
        raise LandscapeError(f"a sequence draws contour, filled, heatmap or surface frames (1-D files: line), not "
                             f"{arg('kinds', kind.value)}", field="kinds")
    check_kind(ss, kind, o)
    _same_plane(ss)
    for t in ss:  # a metric a file lacks is an error before anything is drawn
        t.metric("loss" if kind is Kind.line else o.metric.value)
    return kind, len(ss)


def _same_plane(ss: list[Surface]) -> None:
    """A sequence shows one plane: every file on the first one's grid and, where the files hold
    their directions, on the same directions."""
    first = ss[0]
    for s in ss[1:]:
        if not all(a is b is None or (a is not None and b is not None and a.shape == b.shape and np.allclose(a, b))
                   for a, b in ((first.x, s.x), (first.y, s.y))):
            raise LandscapeError(f"{first.name} and {s.name} are on different grids ({_grid(first)} against "
                                 f"{_grid(s)}); a sequence shows one plane at several checkpoints: compute each on "
                                 "the first one's grid and directions", field="files")
    keys = [_plane_key(s) for s in ss]
    for s, key in zip(ss[1:], keys[1:]):
        if None not in (keys[0], key) and key != keys[0]:
            raise LandscapeError(f"{first.name} and {s.name} are on different planes (their directions differ); a "
                                 "sequence shows one plane at several checkpoints: compute each with the directions "
                                 "of the first", field="files")


def _grid(s: Surface) -> str:
    return ", ".join(f"{n} {c.min():g}:{c.max():g}:{len(c)}" for n, c in (("x", s.x), ("y", s.y)) if c is not None)


def _plane_key(s: Surface) -> str | None:
    """A fingerprint of the directions a surface file holds (names, shapes and a corner of the
    first tensors' values), or None where there are none to compare (in memory, another tool's
    file)."""
    path = s.path
    if path is None or not path.is_file():
        return None

    def read() -> str | None:
        with store.open_file(path) as f:
            if "xdirection" not in f:
                return None
            h = hashlib.sha1()
            for group in ("xdirection", "ydirection"):
                if group not in f:
                    continue
                for k, (name, d) in enumerate(store.direction_tensors(f[group], path)):
                    h.update(f"{group}/{name}{d.shape}".encode())
                    if k < 8:
                        corner = d[()] if not d.shape else d[tuple(slice(0, 4) for _ in d.shape)]
                        h.update(np.asarray(corner, dtype=np.float64).tobytes())
            return h.hexdigest()

    return store.guarded(path, read)


def _fps(fps: float | None, what: Animation, n: int) -> float:
    if fps is None:  # a turn: 6 s; a path or a sequence: about 5 s
        return 12.0 if what is Animation.turn else float(min(12, max(2 if what is Animation.path else 1, round(n / 5))))
    if not (np.isfinite(fps) and 0.2 <= fps <= 50):
        raise LandscapeError(f"{arg('fps')} must be between 0.2 and 50 frames per second, got {fps}", field="fps")
    return float(fps)


def _check_pixels(size: tuple[float, ...], dpi: int) -> None:
    w, h = (round(v * dpi) for v in size)
    if max(w, h) > MAX_PIXELS or min(w, h) < 16:
        raise LandscapeError(f"frames of {w} x {h} pixels ({arg('size')} {size[0]:g},{size[1]:g} inches at "
                             f"{arg('dpi')} {dpi}); an animation's frames must be 16 to {MAX_PIXELS} pixels a side",
                             field="size")


def _canvas(fig: Figure, drawings: Sequence[Drawing], boxes: Sequence[Bbox] | None = None) -> FigureCanvasAgg:
    """Settle the figure's layout (or put its axes in `boxes`), place the drawings' labels for it,
    then keep it: what changes from frame to frame (a path, the view) never moves the axes."""
    canvas = FigureCanvasAgg(fig)
    if boxes is not None:
        fig.set_layout_engine("none")
        for ax, box in zip(fig.axes, boxes):
            ax.set_position(box)
    canvas.draw()
    renderer = canvas.get_renderer()
    for d in drawings:
        d.place_labels(renderer)
    fig.set_layout_engine("none")
    return canvas


def _pixels(canvas: FigureCanvasAgg) -> np.ndarray:
    """The figure as RGB pixels, cropped to an even width and height (H.264 needs them)."""
    canvas.draw()
    rgba = np.asarray(canvas.buffer_rgba())
    return np.ascontiguousarray(rgba[: rgba.shape[0] // 2 * 2, : rgba.shape[1] // 2 * 2, :3])


def _figure(o: PlotOptions) -> Figure:
    fig = Figure(figsize=o.size, dpi=o.dpi, layout="constrained")
    fig.suptitle(o.title) if o.title else None
    return fig


class _Path:
    """A track's runs drawn up to a checkpoint, in 2-D and in 3-D at the surface's height (lifted
    a little so that it stays visible): each run in its colour, checkpoints more than
    STYLE.off_plane off the plane hollow, the checkpoint reached large."""

    def __init__(self, s: Surface, track: Track, o: PlotOptions, ax2: Axes | None, ax3: Axes) -> None:
        z = metric_values(s, o)[1].filled(np.nan)
        lo, hi = ax3.get_zlim()
        ax3.computed_zorder = False  # the path over the surface, not sorted behind it
        ms = STYLE.track_size
        self.runs: list[dict[str, Any]] = []
        self.handles: list[Line2D] = []
        worst = 0.0
        for r, (name, idx) in enumerate(track.runs()):
            if not len(idx):
                continue
            color = run_color(r)
            xs, ys = np.asarray(track.x, dtype=np.float64)[idx], np.asarray(track.y, dtype=np.float64)[idx]
            zs = np.minimum(bilinear(s.x, s.y, z, xs, ys), hi) + LIFT * (hi - lo)
            residual = None if track.residual is None else np.asarray(track.residual, dtype=np.float64)[idx]
            label = name or "training path"
            if residual is not None and np.isfinite(residual).any():
                worst = max(worst, float(np.nanmax(residual)))
                label += f" (up to {percent(float(np.nanmax(residual)))} off the plane)"
            off = np.zeros(len(idx), bool) if residual is None else np.nan_to_num(residual, nan=0.0) > STYLE.off_plane
            t = np.linspace(0.0, 1.0, DENSE + 1)[:-1]  # in 3-D the path between checkpoints follows the surface
            dx = np.concatenate([a + t * (b - a) for a, b in zip(xs[:-1], xs[1:])] + [xs[-1:]])
            dy = np.concatenate([a + t * (b - a) for a, b in zip(ys[:-1], ys[1:])] + [ys[-1:]])
            dz = np.minimum(bilinear(s.x, s.y, z, dx, dy), hi) + LIFT * (hi - lo)
            run: dict[str, Any] = dict(points=(xs, ys, zs), dense=(dx, dy, dz), off=off,
                                       epochs=[track.epochs[k] for k in idx], names=[track.names[k] for k in idx],
                                       artists=[])
            styles = (dict(color=color, lw=1.4 * STYLE.line_width, marker="o", ms=ms, mfc=color, mec=STYLE.paper,
                           mew=0.6, zorder=6, gid="trajectory", label=label),  # the path
                      dict(ls="none", marker="o", ms=ms, mfc=STYLE.paper, mec=color, mew=1.0, zorder=6.5,
                           gid="off-plane"),  # its checkpoints off the plane, hollow
                      dict(ls="none", marker="o", ms=1.9 * ms, mfc=color, mec=STYLE.paper, mew=1.0, zorder=7,
                           gid="checkpoint"))  # the checkpoint reached
            for ax in (a for a in (ax2, ax3) if a is not None):
                run["artists"].append([ax.plot(*([xs, ys] if ax is ax2 else [xs, ys, zs]), **style)[0]
                                       for style in styles])
            self.handles.append(run["artists"][0][0])
            self.runs.append(run)
        if worst > STYLE.off_plane and self.handles:
            self.handles.append(Line2D([], [], ls="none", marker="o", ms=ms, mfc=STYLE.paper, mec=STYLE.ink, mew=1.0,
                                       label=f"hollow: more than {percent(STYLE.off_plane)} off the plane"))
        elif len(self.handles) == 1:
            self.handles = []  # one run, all on the plane: nothing to explain
        if self.handles:  # the runs' names, what hollow markers mean: below the figure
            root(ax3).legend(handles=self.handles, loc="outside lower center", ncols=min(3, len(self.handles)),
                             frameon=False)
        self.frames = max(len(run["epochs"]) for run in self.runs)

    def show(self, k: int) -> str:
        """Each run up to its checkpoint k (its last, for a shorter run); what to call checkpoint k."""
        for run in self.runs:
            m = min(k, len(run["epochs"]) - 1) + 1
            shown = [c[:m] for c in run["points"]]
            off = run["off"][:m]
            for line, hollow, head in run["artists"]:
                three = hasattr(line, "set_data_3d")  # a Line3D
                if three:  # the dense path, marked at its checkpoints
                    line.set_markevery(list(range(0, (m - 1) * DENSE + 1, DENSE)))
                for artist, points in ((line, [c[:(m - 1) * DENSE + 1] for c in run["dense"]] if three else shown),
                                       (hollow, [c[off] for c in shown]), (head, [c[-1:] for c in shown])):
                    artist.set_data_3d(*points) if three else artist.set_data(*points[:2])
        longest = max(self.runs, key=lambda r: len(r["epochs"]))
        at = min(k, len(longest["epochs"]) - 1)
        epoch = longest["epochs"][at]
        return f"epoch {epoch}" if epoch is not None else str(longest["names"][at] or f"checkpoint {at + 1}")


def unmarked(s: Surface) -> Surface:
    """The surface with its tracks emptied: drawn with the levels of a plane with a path (the
    static figure's, log-spaced), the path itself left to the frames."""
    return dataclasses.replace(s, tracks={name: Track(np.zeros(0), np.zeros(0), [], []) for name in s.tracks})


def _path(s: Surface, o: PlotOptions, kind: Kind, emit: Emit) -> None:
    track = _trajectory(s)
    assert track is not None
    plain = unmarked(s)
    panel = dataclasses.replace(o, title=None)
    fig = _figure(o)
    ax2 = fig.add_subplot(1, 2, 1)
    ax3 = fig.add_subplot(1, 2, 2, projection="3d")
    # the 3-D panel first: a constrained layout collapses over a 3-D axes still empty
    d3 = draw(plain, Kind.surface, panel, ax=ax3, labels=False)
    drawings = [draw(plain, kind, panel, ax=ax2, labels=False), d3]
    path = _Path(s, track, o, ax2, ax3)
    text = ax2.text(0.03, 0.97, "", transform=ax2.transAxes, ha="left", va="top", zorder=8,
                    bbox=dict(boxstyle="round,pad=0.3", fc=STYLE.paper, ec="none", alpha=0.8))
    text.set_text(path.show(path.frames - 1))  # the whole path and the text: contour labels keep clear of them
    canvas = _canvas(fig, drawings)
    for k in range(path.frames):
        text.set_text(path.show(k))
        emit(_pixels(canvas))


def _turn(s: Surface, o: PlotOptions, emit: Emit) -> None:
    track = _trajectory(s)
    fig = _figure(o)
    ax = fig.add_subplot(projection="3d")
    drawing = draw(unmarked(s), Kind.surface, dataclasses.replace(o, title=None), ax=ax,
                   labels=False)
    if track is not None:
        _Path(s, track, o, None, ax)
    canvas = _canvas(fig, [drawing])
    elev = STYLE.elev if o.elev is None else o.elev
    azim = STYLE.azim if o.azim is None else o.azim
    for k in range(TURN_FRAMES):
        ax.view_init(elev, azim + 360.0 * k / TURN_FRAMES)
        emit(_pixels(canvas))


def _sequence(ss: list[Surface], o: PlotOptions, kind: Kind, emit: Emit) -> None:
    shared, norm3d, acc = _one_scale(ss, kind, o)
    frames = []
    for i, s in enumerate(ss):
        fig = _figure(o)
        ax = fig.add_subplot(projection="3d" if kind is Kind.surface else None)
        d = draw(s, kind, dataclasses.replace(shared, title=_frame_title(s, i, o)), ax=ax, labels=False)
        fig.draw_without_rendering()  # its own layout, settled
        if norm3d is not None:  # the surface again, on the colours and z range of all the files (layout kept)
            fig.set_layout_engine("none")
            d.artist.remove()
            norm, cap = norm3d
            d.artist = surface3d(s.x, s.y, metric_values(s, shared)[1], ax, cap, o.elev, o.azim,
                                 d.scale.cmap if d.scale is not None else None, norm, smooth=o.smooth)
            if o.log:
                loss_axis(ax.zaxis, norm.vmin, norm.vmax)
        if acc is not None and len(d.artist) > 1:
            d.artist[1].axes.set_ylim(*acc)
        frames.append((fig, d))
    boxes = None  # every frame's axes where all of them fit (not jumping from frame to frame)
    if len({len(fig.axes) for fig, _ in frames}) == 1:
        places = [[a.get_position() for a in fig.axes] for fig, _ in frames]
        boxes = [Bbox.from_extents(max(b.x0 for b in bs), max(b.y0 for b in bs), min(b.x1 for b in bs),
                                   min(b.y1 for b in bs)) for bs in zip(*places)]
    for fig, d in frames:
        emit(_pixels(_canvas(fig, [d], boxes)))


def _frame_title(s: Surface, i: int, o: PlotOptions) -> str:
    epoch = s.attrs.get("epoch")
    return (o.labels[i] if o.labels is not None and i < len(o.labels) else str(s.attrs["title"]) if s.attrs.get("title")
            else f"{stem_of(s)}: epoch {epoch}" if epoch is not None and str(epoch) != "" else stem_of(s))


def _one_scale(ss: list[Surface], kind: Kind, o: PlotOptions) -> tuple[PlotOptions, tuple[Normalize, float] | None,
                                                                        tuple[float, float] | None]:
    """Options that put every frame on the colour scale (and levels) of all the surfaces together;
    for 3-D frames also their colours' norm (and z range) and clip height (in the units of the
    heights: log10 with `log`), for 1-D ones the accuracy axis' range."""
    def unscaled(v: float) -> float:
        return float(10.0 ** v) if o.log else float(v)

    if kind is Kind.line:
        loss = np.ma.concatenate([clip.scaled(s.metric("loss")[1], o.log).ravel() for s in ss])
        lo, hi = spread(float(loss.min()), float(loss.max()))
        pad = 0.05 * (hi - lo)
        accs = [clip.masked(v).compressed() for s in ss for n, v in s.values.items() if n.endswith("_acc")]
        acc = np.concatenate(accs) if accs else np.empty(0)
        a_lo, a_hi = spread(float(acc.min()), float(acc.max())) if acc.size else (0.0, 1.0)
        return (dataclasses.replace(o, vmin=unscaled(lo - pad) if o.vmin is None else o.vmin,
                                    vmax=unscaled(hi + pad) if o.vmax is None else o.vmax), None,
                (a_lo - 0.05 * (a_hi - a_lo), a_hi + 0.05 * (a_hi - a_lo)) if acc.size else None)
    everything = np.ma.concatenate([metric_values(s, o)[1].ravel() for s in ss])
    lo, hi = spread(float(everything.min()), float(everything.max()))
    levels = contour_levels(everything, o)
    steps = np.diff(levels)
    vmin, vmax, count = o.vmin, o.vmax, o.levels
    if (None, None, None, None) == (o.vmin, o.vmax, o.levels, o.vlevel) and len(levels) >= 2 and \
            np.allclose(steps, steps[0], rtol=1e-6):  # the same levels: vmin, vmax one step beyond them
        vmin, vmax, count = unscaled(levels[0] - steps[0]), unscaled(levels[-1] + steps[0]), len(levels)
    else:
        vmin = unscaled(lo) if vmin is None else vmin
        vmax = unscaled(hi) if vmax is None else vmax
        count = count if count is not None or o.vlevel is not None else min(STYLE.max_levels, max(1, len(levels)))
    shared = dataclasses.replace(o, vmin=vmin, vmax=vmax, levels=count)
    if kind is not Kind.surface:
        return shared, None, None
    cap = clip.cap(everything, o.zmax, o.log)
    norm: Normalize = (CenteredNorm(0.0, max(abs(lo), abs(cap)) or 1.0) if o.look.diverging
                       else Normalize(*spread(min(lo, cap), cap)))
    zmax = o.zmax if o.zmax is not None else unscaled(cap)
    return dataclasses.replace(shared, zmax=zmax), (norm, cap), None


def _video() -> Any:
    """imageio's v2 API, with its ffmpeg (the `video` extra); LandscapeError without them."""
    try:
        import imageio.v2 as iio
        import imageio_ffmpeg  # noqa: F401  (the encoder imageio's ffmpeg plugin runs)
    except ImportError:
        raise LandscapeError(VIDEO_MISSING, field="format") from None
    return iio


def _write_gif(target: Path, render: Callable[[Emit], None], fps: float, hold: int) -> None:
    """Render every frame, then write the GIF: one adaptive palette over the frames (so colours do
    not flicker between them), no dithering, looping; the last frame held `hold` frames longer."""
    frames: list[np.ndarray] = []
    render(frames.append)
    palette, colours = _palette(frames[:: max(1, len(frames) // 8)][:8] + [frames[-1]])
    images = [_indexed(f, palette, colours) for f in frames]
    frame_ms = 10 * max(2, round(100 / fps))  # GIF delays are in hundredths of a second; below 20 ms players slow down
    durations = [frame_ms] * len(images)
    durations[-1] += frame_ms * hold
    write_file(target, lambda f: images[0].save(f, format="GIF", save_all=True, append_images=images[1:],
                                            duration=durations, loop=0, optimize=False))


def _packed(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) uint8 colours as single integers 0xRRGGBB."""
    c = rgb.astype(np.int32)
    return (c[..., 0] << 16) | (c[..., 1] << 8) | c[..., 2]


def _palette(frames: list[np.ndarray]) -> tuple[Any, np.ndarray]:
    """One GIF palette for all the frames (a "P" image, and its colours packed): the 64 commonest
    colours of these frames exactly (background, text, run colours), the rest in 192 more."""
    from PIL import Image

    pixels = np.concatenate([f.reshape(-1, 3) for f in frames])
    packed = _packed(pixels)
    colours, counts = np.unique(packed, return_counts=True)
    if len(colours) > 256:
        top = colours[np.argsort(counts, kind="stable")[::-1][:64]]
        near = Image.fromarray(pixels[~np.isin(packed, top)][:, None, :]).quantize(
            192, method=Image.Quantize.MAXCOVERAGE, dither=Image.Dither.NONE)
        colours = np.concatenate([top, _packed(np.asarray(near.getpalette()[:576], dtype=np.uint8).reshape(-1, 3))])
    rgb = np.stack([(colours >> 16) & 255, (colours >> 8) & 255, colours & 255], axis=-1).astype(np.uint8)
    palette = Image.new("P", (1, 1))
    palette.putpalette(rgb.ravel().tolist() + rgb[:1].ravel().tolist() * (256 - len(rgb)))
    return palette, colours


def _indexed(frame: np.ndarray, palette: Any, colours: np.ndarray) -> Any:
    """A frame in the palette's colours: Pillow's nearest colour (fast, from a coarse cache), then
    every pixel whose colour the palette holds exactly set to it (white stays white)."""
    from PIL import Image

    image = Image.fromarray(frame).quantize(palette=palette, dither=Image.Dither.NONE)
    index, order, packed = np.asarray(image).copy(), np.argsort(colours, kind="stable"), _packed(frame)
    keys = colours[order]
    at = np.minimum(np.searchsorted(keys, packed), len(keys) - 1)
    exact = keys[at] == packed
    index[exact] = order[at[exact]]
    image.frombytes(index.tobytes())
    return image


def _write_mp4(iio: Any, target: Path, render: Callable[[Emit], None], fps: float, hold: int) -> None:
    """Render the frames straight into ffmpeg (H.264, yuv420p: plays in slides and browsers), in a
    temporary folder; then copy the video over the target whole."""
    with tempfile.TemporaryDirectory(prefix="landscape-") as folder:
        tmp = Path(folder) / f"animation{target.suffix}"
        writer = iio.get_writer(tmp, format="FFMPEG", mode="I", fps=fps, codec="libx264", quality=8,
                                pixelformat="yuv420p", macro_block_size=2, ffmpeg_log_level="error")
        last: list[np.ndarray] = []
        try:
            def emit(frame: np.ndarray) -> None:
                writer.append_data(frame)
                last[:] = [frame]
            render(emit)
            for _ in range(hold):
                writer.append_data(last[0])
        finally:
            writer.close()

        def copy(f: Any) -> None:
            with open(tmp, "rb") as src:
                shutil.copyfileobj(src, f, 1 << 20)
        write_file(target, copy)

