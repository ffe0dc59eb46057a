"""The README's promises under attack and under odd input: code in files, planted links,
shadowing folders, splits, model-to-model endpoints, resumes, damaged files."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from conftest import naive_loop, tiny_model
from landscape import store
from landscape.store import journal
from landscape.inputs.checkpoint import ModelSpec
from landscape.cli import app
from landscape.inputs.data import DataSpec, Split, load_data
from landscape.plane.directions import random_directions
from landscape.engine import EvalSettings
from landscape.errors import LandscapeError, for_cli
from landscape.plane.grid import Grid
from landscape.run.compute import compute
from landscape.run.job import ComputeJob

ROOT = Path(__file__).resolve().parent.parent
MODEL = ["--model", "landscape.models:digits_cnn", "--model-kwargs", '{"width": 4}']
SMALL = ["--x", "-1:1:3", "--y", "-1:1:3", "--samples", "40", "--device", "cpu"]
runner = CliRunner()
# The installed command, as users run it (not `python -m`, which puts the working folder first itself).
COMMAND = shutil.which("landscape")


def invoke(args: list[str]) -> tuple[int, str]:
    r = runner.invoke(app, args)
    return r.exit_code, r.output


def one_line_error(code: int, output: str, match: str) -> None:
    assert code == 2, output
    text = output.strip()
    assert match in text and "Traceback" not in text and len(text.splitlines()) == 1, text


@pytest.fixture
def scripted(tmp_path: Path) -> Path:
    path = tmp_path / "scripted.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.save(torch.jit.script(tiny_model()), path)
    return path


# ---------------------------------------------------------------------------------- code in files


def test_torchscript_is_refused_everywhere_without_trust(tmp_path, checkpoint, scripted):
    run = tmp_path / "run"
    run.mkdir()
    for e in (1, 2):
        torch.save(tiny_model(seed=e).state_dict(), run / f"epoch_{e}.pt")
    shutil.copy(scripted, run / "epoch_3.pt")
    out = str(tmp_path / "o.h5")
    cases = {
        "checkpoint": ["compute", str(scripted), *SMALL, "--out", out],
        "x target": ["compute", str(checkpoint), *MODEL, *SMALL, "--x-target", str(scripted), "--out", out],
        "y target": ["compute", str(checkpoint), *MODEL, *SMALL, "--x-target", str(checkpoint), "--y-target",
                     str(scripted), "--out", out],
        "trajectory folder": ["trajectory", str(run), *MODEL, "--samples", "40", "--resolution", "3", "--out", out],
        "interpolation": ["interpolate", str(checkpoint), str(scripted), *MODEL, "--samples", "40", "--out", out],
    }
    for name, args in cases.items():
        code, output = invoke(args)
        one_line_error(code, output, "TorchScript archive")
        assert "--trust-checkpoint" in output, name
        assert not Path(out).exists(), name
    code, output = invoke(["compute", str(scripted), *SMALL, "--out", out, "--trust-checkpoint", "--quiet"])
    assert code == 0, output


def test_quiet_means_no_warnings_on_the_torchscript_path(tmp_path, scripted):
    if COMMAND is None:
        pytest.skip("the installed landscape command is not on PATH")
    env = {**os.environ, "PYTHONWARNINGS": "default"}  # what a user sees, not the test configuration's filters
    r = subprocess.run([COMMAND, "compute", str(scripted), "--trust-checkpoint", *SMALL, "--out",
                        str(tmp_path / "s.h5"), "--quiet"], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0 and r.stderr == "" and r.stdout == "", r.stderr


def test_user_code_does_not_shadow_the_tools_own_imports(tmp_path, checkpoint):
    if COMMAND is None:
        pytest.skip("the installed landscape command is not on PATH")
    (tmp_path / "sklearn").mkdir()
    (tmp_path / "sklearn" / "__init__.py").write_text("raise RuntimeError('the folder sklearn/ ran')\n")
    (tmp_path / "mynets.py").write_text("from landscape.models import DigitsCNN\ndef make(): return DigitsCNN(width=4)\n")
    r = subprocess.run([COMMAND, "compute", str(checkpoint), "--model", "mynets:make", *SMALL, "--out",
                        str(tmp_path / "s.h5"), "--quiet"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr  # the digits come from the real scikit-learn
    assert "the folder sklearn/ ran" not in r.stderr and store.read_surface(tmp_path / "s.h5").computed.all()


def test_pickled_module_from_the_working_folder_loads_with_trust(tmp_path):
    if COMMAND is None:
        pytest.skip("the installed landscape command is not on PATH")
    (tmp_path / "netdef.py").write_text(
        "from landscape.models import DigitsCNN\nclass Net(DigitsCNN):\n    pass\n")
    subprocess.run([sys.executable, "-c", "import torch, netdef; torch.save(netdef.Net(width=4), 'whole.pt')"],
                   cwd=tmp_path, check=True, timeout=120)
    args = [COMMAND, "compute", "whole.pt", *SMALL, "--out", "s.h5", "--quiet"]
    r = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "--trust-checkpoint" in r.stderr
    r = subprocess.run(args + ["--trust-checkpoint"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr


def test_model_given_as_a_file_and_a_hint_for_the_wrong_folder(tmp_path, checkpoint, monkeypatch):
    pkg = tmp_path / "proj" / "pkg"
    pkg.mkdir(parents=True)
    (pkg / "nets.py").write_text("from landscape.models import DigitsCNN\ndef MLP(): return DigitsCNN(width=4)\n")
    monkeypatch.chdir(tmp_path)  # the wrong folder: pkg/ is under proj/
    code, output = invoke(["compute", str(checkpoint), "--model", "pkg.nets:MLP", *SMALL, "--out", str(tmp_path / "t.h5")])
    one_line_error(code, output, "no module named 'pkg'")
    assert "path/to/nets.py:MLP" in output
    code, output = invoke(["compute", str(checkpoint), "--model", "proj/pkg/nets.py:MLP", *SMALL,
                           "--out", str(tmp_path / "s.h5"), "--quiet"])
    assert code == 0, output


# ---------------------------------------------------------------------------------- planted links


def _victim(tmp_path: Path) -> Path:
    victim = tmp_path / "victim.txt"
    victim.write_text("another user's file\n")
    return victim


@pytest.mark.parametrize("suffix", [".lock", ".journal"])
def test_links_at_the_lock_and_the_journal_are_refused(tmp_path, checkpoint, suffix):
    victim = _victim(tmp_path)
    out = tmp_path / "s.h5"
    if suffix == ".journal":  # on resume: a file exists, and its journal name holds a link
        code, output = invoke(["compute", str(checkpoint), *MODEL, *SMALL, "--out", str(out), "--quiet"])
        assert code == 0, output
        with h5py.File(out, "r+") as f:
            f["computed"][0, 0] = False
    os.symlink(victim, out.with_name(out.name + suffix))
    code, output = invoke(["compute", str(checkpoint), *MODEL, *SMALL, "--out", str(out)])
    one_line_error(code, output, "symbolic link")
    assert victim.read_text() == "another user's file\n"
    assert out.with_name(out.name + suffix).is_symlink()  # left as it was: neither followed nor removed


def test_links_at_old_temporary_names_are_never_touched(tmp_path, checkpoint):
    victim = _victim(tmp_path)
    out = tmp_path / "s.h5"
    for name in ("s.h5.tmp", "s.h5.merge.tmp", ".s.h5.tmp"):
        os.symlink(victim, tmp_path / name)
    code, output = invoke(["compute", str(checkpoint), *MODEL, *SMALL, "--out", str(out), "--quiet"])
    assert code == 0, output
    assert victim.read_text() == "another user's file\n" and store.read_surface(out).computed.all()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp") and not p.is_symlink()]


def test_a_symlinked_out_is_written_through_and_resumed(tmp_path, checkpoint):
    real = tmp_path / "store" / "real.h5"
    real.parent.mkdir()
    args = ["compute", str(checkpoint), *MODEL, *SMALL, "--out", str(real), "--quiet"]
    assert invoke(args)[0] == 0
    with h5py.File(real, "r+") as f:  # as if interrupted: two points missing
        f["computed"][0, :2] = False
        f["train_loss"][0, :2] = np.nan
    link = tmp_path / "link.h5"
    os.symlink(real, link)
    code, output = invoke(["compute", str(checkpoint), *MODEL, *SMALL, "--out", str(link)])
    output = " ".join(output.split())
    assert code == 0 and "writing through it" in output and "2 points computed" in output, output
    assert link.is_symlink() and store.read_surface(real).computed.all()


# ---------------------------------------------------------------------------------- wrong results


def test_split_is_honoured_or_refused(tmp_path, monkeypatch):
    x = np.random.default_rng(0).normal(size=(12, 1, 8, 8)).astype(np.float32)
    np.savez(tmp_path / "both.npz", x_train=x[:8], y_train=np.arange(8) % 10, x_test=x[8:], y_test=np.arange(4))
    np.savez(tmp_path / "one.npz", x=x, y=np.arange(12) % 10)
    torch.save({"x_train": torch.from_numpy(x[:8]), "y_train": torch.arange(8)}, tmp_path / "train_only.pt")
    test = load_data(DataSpec(str(tmp_path / "both.npz"), Split.test))
    assert len(test) == 4 and test.split == "test" and np.array_equal(test.x.numpy(), x[8:])
    assert len(load_data(DataSpec(str(tmp_path / "both.npz")))) == 8
    with pytest.raises(LandscapeError, match="split test: .*one set of data") as e:
        load_data(DataSpec(str(tmp_path / "one.npz"), Split.test))
    assert re.search("--split test: .*one set of data", for_cli(e.value.message))
    with pytest.raises(LandscapeError, match="no x_test and y_test"):
        load_data(DataSpec(str(tmp_path / "train_only.pt"), Split.test))
    (tmp_path / "factories.py").write_text(
        "import torch\n"
        "def split_aware(split='train'): return torch.full((4, 1, 8, 8), float(split == 'test')), torch.arange(4)\n"
        "def plain(): return torch.zeros(4, 1, 8, 8), torch.arange(4)\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))  # a notebook's folder is on its path; the library adds none
    assert float(load_data(DataSpec("factories:split_aware", Split.test)).x.mean()) == 1.0
    with pytest.raises(LandscapeError, match="takes no split argument"):
        load_data(DataSpec("factories:plain", Split.test))


def test_a_test_split_is_stored_under_its_name(tmp_path, checkpoint):
    x = np.random.default_rng(0).normal(size=(12, 1, 8, 8)).astype(np.float32)
    np.savez(tmp_path / "both.npz", x_train=x[:8], y_train=np.arange(8) % 10, x_test=x[8:], y_test=np.arange(4))
    out = tmp_path / "s.h5"
    code, output = invoke(["compute", str(checkpoint), *MODEL, "--data", str(tmp_path / "both.npz"), "--split", "test",
                           "--x", "-1:1:3", "--out", str(out), "--quiet", "--device", "cpu"])
    assert code == 0, output
    s = store.read_surface(out)
    assert set(s.values) == {"test_loss", "test_acc"} and s.attrs["samples"] == 4 and s.attrs["split"] == "test"


def test_interpolation_endpoints_are_the_models_by_default(tmp_path):
    a, b, c = tiny_model(seed=1), tiny_model(seed=2), tiny_model(seed=3)  # BatchNorm statistics differ
    paths = []
    for name, m in (("a", a), ("b", b), ("c", c)):
        paths.append(tmp_path / f"{name}.pt")
        torch.save(m.state_dict(), paths[-1])
    data = load_data(DataSpec("digits", samples=40))
    own = lambda m: naive_loop(m, data, random_directions(m, two=False), [(0.0, 0.0)])[0][0]  # noqa: E731
    code, output = invoke(["interpolate", str(paths[0]), str(paths[1]), *MODEL, "--samples", "40", "--x", "0:1:2",
                           "--out", str(tmp_path / "line.h5"), "--quiet", "--device", "cpu"])
    assert code == 0, output
    line = store.read_surface(tmp_path / "line.h5")
    np.testing.assert_allclose(line.values["train_loss"], [own(a), own(b)], rtol=1e-5)
    code, output = invoke(["interpolate", *map(str, paths), *MODEL, "--samples", "40", "--resolution", "3",
                           "--out", str(tmp_path / "plane.h5"), "--quiet", "--device", "cpu"])
    assert code == 0, output
    plane = store.read_surface(tmp_path / "plane.h5")
    track = plane.tracks["models"]
    from conftest import make_evaluator

    ev = make_evaluator(a, data, store.read_directions(tmp_path / "plane.h5"))
    got, _ = ev.evaluate(np.stack([track.x, track.y], 1))
    np.testing.assert_allclose(got, [own(a), own(b), own(c)], rtol=1e-5)


@pytest.mark.parametrize("option", [["--batch-size", "7"], ["--launch", "vmap"], ["--no-fold-bn"],
                                    ["--precision", "bf16"], ["--compile", "default"]])
def test_resume_refuses_other_evaluation_choices(tmp_path, checkpoint, option):
    out = tmp_path / "s.h5"
    args = ["compute", str(checkpoint), *MODEL, *SMALL, "--out", str(out), "--quiet"]
    assert invoke(args)[0] == 0
    with h5py.File(out, "r+") as f:
        f["computed"][0, 0] = False
    before = store.read_surface(out).values["train_loss"].copy()
    code, output = invoke(args + option)
    one_line_error(code, output, "another evaluation plan")
    assert option[0].lstrip("-").replace("-", "_").removeprefix("no_") in output
    np.testing.assert_array_equal(store.read_surface(out).values["train_loss"], before)


def test_resume_refuses_an_edited_model_module(tmp_path, checkpoint, monkeypatch):
    monkeypatch.chdir(tmp_path)
    module = tmp_path / "editednet.py"
    module.write_text("from landscape.models import DigitsCNN\ndef make(): return DigitsCNN(width=4)\n")
    out = tmp_path / "s.h5"
    args = ["compute", str(checkpoint), "--model", "editednet:make", *SMALL, "--out", str(out), "--quiet"]
    assert invoke(args)[0] == 0
    with h5py.File(out, "r+") as f:
        f["computed"][0, 0] = False
    module.write_text("import torch\nfrom landscape.models import DigitsCNN\n"
                      "class Scaled(DigitsCNN):\n    def forward(self, x): return 2 * super().forward(x)\n"
                      "def make(): return Scaled(width=4)\n")
    sys.modules.pop("editednet", None)
    code, output = invoke(args)
    one_line_error(code, output, "model_sha256")


# ---------------------------------------------------------------------------------- one line, exit 2


def test_huge_grids_and_coordinates_are_refused_before_any_work(tmp_path, checkpoint):
    for grid, match in ((["--x", "1e308:1.7e308:3"], "within"),
                        (["--x", "-1:1:100000", "--y", "-1:1:100000"], "10,000,000,000 points")):
        code, output = invoke(["compute", str(checkpoint), *MODEL, *grid, "--out", str(tmp_path / "s.h5")])
        one_line_error(code, output, match)
    assert not list(tmp_path.glob("*.h5*")) and not list(tmp_path.glob(".*tmp"))


def test_disk_full_while_creating_the_file_is_one_line(tmp_path, checkpoint, monkeypatch):
    from contextlib import contextmanager

    import landscape.store.files as files

    class Full:
        """The temporary file on a disk that fills after 4 kB."""

        def __init__(self, f):
            self.f, self.n = f, 0

        def write(self, data):
            self.n += len(data)
            if self.n > 4096:
                raise OSError(28, "No space left on device")
            return self.f.write(data)

        def __getattr__(self, name):
            return getattr(self.f, name)

    real = files.replacing

    @contextmanager
    def replacing(target, copy_from=None):
        with real(target, copy_from) as f:
            yield Full(f)

    monkeypatch.setattr(store.surface_file, "replacing", replacing)  # where the surface file is created
    out = tmp_path / "s.h5"
    code, output = invoke(["compute", str(checkpoint), *MODEL, *SMALL, "--out", str(out)])
    one_line_error(code, output, "the disk is full")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.pt"]  # no file, no lock, no temporary file


def test_disk_full_on_a_real_small_filesystem(tmp_path, checkpoint):
    """On real small tmpfs mounts (where this machine allows them): HDF5 writes its file through
    Python, so a full disk is a one-line error, never a crash inside libhdf5 (exit 139)."""
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", str(mnt)],
                                           capture_output=True).returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root and permission to mount)")
    args = [sys.executable, "-m", "landscape", "compute", str(checkpoint), *MODEL, *SMALL, "--out", str(mnt / "s.h5")]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    try:
        r = subprocess.run(args, capture_output=True, text=True, timeout=300, env=env)  # full while creating
        assert r.returncode == 2 and "disk is full" in r.stderr and "Traceback" not in r.stderr, r.stderr
        assert os.listdir(mnt) == []
        subprocess.run(["mount", "-o", "remount,size=64k", str(mnt)], check=True)
        r = subprocess.run(args, capture_output=True, text=True, timeout=300, env=env)  # full while merging
        assert r.returncode == 2 and "disk is full" in r.stderr and "stay readable" in r.stderr, r.stderr
        assert store.read_surface(mnt / "s.h5").computed.all()  # from the journal
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True)


def _surface(tmp_path: Path, name: str = "s.h5") -> Path:
    path = tmp_path / name
    compute(ComputeJob(tmp_path / "tiny.pt", Grid.linspace((-1, 1, 3), (-1, 1, 2)), path,
                       ModelSpec("landscape.models:digits_cnn", '{"width": 4}'), DataSpec("digits", samples=20),
                       evaluation=EvalSettings(device="cpu")))
    return path


def _damaged(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    cases = {}

    def edit(name: str, change, match: str) -> None:
        path = _surface(tmp_path, f"{name}.h5")
        with h5py.File(path, "r+") as f:
            change(f)
        cases[name] = (path, match)

    def replace(key, **kw):
        def change(f):
            del f[key]
            if "group" in kw:
                f.create_group(key)
            else:
                f.create_dataset(key, **kw)
        return change

    edit("string xcoordinates", replace("xcoordinates", data="abc"), "not a 1-D array of numbers")
    edit("empty xcoordinates", replace("xcoordinates", data=np.zeros(0)), "has 0 entries")
    edit("group xcoordinates", replace("xcoordinates", group=True), "not a 1-D array of numbers")
    edit("computed shape", replace("computed", data=np.zeros((5, 5), bool)), "computed has shape")
    edit("settings", lambda f: f.attrs.__setitem__("settings", "{not json"), "settings are not readable")
    edit("bomb", replace("train_loss", shape=(100_000, 100_000), dtype="f8", chunks=(1000, 1000), compression="gzip"),
         "expected (2, 3)")
    edit("huge axis", replace("xcoordinates", shape=(10**9,), dtype="f8", chunks=(10**6,), compression="gzip"),
         "entries")
    truncated = _surface(tmp_path, "truncated.h5")
    truncated.write_bytes(truncated.read_bytes()[:3000])
    cases["truncated"] = (truncated, "is damaged")
    return cases


def test_damaged_files_are_one_line_errors(tmp_path, checkpoint):
    for name, (path, match) in _damaged(tmp_path).items():
        if name == "settings":  # only a resume reads them
            code, output = invoke(["compute", str(checkpoint), *MODEL, *SMALL, "--out", str(path)])
            one_line_error(code, output, "settings are not readable")
            continue
        for command in (["info", str(path)], ["plot", str(path), "--out", str(tmp_path / "figs")]):
            code, output = invoke(command)
            one_line_error(code, output, match)


def test_journal_with_an_index_out_of_range_is_not_applied(tmp_path, checkpoint):
    path = _surface(tmp_path)
    s = store.read_surface(path)
    with h5py.File(path, "r+") as f:
        f["computed"][...] = False
    metrics = sorted(s.values)
    w = journal.JournalWriter(path, s.attrs["run_id"], metrics, size=6)
    w.open()
    w.append(np.array([0, 1]), {m: np.ones(2) for m in metrics})
    w.append(np.array([-1]), {m: np.full(1, 7.0) for m in metrics})  # would overwrite the last point
    w.append(np.array([2]), {m: np.ones(1) for m in metrics})
    w.close()
    with open(journal.journal_path(path), "ab") as f:
        f.write(journal._record(np.array([99]), np.ones((len(metrics), 1))))
    r = store.read_surface(path)
    assert r.computed.ravel().tolist() == [True, True, False, False, False, False]
    assert not (r.values["train_loss"] == 7.0).any()


def test_resume_refuses_an_edited_loss(tmp_path, checkpoint, monkeypatch):
    monkeypatch.chdir(tmp_path)
    module = tmp_path / "myloss.py"
    module.write_text("import torch.nn.functional as F\ndef ce(out, y): return F.cross_entropy(out, y)\n")
    out = tmp_path / "s.h5"
    args = ["compute", str(checkpoint), *MODEL, "--loss", "myloss:ce", *SMALL, "--out", str(out), "--quiet"]
    assert invoke(args)[0] == 0
    with h5py.File(out, "r+") as f:
        f["computed"][0, 0] = False
    module.write_text("import torch.nn.functional as F\ndef ce(out, y): return F.cross_entropy(out, y, "
                      "label_smoothing=0.1)\n")
    sys.modules.pop("myloss", None)
    one_line_error(*invoke(args), "loss_sha256")


def test_more_odd_input_is_one_line(tmp_path, checkpoint):
    bad_zip = tmp_path / "broken.pt"
    data = bytearray(checkpoint.read_bytes())
    end = data.rfind(b"PK\x05\x06")  # the central directory's end record: damage it
    data[end + 16 : end + 20] = b"\xff\xff\xff\x7f"
    bad_zip.write_bytes(bytes(data))
    code, output = invoke(["compute", str(bad_zip), *MODEL, *SMALL, "--out", str(tmp_path / "a.h5"), "--quiet"])
    assert code in (0, 2) and "Traceback" not in output, output  # torch's reader copes; ours no longer trips first
    npz = tmp_path / "d.npz"
    np.savez(npz, x=np.zeros((4, 1, 8, 8), np.float32), y=np.arange(4))
    raw = bytearray(npz.read_bytes())
    raw[60:70] = b"\x00" * 10
    npz.write_bytes(bytes(raw))
    one_line_error(*invoke(["compute", str(checkpoint), *MODEL, "--data", str(npz), "--x", "-1:1:2", "--out",
                            str(tmp_path / "b.h5")]), "readable .npz")
    one_line_error(*invoke(["compute", str(checkpoint), *MODEL, "--x", "-1:1:1000000000", "--out",
                            str(tmp_path / "c.h5")]), "points on one axis")
    surface = _surface(tmp_path)
    with h5py.File(surface, "r+") as f:
        f.attrs["seed"] = np.array([1, 2])
        f["plan"].attrs["reasons"] = 5
    assert invoke(["info", str(surface)])[0] == 0  # odd but harmless attributes are shown as they are
    with h5py.File(surface, "r+") as f:
        f["plan"].attrs["batch_size"] = "many"
    one_line_error(*invoke(["compute", str(checkpoint), *MODEL, "--x", "-1:1:3", "--y", "-1:1:2", "--samples", "20",
                            "--device", "cpu", "--out", str(surface)]), "evaluation plan")


def test_outputs_are_not_replaced_silently(tmp_path, checkpoint):
    out = tmp_path / "h.h5"
    out.write_text("a file that is not a Hessian file")
    one_line_error(*invoke(["hessian", str(checkpoint), *MODEL, "--samples", "40", "--device", "cpu", "--out", str(out)]),
                   "--overwrite")
    assert out.read_text() == "a file that is not a Hessian file"
    real = _surface(tmp_path, "real.h5")
    link = tmp_path / "link.h5"
    os.symlink(real, link)
    one_line_error(*invoke(["compute", str(checkpoint), *MODEL, *SMALL, "--out", str(link), "--overwrite"]),
                   "symbolic link")


def test_eigen_map_needs_every_sample(tmp_path, checkpoint):
    one_line_error(*invoke(["compute", str(checkpoint), *MODEL, *SMALL, "--eigen-map", "--split-data", "--out",
                            str(tmp_path / "e.h5")]), "drop --split-data")
