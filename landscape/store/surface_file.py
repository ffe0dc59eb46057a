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
import os
import stat
import time
import uuid
import warnings
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch
from h5py import h5a, h5d, h5g, h5l, h5o, h5t, h5z

from landscape.store import journal
from landscape.plane.directions import Directions, DirType, Track
from landscape.errors import LandscapeError
from landscape.store.files import isolated, reason, replacing, size_text
from landscape.plane.grid import MAX_COORDINATE, MAX_POINTS, Grid

__all__ = ["EIGEN_METRICS", "Surface", "Track", "Writer", "create", "read_directions", "read_surface", "write_track"]

FORMAT_VERSION = 2
TRACK_GROUPS = ("trajectory", "models")
EIGEN_METRICS = ("eig_max", "eig_min", "eig_ratio")  # the convexity maps of `compute --eigen-map`
EIGEN_LABELS = {"eig_max": "largest Hessian eigenvalue", "eig_min": "smallest Hessian eigenvalue",
                "eig_ratio": "|λmin/λmax|"}


def metric_label(name: str) -> str:
    """How figures and pages name a value: "train_loss" -> "train loss", "test_acc" -> "test
    accuracy (%)", "eig_min" -> "smallest Hessian eigenvalue"."""
    split, _, kind = name.rpartition("_")
    text = EIGEN_LABELS.get(name) or (f"{split} accuracy (%)" if kind == "acc" else f"{split} loss" if kind == "loss"
                                      else name)
    return text.strip()


def stem(path: str | Path | None) -> str:
    """A surface's name for files and titles: the file name without `.h5` and a trailing
    `.surface`; "surface" for one computed in memory."""
    if path is None:
        return "surface"
    return Path(path).name.removesuffix(".h5").removesuffix(".hdf5").removesuffix(".surface")
PAPER_PCA = ("explained_variance_ratio_", "explained_variance_", "singular_values_")
MAX_AXIS = 1_000_000  # points along one axis, and points of a track


def _strings(value: Any) -> list[str]:
    """A string-array attribute (or, in files of version 1, JSON text) as a list of str."""
    if isinstance(value, (str, bytes)):
        text = value.decode(errors="replace") if isinstance(value, bytes) else value
        try:
            parsed = json.loads(text)
        except ValueError:
            return [text]
        return [str(v) for v in parsed] if isinstance(parsed, list) else [text]
    return [v.decode(errors="replace") if isinstance(v, bytes) else str(v) for v in np.asarray(value).ravel()]


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
    names = _strings(group.attrs["names"]) if "names" in group.attrs else [str(i) for i in range(len(x))]
    epochs = _epochs(group.attrs["epochs"]) if "epochs" in group.attrs else [None] * len(x)
    run = _vector(group["run"], f"{group.name}/run", path, len(x)).astype(np.int64) if "run" in group else None
    run_names = _strings(group.attrs["run_names"]) if "run_names" in group.attrs else []
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
        for key, values in (("proj_xcoord", track.x), ("proj_ycoord", track.y)):
            if key in f:
                del f[key]
            f.create_dataset(key, data=np.asarray(values, dtype=np.float64)[first])


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
    tracks: dict[str, Track] = field(default_factory=dict)  # "trajectory" and/or "models"
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


def write_direction(group: h5py.Group, d: dict[str, torch.Tensor]) -> None:
    """One direction as the paper's code stores it: a dataset per tensor named "0", "1", ... in
    tensor order, with the tensor names in the string-array attribute `names`."""
    group.attrs["names"] = np.array(list(d), dtype=h5py.string_dtype())
    for i, t in enumerate(d.values()):
        t = t.detach().cpu()
        group.create_dataset(str(i), data=(t if t.dtype == torch.float64 else t.float()).numpy())


def attribute(value: Any) -> Any:
    """A value as an HDF5 attribute: numbers and lists of numbers as numbers, text as text,
    anything else (a dict) as JSON text."""
    if isinstance(value, (bool, int, float, str, np.generic)):
        return value
    if isinstance(value, (list, tuple, np.ndarray)):
        a = np.asarray(value)
        if a.dtype.kind in "biuf":
            return a
        if a.dtype.kind in "UO" and all(isinstance(v, str) for v in a.ravel()):
            return np.array([str(v) for v in a.ravel()], dtype=h5py.string_dtype())
    return json.dumps(value)


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
                f.attrs["dir_kind"] = directions.kind
                f.attrs["dir_type"] = directions.dir_type.value
                f.attrs["xlabel"], f.attrs["ylabel"] = directions.labels
                for k, v in directions.extra.items():
                    if k in PAPER_PCA:  # datasets, where the paper's plotting code reads them
                        f.create_dataset(k, data=np.asarray(v, dtype=np.float64))
                    else:
                        f.attrs[k] = attribute(v)
                for name, track in directions.tracks.items():
                    _write_track(f, name, track)
                g = f.create_group("plan")
                for k, v in (plan or {}).items():
                    g.attrs[k] = attribute(v)
            journal.journal_path(path).unlink(missing_ok=True)  # a journal of the file this one replaces
    except OSError as e:
        raise LandscapeError(f"cannot write {str(path)!r}: {reason(e)}; free space or choose another --out") from None


def check_writable(path: Path) -> None:
    """Fail early, before any work, if the output folder cannot be created or written."""
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise LandscapeError(f"cannot create output folder {str(folder)!r}: {e.strerror or e}; choose another --out") from None
    if not folder.is_dir() or not __import__("os").access(folder, __import__("os").W_OK):
        raise LandscapeError(f"output folder {str(folder)!r} is not writable; choose another --out")
    if path.exists() and path.is_dir():
        raise LandscapeError(f"--out {str(path)!r} is a directory; give a file name such as {str(path / 'surface.h5')!r}")


def open_file(path: Path, mode: str = "r") -> h5py.File:
    """Open a surface file for reading, turning unreadable or damaged files into a user error.
    What would make reading it read another file, or crash libhdf5, is refused here, before any
    data is read (see `check_contents`)."""
    path = Path(path)
    if path.is_dir():
        raise LandscapeError(f"{str(path)!r} is a folder, not a surface file")
    try:
        handle = h5py.File(path, mode)
    except FileNotFoundError:
        raise LandscapeError(f"surface file {str(path)!r} does not exist") from None
    except OSError as e:
        reason = (str(e).splitlines() or [""])[0][:160]
        try:
            with open(path, "rb") as f:
                is_hdf5 = f.read(8) == b"\x89HDF\r\n\x1a\n"
        except OSError as read_error:
            raise LandscapeError(f"cannot read {str(path)!r}: {read_error.strerror or read_error}") from None
        if not is_hdf5:
            raise LandscapeError(f"{str(path)!r} is not an HDF5 surface file") from None
        if "unable to lock file" in reason.lower() and "truncated" not in reason.lower():
            raise LandscapeError(f"{str(path)!r} is open in another program that locks it ({reason}); close it first") from None
        raise LandscapeError(
            f"{str(path)!r} is damaged ({reason}); if a killed run damaged it, compute it again "
            "(landscape compute ... --overwrite)"
        ) from None
    try:
        check_contents(handle, path)
    except BaseException as e:
        handle.close()
        if isinstance(e, Exception) and not isinstance(e, LandscapeError):
            raise damaged(path, e) from None
        raise
    return handle


# ----------------------------------------------------------------- what a file may hold
# An HDF5 file can make its reader read other files (external links, external storage,
# virtual datasets, filter plugins), and a damaged one can crash libhdf5: a flipped bit that
# turns a string attribute's type into a variable-length sequence makes H5Aread write through
# a garbage pointer (SIGSEGV in H5T__conv_vlen). landscape and the paper's code write only hard
# links, in-file datasets, the filters below and attributes of the types below, so anything
# else is refused, from the metadata alone, before any data is read: links and attributes when
# the file is opened (`check_contents`), a dataset's storage and size just before it is read,
# together with the others the same reader reads (`check_backed`).

MAX_LINKS = 1_000_000  # links in one file (a direction of a big model holds thousands of tensors)
FILTERS = {h5z.FILTER_DEFLATE: "gzip", h5z.FILTER_SHUFFLE: "shuffle", h5z.FILTER_FLETCHER32: "fletcher32",
           h5z.FILTER_SZIP: "szip", h5z.FILTER_NBIT: "nbit", h5z.FILTER_SCALEOFFSET: "scale-offset",
           32000: "lzf"}  # built into libhdf5 and h5py: no plugin is loaded from outside the file
ATTRIBUTE_TYPES = {h5t.INTEGER: "integer", h5t.FLOAT: "float", h5t.STRING: "string", h5t.ENUM: "bool"}
DATA_TYPES = {h5t.INTEGER, h5t.FLOAT, h5t.ENUM}  # of the datasets landscape reads (NumPy kinds b, i, u, f)
COMPRESSION = 1100  # the most bytes one stored byte of compressed data can decode to (deflate: ~1032)
UNBACKED = 16 << 20  # bytes one read may take from fill values or chunk padding rather than from the file
TYPE_NAMES = {h5t.VLEN: "variable-length sequence", h5t.COMPOUND: "compound", h5t.REFERENCE: "reference",
              h5t.OPAQUE: "opaque", h5t.ARRAY: "array", h5t.BITFIELD: "bitfield", h5t.TIME: "time"}


def check_contents(f: h5py.File, path: Path) -> None:
    """Refuse a file whose reading would read another file or that libhdf5 cannot read safely:
    external, user-defined, dangling or outward links, and attributes of types landscape never
    writes. Links are walked without being followed (an external link is never resolved); each
    dataset's own storage (external storage, virtual datasets, filter plugins) is checked where
    it is read, by `check_backed`, before any of its data is.

    Soft links that lead to an object of the file through hard links are kept: that object is
    itself reached by the walk and checked, and reading it reads nothing else."""
    where = repr(str(path))
    _check_attributes(f.id, repr("/"), where)
    links: list[tuple[bytes, int]] = []  # (path, link type)

    def collect(name: bytes, info: Any) -> bool | None:
        links.append((name, info.type))  # h5py reuses `info` from call to call: copy what is needed
        return True if len(links) > MAX_LINKS else None  # True stops the walk

    f.id.links.visit(collect, info=True)  # hard links only are descended, each group once
    if len(links) > MAX_LINKS:
        raise LandscapeError(f"{where} holds more than {MAX_LINKS:,} objects; the file is damaged or not a landscape "
                             "file: use another file")
    for name, kind in links:
        shown = repr("/" + name.decode(errors="replace"))
        if kind == h5l.TYPE_SOFT:
            _soft_target(f, name, where)
        elif kind == h5l.TYPE_EXTERNAL:
            target = f.id.links.get_val(name)[0].decode(errors="replace")
            raise LandscapeError(f"{where}: {shown} is a link to another file ({target!r}); landscape reads only what "
                                 "is stored inside the file: copy the object into it, or use another file")
        elif kind != h5l.TYPE_HARD:
            raise LandscapeError(f"{where}: {shown} is a user-defined link (type {kind}); landscape reads only "
                                 "hard links and soft links within the file: use another file")
    with_attributes: list[bytes] = []  # each object once, whatever its number of names
    h5o.visit(f.id, lambda name, info: with_attributes.append(name) if info.num_attrs else None, info=True)
    for name in with_attributes:
        _check_attributes(h5o.open(f.id, name), repr("/" + name.decode(errors="replace")), where)


def _check_attributes(obj: Any, shown: str, where: str) -> None:
    for i in range(h5a.get_num_attrs(obj)):
        attr = h5a.open(obj, index=i)
        kind = attr.get_type().get_class()
        if kind not in ATTRIBUTE_TYPES:
            name = repr(attr.name.decode(errors="replace"))
            kind_name = TYPE_NAMES.get(kind, f"class {kind}")
            raise LandscapeError(f"{where}: the attribute {name} of {shown} is of a type landscape never writes "
                                 f"({kind_name}); the file is damaged or not a landscape file: use another file")


def _check_storage(d: Any, shown: str, where: str) -> Any:
    """A dataset's creation properties, once they show its data is stored inside the file and
    needs no filter plugin."""
    dcpl = d.get_create_plist()
    if dcpl.get_layout() == h5d.VIRTUAL:
        raise LandscapeError(f"{where}: {shown} is a virtual dataset (its data lives in other files); landscape reads "
                             "only what is stored inside the file: copy the data into it, or use another file")
    if dcpl.get_external_count():
        target = dcpl.get_external(0)[0].decode(errors="replace")
        raise LandscapeError(f"{where}: {shown} keeps its data in another file ({target!r}, external storage); "
                             "landscape reads only what is stored inside the file: copy the data into it, or use "
                             "another file")
    for i in range(dcpl.get_nfilters()):
        code = dcpl.get_filter(i)[0]
        if code not in FILTERS:
            raise LandscapeError(f"{where}: {shown} is compressed with filter {code}, which libhdf5 would load from a "
                                 "plugin outside the file; rewrite it uncompressed or with gzip (h5repack)")
    return dcpl


def _soft_target(f: h5py.File, name: bytes, where: str, depth: int = 0) -> str:
    """The path of hard links that the soft link `name` leads to; a user error if it dangles or
    leads out of the file (through an external link)."""
    target = f.id.links.get_val(name).decode(errors="replace")
    shown = repr("/" + name.decode(errors="replace"))
    parent = "/" + name.decode(errors="replace").rpartition("/")[0]
    parts = target.split("/") if target.startswith("/") else parent.split("/") + target.split("/")
    current = "/"
    for part in (p for p in parts if p not in ("", ".")):
        group = h5o.open(f.id, current.encode())
        if not isinstance(group, h5g.GroupID) or not group.links.exists(part.encode()):
            raise LandscapeError(f"{where}: {shown} is a soft link to {target!r}, which does not exist; the file is "
                                 "damaged: remove the link or use another file")
        kind = group.links.get_info(part.encode()).type
        child = current.rstrip("/") + "/" + part
        if kind == h5l.TYPE_HARD:
            current = child
        elif kind == h5l.TYPE_SOFT and depth < 8:
            current = _soft_target(f, child.lstrip("/").encode(), where, depth + 1)
        else:
            raise LandscapeError(f"{where}: {shown} is a soft link to {target!r}, which leads out of the file or in a "
                                 "circle; landscape reads only what is stored inside the file: use another file")
    return current


def check_backed(path: Path, nodes: list[tuple[str, h5py.Dataset]]) -> None:
    """Refuse, before any of them is read, numeric datasets whose claimed size the file cannot
    back. A dataset's bytes (its shape times its item size, or a chunk where that is larger)
    must come from storage the file really holds: as many bytes for uncompressed data, at most
    COMPRESSION times as many for compressed data; fill values of unallocated storage and chunk
    padding may add up to UNBACKED bytes over all `nodes`, and their storage together cannot
    exceed the file. A genuine file of any size passes; a 44 KB file that claims a 3 GB tensor
    (gzip of zeros, or storage never allocated) does not. Data stored outside the file (see
    `_check_storage`) is refused too. `what` names a dataset in messages."""
    if not nodes:
        return
    file_size = nodes[0][1].file.id.get_filesize()
    rows = []  # (what, node, claimed, stored, compressed)
    for what, node in nodes:
        d = node.id
        if d.dtype.kind not in "biuf":
            raise LandscapeError(f"{str(path)!r}: {what} is not an array of numbers; the file is damaged")
        dcpl = _check_storage(d, repr(node.name), repr(str(path)))
        claimed = int(d.get_space().get_simple_extent_npoints()) * d.dtype.itemsize
        stored = int(d.get_storage_size())
        compressed = False
        if stored < claimed:  # the storage does not hold every byte: how much can it decode to?
            if dcpl.get_layout() == h5d.CHUNKED:
                claimed = max(claimed, int(np.prod(dcpl.get_chunk(), dtype=np.int64)) * d.dtype.itemsize)
            compressed = any(dcpl.get_filter(i)[0] not in (h5z.FILTER_SHUFFLE, h5z.FILTER_FLETCHER32)
                             for i in range(dcpl.get_nfilters()))
        rows.append((what, node, claimed, stored, compressed))
    if sum(r[3] for r in rows) > file_size:  # unless one dataset is listed twice, the file lies
        rows = list({r[1].id: r for r in rows}.values())
    stored_total, unbacked = 0, 0
    for what, node, claimed, stored, compressed in rows:
        stored_total += stored
        unbacked += max(0, claimed - stored * (COMPRESSION if compressed else 1))
        if stored_total > file_size or unbacked > UNBACKED:
            raise LandscapeError(f"{str(path)!r}: {what} claims {size_text(claimed)} of data but the file holds "
                                 f"{size_text(stored)} of it{' (compressed)' if compressed else ''}; the file is damaged")


def read_array(node: Any, what: str, path: Path) -> np.ndarray:
    """A numeric dataset's values, once the file is known to back its size (`check_backed`)."""
    if not isinstance(node, h5py.Dataset):
        raise LandscapeError(f"{str(path)!r}: {what} is not an array of numbers; the file is damaged")
    check_backed(path, [(what, node)])
    return values(node)


# ----------------------------------------------------------------- reading a file at all
# Some damage makes libhdf5 itself crash (SIGSEGV) or spin forever (a corrupt global heap loops
# in H5HG__cache_heap_deserialize) instead of raising, and not every such spot can be checked
# for first. So every reader runs first in a forked child process (`files.isolated`): the child
# does exactly what this process is about to do, from the same memory, so a child killed by a
# signal, out of time or past a memory allowance (a thousand variable-length strings that all
# point at one large string of the file) means the file would kill, hang or swamp this process,
# and it is refused.

def damaged(path: Path, e: Exception, what: str = "a surface file",
            again: str = "landscape compute ... --overwrite") -> LandscapeError:
    """The user error for whatever a damaged file made h5py or NumPy raise."""
    if isinstance(e, MemoryError):
        return LandscapeError(f"{str(path)!r} claims more data than fits in memory; the file is damaged")
    first = " ".join(str(e).split())[:160]
    return LandscapeError(f"{str(path)!r} is damaged or not {what} ({type(e).__name__}: {first}); "
                          f"compute it again ({again})")


FIRST_READ_SECONDS = 30.0  # a reader may take this long in the child, plus a second per 5 MB of file
FIRST_READ_MEMORY = 2 << 30  # and need this much memory, plus 4 bytes per byte of the file and its journal
_passed: dict[tuple[Any, ...], None] = {}  # (file version, reader) pairs a child has read to the end
_inside: set[tuple[int, ...]] = set()  # file versions whose checked reader this process is running
_in_child = False  # True in the child process of a first reading


def _version(path: Path) -> tuple[int, ...] | None:
    """What tells one version of a regular file from another; None for anything else."""
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns) if stat.S_ISREG(st.st_mode) else None


CHILD_FULL_READ = 64 << 20  # bytes of one dataset the child reads whole; of a larger one, a slice


def _read_in_child(read: Any) -> None:
    global _in_child
    _in_child = True  # readers that `read` calls run as they are: this child is their first reading
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # the child says nothing: warnings and notes are the parent's to print
    os.dup2(devnull, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        read()


def values(node: h5py.Dataset) -> np.ndarray:
    """A dataset's values. In the child of a first reading, a dataset over CHILD_FULL_READ bytes
    (the directions of a large model) is read as one slice and stands in as zeros (pages never
    touched): its metadata and storage are checked all the same, and a file of many GB is not
    read twice."""
    if _in_child and node.size * node.dtype.itemsize > CHILD_FULL_READ:
        node[(slice(0, 1),) * node.ndim]
        return np.zeros(node.shape, node.dtype)
    return np.asarray(node[()])


def guarded(path: Path, read: Any, what: str = "a surface file",
            again: str = "landscape compute ... --overwrite") -> Any:
    """Run a reader of `path`: first in a child process (once per version of the file and reader;
    see above), then here; whatever a damaged file makes h5py or NumPy raise becomes a user error."""
    path = Path(path)
    version = None if _in_child else _version(path)
    if version in _inside:
        version = None  # an outer reader of this file, checked as a whole, calls this one
    if version is not None:
        key = (version, getattr(read, "__code__", read))
        if key not in _passed:
            size = version[2] + ((_version(journal.journal_path(path)) or (0, 0, 0))[2])
            failed = isolated(lambda: _read_in_child(read), FIRST_READ_SECONDS + size / 5e6,
                              FIRST_READ_MEMORY + 4 * size)
            if failed is not None:
                raise LandscapeError(f"{str(path)!r} is damaged: reading it makes libhdf5 fail ({failed}); "
                                     f"compute it again ({again}), or use another file")
            if len(_passed) >= 1024:
                _passed.clear()
            if time.time() - version[3] / 1e9 > 2:  # else a change within the clock's tick could look the same
                _passed[key] = None
        _inside.add(version)  # the readers `read` calls were part of the child's reading
    try:
        return read()
    except LandscapeError:
        raise
    except Exception as e:  # h5py raises many types on corrupt internals
        raise damaged(path, e, what, again) from None
    finally:
        if version is not None:
            _inside.discard(version)


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


def settings_difference(stored: dict[str, Any], wanted: dict[str, Any]) -> str | None:
    """A sentence naming the first setting that differs, or None if the run matches the file."""
    for key in sorted(set(stored) | set(wanted)):
        if stored.get(key) != wanted.get(key):
            return f"{key} is {stored.get(key)!r} in the file but {wanted.get(key)!r} in this run"
    return None


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
    names = _strings(group.attrs["names"]) if "names" in group.attrs else [str(i) for i in range(n)]
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
                raise LandscapeError(f"--directions {str(path)!r}: its tensors do not match the model's in names and "
                                     "shapes; use directions made for this architecture and --dir-type")
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
                dir_type = DirType(str(_attr(f.attrs.get("dir_type", "weights"))))
            except ValueError:
                raise LandscapeError(f"{str(path)!r}: unknown dir_type; the file is damaged") from None
            labels = (str(_attr(f.attrs.get("xlabel", "direction 1"))), str(_attr(f.attrs.get("ylabel", "direction 2"))))
            kind = str(_attr(f.attrs.get("dir_kind", "file")))
            extra = {k: _attr(f.attrs[k]) for k in ("scale", "eigenvalues") if k in f.attrs}
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
                    return (str(_attr(f.attrs.get("run_id", ""))), _metric_names(f),
                            {k: _attr(v) for k, v in f.attrs.items()}, int(np.prod(f["computed"].shape)))

            self.run_id, self.metrics, self.attrs, size = guarded(self.path, header)
            self._journal = journal.JournalWriter(self.path, self.run_id, self.metrics, size)
            self._journal.open()
            self._stack = stack.pop_all()  # held until __exit__
        return self

    def __exit__(self, *exc: object) -> None:
        with self._stack:  # the lock, released last
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


def _attr(v: Any) -> Any:
    if isinstance(v, bytes):
        return v.decode(errors="replace")
    if isinstance(v, np.ndarray) and v.dtype.kind == "O":
        return [_attr(e) for e in v.ravel()]
    return v


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
                    _check_storage(node.id, repr(node.name), repr(str(path)))
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
        attrs = {k: _attr(v) for k, v in f.attrs.items()}
        tracks = {name: _read_track(f[name], path) for name in TRACK_GROUPS if isinstance(f.get(name), h5py.Group)}
        plan = {k: _attr(v) for k, v in f["plan"].attrs.items()} if isinstance(f.get("plan"), h5py.Group) else {}
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
    return Surface(path, x, y, values, computed, attrs, tracks, plan)


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
