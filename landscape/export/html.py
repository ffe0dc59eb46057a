"""The surface as one self-contained interactive web page, made with plotly (plotly.js inlined,
so it opens offline): the 3-D surface beside its contour map on one colour scale, hover values,
and the surface's tracks (each training run in its colour of `colors.RUN_COLORS`, as in the
figures); a 1-D surface gets a line chart of loss and accuracy.

Plotly is optional (the `html` extra) and imported only when a page is made.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from landscape.errors import LandscapeError, arg
from landscape.export.clip import Heights, heights, is_loss
from landscape.export.colors import run_color
from landscape.plane.directions import Track
from landscape.store import Surface, metric_label, stem

if TYPE_CHECKING:
    import plotly.graph_objects as go

PLOTLY_MISSING = (f"the web page ({arg('kinds', 'html')}) needs plotly: pip install plotly "
                  "(or pip install 'landscape-viz[html]')")


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
        color = run_color(r)
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
