"""The journal: an append-only log of finished points beside a surface file (`FILE.journal`).

While a run computes, the HDF5 file is never opened for writing: every chunk of finished
points is appended to the journal as one record (length, points, CRC-32) and flushed to
the operating system. A process killed at any moment (even `kill -9`) leaves at most a
torn last record, which readers detect and skip; every earlier record is intact. When the
run ends or is interrupted cleanly, the journal is merged into a copy of the HDF5 file
that then replaces it atomically (`merge`), and the journal is removed. Readers apply a
journal that is still there, so a running or killed computation can be inspected.

A lock file (`FILE.lock`, `flock`) keeps a second writer out; the kernel releases it when
the process dies, however it dies. The lock and the journal are opened without following
symbolic links (files.py): a link planted at either name is refused, never written through.
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from landscape.errors import LandscapeError, arg
from landscape.plane.grid import MAX_POINTS
from landscape.store.files import journal_path, lock_path, open_private, reason, refuse_link, replacing, same_file
from landscape.store.hdf5 import open_file

try:
    import fcntl
except ImportError:  # Windows: no flock; runs there are not protected against a second writer
    fcntl = None

MAGIC = b"LSJ1"
RECORD = b"LSR1"
HEADER = struct.Struct("<4sI")  # magic, length of the JSON header that follows


def _absolute(path: Path) -> Path:
    """`path` with its folder resolved but not its last part (which may be a planted link)."""
    path = Path(path)
    return path.parent.resolve() / path.name


_held: dict[Path, int] = {}  # locks this process holds, with their nesting depth


class Lock:
    """An exclusive, non-blocking lock on a surface file, held by its one writer (re-entrant
    within a process)."""

    def __init__(self, path: Path):
        self.path = _absolute(lock_path(path))
        self.fd: int | None = None

    def __enter__(self) -> "Lock":
        if self.path in _held:
            _held[self.path] += 1
            return self
        if fcntl is None:
            _held[self.path] = 1
            return self
        while True:
            try:
                fd = open_private(self.path, "the lock of a surface file")
            except OSError as e:
                raise LandscapeError(f"cannot create {self.path}: {e.strerror or e}; choose another {arg('out')}", field="out") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "another process"
                os.close(fd)
                surface = self.path.name[: -len(".lock")]
                raise LandscapeError(
                    f"{surface} is being written by {holder}; wait for it to finish, or use another {arg('out')}"
                ) from None
            if same_file(self.path, fd):
                break
            os.close(fd)  # the holder removed the file as we locked it: lock the new one
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"process {os.getpid()}".encode(), 0)
        _held[self.path] = 1
        self.fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        _held[self.path] -= 1
        if _held[self.path] == 0:
            del _held[self.path]
            if self.fd is not None:
                if same_file(self.path, self.fd):  # never remove a name that is no longer our lock
                    self.path.unlink(missing_ok=True)  # before unlocking, so no one locks a removed file
                os.close(self.fd)  # releases the flock
                self.fd = None


ATTRS = b"LSA1"


def _record(flat: np.ndarray, columns: np.ndarray) -> bytes:
    payload = np.asarray(flat, dtype="<i8").tobytes() + np.asarray(columns, dtype="<f8").tobytes()
    return RECORD + struct.pack("<II", len(flat), zlib.crc32(payload)) + payload


def _attrs_record(attrs: dict[str, object]) -> bytes:
    payload = json.dumps(attrs).encode()
    return ATTRS + struct.pack("<II", len(payload), zlib.crc32(payload)) + payload


@dataclass
class Contents:
    """The intact part of a journal: point records, attributes set so far, and where it ends."""

    records: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)
    attrs: dict[str, object] = field(default_factory=dict)
    end: int = 0


def longest(n_metrics: int, size: int | None) -> int:
    """The most bytes a journal of a surface of `size` points (MAX_POINTS if unknown) can hold: a
    header, attribute records, and each point in a record of its own, twice over."""
    points = MAX_POINTS if size is None else max(0, int(size))
    return (16 << 20) + 2 * points * (12 + 8 * (1 + max(0, int(n_metrics))))


def read_journal(path: Path, run_id: str, n_metrics: int, size: int | None = None) -> Contents:
    """The intact records of `path`'s journal, if it belongs to `run_id` (else empty). Reading
    stops at the first torn or invalid record (a point index outside [0, size), a bad
    attribute record), as at the end of the journal, and at `longest` bytes: a journal larger
    than its surface can explain is never read whole."""
    out = Contents()
    jp = journal_path(path)
    try:
        fd = open_private(jp, "the journal of a surface file", create=False, write=False)
    except FileNotFoundError:
        return out
    with os.fdopen(fd, "rb") as f:
        data = f.read(longest(n_metrics, size))  # what lies beyond cannot be a record of this surface
    if len(data) < HEADER.size or data[:4] != MAGIC:
        return out
    (_, hlen) = HEADER.unpack_from(data)
    try:
        header = json.loads(data[HEADER.size : HEADER.size + hlen])
    except ValueError:
        return out
    if not isinstance(header, dict) or header.get("run_id") != run_id:
        return out  # left over from an earlier file of the same name
    pos = out.end = HEADER.size + hlen
    while pos + 12 <= len(data) and data[pos : pos + 4] in (RECORD, ATTRS):
        n, crc = struct.unpack_from("<II", data, pos + 4)
        length = n * 8 * (1 + n_metrics) if data[pos : pos + 4] == RECORD else n
        payload = data[pos + 12 : pos + 12 + length]
        if len(payload) != length or zlib.crc32(payload) != crc:
            break  # a torn last record: the points in flight when the process died
        if data[pos : pos + 4] == RECORD:
            flat = np.frombuffer(payload[: n * 8], dtype="<i8")
            if size is not None and len(flat) and (flat.min() < 0 or flat.max() >= size):
                break
            out.records.append((flat, np.frombuffer(payload[n * 8 :], dtype="<f8").reshape(n_metrics, n)))
        else:
            try:
                attrs = json.loads(payload)
            except ValueError:
                break
            if not isinstance(attrs, dict):
                break
            out.attrs.update(attrs)
        pos = out.end = pos + 12 + length
    return out


class JournalWriter:
    """Appends records for one surface file; truncates a torn tail left by a killed run first."""

    def __init__(self, path: Path, run_id: str, metrics: list[str], size: int | None = None):
        self.path, self.run_id, self.metrics, self.size = path, run_id, metrics, size
        self.file = None

    def open(self) -> None:
        jp = journal_path(self.path)
        refuse_link(jp, "the journal of a surface file")
        end = read_journal(self.path, self.run_id, len(self.metrics), self.size).end
        try:
            if end == 0:  # no journal of this run yet: a new file, created exclusively
                jp.unlink(missing_ok=True)
                header = json.dumps({"run_id": self.run_id, "metrics": self.metrics}).encode()
                fd = open_private(jp, "the journal of a surface file", exclusive=True)
                os.write(fd, HEADER.pack(MAGIC, len(header)) + header)
                os.fsync(fd)
            else:
                fd = open_private(jp, "the journal of a surface file", create=False)
                os.ftruncate(fd, end)
            os.lseek(fd, 0, os.SEEK_END)
            self.file = os.fdopen(fd, "ab")
        except OSError as e:
            raise _io_error(e, jp, "start") from None

    def append(self, flat: np.ndarray, values: dict[str, np.ndarray]) -> None:
        cols = np.stack([np.asarray(values.get(m, np.full(len(flat), np.nan)), dtype=np.float64) for m in self.metrics])
        self._write(_record(flat, cols))

    def append_attrs(self, attrs: dict[str, object]) -> None:
        self._write(_attrs_record(attrs))

    def _write(self, record: bytes) -> None:
        try:
            self.file.write(record)
            self.file.flush()
            os.fsync(self.file.fileno())
        except OSError as e:
            raise _io_error(e, journal_path(self.path), "append to") from None

    def close(self) -> None:
        if self.file is not None:
            try:
                self.file.close()
            except OSError:
                pass
            self.file = None


def _io_error(e: OSError, where: Path, verb: str) -> LandscapeError:
    return LandscapeError(
        f"cannot {verb} {where}: {reason(e)}; the points saved so far stay readable; free space or fix it, "
        "then run the same command to resume"
    )


def apply(f: h5py.File, records: list[tuple[np.ndarray, np.ndarray]], metrics: list[str]) -> None:
    """Write journal records into an open HDF5 surface file (values and `computed`)."""
    if not records:
        return
    flat = np.concatenate([r[0] for r in records])
    cols = np.concatenate([r[1] for r in records], axis=1)
    shape = f["computed"].shape
    mask = np.asarray(f["computed"]).ravel()
    mask[flat] = True
    f["computed"][...] = mask.reshape(shape)
    for k, name in enumerate(metrics):
        if name in f:
            v = np.asarray(f[name]).ravel()
            v[flat] = cols[k]
            f[name][...] = v.reshape(shape)


def set_attrs(f: h5py.File, attrs: dict[str, object]) -> None:
    """Journaled attributes into the file; "group/name" keys go to a group's attributes."""
    for key, value in attrs.items():
        group, _, name = key.rpartition("/")
        target = f.require_group(group) if group else f
        target.attrs[name] = value


def merge(path: Path, run_id: str, metrics: list[str]) -> None:
    """Fold the journal into the HDF5 file: a copy is updated, then replaces it. The file is opened
    through `store.open_file`, which refuses one whose datasets live in other files (writing
    them would write there)."""

    with open_file(path) as f:
        size = int(np.prod(f["computed"].shape))
    contents = read_journal(path, run_id, len(metrics), size)
    try:
        with replacing(path, copy_from=path) as tmp, h5py.File(tmp, "r+") as f:
            apply(f, contents.records, metrics)
            set_attrs(f, contents.attrs)
    except OSError as e:
        raise _io_error(e, path, "update") from None
    journal_path(path).unlink(missing_ok=True)
