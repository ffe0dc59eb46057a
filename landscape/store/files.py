"""Writing files beside the user's output, and reading the user's files, without trusting what
is already there.

Three mechanisms, each in one place:
- `replacing(target)`: a new file is written to a temporary file created exclusively under an
  unpredictable name in the target's folder, flushed to disk, then renamed over the target;
  on any error the temporary file is removed and the target is untouched. HDF5 is written
  through the Python file object it yields, so a full disk raises OSError (libhdf5 writing
  by name can crash the process when the disk fills during close).
- `open_private(path)`: the lock and the journal beside a surface file are opened with
  O_NOFOLLOW and must be regular files, so a symbolic link planted at a predictable name
  is refused instead of followed.
- `isolated(run, seconds, memory)`: a first reading of an untrusted file in a forked child
  process, for the damage that makes a C library (libhdf5) crash, loop or allocate without
  bound instead of raising: the child's death by a signal, its not finishing in time, or its
  growing past a memory allowance is reported, so the caller refuses the file before reading
  it in its own process.
"""

from __future__ import annotations

import errno
import os
import select
import shutil
import signal
import stat
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

from landscape.errors import LandscapeError

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
def uninterruptible() -> Iterator[None]:
    """Hold SIGINT and SIGTERM until the block ends (a short step that must finish whole, such as
    folding a journal into its file: a Ctrl-C landing in it left the journal behind), then act
    on the first that came, as its handler would have. Only the main thread receives signals:
    elsewhere the block just runs."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[tuple[int, Any]] = []
    previous = {s: signal.signal(s, lambda sig, frame: caught.append((sig, frame)))
                for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler if handler is not None else signal.SIG_DFL)
        if caught:
            sig, frame = caught[0]
            handler = previous[sig]
            if callable(handler):
                handler(sig, frame)
            elif handler != signal.SIG_IGN:
                os.kill(os.getpid(), sig)


def journal_path(path: Path) -> Path:
    """Where the journal of a surface file's running computation lives (see journal.py)."""
    return path.with_name(path.name + ".journal")


def lock_path(path: Path) -> Path:
    """The lock file that makes one process the writer of a surface file."""
    return path.with_name(path.name + ".lock")


@contextmanager
def replacing(target: Path, copy_from: Path | None = None, sync: bool = True) -> Iterator[BinaryIO]:
    """A file object on a fresh temporary file beside `target` (holding a copy of `copy_from`,
    positioned at its start, if given); renamed over `target` when the block ends without error.
    `sync`: flushed to the disk before the rename (what a power cut needs; a killed process does
    not: the rename alone is atomic). Files rewritten every few seconds during training skip it,
    as each sync costs milliseconds that a small model's steps would pay."""
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
            if sync:
                os.fsync(f.fileno())
        os.replace(tmp, target)
        if sync:
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


def write_bytes(target: Path, data: bytes, sync: bool = True) -> Path:
    """Replace `target` with `data` atomically (see `replacing`)."""
    with replacing(target, sync=sync) as f:
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


def size_text(n: float) -> str:
    """A number of bytes as people read it: 812 bytes, 73.7 KB, 3.2 GB (decimal units)."""
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.3g} {unit}"
        n /= 1000
    return f"{n:.3g} TB"


def _resident(pid: int | str) -> int | None:
    """Resident bytes of a process (Linux: /proc); None where that cannot be read."""
    try:
        with open(f"/proc/{pid}/statm", "rb") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def _forking_is_unsafe() -> bool:
    """Under torchrun (NCCL's registered memory) or once CUDA is set up, a fork is not safe:
    there the first reading is skipped and only the metadata checks guard the reader."""
    import sys

    torch = sys.modules.get("torch")
    if torch is None:
        return False
    dist = getattr(torch, "distributed", None)
    return bool((dist is not None and dist.is_available() and dist.is_initialized())
                or torch.cuda.is_initialized())


def isolated(run: Callable[[], object], seconds: float, memory: int | None = None) -> str | None:
    """Call `run()` in a forked child process and wait for it at most `seconds`, and (where /proc
    tells) while it holds at most `memory` bytes more than this process: None if it returned or
    raised (an exception is the reader's to report, in the caller's own process), else how it
    failed ("it was killed by SIGSEGV", "it did not finish in 10 s", "it needed more than 2.1 GB
    of memory"). None too where there is no fork (Windows) or it fails (no memory): the caller
    then reads without this net.

    The child only reads: it shares nothing back, writes nothing, and leaves by os._exit, so the
    parent's buffers and exit handlers are never run twice."""
    if not hasattr(os, "fork") or _forking_is_unsafe():
        return None
    base = _resident("self")
    limit = None if memory is None or base is None else base + memory
    r, w = os.pipe()
    try:
        with warnings.catch_warnings():  # Python >= 3.12 warns of forking with threads; the child runs none
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
    except OSError:
        os.close(r)
        os.close(w)
        return None
    if pid == 0:  # the child
        try:
            os.close(r)
            run()
        except BaseException:
            pass
        finally:
            os._exit(0)
    os.close(w)
    status, failed = None, f"it did not finish in {seconds:.0f} s"
    deadline, pause = time.monotonic() + seconds, 0.002
    poller = select.poll()  # (select.select fails on descriptors past 1024)
    poller.register(r, select.POLLIN | select.POLLHUP)
    try:
        while (left := deadline - time.monotonic()) > 0:
            if poller.poll(1000 * min(pause, left)):  # readable or hung up: the child is gone (its end closed)
                status = os.waitpid(pid, 0)[1]
                break
            pause = min(2 * pause, 0.05)
            if limit is not None and (_resident(pid) or 0) > limit:
                failed = f"it needed more than {memory / 1e9:.1f} GB of memory"
                break
    finally:
        os.close(r)
        if status is None:  # too slow, too big, or we were interrupted
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
    if status is None:
        return failed
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            return f"it was killed by {signal.Signals(sig).name}"
        except ValueError:
            return f"it was killed by signal {sig}"
    return None
