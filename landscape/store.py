"""The surface file: one self-contained HDF5 file per landscape.

Layout (compatible with the paper's code, tomgoldstein/loss-landscape):
- `xcoordinates` (nx,), and for a 2-D surface `ycoordinates` (ny,).
- `{split}_loss`, `{split}_acc` (split is "train" or "test"): a 2-D array has shape
  (ny, nx) and is indexed [row = y, column = x]: value [j, i] belongs to the point
  (x[i], y[j]), exactly what `np.meshgrid(x, y)` and `contour(x, y, Z)` expect. A 1-D
  surface has shape (nx,). Points not yet computed hold NaN.
- `computed`: bool mask of the same shape; it, not the value, says which points are done
  (a diverged model can have a NaN loss at a computed point).
- `xdirection`, `ydirection`: groups with one dataset per tensor named "0", "1", ... in
  the order of `model.parameters()` (dir type weights) or `model.state_dict()` (states);
  the attribute `names` lists the tensor names.
- Root attributes: every setting needed to reproduce the run; `settings` holds, as JSON,
  those a resumed run must match.

Files written by the paper's code (no `computed`, -1 for missing points) are read too.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch

from . import journal
from .directions import Directions, DirType
from .errors import LandscapeError
from .grid import Grid

FORMAT_VERSION = 1


TRACK_GROUPS = ("trajectory", "models")


@dataclass
class Track:
    """Named points in the plane: training paths ("trajectory", in training order) or a few models
    marked on the figure ("models").

    Stored as a group with `proj_xcoord`, `proj_ycoord` (the paper's projection-file names),
    `projection_residual` and `run` datasets, and string / integer array attributes `names`,
    `epochs` (-1 where unknown) and `run_names`.
    """

    x: np.ndarray  # (n,)
    y: np.ndarray  # (n,), zeros for a 1-D surface
    names: list[str]
    epochs: list[int | None]
    run: np.ndarray | None = None  # (n,) int: index into run_names of each point; None: a single run
    run_names: list[str] = field(default_factory=list)
    residual: np.ndarray | None = None  # (n,) share of each point's displacement off the plane, 0..1; None: unknown

    def runs(self) -> list[tuple[str, np.ndarray]]:
        """(name, point indices) of each run, in order; one unnamed run when `run` is None."""
        if self.run is None:
            return [("", np.arange(len(self.x)))]
        return [(self.run_names[k] if k < len(self.run_names) else f"run {k + 1}", np.flatnonzero(self.run == k))
                for k in range(int(self.run.max()) + 1 if len(self.run) else 0)]


def _strings(value: Any) -> list[str]:
    """A string-array attribute (or, in files of version 1, JSON text) as a list of str."""
    if isinstance(value, (str, bytes)):
        text = value.decode() if isinstance(value, bytes) else value
        try:
            parsed = json.loads(text)
        except ValueError:
            return [text]
        return [str(v) for v in parsed] if isinstance(parsed, list) else [text]
    return [v.decode() if isinstance(v, bytes) else str(v) for v in np.asarray(value).ravel()]


def _epochs(value: Any) -> list[int | None]:
    if isinstance(value, (str, bytes)):  # version 1: JSON with null
        return [None if e is None else int(e) for e in json.loads(value)]
    return [None if int(e) < 0 else int(e) for e in np.asarray(value).ravel()]


def _read_track(group: h5py.Group) -> Track:
    x = np.asarray(group["proj_xcoord"], dtype=np.float64)
    y = np.asarray(group["proj_ycoord"], dtype=np.float64) if "proj_ycoord" in group else np.zeros_like(x)
    names = _strings(group.attrs["names"]) if "names" in group.attrs else [str(i) for i in range(len(x))]
    epochs = _epochs(group.attrs["epochs"]) if "epochs" in group.attrs else [None] * len(x)
    run = np.asarray(group["run"], dtype=np.int64) if "run" in group else None
    run_names = _strings(group.attrs["run_names"]) if "run_names" in group.attrs else []
    residual = np.asarray(group["projection_residual"], dtype=np.float64) if "projection_residual" in group else None
    return Track(x, y, names, epochs, run, run_names, residual)


def write_track(path: Path, name: str, track: Track) -> None:
    """Add (or replace) a track group in a surface file that no run is writing; the file is
    replaced whole, like every other change to it."""
    path = Path(path)
    with journal.Lock(path):
        tmp = path.with_name(path.name + ".tmp")
        shutil.copyfile(path, tmp)
        with open_file(tmp, "r+") as f:
            _write_track(f, name, track)
        os.replace(tmp, path)


def _write_track(f: h5py.File, name: str, track: Track) -> None:
    if name not in TRACK_GROUPS:
        raise ValueError(f"track name must be one of {TRACK_GROUPS}")
    if name in f:
        del f[name]
    g = f.create_group(name)
    g.create_dataset("proj_xcoord", data=np.asarray(track.x, dtype=np.float64))
    g.create_dataset("proj_ycoord", data=np.asarray(track.y, dtype=np.float64))
    g.attrs["names"] = np.array([str(n) for n in track.names], dtype=h5py.string_dtype())
    g.attrs["epochs"] = np.array([-1 if e is None else int(e) for e in track.epochs], dtype=np.int64)
    if track.run is not None:
        g.create_dataset("run", data=np.asarray(track.run, dtype=np.int64))
        g.attrs["run_names"] = np.array([str(n) for n in track.run_names], dtype=h5py.string_dtype())
    if track.residual is not None:
        g.create_dataset("projection_residual", data=np.asarray(track.residual, dtype=np.float64))


EIGEN_METRICS = ("eig_max", "eig_min", "eig_ratio")  # the convexity maps of `compute --eigen-map`


@dataclass
class Surface:
    """A surface as arrays, in memory or read from a file (values NaN where not computed).

    Value names follow the paper's files: `train_loss`, `train_acc` (or `test_*`; plain `loss`
    and `acc` for data without a split), and for an eigenvalue map `eig_max`, `eig_min`,
    `eig_ratio` (|λmin/λmax|), each of the grid's shape.
    """

    path: Path | None  # None for a surface computed in memory
    x: np.ndarray
    y: np.ndarray | None
    values: dict[str, np.ndarray]  # e.g. {"train_loss": ..., "train_acc": ...}
    computed: np.ndarray  # bool, same shape as the values
    attrs: dict[str, Any] = field(default_factory=dict)
    tracks: dict[str, "Track"] = field(default_factory=dict)  # "trajectory" and/or "models"
    plan: dict[str, Any] = field(default_factory=dict)  # how the points were evaluated (engine.Plan as a dict)

    @property
    def is_2d(self) -> bool:
        return self.y is not None

    @property
    def grid(self) -> Grid:
        return Grid(tuple(self.x.tolist()), None if self.y is None else tuple(self.y.tolist()))

    @property
    def name(self) -> str:
        """What to call the surface in messages: its file, or "surface" in memory."""
        return str(self.path) if self.path is not None else "surface"

    def metric(self, kind: str = "loss") -> tuple[str, np.ndarray]:
        """The (name, array) of `kind`: "loss" or "acc" (preferring the split the file was made
        on), or a value's own name such as "eig_ratio"."""
        if kind in self.values:
            return kind, self.values[kind]
        split = self.attrs.get("split")
        names = [f"{split}_{kind}"] if split else []
        names += [n for n in self.values if n.endswith(f"_{kind}") and n not in names]
        for n in names:
            if n in self.values:
                return n, self.values[n]
        raise LandscapeError(f"{self.name} holds no {kind} values (it has {', '.join(self.values) or 'none'})")


def _tmp_path(path: Path) -> Path:
    return path.with_name(path.name + ".tmp")


def write_direction(group: h5py.Group, d: dict[str, torch.Tensor]) -> None:
    """One direction as the paper's code stores it: a dataset per tensor named "0", "1", ... in
    tensor order, with the tensor names in the string-array attribute `names`."""
    group.attrs["names"] = np.array(list(d), dtype=h5py.string_dtype())
    for i, t in enumerate(d.values()):
        t = t.detach().cpu()
        group.create_dataset(str(i), data=(t if t.dtype == torch.float64 else t.float()).numpy())


def create(
    path: Path,
    grid: Grid,
    metrics: list[str],
    directions: Directions,
    attrs: dict[str, Any],
    settings: dict[str, Any],
    tracks: dict[str, Track] | None = None,
) -> None:
    """Write a new surface file with every point missing; atomic (a temp file, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_path(path)
    try:
        with h5py.File(tmp, "w") as f:
            f.attrs["format"] = "landscape-surface"
            f.attrs["format_version"] = FORMAT_VERSION
            f.attrs["settings"] = json.dumps(settings, sort_keys=True)
            f.attrs["run_id"] = uuid.uuid4().hex
            for k, v in attrs.items():
                f.attrs[k] = v if isinstance(v, (int, float, str, bool, np.generic)) else json.dumps(v)
            f.create_dataset("xcoordinates", data=np.asarray(grid.x, dtype=np.float64))
            if grid.y is not None:
                f.create_dataset("ycoordinates", data=np.asarray(grid.y, dtype=np.float64))
            for m in metrics:
                f.create_dataset(m, data=np.full(grid.shape, np.nan, dtype=np.float64))
            f.create_dataset("computed", data=np.zeros(grid.shape, dtype=bool))
            write_direction(f.create_group("xdirection"), directions.x)
            if directions.y is not None:
                write_direction(f.create_group("ydirection"), directions.y)
            f.attrs["dir_kind"] = directions.kind
            f.attrs["dir_type"] = directions.dir_type.value
            f.attrs["xlabel"], f.attrs["ylabel"] = directions.labels
            for k, v in directions.extra.items():
                f.attrs[k] = json.dumps(v) if isinstance(v, (list, dict, tuple)) else v
            for name, track in (tracks or {}).items():
                _write_track(f, name, track)
        journal.journal_path(path).unlink(missing_ok=True)  # a journal of the file this one replaces
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise LandscapeError(f"cannot write {str(path)!r}: {e.strerror or e}; choose another --out") from None


def check_writable(path: Path) -> None:
    """Fail early, before any work, if the output folder cannot be created or written."""
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise LandscapeError(f"cannot create output folder {str(folder)!r}: {e.strerror or e}; choose another --out") from None
    if not os.access(folder, os.W_OK):
        raise LandscapeError(f"output folder {str(folder)!r} is not writable; choose another --out")
    if path.exists() and path.is_dir():
        raise LandscapeError(f"--out {str(path)!r} is a directory; give a file name such as {str(path / 'surface.h5')!r}")


def open_file(path: Path, mode: str = "r") -> h5py.File:
    """Open a surface file, turning unreadable or damaged files into a user error."""
    path = Path(path)
    if path.is_dir():
        raise LandscapeError(f"{str(path)!r} is a folder, not a surface file")
    try:
        return h5py.File(path, mode)
    except FileNotFoundError:
        raise LandscapeError(f"surface file {str(path)!r} does not exist") from None
    except OSError as e:
        reason = (str(e).splitlines() or [""])[0][:120]
        try:
            with open(path, "rb") as f:
                is_hdf5 = f.read(8) == b"\x89HDF\r\n\x1a\n"
        except OSError as read_error:
            raise LandscapeError(f"cannot read {str(path)!r}: {read_error.strerror or read_error}") from None
        if not is_hdf5:
            raise LandscapeError(f"{str(path)!r} is not an HDF5 surface file") from None
        if "lock" in reason.lower():
            raise LandscapeError(f"{str(path)!r} is open in another program that locks it ({reason}); close it first") from None
        raise LandscapeError(
            f"{str(path)!r} cannot be read as HDF5 ({reason}); if a killed run damaged it, compute it again "
            "(landscape compute ... --overwrite)"
        ) from None


def read_settings(path: Path) -> dict[str, Any]:
    with open_file(path) as f:
        text = f.attrs.get("settings")
        if text is None:
            raise LandscapeError(f"{str(path)!r} was not written by landscape compute")
        return json.loads(text)


def settings_difference(stored: dict[str, Any], wanted: dict[str, Any]) -> str | None:
    """A sentence naming the first setting that differs, or None if the run matches the file."""
    for key in sorted(set(stored) | set(wanted)):
        if stored.get(key) != wanted.get(key):
            return f"{key} is {stored.get(key)!r} in the file but {wanted.get(key)!r} in this run"
    return None


def read_directions(path: Path) -> Directions:
    """The directions stored in a surface file (ours, or a direction file of the paper's code)."""
    with open_file(path) as f:
        if "xdirection" not in f:
            raise LandscapeError(f"{str(path)!r} holds no directions (no 'xdirection' group)")

        def load(group: h5py.Group) -> dict[str, torch.Tensor]:
            n = len([k for k in group.keys() if k.isdigit()])
            names = _strings(group.attrs["names"]) if "names" in group.attrs else [str(i) for i in range(n)]
            return {name: torch.from_numpy(np.asarray(group[str(i)])) for i, name in enumerate(names)}

        dx = load(f["xdirection"])
        dy = load(f["ydirection"]) if "ydirection" in f else None
        dir_type = DirType(str(f.attrs.get("dir_type", "weights")))
        labels = (str(f.attrs.get("xlabel", "direction 1")), str(f.attrs.get("ylabel", "direction 2")))
    return Directions(dx, dy, dir_type, "file", labels)


class Writer:
    """The one writer of a surface file during a run: holds its lock, appends finished points
    to the journal (flushed per chunk), and merges them into the file when the run ends or
    is interrupted (see journal.py)."""

    def __init__(self, path: Path):
        self.path = path
        self.attrs: dict[str, Any] = {}
        self._lock = journal.Lock(path)
        self._journal: journal.JournalWriter | None = None

    def __enter__(self) -> "Writer":
        self._lock.__enter__()
        try:
            with open_file(self.path) as f:
                self.run_id = str(f.attrs.get("run_id", ""))
                self.metrics = _metric_names(f)
                self.attrs = {k: _attr(v) for k, v in f.attrs.items()}
            self._journal = journal.JournalWriter(self.path, self.run_id, self.metrics)
            self._journal.open()
        except BaseException:
            self._lock.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if self._journal is not None:
                self._journal.close()
                journal.merge(self.path, self.run_id, self.metrics)
        finally:
            self._lock.__exit__()

    def write(self, flat: np.ndarray, values: dict[str, np.ndarray]) -> None:
        """Record values at flat point indices (row-major over [y, x]); flushed when this returns."""
        assert self._journal is not None, "Writer used outside its with-block"
        self._journal.append(np.asarray(flat, dtype=np.int64), values)

    def set_attrs(self, **attrs: Any) -> None:
        """Attributes of the file, journaled now and merged into it when the run ends."""
        assert self._journal is not None, "Writer used outside its with-block"
        self._journal.append_attrs(attrs)
        self.attrs.update(attrs)


def _metric_names(f: h5py.File) -> list[str]:
    return sorted(k for k in f.keys() if k.endswith(("_loss", "_acc")) and isinstance(f[k], h5py.Dataset))


def _attr(v: Any) -> Any:
    return v.decode() if isinstance(v, bytes) else v


def read_surface(path: str | Path) -> Surface:
    """Read a surface file (ours or the paper's code's) into arrays; missing points are NaN."""
    path = Path(path)
    with open_file(path) as f:
        if "xcoordinates" not in f:
            raise LandscapeError(f"{str(path)!r} is not a surface file (no 'xcoordinates')")
        x = np.asarray(f["xcoordinates"], dtype=np.float64)
        y = np.asarray(f["ycoordinates"], dtype=np.float64) if "ycoordinates" in f else None
        shape = (len(y), len(x)) if y is not None else (len(x),)
        names = _metric_names(f)
        values = {}
        for n in names:
            v = np.asarray(f[n], dtype=np.float64)
            if v.shape != shape:
                if v.size == np.prod(shape):  # the paper's code allocates (nx, ny) but fills it in [y, x] order
                    v = v.reshape(shape)
                else:
                    raise LandscapeError(f"{str(path)!r}: {n} has shape {v.shape}, expected {shape}")
            values[n] = v
        attrs = {k: _attr(v) for k, v in f.attrs.items()}
        tracks = {name: _read_track(f[name]) for name in TRACK_GROUPS if name in f}
        if "computed" in f:
            computed = np.asarray(f["computed"], dtype=bool).copy()
            # points of a running or killed computation that are not merged yet
            pending = journal.read_journal(path, str(attrs.get("run_id", "")), len(names))
            attrs.update(pending.attrs)
            for flat, cols in pending.records:
                computed.ravel()[flat] = True
                for k, n in enumerate(names):
                    values[n].ravel()[flat] = cols[k]
        else:  # the paper's code marks missing points with -1, in each dataset on its own
            for v in values.values():
                v[v == -1] = np.nan
            losses = [n for n in ("train_loss", "test_loss") if n in values] or [n for n in values if n.endswith("_loss")]
            computed = ~np.isnan(values[losses[0]]) if losses else np.ones(shape, dtype=bool)
    for v in values.values():
        v[~computed] = np.nan
    return Surface(path, x, y, values, computed, attrs, tracks)


def summary(path: str | Path) -> str:
    """Lines for `landscape info`: grid, settings, progress, min/max/center loss."""
    s = read_surface(path)
    a = s.attrs
    nx = len(s.x)
    lines = [f"surface   {s.path}"]
    if s.y is not None:
        lines.append(f"grid      x {s.x[0]:g}:{s.x[-1]:g}:{nx}  y {s.y[0]:g}:{s.y[-1]:g}:{len(s.y)}  ({s.computed.size} points)")
    else:
        lines.append(f"grid      x {s.x[0]:g}:{s.x[-1]:g}:{nx}  (1-D, {nx} points)")
    for key in ("checkpoint", "model", "data", "samples", "loss", "dir_kind", "dir_type", "norm", "ignore", "seed", "precision", "device", "started", "finished"):
        if key in a:
            lines.append(f"{key:<9} {a[key]}")
    done = int(s.computed.sum())
    lines.append(f"progress  {done}/{s.computed.size} points computed ({100.0 * done / s.computed.size:.1f}%)")
    try:
        name, loss = s.metric("loss")
    except LandscapeError:
        return "\n".join(lines)
    vals = loss[s.computed]
    finite = vals[np.isfinite(vals)]
    if len(vals) and len(finite) < len(vals):
        lines.append(f"non-finite {len(vals) - len(finite)} computed points have inf or NaN {name}")
    if len(finite):
        lines.append(f"{name:<9} min {finite.min():.6g}  max {finite.max():.6g}")
        center = center_value(s, loss)
        if center is not None:
            lines.append(f"center    {name} {center:.6g} at the trained model (0, 0)")
    return "\n".join(lines)


def center_value(s: Surface, values: np.ndarray) -> float | None:
    """The value at the origin of the plane, if the grid has the point (0, 0) and it is computed."""
    i = np.flatnonzero(np.isclose(s.x, 0.0, atol=1e-12))
    if len(i) == 0:
        return None
    if s.y is None:
        return float(values[i[0]]) if s.computed[i[0]] else None
    j = np.flatnonzero(np.isclose(s.y, 0.0, atol=1e-12))
    if len(j) == 0 or not s.computed[j[0], i[0]]:
        return None
    return float(values[j[0], i[0]])
