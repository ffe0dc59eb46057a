"""The HDF5 readers against hostile and damaged files: nothing outside the file is read (external
storage, virtual datasets, external and dangling links), claimed sizes are checked before any
data is read, libhdf5 crashes and hangs are refused, and Hessian files are guarded like surface
files. Every failure is a one-line LandscapeError, through the library and through the CLI."""

from __future__ import annotations

import multiprocessing
import resource
import struct
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from conftest import tiny_model
from landscape import store
from landscape.cli import app
from landscape.plane.directions import DirectionSpec, random_directions
from landscape.errors import LandscapeError
from landscape.plane.grid import Grid
from landscape.curvature import HessianResult, HessianSettings, HvpMode, LayerCurvature
from landscape.store.hessian_file import read_hessian, write_hessian

MODEL = ["--model", "landscape.models:digits_cnn", "--model-kwargs", '{"width": 4}']
SECRET = b"SECRET:do-not-leak;" * 256  # 4864 bytes outside every landscape file
runner = CliRunner()


# ------------------------------------------------------------------------------------ files


def surface_file(path: Path) -> Path:
    """A small computed-looking 2-D surface (3 × 2 points) with the directions of tiny_model."""
    dirs = random_directions(tiny_model(), DirectionSpec(seed=1))
    store.create(path, Grid.linspace((-1, 1, 3), (-1, 1, 2)), ["train_loss", "train_acc"], dirs,
                 {"checkpoint": "tiny.pt", "model": "digits_cnn"}, {"checkpoint_sha256": "0" * 64})
    with h5py.File(path, "r+") as f:
        f["train_loss"][...] = np.arange(6.0).reshape(2, 3) + 1
        f["train_acc"][...] = 50.0
        f["computed"][...] = True
    return path


def hessian_file(path: Path) -> Path:
    """A Hessian file as `landscape hessian` writes it, without computing anything."""
    model = tiny_model()
    vectors = [{n: torch.full_like(p, 0.1 * (i + 1)) for n, p in model.named_parameters()} for i in range(2)]
    names = [n for n, _ in model.named_parameters()]
    result = HessianResult(
        eigenvalues=np.array([3.0, 1.5]), eigenvectors=vectors, residuals=np.array([1e-4, 2e-4]), smallest_ritz=-0.5,
        lanczos_steps=9, converged=True, params=tuple(names), loss=0.7, accuracy=80.0, samples=48,
        settings=HessianSettings(top_k=2, max_steps=9, trace=True, probes=6, density=True, per_layer=True), trace=12.0,
        trace_stderr=0.5, probes=6, density_grid=np.linspace(-1, 4, 5), density=np.full(5, 0.2),
        per_layer=[LayerCurvature(n, 10, 1.0, 2.0, 0.1) for n in names], hvps=40, hvp_mode=HvpMode.forward,
        vectors_per_pass=1, seconds=1.0)
    return write_hessian(path, result, {"checkpoint": "tiny.pt"})


@pytest.fixture
def secret(tmp_path: Path) -> tuple[Path, Path]:
    """The secret as a raw file and as an HDF5 file (dataset per shape asked for, see `inject`)."""
    raw = tmp_path / "secret.bin"
    raw.write_bytes(SECRET)
    h5 = tmp_path / "secret.h5"
    h5py.File(h5, "w").close()
    return raw, h5


def _source(h5: Path, shape: tuple[int, ...], dtype: np.dtype) -> str:
    """A dataset of `h5` holding the secret's bytes, of the given shape and type."""
    name = f"secret_{'x'.join(map(str, shape))}_{dtype.str[1:]}"
    with h5py.File(h5, "a") as f:
        if name not in f:
            n = int(np.prod(shape)) * dtype.itemsize
            f.create_dataset(name, data=np.frombuffer(SECRET[:n], dtype=dtype).reshape(shape))
    return name


FEATURES = ["external storage", "virtual dataset", "external link", "dangling soft link"]


def inject(path: Path, name: str, feature: str, secret: tuple[Path, Path]) -> None:
    """Replace the dataset `name` of `path` by one that would read the secret (or by a link to nowhere)."""
    raw, h5 = secret
    with h5py.File(path, "r+") as f:
        shape, dtype = f[name].shape, f[name].dtype
        del f[name]
        if feature == "external storage":
            size = int(np.prod(shape)) * dtype.itemsize
            f.create_dataset(name, shape=shape, dtype=dtype, external=[(str(raw), 0, size)])
        elif feature == "virtual dataset":
            layout = h5py.VirtualLayout(shape=shape, dtype=dtype)
            layout[...] = h5py.VirtualSource(str(h5), _source(h5, shape, dtype), shape=shape)
            f.create_virtual_dataset(name, layout)
        elif feature == "external link":
            f[name] = h5py.ExternalLink(str(h5), _source(h5, shape, dtype))
        else:
            f[name] = h5py.SoftLink("/nowhere/at/all")


def invoke(args: list[str]) -> tuple[int, str]:
    r = runner.invoke(app, args)
    return r.exit_code, r.output


def one_line_error(code: int, output: str, match: str = "") -> None:
    text = output.strip()
    assert code == 2 and match in text and "Traceback" not in text and len(text.splitlines()) == 1, (code, text)


def leaked(output: str, *files: Path) -> bool:
    """Whether the secret shows in `output` or in any of `files` (as bytes or as numbers)."""
    needle = SECRET[:16]
    return "SECRET" in output or any(f.exists() and needle in f.read_bytes() for f in files)


# ----------------------------------------------------------------------- nothing outside the file


@pytest.mark.parametrize("feature", FEATURES)
def test_surface_readers_refuse_data_outside_the_file(tmp_path, secret, feature):
    path = surface_file(tmp_path / "s.h5")
    inject(path, "train_acc", feature, secret)
    with pytest.raises(LandscapeError, match="train_acc"):
        store.read_surface(path)
    code, output = invoke(["info", str(path)])
    one_line_error(code, output, "train_acc")
    figures = tmp_path / "figs"
    code, output = invoke(["plot", str(path), "--kind", "html", "--out", str(figures)])
    one_line_error(code, output, "train_acc")
    assert not leaked(output, *figures.glob("*")) and not figures.exists()


@pytest.mark.parametrize("feature", FEATURES)
def test_direction_readers_refuse_data_outside_the_file(tmp_path, secret, checkpoint, feature):
    path = surface_file(tmp_path / "d.h5")
    inject(path, "xdirection/0", feature, secret)
    with pytest.raises(LandscapeError, match="xdirection/0"):
        store.read_directions(path)
    out = tmp_path / "new.h5"
    code, output = invoke(["compute", str(checkpoint), *MODEL, "--directions", str(path), "--x", "-1:1:2", "--y",
                           "-1:1:2", "--samples", "16", "--device", "cpu", "--quiet", "--out", str(out)])
    one_line_error(code, output, "xdirection/0")
    assert not leaked(output, out) and not out.exists()


@pytest.mark.parametrize("feature", FEATURES)
def test_hessian_readers_refuse_data_outside_the_file(tmp_path, secret, feature):
    path = hessian_file(tmp_path / "h.h5")
    inject(path, "ydirection/2", feature, secret)
    with pytest.raises(LandscapeError, match="ydirection/2"):
        read_hessian(path)
    code, output = invoke(["info", str(path)])
    one_line_error(code, output, "ydirection/2")
    assert not leaked(output)


def test_soft_links_within_the_file_are_read(tmp_path):
    path = surface_file(tmp_path / "s.h5")
    with h5py.File(path, "r+") as f:
        f.move("train_acc", "stored/acc")
        f["train_acc"] = h5py.SoftLink("/stored/acc")
        f["stored/again"] = h5py.SoftLink("acc")  # relative to its group: /stored/acc
        f["alias"] = h5py.SoftLink("/train_acc")  # a chain of soft links
    assert (store.read_surface(path).values["train_acc"] == 50.0).all()
    with h5py.File(path, "r+") as f:
        f["loop"] = h5py.SoftLink("/loop")
    with pytest.raises(LandscapeError, match="'/loop' is a soft link"):
        store.read_surface(path)


def test_a_walk_of_a_few_hundred_tensors_is_cheap(tmp_path):
    path = tmp_path / "big.h5"
    with h5py.File(path, "w") as f:
        for g in ("xdirection", "ydirection"):
            group = f.create_group(g)
            group.attrs["names"] = np.array([f"layer{i}.weight" for i in range(150)], dtype=h5py.string_dtype())
            for i in range(150):
                group.create_dataset(str(i), data=np.ones(8, np.float32))
    with h5py.File(path, "r") as f:
        start = time.perf_counter()
        store.check_contents(f, path)
        walk = time.perf_counter() - start
    assert walk < 0.5, walk  # about 2 ms on a quiet machine
    assert len(store.read_directions(path).x) == 150


# ---------------------------------------------------------------------- crashes inside libhdf5


VLEN_UTF8_STRING = b"\x19\x01\x01\x00\x10\x00\x00\x00\x10\x00\x00\x00\x01"  # type message: vlen string of bytes


def crash_attribute(data: bytes) -> bytes:
    """A variable-length string attribute's type flags set to an invalid kind: reading it made
    H5Aread write through a garbage pointer (SIGSEGV in H5T__conv_vlen / H5VL_blob_put)."""
    b = bytearray(data)
    b[b.index(VLEN_UTF8_STRING) + 1] = 0x02
    return bytes(b)


def spin_global_heap(data: bytes) -> bytes:
    """The free-space object of the first global heap collection given size 0: libhdf5 loops
    forever in H5HG__cache_heap_deserialize when it reads any string stored there."""
    b = bytearray(data)
    start = b.index(b"GCOL")
    end = start + struct.unpack_from("<Q", b, start + 8)[0]
    p = start + 16
    while p + 16 <= end:
        index, size = struct.unpack_from("<H", b, p)[0], struct.unpack_from("<Q", b, p + 8)[0]
        if index == 0:
            struct.pack_into("<Q", b, p + 8, 0)
            return bytes(b)
        p += 16 + ((size + 7) & ~7)
    raise AssertionError("no free space in the global heap")


def _send(conn, fn, args):
    conn.send(fn(*args))


def in_child(fn, *args, timeout: float = 60) -> tuple[int | None, object]:
    """`fn(*args)` in a forked child process: (its exit code, negative if a signal killed it; what
    it returned, or None)."""
    ctx = multiprocessing.get_context("fork")
    receive, send = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_send, args=(send, fn, args))
    child.start()
    send.close()
    result = None
    try:
        if receive.poll(timeout):
            result = receive.recv()
    except EOFError:  # it died before it said anything
        pass
    child.join(10)
    if child.exitcode is None:
        child.kill()
        child.join()
    return child.exitcode, result


def read_all(files: list[tuple[str, Path]]) -> dict[str, str]:
    """Each file read by its own reader and by `info`: "ok" or the LandscapeError's message."""
    from landscape.run import info

    store.hdf5.FIRST_READ_SECONDS = 1.0  # the child's time to read a tiny file; a spinning libhdf5 runs out of it
    out = {}
    for kind, path in files:
        for name, call in ((kind, store.read_surface if kind == "surface" else read_hessian), ("info", info.summary)):
            try:
                call(path)
                out[f"{path.name} {name}"] = "ok"
            except LandscapeError as e:
                out[f"{path.name} {name}"] = str(e)
    return out


def test_damage_that_crashes_or_hangs_libhdf5_is_refused(tmp_path):
    files = []
    for kind, make in (("surface", surface_file), ("hessian", hessian_file)):
        for damage in (crash_attribute, spin_global_heap) if kind == "surface" else (crash_attribute,):
            path = make(tmp_path / f"{kind}-{damage.__name__}.h5")
            path.write_bytes(damage(path.read_bytes()))
            files.append((kind, path))
    code, outcome = in_child(read_all, files)
    assert code == 0, code  # -11: libhdf5 killed the process with SIGSEGV; None: it hung
    assert len(outcome) == 6 and all(" is damaged" in m and len(m.splitlines()) == 1 for m in outcome.values()), outcome


# ------------------------------------------------------------------------------- claimed sizes


HUGE = (100_000_000,)  # 800 MB of float64 claimed by a file of a few KB


def read_sizes(calls: list[tuple[str, Path]]) -> dict[str, object]:
    from landscape.run import info

    readers = {"directions": store.read_directions, "hessian": read_hessian, "info": info.summary,
               "surface": store.read_surface}
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KB; a forked child starts at its RSS
    out: dict[str, object] = {}
    for name, path in calls:
        start = time.perf_counter()
        try:
            readers[name](path)
            result = "ok"
        except Exception as e:
            result = str(e) if isinstance(e, LandscapeError) else f"{type(e).__name__}: {e}"
        out[f"{name} {path.name}"] = (result, time.perf_counter() - start)
    out["grew_mb"] = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    return out


def test_claimed_sizes_are_checked_before_any_data_is_read(tmp_path):
    gz = surface_file(tmp_path / "gzip.h5")  # a compressed tensor whose chunks were never written
    with h5py.File(gz, "r+") as f:
        for name in ("xdirection/1", "ydirection/1"):
            del f[name]
            f.create_dataset(name, shape=HUGE, dtype="f8", chunks=(1 << 20,), compression="gzip")
    late = hessian_file(tmp_path / "late.h5")  # an uncompressed tensor whose storage was never allocated
    with h5py.File(late, "r+") as f:
        for name in ("xdirection/3", "ydirection/3"):
            del f[name]
            f.create_dataset(name, shape=HUGE, dtype="f8")
    eig = hessian_file(tmp_path / "eig.h5")
    with h5py.File(eig, "r+") as f:
        del f["residuals"], f["eigenvalues"]
        f.create_dataset("eigenvalues", shape=HUGE, dtype="f8", chunks=(1 << 20,), compression="gzip")
        f.create_dataset("residuals", shape=HUGE, dtype="f8", chunks=(1 << 20,), compression="gzip")
    journal = surface_file(tmp_path / "journal.h5")  # a 4 GB journal (sparse: no disk) beside a 6-point surface
    with open(tmp_path / "journal.h5.journal", "wb") as f:
        f.truncate(4 << 30)
    calls = [("directions", gz), ("hessian", late), ("info", late), ("directions", late), ("hessian", eig),
             ("info", eig), ("surface", journal)]
    code, out = in_child(read_sizes, calls)
    assert code == 0, code
    for name, path in calls[:-1]:
        message, seconds = out[f"{name} {path.name}"]
        assert "claims 800 MB of data but the file holds 0 bytes" in message and seconds < 5, (name, message, seconds)
    assert out[f"surface {journal.name}"][0] == "ok"
    assert out["grew_mb"] < 150, out


def _global_heap_objects(b: bytes):
    """(collection address, index, size, first bytes) of every object of every global heap collection."""
    start = 0
    while (start := b.find(b"GCOL", start)) >= 0:
        end = start + struct.unpack_from("<Q", b, start + 8)[0]
        p = start + 16
        while p + 16 <= end and (index := struct.unpack_from("<H", b, p)[0]):
            size = struct.unpack_from("<Q", b, p + 8)[0]
            yield start, index, size, b[p + 16 : p + 24]
            p += 16 + ((size + 7) & ~7)
        start += 4


def test_strings_that_share_one_large_string_are_refused(tmp_path):
    """A thousand 16-byte references to one 1 MB string of the file: 2 GB of Python strings from a
    1 MB file. The first reading grows past its memory allowance and is stopped."""
    path = surface_file(tmp_path / "s.h5")
    n, big = 1000, 1 << 20
    with h5py.File(path, "r+") as f:
        f.attrs["note"] = np.array([f"s{i:04d}" for i in range(n)], dtype=h5py.string_dtype())
        f.attrs["big"] = "A" * big
    b = bytearray(path.read_bytes())
    objects = list(_global_heap_objects(bytes(b)))
    target = next(o for o in objects if o[2] == big)
    first = next(o for o in objects if o[3].startswith(b"s0000"))
    at = b.index(struct.pack("<IQI", 5, first[0], first[1]))  # the attribute's first element: length, heap ID
    for i in range(n):
        struct.pack_into("<IQI", b, at + 16 * i, big, target[0], target[1])
    path.write_bytes(bytes(b))

    def read(path: Path) -> str:
        store.hdf5.FIRST_READ_MEMORY = 100 << 20
        try:
            store.read_surface(path)
            return "ok"
        except LandscapeError as e:
            return str(e)

    code, message = in_child(read, path)
    assert code == 0 and "needed more than 0.1 GB of memory" in message, (code, message)


def test_a_genuine_compressed_file_is_read(tmp_path):
    path = surface_file(tmp_path / "s.h5")
    with h5py.File(path, "r+") as f:  # 8 MB of zeros, gzip-compressed to a few KB: a real ratio, so backed
        for name in ("xdirection/1", "ydirection/1"):
            del f[name]
            f.create_dataset(name, data=np.zeros(1 << 20), chunks=(1 << 18,), compression="gzip")
            assert f[name].id.get_storage_size() < 100_000
    assert store.read_directions(path).y["bn1.weight"].numel() == 1 << 20


# ------------------------------------------------------------------------- direction names


def test_duplicate_tensor_names_are_named(tmp_path):
    path = surface_file(tmp_path / "s.h5")
    with h5py.File(path, "r+") as f:
        names = list(f["xdirection"].attrs["names"])
        names[3] = names[1]
        f["xdirection"].attrs["names"] = np.array(names, dtype=h5py.string_dtype())
    twice = names[1].decode() if isinstance(names[1], bytes) else names[1]
    with pytest.raises(LandscapeError, match=f"duplicate tensor names \\(e.g. '{twice}'\\)"):
        store.read_directions(path)


# ----------------------------------------------------------------------- Hessian files guarded


def _drop_attr(name):
    return lambda f: f.attrs.__delitem__(name)


def _replace(name, **kw):
    def change(f):
        del f[name]
        f.create_dataset(name, **kw)
    return change


HESSIAN_DAMAGE = {
    "no loss": (_drop_attr("loss"), "lacks the attribute 'loss'"),
    "text steps": (lambda f: f.attrs.__setitem__("lanczos_steps", "many"),
                   "'lanczos_steps' is 'many', not a whole number"),
    "bad mode": (lambda f: f.attrs.__setitem__("hvp_mode", "sideways"), "hvp_mode"),
    "bad setting": (lambda f: f.attrs.__setitem__("top_k", 0), "settings are invalid"),
    "text eigenvalues": (_replace("eigenvalues", data="abc"), "eigenvalues is not an array of numbers"),
    "short residuals": (_replace("residuals", data=np.zeros(1)), "residuals has shape (1,), expected (2,)"),
    "empty density": (_replace("density_grid", data=np.zeros(0)), "density_grid has shape (0,)"),
    "vector trace": (_replace("trace", data=np.zeros(3)), "trace has shape (3,), expected one number"),
    "no names": (lambda f: f["ydirection"].attrs.__delitem__("names"), "eigenvector 2 (ydirection)"),
    "layer group": (_replace("per_layer", data=np.zeros(2)), "per_layer is not a group"),
}


@pytest.mark.parametrize("case", list(HESSIAN_DAMAGE))
def test_damaged_hessian_files_are_one_line_errors(tmp_path, case):
    change, match = HESSIAN_DAMAGE[case]
    path = hessian_file(tmp_path / "h.h5")
    with h5py.File(path, "r+") as f:
        change(f)
    with pytest.raises(LandscapeError, match=match.replace("(", "\\(").replace(")", "\\)")):
        read_hessian(path)
    one_line_error(*invoke(["info", str(path)]), match)


def test_a_hessian_file_round_trips_and_info_reads_it(tmp_path):
    path = hessian_file(tmp_path / "h.h5")
    r = read_hessian(path)
    assert r.settings == HessianSettings(top_k=2, max_steps=9, trace=True, probes=6, density=True, per_layer=True)
    assert r.trace == 12.0 and len(r.per_layer) == len(r.params) and r.hvp_mode == HvpMode.forward
    code, output = invoke(["info", str(path)])
    assert code == 0 and "λ1" in output, output
