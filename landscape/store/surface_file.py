"""The surface file: one self-contained HDF5 file per landscape.

Layout (compatible with the paper's code, tomgoldstein/loss-landscape):
- `xcoordinates` (nx,), and for a 2-D surface `ycoordinates` (ny,).
- `{split}_loss`, `{split}_acc` (split is "train" or "test"): a 2-D array has shape
  (ny, nx) and is indexed [row = y, column = x]: value [j, i] belongs to the point
  (x[i], y[j]), exactly what `np.meshgrid(x, y)` and `contour(x, y, Z)` expect. A 1-D
  surface has shape (nx,). Points not yet computed hold NaN. An eigenvalue map adds
  `eig_max`, `eig_min` and `eig_ratio` (|λmin/λmax|) of the same shape.
- `computed`: bool mask of the same shape; it, not the value, says which points are done
  (a diverged model can have a NaN loss at a computed point).
- `xdirection`, `ydirection`: groups with one dataset per tensor named "0", "1", ... in
  the order of `model.parameters()` (dir type weights) or `model.state_dict()` (states);
  the string-array attribute `names` lists the tensor names.
- `trajectory`, `models`: tracks of points in the plane (`proj_xcoord`, `proj_ycoord`, ...);
  a trajectory file also has the paper's projection layout at the root: `proj_xcoord`,
  `proj_ycoord` (the first run) and the datasets `explained_variance_ratio_`,
  `explained_variance_`, `singular_values_`, so the paper's `plot_contour_trajectory` reads it.
- `plan`: a group whose attributes record how the points were evaluated (engine.Plan).
- Root attributes: every setting needed to reproduce the run, numbers as numbers; `settings`
  holds, as JSON, those a resumed run must match.

Files written by the paper's code (no `computed`, -1 for missing points) are read too. Every
reader checks sizes and types before it reads data, so a damaged or hostile file is a user
error, never a crash or a huge allocation.
"""

from __future__ import annotations

import json
import uuid
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch
from h5py import h5d, h5o

from landscape.errors import LandscapeError, arg
from landscape.plane.directions import DirType, Directions, Track
from landscape.plane.grid import Grid, MAX_COORDINATE, MAX_POINTS
from landscape.store import journal
from landscape.store.files import reason, replacing, uninterruptible
from landscape.store.hdf5 import (attribute, check_backed, check_storage, guarded, open_file, plain, read_array,
                                  string_list, values)
from landscape.store.surface import EIGEN_METRICS, PAPER_PCA, Surface, in_order, plane_attrs

FORMAT_VERSION = 2
TRACK_GROUPS = ("trajectory", "models")


MAX_AXIS = 1_000_000  # points along one axis, and points of a track


def _epochs(value: Any) -> list[int | None]:
    if isinstance(value, (str, bytes)):  # version 1: JSON with null
        return [None if e is None else int(e) for e in json.loads(value)]
    return [None if int(e) < 0 else int(e) for e in np.asarray(value).ravel()]


def _vector(node: Any, what: str, path: Path, length: int | None = None) -> np.ndarray:
    """A 1-D numeric dataset, checked before it is read."""
    if not isinstance(node, h5py.Dataset) or node.dtype.kind not in "iuf" or len(node.shape) != 1:
        raise LandscapeError(f"{str(path)!r}: {what} is not a 1-D array of numbers; the file is damaged")
    if not 0 < node.shape[0] <= MAX_AXIS or (length is not None and node.shape[0] != length):
        raise LandscapeError(f"{str(path)!r}: {what} has {node.shape[0]} entries"
                             + (f", expected {length}" if length is not None else "") + "; the file is damaged")
    return np.asarray(read_array(node, what, path), dtype=np.float64)


def _read_track(group: h5py.Group, path: Path) -> Track:
    x = _vector(group.get("proj_xcoord"), f"{group.name}/proj_xcoord", path)
    y = _vector(group["proj_ycoord"], f"{group.name}/proj_ycoord", path, len(x)) if "proj_ycoord" in group else np.zeros_like(x)
    names = string_list(group.attrs["names"]) if "names" in group.attrs else [str(i) for i in range(len(x))]
    epochs = _epochs(group.attrs["epochs"]) if "epochs" in group.attrs else [None] * len(x)
    run = _vector(group["run"], f"{group.name}/run", path, len(x)).astype(np.int64) if "run" in group else None
    run_names = string_list(group.attrs["run_names"]) if "run_names" in group.attrs else []
    residual = (_vector(group["projection_residual"], f"{group.name}/projection_residual", path, len(x))
                if "projection_residual" in group else None)
    if len(names) != len(x) or len(epochs) != len(x) or (run is not None and (run.min() < 0 or run.max() > len(x))):
        raise LandscapeError(f"{str(path)!r}: the track {group.name} is inconsistent; the file is damaged")
    return Track(x, y, names, epochs, run, run_names, residual)


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
    if name == "trajectory":  # the paper's projection file, at the root: its first run
        first = track.runs()[0][1]
        for key, coords in (("proj_xcoord", track.x), ("proj_ycoord", track.y)):
            if key in f:
                del f[key]
            f.create_dataset(key, data=np.asarray(coords, dtype=np.float64)[first])


def write_track(path: Path, name: str, track: Track) -> None:
    """Add (or replace) a track group in a surface file that no run is writing; the file is
    replaced whole, like every other change to it."""
    path = Path(path)
    with journal.Lock(path):
        try:
            with replacing(path, copy_from=path) as tmp, h5py.File(tmp, "r+") as f:
                _write_track(f, name, track)
        except OSError as e:
            raise LandscapeError(f"cannot write {str(path)!r}: {reason(e)}") from None


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
    plan: dict[str, Any] | None = None,
) -> None:
    """Write a new surface file with every point missing; atomic (a temp file, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with replacing(path) as tmp:
            with h5py.File(tmp, "w") as f:
                f.attrs["format"] = "landscape-surface"
                f.attrs["format_version"] = FORMAT_VERSION
                f.attrs["settings"] = json.dumps(settings, sort_keys=True)
                f.attrs["run_id"] = uuid.uuid4().hex
                for k, v in attrs.items():
                    if v is not None:
                        f.attrs[k] = attribute(v)
                f.create_dataset("xcoordinates", data=np.asarray(grid.x, dtype=np.float64))
                if grid.y is not None:
                    f.create_dataset("ycoordinates", data=np.asarray(grid.y, dtype=np.float64))
                for m in metrics:
                    f.create_dataset(m, data=np.full(grid.shape, np.nan, dtype=np.float64))
                f.create_dataset("computed", data=np.zeros(grid.shape, dtype=bool))
                write_direction(f.create_group("xdirection"), directions.x)
                if directions.y is not None:
                    write_direction(f.create_group("ydirection"), directions.y)
                for k, v in plane_attrs(directions, attrs.get("split")).items():  # as `evaluate` names them
                    f.attrs[k] = attribute(v)
                for k, v in directions.extra.items():
                    if k in PAPER_PCA:  # datasets, where the paper's plotting code reads them
                        f.create_dataset(k, data=np.asarray(v, dtype=np.float64))
                for name, track in directions.tracks.items():
                    _write_track(f, name, track)
                g = f.create_group("plan")
                for k, v in (plan or {}).items():
                    g.attrs[k] = attribute(v)
            journal.journal_path(path).unlink(missing_ok=True)  # a journal of the file this one replaces
    except OSError as e:
        raise LandscapeError(f"cannot write {str(path)!r}: {reason(e)}; free space or choose another {arg('out')}",
                             field="out") from None


def check_writable(path: Path) -> None:
    """Fail early, before any work, if the output folder cannot be created or written."""
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise LandscapeError(f"cannot create output folder {str(folder)!r}: {e.strerror or e}; choose another "
                             f"{arg('out')}", field="out") from None
    if not folder.is_dir() or not __import__("os").access(folder, __import__("os").W_OK):
        raise LandscapeError(f"output folder {str(folder)!r} is not writable; choose another {arg('out')}", field="out")
    if path.exists() and path.is_dir():
        raise LandscapeError(f"{arg('out')} {str(path)!r} is a directory; give a file name such as "
                             f"{str(path / 'surface.h5')!r}", field="out")


def read_settings(path: Path) -> dict[str, Any]:
    """The settings a resumed run must match (JSON in the `settings` attribute)."""

    def read() -> dict[str, Any]:
        with open_file(path) as f:
            text = f.attrs.get("settings")
        if text is None:
            raise LandscapeError(f"{str(path)!r} was not written by landscape compute")
        try:
            value = json.loads(text)
        except (ValueError, TypeError):
            value = None
        if not isinstance(value, dict):
            raise LandscapeError(f"{str(path)!r}: its settings are not readable; the file is damaged")
        return value

    return guarded(path, read)


def _dataset(group: h5py.Group, name: str) -> h5py.Dataset | None:
    """The dataset `name` of `group`, or None (group.get, at a quarter of its cost per tensor)."""
    try:
        obj = h5o.open(group.id, name.encode())
    except KeyError:
        return None
    return h5py.Dataset(obj) if isinstance(obj, h5d.DatasetID) else None


def direction_tensors(group: Any, path: Path) -> list[tuple[str, h5py.Dataset]]:
    """(name, dataset) of each tensor of a stored direction (see `write_direction`), checked but
    not read: numeric arrays "0", "1", ..., as many as the attribute `names` has distinct names."""
    if not isinstance(group, h5py.Group):
        raise LandscapeError(f"{str(path)!r}: a direction is not a group of datasets; the file is damaged")
    n = len([k for k in group.keys() if k.isdigit()])
    names = string_list(group.attrs["names"]) if "names" in group.attrs else [str(i) for i in range(n)]
    if len(set(names)) != len(names):
        seen: set[str] = set()
        twice = next(name for name in names if name in seen or seen.add(name))
        raise LandscapeError(f"{str(path)!r}: {group.name} has duplicate tensor names (e.g. {twice!r}); "
                             "the file is damaged")
    if len(names) != n:
        raise LandscapeError(f"{str(path)!r}: {group.name} names {len(names)} tensors but holds {n}")
    datasets = [_dataset(group, str(i)) for i in range(n)]
    if any(d is None or d.dtype.kind not in "iuf" for d in datasets):
        raise LandscapeError(f"{str(path)!r}: {group.name} holds something other than numeric arrays")
    return list(zip(names, datasets))


def read_directions(path: Path, shapes: dict[str, tuple[int, ...]] | None = None) -> Directions:
    """The directions stored in a surface, direction or Hessian file (ours or the paper's code's).

    With `shapes` (a model's tensor shapes, in order), every dataset's shape is checked
    against them before any is read."""
    path = Path(path)

    def tensors(group: Any) -> list[tuple[str, h5py.Dataset]]:
        items = direction_tensors(group, path)
        if shapes is not None:
            n = len(items)
            names = [name for name, _ in items]
            wanted = list(shapes.values())
            got = [tuple(d.shape) for _, d in items]
            if names == [str(i) for i in range(n)] and got != wanted or (names != [str(i) for i in range(n)] and (
                    list(names) != list(shapes) or got != wanted)):
                raise LandscapeError(f"{arg('path')} {str(path)!r}: its tensors do not match the model's in "
                                     f"names and shapes; use directions made for this architecture and {arg('dir_type')}",
                                     field="path")
        return items

    def load(items: list[tuple[str, h5py.Dataset]]) -> dict[str, torch.Tensor]:
        return {name: torch.from_numpy(values(d)) for name, d in items}

    def read() -> Directions:
        with open_file(path) as f:
            if "xdirection" not in f:
                raise LandscapeError(f"{str(path)!r} holds no directions (no 'xdirection' group)")
            tx = tensors(f["xdirection"])
            ty = tensors(f["ydirection"]) if "ydirection" in f else None
            if ty is not None and [(n, d.shape) for n, d in tx] != [(n, d.shape) for n, d in ty]:
                raise LandscapeError(f"{str(path)!r}: xdirection and ydirection hold different tensors (names or "
                                     "shapes); the file is damaged")
            check_backed(path, [(f"tensor {name!r}", d) for name, d in tx + (ty or [])])
            dx = load(tx)
            dy = load(ty) if ty is not None else None
            try:
                dir_type = DirType(str(plain(f.attrs.get("dir_type", "weights"))))
            except ValueError:
                raise LandscapeError(f"{str(path)!r}: unknown dir_type; the file is damaged") from None
            labels = (str(plain(f.attrs.get("xlabel", "direction 1"))), str(plain(f.attrs.get("ylabel", "direction 2"))))
            kind = str(plain(f.attrs.get("dir_kind", "file")))
            extra = {k: plain(f.attrs[k]) for k in ("scale", "eigenvalues") if k in f.attrs}
        return Directions(dx, dy, dir_type, "hessian" if kind == "hessian" else "file", labels, extra)

    return guarded(path, read)


class Writer:
    """The one writer of a surface file during a run: holds its lock, appends finished points
    to the journal (flushed per chunk), and merges them into the file when the run ends or
    is interrupted (see journal.py)."""

    def __init__(self, path: Path):
        self.path = path
        self.attrs: dict[str, Any] = {}
        self._journal: journal.JournalWriter | None = None
        self._stack = ExitStack()

    def __enter__(self) -> "Writer":
        with ExitStack() as stack:
            stack.enter_context(journal.Lock(self.path))

            def header() -> tuple[str, list[str], dict[str, Any], int]:
                with open_file(self.path) as f:
                    return (str(plain(f.attrs.get("run_id", ""))), _metric_names(f),
                            {k: plain(v) for k, v in f.attrs.items()}, int(np.prod(f["computed"].shape)))

            self.run_id, self.metrics, self.attrs, size = guarded(self.path, header)
            self._journal = journal.JournalWriter(self.path, self.run_id, self.metrics, size)
            self._journal.open()
            self._stack = stack.pop_all()  # held until __exit__
        return self

    def __exit__(self, *exc: object) -> None:
        with self._stack, uninterruptible():  # the lock, released last; the merge finishes whole
            if self._journal is not None:
                self._journal.close()
                journal.merge(self.path, self.run_id, self.metrics)

    def write(self, flat: np.ndarray, values: dict[str, np.ndarray]) -> None:
        """Record values at flat point indices (row-major over [y, x]); flushed when this returns."""
        if self._journal is None:
            raise RuntimeError("Writer used outside its with-block")
        self._journal.append(np.asarray(flat, dtype=np.int64), values)

    def set_attrs(self, **attrs: Any) -> None:
        """Root attributes of the file, journaled now and merged into it when the run ends."""
        self._set({k: attribute(v) for k, v in attrs.items()})
        self.attrs.update(attrs)

    def set_plan(self, plan: dict[str, Any]) -> None:
        """The plan's attributes (after an out-of-memory back-off changed the batch size, say)."""
        self._set({f"plan/{k}": attribute(v) for k, v in plan.items()})

    def _set(self, attrs: dict[str, Any]) -> None:
        if self._journal is None:
            raise RuntimeError("Writer used outside its with-block")
        self._journal.append_attrs({k: (v.tolist() if isinstance(v, (np.ndarray, np.generic)) else v)
                                    for k, v in attrs.items()})


VALUE_SUFFIXES = ("_loss", "_acc")


def _metric_names(f: h5py.File) -> list[str]:
    return sorted(k for k in f.keys() if (k.endswith(VALUE_SUFFIXES) or k in ("loss", "acc", *EIGEN_METRICS))
                  and isinstance(f[k], h5py.Dataset))


def read_surface(path: str | Path) -> Surface:
    """Read a surface file (ours or the paper's code's) into arrays; missing points are NaN."""
    path = Path(path)
    return guarded(path, lambda: _read_surface(path))


def _read_surface(path: Path) -> Surface:
    with open_file(path) as f:
        if "xcoordinates" not in f:
            raise LandscapeError(f"{str(path)!r} is not a surface file (no 'xcoordinates')")
        for group in [f] + [f[name] for name in TRACK_GROUPS if isinstance(f.get(name), h5py.Group)]:
            for node in group.values():  # the datasets this reads, stored in the file, before any is read
                if isinstance(node, h5py.Dataset):
                    check_storage(node.id, repr(node.name), repr(str(path)))
        x = _vector(f["xcoordinates"], "xcoordinates", path)
        y = _vector(f["ycoordinates"], "ycoordinates", path) if "ycoordinates" in f else None
        for name, axis in (("xcoordinates", x), ("ycoordinates", y)):
            if axis is not None and not (np.isfinite(axis).all() and np.abs(axis).max() <= MAX_COORDINATE):
                raise LandscapeError(f"{str(path)!r}: {name} holds a value that is not a finite number within "
                                     f"±{MAX_COORDINATE:g}; the file is damaged")
        shape = (len(y), len(x)) if y is not None else (len(x),)
        size = int(np.prod(shape, dtype=np.int64))
        if size > MAX_POINTS:
            raise LandscapeError(f"{str(path)!r} claims a grid of {size:,} points; the file is damaged")
        names = _metric_names(f)
        values = {}
        for n in names:
            node = f[n]
            if not isinstance(node, h5py.Dataset) or node.dtype.kind not in "iuf":
                raise LandscapeError(f"{str(path)!r}: {n} holds {getattr(node, 'dtype', 'a group')}, not numbers; "
                                     "the file is damaged")
            if int(np.prod(node.shape, dtype=np.int64)) != size:
                raise LandscapeError(f"{str(path)!r}: {n} has shape {node.shape}, expected {shape}; the file is damaged")
            # the paper's code allocates (nx, ny) but fills it in [y, x] order: a reshape is right
            values[n] = np.asarray(read_array(node, n, path), dtype=np.float64).reshape(shape)
        attrs = {k: plain(v) for k, v in f.attrs.items()}
        tracks = {name: _read_track(f[name], path) for name in TRACK_GROUPS if isinstance(f.get(name), h5py.Group)}
        plan = {k: plain(v) for k, v in f["plan"].attrs.items()} if isinstance(f.get("plan"), h5py.Group) else {}
        if "computed" in f:
            node = f["computed"]
            if not isinstance(node, h5py.Dataset) or node.dtype.kind not in "biu":
                raise LandscapeError(f"{str(path)!r}: computed holds {getattr(node, 'dtype', 'a group')}, not "
                                     "true/false values; the file is damaged")
            if tuple(node.shape) != shape:
                raise LandscapeError(f"{str(path)!r}: computed has shape {node.shape}, expected {shape}; the file is "
                                     "damaged")
            computed = np.asarray(read_array(node, "computed", path), dtype=bool).copy()
            # points of a running or killed computation that are not merged yet
            pending = journal.read_journal(path, str(attrs.get("run_id", "")), len(names), size)
            for key, value in pending.attrs.items():
                group, _, name = key.rpartition("/")
                (plan if group == "plan" else attrs)[name] = value
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
    values = {n: values[n] for n in in_order(list(values))}  # as `value_names` orders them, in memory too
    return Surface(path, x, y, values, computed, attrs, tracks, plan)
