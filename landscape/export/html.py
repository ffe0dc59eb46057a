"""The surface as an interactive web page made with plotly, in the static figures' look: the 3-D
surface beside its contour map, hover values, and the surface's tracks (each training run in its
colour of `colors.RUN_COLORS`, as in the figures); a 1-D surface gets a line chart of loss and
accuracy.

- Colours and levels: the figures' colorscale (`colorscale`; viridis by default) and contour
  levels (`levels`; about ten round ones by default), labelled with their values. Both panels
  share one colour scale: a height maps to its place among the levels (level k at k), so
  non-uniform levels (1-2-5 of a log scale) read as in the figures; uniform levels of a linear
  scale are drawn and labelled by plotly itself.
- Clip: the 3-D view is cut at the clip height `zmax` with a clean edge (`clip.clipped_mesh`, as
  the 3-D figure, the meshes and the VTK grid); the 2-D map is never clipped (every computed
  finite value; colours saturate above the cut).
- Camera: matplotlib's view_init(elev, azim) of the 3-D figure (35, -55 by default), z up.
- Tracks on the 3-D surface ride just above it (`LIFT`), following it between checkpoints.
- plotly.js: inlined (a standalone page that opens offline), or, with `js_folder`, written there
  once as `plotly-<version>.min.js` and loaded by a relative <script src>: pages in that folder
  share it and still open offline.

Plotly is optional (the `html` extra) and imported only when a page is made.
"""

from __future__ import annotations

import html
import math
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

from landscape.errors import LandscapeError, arg
from landscape.export.clip import Heights, check, clipped_mesh, heights, is_loss
from landscape.export.colors import VIRIDIS, run_color
from landscape.export.levels import fmt_value, log_levels, nice_levels
from landscape.export.meshes import triangles
from landscape.plane.directions import Track
from landscape.store import Surface, metric_label, stem
from landscape.store.files import replacing

if TYPE_CHECKING:
    import plotly.graph_objects as go

PLOTLY_MISSING = (f"the web page ({arg('kinds', 'html')}) needs plotly: pip install plotly "
                  "(or pip install 'landscape-viz[html]')")

ELEV, AZIM = 35.0, -55.0  # the static 3-D figure's default view (plot.style.STYLE), degrees
EYE = 3.3  # the camera's distance, in plotly's scene units: the box and its titles fit a panel of 800 x 600
SHIFT = 0.09  # the camera looks this far left of the box centre (scene units)
ASPECT = {"x": 1.0, "y": 1.0, "z": 0.75}  # matplotlib's 3-D box (4:4:3)
LIFT = 0.02  # tracks ride this share of the drawn height range above the 3-D surface
WRAP_3D, WRAP_2D = 20, 36  # axis titles wrap at this many characters, at most 2 lines (3-D) and 3 (2-D)
MARGIN = {"l": 20, "r": 20, "t": 70, "b": 20}  # pixels; axis titles, colorbar and legend push the rest
MAX_LABELS = 12  # contour labels at most (every other level of many)


def bilinear(x: np.ndarray, y: np.ndarray, z: np.ndarray, px: np.ndarray, py: np.ndarray) -> np.ndarray:
    """z (indexed [y, x]) interpolated bilinearly at the points (px, py); NaN outside the grid or
    where a corner that carries weight is NaN."""
    px, py = np.atleast_1d(np.asarray(px, dtype=np.float64)), np.atleast_1d(np.asarray(py, dtype=np.float64))
    xo, yo = np.argsort(x), np.argsort(y)
    xs, ys, zs = np.asarray(x, dtype=np.float64)[xo], np.asarray(y, dtype=np.float64)[yo], z[np.ix_(yo, xo)]

    def cell(c: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Lower index of the cell holding p, weight of the upper corner, and whether p is inside."""
        inside = (p >= c[0]) & (p <= c[-1])
        if len(c) == 1:
            return np.zeros(len(p), dtype=int), np.zeros(len(p)), inside
        i = np.clip(np.searchsorted(c, p, side="right") - 1, 0, len(c) - 2)
        return i, np.clip((p - c[i]) / (c[i + 1] - c[i]), 0.0, 1.0), inside

    i, tx, in_x = cell(xs, px)
    j, ty, in_y = cell(ys, py)
    i1, j1 = np.minimum(i + 1, len(xs) - 1), np.minimum(j + 1, len(ys) - 1)
    corners = [(j, i, (1 - tx) * (1 - ty)), (j, i1, tx * (1 - ty)), (j1, i, (1 - tx) * ty), (j1, i1, tx * ty)]
    total = np.zeros(len(px))
    broken = ~(in_x & in_y)
    for jj, ii, w in corners:
        v = zs[jj, ii]
        carries = w > 0
        broken |= carries & ~np.isfinite(v)
        total += np.where(carries & np.isfinite(v), w * np.nan_to_num(v), 0.0)
    return np.where(broken, np.nan, total)


def _interp_1d(x: np.ndarray, z: np.ndarray, px: np.ndarray) -> np.ndarray:
    return bilinear(x, np.zeros(1), z[None, :], px, np.zeros(len(np.atleast_1d(px))))


def _plotly() -> Any:
    try:
        import plotly.graph_objects as go
        from plotly.subplots import make_subplots
    except ImportError:
        raise LandscapeError(PLOTLY_MISSING, field="kinds") from None
    return go, make_subplots


# ---------------------------------------------------------------- the look: camera, colours, levels


def camera(elev: float | None = None, azim: float | None = None) -> dict[str, Any]:
    """Plotly's scene camera for matplotlib's view_init(elev, azim) (degrees; None: the static
    figure's default): the eye along (cos e cos a, cos e sin a, sin e) from the point looked at,
    z up; that point SHIFT to the screen's left of the box centre, so the titles on the box's
    left edge stay in view."""
    e, a = math.radians(ELEV if elev is None else elev), math.radians(AZIM if azim is None else azim)
    center = (SHIFT * math.sin(a), -SHIFT * math.cos(a), 0.0)
    direction = (math.cos(e) * math.cos(a), math.cos(e) * math.sin(a), math.sin(e))
    eye = tuple(c + EYE * d for c, d in zip(center, direction))
    return {"eye": dict(zip("xyz", eye)), "up": {"x": 0, "y": 0, "z": 1}, "center": dict(zip("xyz", center))}


def viridis_scale() -> list[list[Any]]:
    """Plotly's colorscale of `colors.VIRIDIS` (the meshes' ramp, matplotlib's viridis)."""
    stops = np.linspace(0.0, 1.0, len(VIRIDIS))
    return [[float(p), "rgb({},{},{})".format(*np.round(255 * c).astype(int))] for p, c in zip(stops, VIRIDIS)]


def _colorscale(colorscale: Any) -> list[list[Any]]:
    """The colorscale checked: [[position, colour], ...] from 0 to 1, positions increasing."""
    if colorscale is None:
        return viridis_scale()
    try:
        pairs = [[float(p), str(c)] for p, c in colorscale]
    except (TypeError, ValueError):
        pairs = []
    ok = len(pairs) >= 2 and pairs[0][0] == 0.0 and pairs[-1][0] == 1.0 and all(
        a[0] <= b[0] for a, b in zip(pairs, pairs[1:]))
    if not ok:
        raise LandscapeError(f"{arg('colorscale')} must be [[position, colour], ...] with positions rising "
                             f"from 0 to 1, e.g. [[0, '#440154'], [1, '#fde725']]", field="colorscale")
    return pairs


@dataclass(frozen=True)
class Levels:
    """The contour levels of the map, and the colour scale both panels share. A height z (log10
    with `log`) is drawn as `t(z)`: its place among the levels (level k at k, linear between
    them and beyond the ends), so each band between two levels gets an equal share of the
    colours, as the figures' banded colour scale; `native` (uniform levels of a linear scale):
    t is the height itself, and plotly draws and labels the levels."""

    values: np.ndarray  # the levels in the metric's units (the labels)
    pos: np.ndarray  # the levels as heights (log10 with log)
    native: bool

    def t(self, z: ArrayLike) -> np.ndarray:
        """Heights as drawn (NaN stays NaN)."""
        z = np.asarray(z, dtype=np.float64)
        if self.native:
            return z.copy()
        p = self.pos
        if len(p) == 1:
            return z - p[0]
        with np.errstate(invalid="ignore"):
            i = np.clip(np.searchsorted(p, z, side="right") - 1, 0, len(p) - 2)
            return i + (z - p[i]) / (p[i + 1] - p[i])

    @property
    def contours(self) -> dict[str, float]:
        """Plotly's start, end and size of the contour lines (in t)."""
        if not self.native:
            return {"start": 0.0, "end": float(len(self.pos) - 1), "size": 1.0}
        size = float(self.pos[1] - self.pos[0]) if len(self.pos) > 1 else max(abs(float(self.pos[0])), 1.0)
        return {"start": float(self.pos[0]), "end": float(self.pos[-1]), "size": size}

    @property
    def labelled(self) -> np.ndarray:
        """Indices of the levels that get a label: all of up to ten, else evenly about MAX_LABELS."""
        n = len(self.pos)
        return np.arange(0, n, 1 if n <= 10 else 2 if n <= 2 * MAX_LABELS - 4 else math.ceil(n / MAX_LABELS))


def levels_of(levels: ArrayLike | None, lo: float, top: float, log: bool) -> Levels:
    """The Levels of heights from lo to top (log10 with `log`): `levels` (the figures' levels in
    the metric's units: finite, > 0 with `log`), or about ten round ones when None or none usable."""
    v = np.empty(0) if levels is None else np.atleast_1d(np.asarray(levels, dtype=np.float64)).ravel()
    v = np.unique(v[np.isfinite(v) & ((v > 0) if log else True)])
    if not len(v):
        v = 10.0 ** log_levels(lo, top) if log else nice_levels(lo, top)
    pos = np.log10(v) if log else v
    d = np.diff(pos)
    uniform = len(pos) == 1 or bool(np.allclose(d, d[0], rtol=1e-6, atol=0.0))
    return Levels(v, pos, native=not log and uniform)


def _crossings(x: np.ndarray, y: np.ndarray, t: np.ndarray, k: float) -> np.ndarray:
    """(n, 2) points where the grid's edges cross the line t = k (linear along each edge)."""
    X, Y = np.meshgrid(x, y)
    found = []
    for a, b, ax, ay, bx, by in ((t[:, :-1], t[:, 1:], X[:, :-1], Y[:, :-1], X[:, 1:], Y[:, 1:]),
                                 (t[:-1, :], t[1:, :], X[:-1, :], Y[:-1, :], X[1:, :], Y[1:, :])):
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            cross = np.isfinite(a) & np.isfinite(b) & ((a - k) * (b - k) <= 0) & (a != b)
            f = (k - a[cross]) / (b[cross] - a[cross])
        found.append(np.stack([ax[cross] + f * (bx[cross] - ax[cross]), ay[cross] + f * (by[cross] - ay[cross])], 1))
    return np.concatenate(found)


def _label_points(x: np.ndarray, y: np.ndarray, t: np.ndarray, ks: np.ndarray,
                  every: np.ndarray) -> list[tuple[float, float] | None]:
    """A point on the line t = k for each k in `ks`: away from the map's border, from the points
    chosen before and from the lines of the other levels `every` (a label sits where its line
    has room). None where the line does not cross the grid."""
    scale = np.array([float(np.ptp(x)) or 1.0, float(np.ptp(y)) or 1.0])
    origin = np.array([float(x.min()), float(y.min())])
    lines = {float(k): (_crossings(x, y, t, float(k)) - origin) / scale for k in every}
    placed: list[np.ndarray] = []
    out: list[tuple[float, float] | None] = []
    for k in ks:
        c = lines[float(k)]
        c = c[::len(c) // 400 + 1]  # a few hundred candidates and neighbours are plenty
        if not len(c):
            out.append(None)
            continue
        score = 2 * np.minimum(c, 1 - c).min(axis=1)
        near = np.concatenate([np.empty((0, 2))] + [v for key, v in lines.items() if key != float(k)])
        if len(near):
            near = near[::len(near) // 2000 + 1]
            score = np.minimum(score, 2 * np.sqrt(((c[:, None, :] - near[None, :, :]) ** 2).sum(-1)).min(axis=1))
        for q in placed:
            score = np.minimum(score, np.hypot(*(c - q).T))
        best = c[int(np.argmax(score))]
        placed.append(best)
        out.append((float(origin[0] + best[0] * scale[0]), float(origin[1] + best[1] * scale[1])))
    return out


def _wrap(text: str, width: int, lines: int = 3) -> str:
    """Escaped text wrapped with <br> at `width` characters, at most `lines` lines (the last one
    ending in "…" if more are left out): an axis title that fits its panel."""
    wrapped = textwrap.wrap(text, width) or [""]
    if len(wrapped) > lines:
        rest = " ".join(wrapped[lines - 1:])
        wrapped = wrapped[:lines - 1] + [rest[:width - 1].rstrip() + "…"]
    return "<br>".join(html.escape(line) for line in wrapped)


# ---------------------------------------------------------------- the figure


def _hover_values(surface: Surface, h: Heights) -> list[tuple[str, np.ndarray]]:
    """(label, raw values) shown on hover: the metric, then the loss and accuracy if the file has them."""
    shown = [(metric_label(h.name), h.raw)]
    for kind in ("loss", "acc"):
        try:
            name, v = surface.metric(kind)
        except LandscapeError:
            continue
        if name != h.name:
            shown.append((metric_label(name), np.where(surface.computed, v, np.nan)))
    return shown


def _track_text(track: Track, k: int, kind: str) -> str:
    parts = [f"<b>{html.escape(str(track.names[k]))}</b>" if k < len(track.names) else f"point {k + 1}"]
    epoch = track.epochs[k] if k < len(track.epochs) else None
    if epoch is not None:
        parts.append(f"epoch {epoch}")
    if kind:
        parts.append(kind)
    parts.append(f"x {track.x[k]:.4g}, y {track.y[k]:.4g}")
    if track.residual is not None and np.isfinite(track.residual[k]):
        parts.append(f"off the plane {100 * track.residual[k]:.1f}%")
    return "<br>".join(parts)


def figure(surface: Surface, metric: str = "loss", log: bool = False, zmax: float | None = None,
           title: str | None = None, *, elev: float | None = None, azim: float | None = None,
           levels: ArrayLike | None = None, colorscale: Any = None) -> "go.Figure":
    """The plotly figure `write_html` saves: for a 2-D surface the 3-D surface (left, cut at
    `zmax`) and its contour map (right, never cut) on one colour scale, with the tracks drawn on
    both; for a 1-D surface loss and accuracy (right axis) along the line (not cut, as the
    figures' line). See `write_html` for the arguments."""
    go, make_subplots = _plotly()
    name, _ = surface.metric(metric)
    check(name, log, zmax)
    scale = _colorscale(colorscale)
    title = title if title is not None else stem(surface.path)
    if surface.is_2d:
        if zmax is not None and zmax != np.inf:
            heights(surface, metric, log, zmax)  # nothing left below zmax: the meshes' error
        h = heights(surface, metric, log, None)
        fig = _figure_2d(go, make_subplots, surface, h, None if zmax == np.inf else zmax,
                         (elev, azim), levels, scale)
    else:
        fig = _figure_1d(go, make_subplots, surface, heights(surface, metric, log, None))
    fig.update_layout(title={"text": html.escape(title), "x": 0.5, "xanchor": "center"}, template="plotly_white",
                      legend={"orientation": "h", "x": 0.5, "xanchor": "center", "yref": "container", "y": 0.0,
                              "yanchor": "bottom"},
                      margin=MARGIN, hoverlabel={"align": "left"})
    return fig


def _figure_2d(go: Any, make_subplots: Any, s: Surface, h: Heights, zmax: float | None,
               view: tuple[float | None, float | None], levels: ArrayLike | None, scale: list[list[Any]]) -> "go.Figure":
    assert s.y is not None
    x, y = np.asarray(s.x, dtype=np.float64), np.asarray(s.y, dtype=np.float64)
    xl, yl = (str(s.attrs.get(k) or d) for k, d in (("xlabel", "direction 1"), ("ylabel", "direction 2")))
    z = h.z  # every computed finite height: the map shows them all
    lo, hi = float(np.nanmin(z)), float(np.nanmax(z))
    cap = None if zmax is None else float(np.log10(zmax) if h.log else zmax)
    cut = cap is not None and cap < hi
    top = cap if cut and cap is not None else hi
    lv = levels_of(levels, lo, top, h.log)
    cmin, cmax = float(lv.t(lo)), float(lv.t(top))
    if not cmax > cmin:
        cmin, cmax = cmin - 0.5, cmax + 0.5
    note = f", cut above {fmt_value(float(zmax))}" if cut and zmax is not None else ""
    fig = make_subplots(rows=1, cols=2, column_widths=[0.6, 0.4], horizontal_spacing=0.12,
                        specs=[[{"type": "scene"}, {"type": "xy"}]],
                        subplot_titles=(f"surface (drag to turn){note}", "contour map"))
    shown = _hover_values(s, h)
    hover = (f"{html.escape(xl)}: %{{x:.4~g}}<br>{html.escape(yl)}: %{{y:.4~g}}<br>"
             + "<br>".join(f"{html.escape(label)}: %{{customdata[{k}]:.5~g}}" for k, (label, _) in enumerate(shown))
             + "<extra></extra>")
    grid_data = np.stack([v for _, v in shown], axis=-1)  # (ny, nx, k)
    if cut and cap is not None:
        fig.add_trace(_clipped_surface(go, x, y, z, cap, lv, shown, h.log, hover, h.label), row=1, col=1)
    else:
        fig.add_trace(go.Surface(name=h.label, x=x, y=y, z=z, surfacecolor=lv.t(z), coloraxis="coloraxis",
                                 customdata=grid_data, hovertemplate=hover), row=1, col=1)
    t = lv.t(z)
    labels = {"showlabels": True, "labelformat": ".4~g", "labelfont": {"size": 10, "color": "#333"}} if lv.native else {}
    fig.add_trace(go.Contour(name=h.label, x=x, y=y, z=t, customdata=grid_data, hovertemplate=hover,
                             coloraxis="coloraxis", connectgaps=False, autocontour=False,
                             contours={"coloring": "heatmap", "showlines": True, **lv.contours, **labels},
                             line={"width": 0.7, "color": "rgba(255,255,255,0.6)"}), row=1, col=2)
    if not lv.native:
        for k, at in zip(lv.labelled, _label_points(x, y, t, lv.labelled, np.arange(len(lv.pos)))):
            if at is not None:
                fig.add_annotation(x=at[0], y=at[1], text=fmt_value(float(lv.values[k])), showarrow=False,
                                   font={"size": 10, "color": "#222"}, bgcolor="rgba(255,255,255,0.6)", borderpad=1,
                                   row=1, col=2)
    lifted = np.minimum(z, top)  # a track over the cut rides at the cut
    lift = LIFT * (top - lo or 1.0)
    for name, track in s.tracks.items():
        if name == "trajectory":
            _add_runs(go, fig, track, x, y, lifted, lift)
        else:
            _add_models(go, fig, name, track, bilinear(x, y, lifted, track.x, track.y) + lift)
    label = metric_label(h.name) + (" (log scale)" if h.log else "")  # the scale reads in the metric's units
    colorbar: dict[str, Any] = {"title": {"text": html.escape(label), "side": "right"}, "len": 0.75}
    if not lv.native:
        ticks = [k for k in lv.labelled if cmin - 1e-9 <= k <= cmax + 1e-9]
        colorbar.update(tickvals=[float(k) for k in ticks], ticktext=[fmt_value(float(lv.values[k])) for k in ticks])
    scene: dict[str, Any] = {"xaxis_title": _wrap(xl, WRAP_3D, 2), "yaxis_title": _wrap(yl, WRAP_3D, 2),
                             "zaxis_title": _wrap(label, WRAP_3D, 2), "aspectmode": "manual", "aspectratio": ASPECT,
                             "camera": camera(*view)}
    for axis in ("xaxis", "yaxis", "zaxis"):  # small enough that the box and its titles fit beside the map
        scene.update({f"{axis}_title_font_size": 12, f"{axis}_tickfont_size": 11})
    if h.log:  # the z axis in the metric's units, at the levels
        inside = [k for k in lv.labelled if lo - 1e-9 <= lv.pos[k] <= top + 1e-9]
        scene.update(zaxis_tickvals=[float(lv.pos[k]) for k in inside],
                     zaxis_ticktext=[fmt_value(float(lv.values[k])) for k in inside])
    fig.update_scenes(**scene)
    fig.update_xaxes(title_text=_wrap(xl, WRAP_2D), row=1, col=2, constrain="domain", automargin=True)
    fig.update_yaxes(title_text=_wrap(yl, WRAP_2D), row=1, col=2, scaleanchor="x", scaleratio=1, constrain="domain",
                     automargin=True)
    fig.update_layout(coloraxis={"colorscale": scale, "cmin": cmin, "cmax": cmax, "colorbar": colorbar})
    return fig


def _clipped_surface(go: Any, x: np.ndarray, y: np.ndarray, z: np.ndarray, cap: float, lv: Levels,
                     shown: list[tuple[str, np.ndarray]], log: bool, hover: str, name: str) -> Any:
    """The 3-D surface cut by the plane z = cap (`clip.clipped_mesh`): a mesh of its polygons
    (quadrilaterals as two triangles), coloured by height, hover values at its vertices."""
    vertices, faces = triangles(clipped_mesh(x, y, z, cap)[0])
    vx, vy, vz = vertices.T
    data = [10.0 ** vz if log else vz] + [bilinear(x, y, v, vx, vy) for _, v in shown[1:]]
    return go.Mesh3d(name=name, x=vx, y=vy, z=vz, i=faces[:, 0], j=faces[:, 1], k=faces[:, 2],
                     intensity=lv.t(vz), intensitymode="vertex", coloraxis="coloraxis",
                     customdata=np.stack(data, axis=-1), hovertemplate=hover, flatshading=False)


def _along(x: np.ndarray, y: np.ndarray, step: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The path through the points (x, y) sampled every `step` at most: (x, y, the point each
    sample ends the segment at, whether the sample is that point itself)."""
    xs, ys, seg, at = [x[:1]], [y[:1]], [np.array([0])], [np.array([True])]
    for k in range(1, len(x)):
        d = math.hypot(x[k] - x[k - 1], y[k] - y[k - 1]) / step
        n = int(min(max(math.ceil(d), 1), 200)) if math.isfinite(d) else 1
        f = np.arange(1, n + 1) / n
        xs.append(x[k - 1] + f * (x[k] - x[k - 1]))
        ys.append(y[k - 1] + f * (y[k] - y[k - 1]))
        seg.append(np.full(n, k))
        at.append(np.arange(1, n + 1) == n)
    return np.concatenate(xs), np.concatenate(ys), np.concatenate(seg), np.concatenate(at)


def _add_runs(go: Any, fig: "go.Figure", track: Track, x: np.ndarray, y: np.ndarray, z: np.ndarray,
              lift: float) -> None:
    """Each run of a trajectory in its own colour on both panels, start (circle) and end (square)
    marked, hover naming the checkpoint, its epoch and how far it lies off the plane. On the 3-D
    surface the path follows the surface `lift` above it (sampled every half grid step)."""
    gaps = np.abs(np.concatenate([np.diff(x), np.diff(y)]))
    step = 0.5 * float(gaps[gaps > 0].min()) if (gaps > 0).any() else 0.05
    for r, (run_name, idx) in enumerate(track.runs()):
        if len(idx) == 0:
            continue
        color = run_color(r)
        label = run_name or "trajectory"
        ends = ["start" if k == 0 else "end" if k == len(idx) - 1 else "" for k in range(len(idx))]
        text = [_track_text(track, int(i), e) for i, e in zip(idx, ends)]
        sizes = [9 if e else 4 for e in ends]
        symbols = ["circle-open" if e == "start" else "square" if e == "end" else "circle" for e in ends]
        group = {"name": label, "legendgroup": f"run{r}",
                 "hovertemplate": "%{hovertext}<extra>" + html.escape(label) + "</extra>"}
        px, py, seg, at = _along(track.x[idx], track.y[idx], step)
        names = [html.escape(str(track.names[i])) if i < len(track.names) else f"point {i + 1}" for i in idx]
        hover3d = [text[k] if a else f"{names[k - 1]} to {names[k]}" for k, a in zip(seg, at)]
        fig.add_trace(go.Scatter3d(x=px, y=py, z=bilinear(x, y, z, px, py) + lift, mode="lines+markers",
                                   line={"color": color, "width": 5}, hovertext=hover3d,
                                   marker={"color": color, "size": [sizes[k] if a else 0 for k, a in zip(seg, at)],
                                           "symbol": [symbols[k] if a else "circle" for k, a in zip(seg, at)]},
                                   **group),
                      row=1, col=1)
        fig.add_trace(go.Scatter(x=track.x[idx], y=track.y[idx], mode="lines+markers", showlegend=False,
                                 line={"color": color, "width": 2}, hovertext=text,
                                 marker={"color": color, "size": [s + 3 for s in sizes], "symbol": symbols,
                                         "line": {"color": color, "width": 2}}, **group),
                      row=1, col=2)
    for name, symbol in (("start", "circle-open"), ("end", "square")):  # legend keys for the markers
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=name,
                                 marker={"color": "#444", "size": 9, "symbol": symbol, "line": {"width": 2}}),
                      row=1, col=2)


def _add_models(go: Any, fig: "go.Figure", name: str, track: Track, tz: np.ndarray) -> None:
    """Marked models (a track that is not a trajectory): labelled diamonds on both panels."""
    text = [_track_text(track, k, "") for k in range(len(track.x))]
    style = {"mode": "markers+text", "text": [html.escape(str(n)) for n in track.names], "hovertext": text,
             "hovertemplate": "%{hovertext}<extra></extra>", "name": name, "legendgroup": name,
             "textposition": "top center"}
    fig.add_trace(go.Scatter3d(x=track.x, y=track.y, z=tz, marker={"size": 6, "color": "#d62728", "symbol": "diamond",
                                                                  "line": {"color": "white", "width": 1}}, **style),
                  row=1, col=1)
    fig.add_trace(go.Scatter(x=track.x, y=track.y, marker={"size": 10, "color": "#d62728", "symbol": "diamond",
                                                           "line": {"color": "white", "width": 1}},
                             showlegend=False, **style), row=1, col=2)


def _figure_1d(go: Any, make_subplots: Any, s: Surface, h: Heights) -> "go.Figure":
    xl, name = html.escape(str(s.attrs.get("xlabel") or "x")), html.escape(metric_label(h.name))
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    plain = np.where(np.isfinite(h.z), h.raw, np.nan)  # the metric, with the left-out points as gaps
    fig.add_trace(go.Scatter(x=s.x, y=plain, mode="lines+markers", name=name, marker={"size": 4},
                             line={"color": "#1f77b4", "width": 2},
                             hovertemplate=f"{xl}: %{{x:.4~g}}<br>%{{y:.5~g}}<extra>{name}</extra>"),
                  secondary_y=False)
    fig.update_yaxes(title_text=name, type="log" if h.log else "linear", secondary_y=False)
    if is_loss(h.name):
        try:
            acc_name, acc = s.metric("acc")
        except LandscapeError:
            acc_name = None
        if acc_name is not None:
            acc, acc_label = np.where(s.computed & np.isfinite(acc), acc, np.nan), html.escape(metric_label(acc_name))
            fig.add_trace(go.Scatter(x=s.x, y=acc, mode="lines+markers", name=acc_label, marker={"size": 4},
                                     line={"color": "#ff7f0e", "width": 2, "dash": "dash"},
                                     hovertemplate=f"{xl}: %{{x:.4~g}}<br>%{{y:.4~g}}<extra>{acc_label}</extra>"),
                          secondary_y=True)
            fig.update_yaxes(title_text=acc_label, secondary_y=True, showgrid=False, tickmode="auto")
    for name, track in s.tracks.items():
        ty = _interp_1d(s.x, plain, track.x)
        text = [_track_text(track, k, "") for k in range(len(track.x))]
        fig.add_trace(go.Scatter(x=track.x, y=ty, mode="markers+text", name=name,
                                 text=[html.escape(str(n)) for n in track.names],
                                 textposition="top center", hovertext=text,
                                 hovertemplate="%{hovertext}<extra></extra>",
                                 marker={"size": 10, "color": "#d62728", "symbol": "diamond"}), secondary_y=False)
    fig.update_xaxes(title_text=xl, automargin=True)
    return fig


# ---------------------------------------------------------------- the page


def plotly_js(folder: str | Path) -> str:
    """Write plotly.js into `folder` as `plotly-<plotly's version>.min.js` unless it is there
    already (atomically: a temporary file renamed into place), and return that file name."""
    import plotly
    from plotly.offline import get_plotlyjs

    folder = Path(folder)
    name = f"plotly-{plotly.__version__}.min.js"
    target = folder / name
    if target.is_file() and target.stat().st_size > 0:
        return name
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with replacing(target) as f:  # readable as any file written here (a web server serves it)
            f.write(get_plotlyjs().encode("utf-8"))
    except OSError as e:
        raise LandscapeError(f"cannot write {str(target)!r}: {e.strerror or e}; choose another {arg('js_folder')}",
                             field="js_folder") from None
    return name


def write_html(path: Path, surface: Surface, metric: str = "loss", log: bool = False,
               zmax: float | None = None, title: str | None = None, *, elev: float | None = None,
               azim: float | None = None, levels: ArrayLike | None = None, colorscale: Any = None,
               js_folder: str | Path | None = None) -> None:
    """A web page of `figure`; `title` defaults to the file's stem. `zmax`: the 3-D view's clip
    height in the metric's units (None or inf: no cut; the 2-D map is never cut). `elev`, `azim`:
    the 3-D figure's view_init in degrees (None: 35, -55). `levels`: the figures' contour levels
    in the metric's units (None: about ten round ones). `colorscale`: the figures' colormap as a
    plotly colorscale [[position, colour], ...] (None: viridis). `js_folder` None: plotly.js is
    inlined (a standalone page, about 5 MB); a folder: plotly.js is written there once
    (`plotly_js`) and the page loads it by its file name, so the page must end up in that folder.
    Raises LandscapeError when plotly is not installed."""
    fig = figure(surface, metric, log, zmax, title, elev=elev, azim=azim, levels=levels, colorscale=colorscale)
    include: bool | str = True if js_folder is None else plotly_js(js_folder)
    page = fig.to_html(include_plotlyjs=include, full_html=True, include_mathjax=False, default_height="100vh",
                       config={"displaylogo": False, "responsive": True})
    name = html.escape(title if title is not None else stem(surface.path))
    page = page.replace("<head>", f"<head><title>{name}</title><style>body {{ margin: 0; }}</style>", 1)
    Path(path).write_text(page, encoding="utf-8")
