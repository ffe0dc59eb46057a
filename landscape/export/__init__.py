"""Surfaces for other programs: an interactive web page, and meshes for 3-D tools.

- `write_html`: one self-contained page made with plotly (plotly.js inlined, so it opens offline):
  the 3-D surface beside its contour map, sharing one colour scale, with hover values and the
  surface's tracks; a 1-D surface gets a line chart of loss and accuracy.
- `write_obj` (Wavefront, for Blender and most 3-D tools) and `write_ply` (ASCII Stanford, with
  viridis vertex colours, for MeshLab, CloudCompare, Blender): the triangle mesh of `mesh`.

Every writer takes the metric, `log` (log10 of the loss) and `zmax` (a clip height in the
metric's units). Points not computed, non-finite (also a log of a loss <= 0) or above zmax are
left out, so they are holes in the drawing, never a flat top. Heights are the metric's values
themselves; the meshes say so in their header, since a 3-D tool may want Z scaled.

Plotly is optional (the `html` extra) and imported only by `write_html`; matplotlib is never
imported here (the viridis ramp is a small table below).
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from landscape.errors import LandscapeError
from landscape.store.surface_file import Surface, Track, metric_label, stem

if TYPE_CHECKING:
    import plotly.graph_objects as go

PLOTLY_MISSING = "--kind html needs plotly: pip install plotly (or pip install 'landscape-viz[html]')"

# matplotlib's viridis at 17 evenly spaced stops; linear interpolation between them stays
# within 6/255 of the full colormap.
VIRIDIS = np.array([
    (0.2670, 0.0049, 0.3294), (0.2823, 0.0950, 0.4173), (0.2788, 0.1755, 0.4834), (0.2590, 0.2515, 0.5247),
    (0.2297, 0.3224, 0.5457), (0.1994, 0.3876, 0.5546), (0.1727, 0.4488, 0.5579), (0.1490, 0.5081, 0.5573),
    (0.1276, 0.5669, 0.5506), (0.1206, 0.6258, 0.5335), (0.1579, 0.6838, 0.5017), (0.2461, 0.7389, 0.4520),
    (0.3692, 0.7889, 0.3829), (0.5160, 0.8312, 0.2943), (0.6785, 0.8637, 0.1895), (0.8456, 0.8873, 0.0997),
    (0.9932, 0.9062, 0.1439),
])

RUN_COLORS = ("#d62728", "#ff7f0e", "#e377c2", "#17becf", "#8c564b", "#bcbd22", "#7f7f7f", "#1f77b4")


def viridis(t: np.ndarray) -> np.ndarray:
    """(n, 3) uint8 colours of the viridis ramp at t in [0, 1] (clipped)."""
    t = np.clip(np.asarray(t, dtype=np.float64), 0.0, 1.0)
    stops = np.linspace(0.0, 1.0, len(VIRIDIS))
    rgb = np.stack([np.interp(t, stops, VIRIDIS[:, c]) for c in range(3)], axis=-1)
    return np.round(255 * rgb).astype(np.uint8)


# ---------------------------------------------------------------- heights


@dataclass(frozen=True)
class Heights:
    """What a writer draws: the metric's raw values and its heights (log10 with `log`), NaN
    where a point is left out (not computed, non-finite, or clipped)."""

    name: str  # the value's name in the file, e.g. "train_loss"
    raw: np.ndarray  # the metric as stored (NaN where not computed), grid shape
    z: np.ndarray  # heights, grid shape; NaN: left out
    log: bool
    zmax: float | None  # the clip in the metric's units; None: no clip

    @property
    def label(self) -> str:
        return ("log10 " if self.log else "") + metric_label(self.name)

    @property
    def clip_text(self) -> str:
        if self.zmax is None:
            return "none"
        return f"values above {self.zmax:g} left out"


def _is_loss(name: str) -> bool:
    return name == "loss" or name.endswith("_loss")


def heights(surface: Surface, metric: str = "loss", log: bool = False, zmax: float | None = None) -> Heights:
    """The metric of `surface` as heights; raises LandscapeError if nothing is left to draw."""
    name, raw = surface.metric(metric)
    if log and not _is_loss(name):
        raise LandscapeError(f"--log applies to the loss only, not {name}; drop --log or use --metric loss")
    if zmax is not None and (np.isnan(zmax) or zmax == -np.inf):
        raise LandscapeError(f"--zmax must be a number, got {zmax}")
    if log and zmax is not None and zmax <= 0:
        raise LandscapeError(f"--zmax must be > 0 with --log (it is a loss), got {zmax}")
    if zmax == np.inf:
        zmax = None
    raw = np.where(surface.computed, np.asarray(raw, dtype=np.float64), np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.log10(raw) if log else raw.copy()
        keep = np.isfinite(z) & (raw <= zmax if zmax is not None else True)
    z[~keep] = np.nan
    if not keep.any():
        done = int(surface.computed.sum())
        why = ("no point is computed yet" if done == 0 else
               f"of {done} computed points none is finite{' and at most --zmax' if zmax is not None else ''}")
        raise LandscapeError(f"{surface.name}: nothing to export: {why}")
    return Heights(name, raw, z, log, None if zmax is None else float(zmax))


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


# ---------------------------------------------------------------- meshes


@dataclass(frozen=True)
class Mesh:
    """A triangle mesh of a 2-D surface: one vertex per drawn point, two triangles per grid cell
    whose four corners are drawn, wound counter-clockwise seen from above (normals up, +z)."""

    vertices: np.ndarray  # (n, 3) x, y, height
    values: np.ndarray  # (n,) the metric's raw value at each vertex
    faces: np.ndarray  # (m, 3) 0-based vertex indices
    heights: Heights

    @property
    def ramp(self) -> np.ndarray:
        """(n,) each height mapped to [0, 1] over the drawn range (0.5 for a flat surface)."""
        z = self.vertices[:, 2]
        lo, hi = float(z.min()), float(z.max())
        return np.full(len(z), 0.5) if hi - lo <= 1e-12 * max(1.0, abs(lo)) else (z - lo) / (hi - lo)


def mesh(surface: Surface, metric: str = "loss", log: bool = False, zmax: float | None = None) -> Mesh:
    """The triangle mesh of a 2-D surface (see Mesh and `heights`)."""
    if not surface.is_2d:
        raise LandscapeError(f"{surface.name}: a mesh needs a 2-D surface (this one is 1-D); "
                             "use --kind line or html")
    h = heights(surface, metric, log, zmax)
    assert surface.y is not None
    keep = np.isfinite(h.z)  # (ny, nx)
    index = np.full(keep.shape, -1, dtype=np.int64)
    index[keep] = np.arange(int(keep.sum()))
    X, Y = np.meshgrid(surface.x, surface.y)
    vertices = np.stack([X[keep], Y[keep], h.z[keep]], axis=1)
    # corners of each cell: a = (i, j), b = (i+1, j), c = (i+1, j+1), d = (i, j+1)
    a, b, c, d = index[:-1, :-1], index[:-1, 1:], index[1:, 1:], index[1:, :-1]
    whole = (a >= 0) & (b >= 0) & (c >= 0) & (d >= 0)
    a, b, c, d = a[whole], b[whole], c[whole], d[whole]
    faces = np.stack([np.stack([a, b, c], 1), np.stack([a, c, d], 1)], axis=1).reshape(-1, 3)  # (2 cells, 3)
    # decreasing coordinates mirror the cell: flip those triangles so every normal points up
    p = vertices[:, :2]
    e1, e2 = p[faces[:, 1]] - p[faces[:, 0]], p[faces[:, 2]] - p[faces[:, 0]]
    down = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0] < 0
    faces[down] = faces[down][:, ::-1]
    return Mesh(vertices, h.raw[keep], faces, h)


def _header(m: Mesh, surface: Surface, fmt: str) -> list[str]:
    """Comment lines (without the comment mark) describing the mesh; one line each, ASCII only,
    since PLY headers are ASCII and a label may hold any text."""
    h = m.heights
    units = "decades (log10) of the metric" if h.log else "the metric's units"
    lines = [
        f"landscape surface mesh ({fmt}) of {surface.name}",
        f"metric: {h.name}; z = {'log10 of the value' if h.log else 'the value itself'}; x, y: the plane's coordinates",
        f"x: {surface.attrs.get('xlabel') or 'direction 1'}; y: {surface.attrs.get('ylabel') or 'direction 2'}",
        f"clip: {h.clip_text}; points not computed, non-finite or clipped are holes",
        f"{len(m.vertices)} vertices, {len(m.faces)} triangles; "
        f"z from {m.vertices[:, 2].min():.6g} to {m.vertices[:, 2].max():.6g}",
        f"z is in {units}: scale Z in the 3-D tool if the surface looks too flat or too steep",
    ]
    return [" ".join(line.split()).encode("ascii", "backslashreplace").decode() for line in lines]


def write_obj(path: Path, surface: Surface, metric: str = "loss", log: bool = False,
              zmax: float | None = None) -> None:
    """Wavefront OBJ of `mesh`: `v x y z`, a texture coordinate `vt u 0.5` per vertex with u the
    height mapped to [0, 1] (apply a colour ramp image along u), and `f v/vt ...` triangles,
    1-based, counter-clockwise seen from +z."""
    m = mesh(surface, metric, log, zmax)
    lines = [f"# {line}" for line in _header(m, surface, "Wavefront OBJ")]
    lines.append("# vt: u = height mapped to [0, 1] over the drawn range, for a colour ramp")
    lines.append("o landscape")
    lines += [f"v {x:.9g} {y:.9g} {z:.9g}" for x, y, z in m.vertices]
    lines += [f"vt {u:.6f} 0.5" for u in m.ramp]
    lines += [f"f {a}/{a} {b}/{b} {c}/{c}" for a, b, c in m.faces + 1]
    Path(path).write_text("\n".join(lines) + "\n")


def write_ply(path: Path, surface: Surface, metric: str = "loss", log: bool = False,
              zmax: float | None = None) -> None:
    """ASCII Stanford PLY of `mesh`: vertices with float x, y, z, uchar red, green, blue (viridis
    over the height) and a float property named for the metric holding its raw value;
    triangles counter-clockwise seen from +z."""
    m = mesh(surface, metric, log, zmax)
    value = "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in m.heights.name)
    rgb = viridis(m.ramp)
    lines = ["ply", "format ascii 1.0", *(f"comment {line}" for line in _header(m, surface, "Stanford PLY")),
             f"comment vertex colour: viridis over z; {value}: the metric's value (not its log)",
             f"element vertex {len(m.vertices)}",
             "property float x", "property float y", "property float z",
             "property uchar red", "property uchar green", "property uchar blue",
             f"property float {value}",
             f"element face {len(m.faces)}", "property list uchar int vertex_indices", "end_header"]
    lines += [f"{x:.9g} {y:.9g} {z:.9g} {r} {g} {b} {v:.9g}"
              for (x, y, z), (r, g, b), v in zip(m.vertices, rgb, m.values)]
    lines += [f"3 {a} {b} {c}" for a, b, c in m.faces]
    Path(path).write_text("\n".join(lines) + "\n")


# ---------------------------------------------------------------- interactive page


def _plotly() -> Any:
    try:
        import plotly.graph_objects as go
        from plotly.subplots import make_subplots
    except ImportError:
        raise LandscapeError(PLOTLY_MISSING) from None
    return go, make_subplots


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
           title: str | None = None) -> "go.Figure":
    """The plotly figure `write_html` saves: for a 2-D surface the 3-D surface (left) and its
    contour map (right) on one colour scale, with the tracks drawn on both; for a 1-D surface
    loss and accuracy (right axis) along the line."""
    go, make_subplots = _plotly()
    h = heights(surface, metric, log, zmax)
    title = title if title is not None else stem(surface.path)
    if surface.is_2d:
        fig = _figure_2d(go, make_subplots, surface, h)
    else:
        fig = _figure_1d(go, make_subplots, surface, h)
    fig.update_layout(title={"text": html.escape(title), "x": 0.5, "xanchor": "center"}, template="plotly_white",
                      legend={"orientation": "h", "x": 0.5, "xanchor": "center", "yref": "container", "y": 0.0,
                              "yanchor": "bottom"},
                      margin={"l": 10, "r": 10, "t": 60, "b": 10}, hoverlabel={"align": "left"})
    return fig


def _figure_2d(go: Any, make_subplots: Any, s: Surface, h: Heights) -> "go.Figure":
    assert s.y is not None
    xl, yl = (html.escape(str(s.attrs.get(k) or d)) for k, d in (("xlabel", "direction 1"), ("ylabel", "direction 2")))
    fig = make_subplots(rows=1, cols=2, column_widths=[0.58, 0.42], horizontal_spacing=0.1,
                        specs=[[{"type": "scene"}, {"type": "xy"}]],
                        subplot_titles=("surface (drag to turn)", "contour map"))
    shown = _hover_values(s, h)
    custom = np.stack([v for _, v in shown], axis=-1)  # (ny, nx, k)
    hover = (f"{xl}: %{{x:.4~g}}<br>{yl}: %{{y:.4~g}}<br>"
             + "<br>".join(f"{html.escape(label)}: %{{customdata[{k}]:.5~g}}" for k, (label, _) in enumerate(shown))
             + "<extra></extra>")
    z = h.z
    lo, hi = float(np.nanmin(z)), float(np.nanmax(z))
    common = {"x": s.x, "y": s.y, "z": z, "customdata": custom, "hovertemplate": hover, "coloraxis": "coloraxis"}
    fig.add_trace(go.Surface(name=h.label, **common), row=1, col=1)
    fig.add_trace(go.Contour(name=h.label, connectgaps=False, ncontours=25,
                             contours={"coloring": "heatmap", "showlines": True},
                             line={"width": 0.5, "color": "rgba(255,255,255,0.5)"}, **common), row=1, col=2)
    lift = 0.01 * (hi - lo or 1.0)  # keeps a path on the surface from sinking into it
    for name, track in s.tracks.items():
        tz = bilinear(s.x, s.y, z, track.x, track.y) + lift
        if name == "trajectory":
            _add_runs(go, fig, track, tz)
        else:
            text = [_track_text(track, k, "") for k in range(len(track.x))]
            style = {"mode": "markers+text", "text": [html.escape(str(n)) for n in track.names], "hovertext": text,
                     "hovertemplate": "%{hovertext}<extra></extra>", "name": name, "legendgroup": name}
            fig.add_trace(go.Scatter3d(x=track.x, y=track.y, z=tz, marker={"size": 6, "color": "#d62728",
                                       "symbol": "diamond", "line": {"color": "white", "width": 1}},
                                       textposition="top center", **style), row=1, col=1)
            fig.add_trace(go.Scatter(x=track.x, y=track.y, marker={"size": 10, "color": "#d62728", "symbol": "diamond",
                                     "line": {"color": "white", "width": 1}}, textposition="top center",
                                     showlegend=False, **style), row=1, col=2)
    span = np.ptp(s.y) / np.ptp(s.x) if np.ptp(s.x) > 0 and np.ptp(s.y) > 0 else 1.0
    aspect = {"x": 1.0, "y": float(np.clip(span, 0.25, 4.0)), "z": 0.7}
    fig.update_scenes(xaxis_title=xl, yaxis_title=yl, zaxis_title=h.label, aspectmode="manual",
                      aspectratio=aspect, camera={"eye": {"x": -1.7, "y": -1.8, "z": 1.25}})
    fig.update_xaxes(title_text=xl, row=1, col=2, constrain="domain")
    fig.update_yaxes(title_text=yl, row=1, col=2, scaleanchor="x", scaleratio=1, constrain="domain")
    fig.update_layout(coloraxis={"colorscale": "Viridis", "cmin": lo, "cmax": hi,
                                 "colorbar": {"title": {"text": h.label, "side": "right"}, "len": 0.8}})
    return fig


def _add_runs(go: Any, fig: "go.Figure", track: Track, tz: np.ndarray) -> None:
    """Each run of a trajectory in its own colour on both panels, start (circle) and end (square)
    marked, hover naming the checkpoint, its epoch and how far it lies off the plane."""
    runs = track.runs()
    for r, (run_name, idx) in enumerate(runs):
        if len(idx) == 0:
            continue
        color = RUN_COLORS[r % len(RUN_COLORS)]
        label = run_name or "trajectory"
        ends = ["start" if k == 0 else "end" if k == len(idx) - 1 else "" for k in range(len(idx))]
        text = [_track_text(track, int(i), e) for i, e in zip(idx, ends)]
        sizes = [9 if e else 4 for e in ends]
        group = {"name": label, "legendgroup": f"run{r}", "hovertext": text,
                 "hovertemplate": "%{hovertext}<extra>" + html.escape(label) + "</extra>"}
        symbols = ["circle-open" if e == "start" else "square" if e == "end" else "circle" for e in ends]
        fig.add_trace(go.Scatter3d(x=track.x[idx], y=track.y[idx], z=tz[idx], mode="lines+markers",
                                   line={"color": color, "width": 5},
                                   marker={"color": color, "size": sizes, "symbol": symbols}, **group),
                      row=1, col=1)
        fig.add_trace(go.Scatter(x=track.x[idx], y=track.y[idx], mode="lines+markers", showlegend=False,
                                 line={"color": color, "width": 2},
                                 marker={"color": color, "size": [s + 3 for s in sizes], "symbol": symbols,
                                         "line": {"color": color, "width": 2}}, **group),
                      row=1, col=2)
    for name, symbol in (("start", "circle-open"), ("end", "square")):  # legend keys for the markers
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=name,
                                 marker={"color": "#444", "size": 9, "symbol": symbol, "line": {"width": 2}}),
                      row=1, col=2)


def _figure_1d(go: Any, make_subplots: Any, s: Surface, h: Heights) -> "go.Figure":
    xl, name = html.escape(str(s.attrs.get("xlabel") or "x")), html.escape(metric_label(h.name))
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    plain = np.where(np.isfinite(h.z), h.raw, np.nan)  # the metric, with the left-out points as gaps
    fig.add_trace(go.Scatter(x=s.x, y=plain, mode="lines+markers", name=name, marker={"size": 4},
                             line={"color": "#1f77b4", "width": 2},
                             hovertemplate=f"{xl}: %{{x:.4~g}}<br>%{{y:.5~g}}<extra>{name}</extra>"),
                  secondary_y=False)
    fig.update_yaxes(title_text=name, type="log" if h.log else "linear", secondary_y=False)
    if _is_loss(h.name):
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
    fig.update_xaxes(title_text=xl)
    return fig


def write_html(path: Path, surface: Surface, metric: str = "loss", log: bool = False,
               zmax: float | None = None, title: str | None = None) -> None:
    """One self-contained web page of `figure` (plotly.js inlined: it opens offline, no CDN);
    `title` defaults to the file's stem. Raises LandscapeError when plotly is not installed."""
    fig = figure(surface, metric, log, zmax, title)
    page = fig.to_html(include_plotlyjs=True, full_html=True, include_mathjax=False, default_height="100vh",
                       config={"displaylogo": False, "responsive": True})
    name = html.escape(title if title is not None else stem(surface.path))
    page = page.replace("<head>", f"<head><title>{name}</title><style>body {{ margin: 0; }}</style>", 1)
    Path(path).write_text(page, encoding="utf-8")
