"""Reading HDF5 files safely: what a file may hold before anything is read (no links or
storage outside it, no attribute types landscape never writes, no claimed size the file cannot
back), the first reading of each file in a child process, and the one translation of a failed
read into "this file is damaged" (`guarded`). Every reader of surface, direction and Hessian
files goes through here; only the reading is guarded, never what the program does with it.
"""

from __future__ import annotations

import json
import os
import stat
import time
import warnings
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from h5py import h5a, h5d, h5g, h5l, h5o, h5t, h5z

from landscape.errors import LandscapeError, arg
from landscape.store.files import isolated, journal_path, size_text

AGAIN = f"with {arg('overwrite', True)}"  # how to make a surface file anew

# What a damaged file can make h5py, libhdf5 or NumPy raise while it is read. Anything else
# (AttributeError, NameError, ZeroDivisionError, ...) is a bug of the reader and stays one.
READ_ERRORS = (OSError, KeyError, ValueError, TypeError, IndexError, RuntimeError, MemoryError, OverflowError)


def string_list(value: Any) -> list[str]:
    """A string-array attribute (or, in files of version 1, JSON text) as a list of str."""
    if isinstance(value, (str, bytes)):
        text = value.decode(errors="replace") if isinstance(value, bytes) else value
        try:
            parsed = json.loads(text)
        except ValueError:
            return [text]
        return [str(v) for v in parsed] if isinstance(parsed, list) else [text]
    return [v.decode(errors="replace") if isinstance(v, bytes) else str(v) for v in np.asarray(value).ravel()]


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
            f"(with {arg('overwrite', True)})"
        ) from None
    try:
        check_contents(handle, path)
    except BaseException as e:
        handle.close()
        if isinstance(e, READ_ERRORS) and not isinstance(e, LandscapeError):
            raise damaged(path, e) from None
        raise
    return handle

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


def check_storage(d: Any, shown: str, where: str) -> Any:
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
    `check_storage`) is refused too. `what` names a dataset in messages."""
    if not nodes:
        return
    file_size = nodes[0][1].file.id.get_filesize()
    rows = []  # (what, node, claimed, stored, compressed)
    for what, node in nodes:
        d = node.id
        if d.dtype.kind not in "biuf":
            raise LandscapeError(f"{str(path)!r}: {what} is not an array of numbers; the file is damaged")
        dcpl = check_storage(d, repr(node.name), repr(str(path)))
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

def damaged(path: Path, e: Exception, what: str = "a surface file",
            again: str = AGAIN) -> LandscapeError:
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
            again: str = AGAIN) -> Any:
    """Run a reader of `path`: first in a child process (once per version of the file and reader;
    see above), then here; what a damaged file makes h5py or NumPy raise (READ_ERRORS) becomes a
    user error. `read` should only read: work done on what it read belongs outside, so that a
    bug there is not reported as a damaged file."""
    path = Path(path)
    version = None if _in_child else _version(path)
    if version in _inside:
        version = None  # an outer reader of this file, checked as a whole, calls this one
    if version is not None:
        key = (version, getattr(read, "__code__", read))
        if key not in _passed:
            size = version[2] + ((_version(journal_path(path)) or (0, 0, 0))[2])
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
    except READ_ERRORS as e:  # h5py raises many types on corrupt internals
        raise damaged(path, e, what, again) from None
    finally:
        if version is not None:
            _inside.discard(version)


def plain(v: Any) -> Any:
    """An attribute as a plain value: bytes as text, arrays of strings as lists."""
    if isinstance(v, bytes):
        return v.decode(errors="replace")
    if isinstance(v, np.ndarray) and v.dtype.kind == "O":
        return [plain(e) for e in v.ravel()]
    return v


def read_attrs(path: Path, what: str = "a surface file", again: str = AGAIN
               ) -> dict[str, Any]:
    """The root attributes of a file, as plain values (guarded)."""
    def read() -> dict[str, Any]:
        with open_file(path) as f:
            return {k: plain(v) for k, v in f.attrs.items()}

    return guarded(Path(path), read, what, again)
