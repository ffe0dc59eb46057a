"""A surface as the figures see it: its metric's values (log10, masked where they cannot be
drawn), which kinds fit it, its clip height, and the words for what a figure leaves out
("23 of 49 points computed", "2 computed points have an inf or NaN loss").
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from landscape import store
from landscape.errors import LandscapeError, arg
from landscape.export import clip
from landscape.export.clip import drawable
from landscape.plot.options import (ALL_1D, ALL_2D, COMPARE_1D, COMPARE_2D, DEFAULTS_1D, DEFAULTS_2D, FITS_1D, FITS_2D,
                                    GRID_KINDS, Kind, Metric, PlotOptions)
from landscape.store import Surface


def stem_of(s: Surface | Path | None) -> str:
    """`store.stem` of a surface's file, or of a path."""
    return store.stem(s.path if isinstance(s, Surface) else s)


def metric_values(s: Surface, o: PlotOptions) -> tuple[str, np.ma.MaskedArray]:
    """The metric's name and its masked values (log10 if o.log); at least one must be finite."""
    name, v = s.metric(o.metric.value)
    z = clip.scaled(v, o.log)
    if z.count() == 0:
        if o.log and drawable(v).any():
            raise LandscapeError(f"{s.name}: {arg('log', True)} needs positive values, and every drawable "
                                 f"{o.metric.value} value is ≤ 0; drop {arg('log', True)}", field="log")
        raise LandscapeError(f"{s.name}: no computed points to plot ({blanks(s) or 'every value is inf or NaN'})")
    return name, z


def diverged_words(v: np.ndarray, computed: np.ndarray) -> tuple[int, str]:
    """How many computed points cannot be drawn, and what they hold ("an inf or NaN loss")."""
    bad = computed & ~drawable(v)
    huge = bool((bad & np.isfinite(v)).any())
    return int(bad.sum()), ("an inf, NaN or huge (beyond ±1e100) loss" if huge else "an inf or NaN loss")


def blanks(surface: Surface) -> str:
    """One line on what the figures leave blank; empty if every point is computed and finite."""
    s = surface
    parts = []
    missing = int((~s.computed).sum())
    if missing:
        parts.append(f"{missing} of {s.computed.size} points not computed yet (hatched in the figures)")
    if any(n.endswith("_loss") for n in s.values):
        bad, what = diverged_words(s.metric("loss")[1], s.computed)
        if bad:
            parts.append(f"{bad} computed points have {what} (hatched red in the figures)")
    return "; ".join(parts)


def fitting_kinds(surfaces: Sequence[Surface], metric: Metric = Metric.loss) -> tuple[Kind, ...]:
    """The kinds that can be drawn of these surfaces (one, or several compared) and this metric."""
    two = surfaces[0].is_2d
    fit = (FITS_2D if two else FITS_1D) if len(surfaces) == 1 else (COMPARE_2D if two else COMPARE_1D)
    return tuple(k for k in fit if k is not Kind.barcode or metric is Metric.loss)


def kinds_to_write(surfaces: Sequence[Surface], o: PlotOptions) -> tuple[Kind, ...]:
    """The kinds to write: the defaults, or those asked for with "all" expanded to what fits."""
    if o.kinds is None:
        return DEFAULTS_2D if surfaces[0].is_2d else DEFAULTS_1D
    everything = ALL_2D if surfaces[0].is_2d else ALL_1D
    fit = fitting_kinds(surfaces, o.metric)
    if any(s.is_2d and min(s.computed.shape) < 2 for s in surfaces):  # a 1 x N grid: only what needs no area
        fit = tuple(k for k in fit if k not in GRID_KINDS)
    return tuple(dict.fromkeys(k for r in o.kinds for k in ([e for e in everything if e in fit]
                                                              if r is Kind.all else [r])))


def check_kind(surfaces: Sequence[Surface], kind: Kind, o: PlotOptions = PlotOptions()) -> None:
    """Raise LandscapeError, saying what fits instead, if `kind` cannot be drawn of these surfaces."""
    if len({s.is_2d for s in surfaces}) > 1:
        raise LandscapeError("cannot compare 1-D and 2-D surfaces in one figure; give files of one kind")
    if kind is Kind.barcode and o.metric is not Metric.loss:
        raise LandscapeError(f"the barcode shows the basins of the loss, not of {o.metric.value}; use "
                             f"{arg('metric', 'loss')}", field="metric")
    fit = fitting_kinds(surfaces, o.metric)
    if kind not in fit:
        what = ("2-D" if surfaces[0].is_2d else "1-D") + (" surfaces compared" if len(surfaces) > 1 else " surface")
        choices = ", ".join(k.value for k in fit)
        raise LandscapeError(f"kind {kind.value!r} does not fit a {what}; use one of: {choices}", field="kinds")
    if kind in GRID_KINDS:
        for s in surfaces:
            if min(s.computed.shape) < 2:
                raise LandscapeError(f"{s.name}: a {kind.value} figure needs at least 2 points along x and y, "
                                     f"the grid is {len(s.x)} x {len(s.y)}; use vtk or compute a larger grid",
                                     field="kinds")


def progress_notes(ss: Sequence[Surface], hatched: bool) -> list[str]:
    """"23 of 49 points computed (...)" for each incomplete surface; computed points with an inf/NaN loss."""
    notes = []
    for s in ss:
        who = f"{stem_of(s)}: " if len(ss) > 1 else ""
        done, total = int(s.computed.sum()), s.computed.size
        if done < total:
            notes.append(f"{who}{done} of {total} points computed" + (" (hatched: not yet)" if hatched else ""))
        if any(n.endswith("_loss") for n in s.values):
            bad, what = diverged_words(s.metric("loss")[1], s.computed)
            if bad:
                notes.append(f"{who}{bad} computed point{'s have' if bad > 1 else ' has'} {what}"
                             + (" (hatched red)" if hatched else ""))
    return notes


def clip_height(surface: Surface, options: PlotOptions = PlotOptions()) -> float | None:
    """Where the 3-D surface and the exported meshes are cut, in the metric's units (a loss even
    with `log`); None when nothing is above it (or `zmax` is inf)."""
    if options.zmax == np.inf:
        return None
    _, z = metric_values(surface, options)
    return clip.clip_height(z, options.zmax, options.log)


def note_lines(ss: Sequence[Surface], extra: Sequence[str] = ()) -> list[str]:
    """The small print of a figure, one line each: the files' `note` attributes (e.g. "PCA
    directions, not filter-normalized"), then `extra` (what the figure leaves out or distorts)."""
    return list(dict.fromkeys([str(s.attrs["note"]) for s in ss if s.attrs.get("note")] + list(extra)))


def check_labels(ss: Sequence[Surface], o: PlotOptions) -> None:
    """Raise LandscapeError unless `labels`, when given, names each surface once."""
    if o.labels is not None and len(o.labels) != len(ss):
        raise LandscapeError(f"{arg('labels')} gives {len(o.labels)} name{'s' if len(o.labels) != 1 else ''} for "
                             f"{len(ss)} file{'s' if len(ss) != 1 else ''}; give one name per file, in order",
                             field="labels")
