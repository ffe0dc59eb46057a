"""Writing files beside the user's output without trusting what is already there.

Two mechanisms, each in one place:
- `replacing(target)`: a new file is written to a temporary file created exclusively under an
  unpredictable name in the target's folder, flushed to disk, then renamed over the target;
  on any error the temporary file is removed and the target is untouched. HDF5 is written
  through the Python file object it yields, so a full disk raises OSError (libhdf5 writing
  by name can crash the process when the disk fills during close).
- `open_private(path)`: the lock and the journal beside a surface file are opened with
  O_NOFOLLOW and must be regular files, so a symbolic link planted at a predictable name
  is refused instead of followed.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from .errors import LandscapeError

NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
CLOEXEC = getattr(os, "O_CLOEXEC", 0)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def fsync_dir(folder: Path) -> None:
    """Make a rename in `folder` durable (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def replacing(target: Path, copy_from: Path | None = None) -> Iterator[BinaryIO]:
    """A file object on a fresh temporary file beside `target` (holding a copy of `copy_from`,
    positioned at its start, if given); renamed over `target` when the block ends without error."""
    target = Path(target)
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    tmp = Path(name)
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "w+b") as f:
            if copy_from is not None:
                with open(copy_from, "rb") as src:
                    shutil.copyfileobj(src, f, 1 << 20)
                f.seek(0)
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
        fsync_dir(target.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def reason(e: BaseException) -> str:
    """Why a write failed, in plain words: "the disk is full" wherever in the chain of causes
    (libhdf5 wraps the OSError of a full disk in its own) the disk filled up."""
    cause: BaseException | None = e
    while cause is not None:
        if isinstance(cause, OSError) and cause.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
            return "the disk is full (No space left on device)"
        cause = cause.__cause__ or cause.__context__
    return (getattr(e, "strerror", None) or str(e).splitlines()[0] if str(e) else type(e).__name__)


def write_bytes(target: Path, data: bytes) -> Path:
    """Replace `target` with `data` atomically (see `replacing`)."""
    with replacing(target) as f:
        f.write(data)
    return target


def refuse_link(path: Path, what: str) -> None:
    """A user error if `path` is a symbolic link where landscape keeps `what`."""
    if path.is_symlink():
        raise LandscapeError(f"{path} is a symbolic link where landscape keeps {what}; remove the link "
                             "(landscape never writes through a link it did not make)")


def open_private(path: Path, what: str, create: bool = True, exclusive: bool = False, write: bool = True) -> int:
    """A descriptor of the regular file `path`, never through a symbolic link."""
    flags = (os.O_RDWR if write else os.O_RDONLY) | NOFOLLOW | CLOEXEC
    flags |= (os.O_CREAT if create else 0) | (os.O_EXCL if exclusive else 0)
    try:
        fd = os.open(path, flags, 0o644)
    except OSError as e:
        if e.errno == errno.ELOOP or (e.errno == errno.EEXIST and path.is_symlink()):
            refuse_link(path, what)
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise LandscapeError(f"{path} is not a regular file, yet landscape keeps {what} there; remove it")
    return fd


def same_file(path: Path, fd: int) -> bool:
    """Whether the name `path` (not followed) still refers to the open file `fd`."""
    try:
        a, b = os.lstat(path), os.fstat(fd)
    except FileNotFoundError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)
