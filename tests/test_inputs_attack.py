"""Hostile and mistaken inputs to checkpoint and data loading: damaged archives, special files,
pickles that need code, and data whose shapes or types are wrong. Each is one line, exit code 2."""

from __future__ import annotations

import os
import pickle
import re
import struct
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from conftest import tiny_model
from landscape.inputs.checkpoint import ModelSpec, load_model, read_checkpoint
from landscape.cli import app
from landscape.inputs.data import DataSpec, load_data
from landscape.errors import LandscapeError, for_cli

runner = CliRunner()
SPEC = ModelSpec("landscape.models:digits_cnn", '{"width": 4}')
MODEL = ["--model", "landscape.models:digits_cnn", "--model-kwargs", '{"width": 4}']


def compute(checkpoint: Path | str, out: Path, *extra: str) -> tuple[int, str]:
    args = ["compute", str(checkpoint), *MODEL, "--data", "digits", "--samples", "16", "--x", "-1:1:3",
            "--device", "cpu", "--out", str(out), *extra]
    r = runner.invoke(app, args)
    return r.exit_code, r.output


def one_line_error(code: int, output: str, *phrases: str) -> str:
    text = output.strip()
    assert code == 2 and text.startswith("error:") and len(text.splitlines()) == 1, (code, text)
    assert "Traceback" not in text and all(p in text for p in phrases), text
    return text


def error_of(call) -> str:
    """The error's text as the command line prints it (flags); in Python it names no flag."""
    with pytest.raises(LandscapeError) as info:
        call()
    text = for_cli(info.value.message)
    assert "\n" not in text, text
    assert not re.search(r"(?<![\w-])--[a-z]", str(info.value)), str(info.value)  # a notebook reads argument names
    return text


# --- 9. a member whose bytes no longer match its CRC-32 ---

def _flip_in_member(path: Path, suffix: str) -> str:
    """Flip one byte inside the first member whose name ends with `suffix`; its recorded CRC stays."""
    raw = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as z:
        info = next(i for i in z.infolist() if i.filename.endswith(suffix) and i.file_size > 8)
    name_len, extra_len = struct.unpack("<HH", raw[info.header_offset + 26 : info.header_offset + 30])
    raw[info.header_offset + 30 + name_len + extra_len + 4] ^= 0x40  # a bit of the weights, not of the framing
    path.write_bytes(bytes(raw))
    return info.filename


def test_a_member_with_a_bad_crc_is_damaged_not_loaded(tmp_path, checkpoint):
    member = _flip_in_member(checkpoint, "/data/0")
    text = error_of(lambda: read_checkpoint(checkpoint))
    assert f"is damaged (CRC mismatch in member {member})" in text and "--trust-checkpoint" not in text
    error_of(lambda: read_checkpoint(checkpoint, trust=True))  # trust does not make damage loadable
    one_line_error(*compute(checkpoint, tmp_path / "s.h5"), "CRC mismatch", member)
    assert not (tmp_path / "s.h5").exists()


def test_a_cut_archive_is_damaged(tmp_path, checkpoint):
    data = checkpoint.read_bytes()
    for size in (60, len(data) // 2, len(data) - 30):
        cut = tmp_path / f"cut{size}.pt"
        cut.write_bytes(data[:size])
        text = error_of(lambda: read_checkpoint(cut))
        assert "is damaged" in text and "--trust-checkpoint" not in text, text


def test_a_checkpoint_saved_without_crcs_still_loads(tmp_path, model):
    path = tmp_path / "nocrc.pt"
    torch.serialization.set_crc32_options(False)
    try:
        torch.save(model.state_dict(), path)
    finally:
        torch.serialization.set_crc32_options(True)
    with zipfile.ZipFile(path) as z:
        assert all(i.CRC == 0 for i in z.infolist())
    loaded = load_model(path, SPEC)
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), model.state_dict().values()))


def test_a_damaged_pt_data_file_is_refused(tmp_path):
    path = tmp_path / "d.pt"
    torch.save({"x": torch.randn(6, 1, 8, 8), "y": torch.arange(6)}, path)
    _flip_in_member(path, "/data/0")
    assert "CRC mismatch" in error_of(lambda: load_data(DataSpec(str(path))))


# --- 15. devices, FIFOs and sockets are not read (in a subprocess: before the fix these hang) ---

def _limit_memory() -> None:  # so that a regression reads into a MemoryError, not the machine's memory
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))


def _python(code: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, capture_output=True, text=True,
                          timeout=60, preexec_fn=_limit_memory, env=env)


@pytest.mark.skipif(not hasattr(os, "mkfifo") or not os.path.exists("/dev/zero"), reason="needs /dev/zero and FIFOs")
def test_devices_and_fifos_are_refused_without_reading(tmp_path):
    fifo = tmp_path / "fifo.pt"
    os.mkfifo(fifo)
    os.mkfifo(tmp_path / "fifo.npz")
    os.symlink("/dev/zero", tmp_path / "zero.npz")
    os.symlink("/dev/zero", tmp_path / "zero.pt")
    folder = tmp_path / "folder"
    folder.mkdir()
    os.symlink("/dev/zero", folder / "model.pt")
    r = _python("""
        from landscape.inputs.checkpoint import read_checkpoint, sha256
        from landscape.inputs.data import DataSpec, load_data
        from landscape.errors import LandscapeError, for_cli
        calls = [lambda: read_checkpoint("/dev/zero"), lambda: read_checkpoint("fifo.pt"),
                 lambda: read_checkpoint("zero.pt", trust=True), lambda: read_checkpoint("folder"),
                 lambda: sha256("fifo.pt"), lambda: load_data(DataSpec("zero.npz")),
                 lambda: load_data(DataSpec("fifo.npz")), lambda: load_data(DataSpec("zero.pt"))]
        for call in calls:
            try:
                call()
                print("loaded")
            except LandscapeError as e:
                print(for_cli(e.message))  # as the command line says it
    """, tmp_path)
    lines = r.stdout.splitlines()
    assert r.returncode == 0 and len(lines) == 8, r.stdout + r.stderr
    assert "is a character device, not a regular file" in lines[0]
    assert "is a named pipe (FIFO), not a regular file" in lines[1] and "is a named pipe" in lines[4]
    assert all("is a character device" in lines[i] for i in (2, 5, 7)), lines
    assert "holds 0 checkpoint files" in lines[3]  # only regular files are candidates in a folder
    assert "--data 'fifo.npz' is a named pipe (FIFO)" in lines[6]


@pytest.mark.skipif(not hasattr(os, "mkfifo") or not os.path.exists("/dev/zero"), reason="needs /dev/zero and FIFOs")
def test_devices_and_fifos_through_the_cli(tmp_path):
    os.mkfifo(tmp_path / "fifo.pt")
    r = _python("""
        import sys
        from typer.testing import CliRunner
        from landscape.cli import app
        for ckpt in ("/dev/zero", "fifo.pt"):
            r = CliRunner().invoke(app, ["compute", ckpt, "--model", "landscape.models:digits_cnn", "--data", "digits",
                                         "--samples", "16", "--x", "-1:1:3", "--device", "cpu", "--out", "s.h5"])
            print(r.exit_code, r.output.strip().replace(chr(10), " | "))
    """, tmp_path)
    lines = r.stdout.splitlines()
    assert r.returncode == 0 and len(lines) == 2, r.stdout + r.stderr
    assert lines[0].startswith("2 error: checkpoint '/dev/zero' is a character device") and "|" not in lines[0]
    assert lines[1].startswith("2 error: checkpoint 'fifo.pt' is a named pipe (FIFO)") and "|" not in lines[1]


def test_an_empty_checkpoint_is_named_empty(tmp_path):
    path = tmp_path / "empty.pt"
    path.write_bytes(b"")
    assert "is empty" in error_of(lambda: read_checkpoint(path))


# --- 17. pickles: "needs code" only where trusting the file would load it ---

@pytest.mark.parametrize("zip_format", [True, False])
@pytest.mark.parametrize("protocol", [4, 5])
def test_newer_pickle_protocols_need_code_and_trust_loads_them(tmp_path, model, zip_format, protocol):
    path = tmp_path / "p.pt"
    torch.save(model.state_dict(), path, _use_new_zipfile_serialization=zip_format, pickle_protocol=protocol)
    text = error_of(lambda: read_checkpoint(path))
    assert "needs code to load" in text and "pass --trust-checkpoint if you trust the file" in text, text
    assert "Weights only" not in text and not text.endswith(("fr)", "fr")), text
    assert set(read_checkpoint(path, trust=True)) == set(model.state_dict())


def test_a_pickled_module_in_the_old_format_needs_code(tmp_path, model):
    path = tmp_path / "old.pt"
    torch.save(model, path, _use_new_zipfile_serialization=False)
    assert "needs code to load" in error_of(lambda: read_checkpoint(path))
    one_line_error(*compute(path, tmp_path / "s.h5"), "needs code to load", "--trust-checkpoint")


def test_an_old_format_module_with_protocol_4_through_the_cli(tmp_path, model):
    path = tmp_path / "m4.pt"
    torch.save(model, path, _use_new_zipfile_serialization=False, pickle_protocol=4)
    one_line_error(*compute(path, tmp_path / "s.h5"), "needs code to load", "--trust-checkpoint")


def test_a_plain_pickle_is_not_offered_trust(tmp_path, model):
    path = tmp_path / "plain.pkl"
    with open(path, "wb") as f:
        pickle.dump(model.state_dict(), f, protocol=2)  # not torch.save: --trust-checkpoint would not load it
    for trust in (False, True):
        text = error_of(lambda: read_checkpoint(path, trust=trust))
        assert "not written by torch.save" in text and "--trust-checkpoint" not in text, text
    one_line_error(*compute(path, tmp_path / "s.h5"), "not written by torch.save")


def test_a_cut_old_format_checkpoint_is_damaged_not_needing_trust(tmp_path, model):
    path = tmp_path / "cut.pt"
    torch.save(model.state_dict(), path, _use_new_zipfile_serialization=False)
    path.write_bytes(path.read_bytes()[:200])
    text = error_of(lambda: read_checkpoint(path))
    assert "is damaged" in text and "--trust-checkpoint" not in text, text


# --- 17. data: lengths, types and missing files named as they are ---

DATA_CODE = """
import numpy as np
import torch

def mismatch(): return torch.zeros(50, 1, 8, 8), torch.zeros(40, dtype=torch.long)
def mismatch_np(): return np.zeros((50, 1, 8, 8), np.float32), np.zeros(40, np.int64)
def complex_inputs(): return torch.zeros(5, 1, 8, 8, dtype=torch.complex64), torch.zeros(5, dtype=torch.long)
def complex_labels(): return torch.zeros(5, 1, 8, 8), torch.zeros(5, dtype=torch.complex64)
def object_labels(): return np.zeros((5, 1, 8, 8), np.float32), np.array([None] * 5, dtype=object)
def token_batches(): return [torch.zeros(4, 3, dtype=torch.long), torch.zeros(2, 3, dtype=torch.long)]
"""


def test_data_with_more_inputs_than_labels_says_so(tmp_path, monkeypatch):
    (tmp_path / "attackdata.py").write_text(DATA_CODE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))  # a notebook's folder is on its path; the library adds none
    for name in ("mismatch", "mismatch_np"):
        assert "50 inputs but 40 labels" in error_of(lambda: load_data(DataSpec(f"attackdata:{name}")))
    assert len(load_data(DataSpec("attackdata:token_batches"))) == 2  # batches of one kind stay batches
    torch.save(tiny_model().state_dict(), tmp_path / "x.pt")
    r = runner.invoke(app, ["compute", str(tmp_path / "x.pt"), *MODEL, "--data", "attackdata:mismatch", "--x",
                            "-1:1:3", "--device", "cpu", "--out", str(tmp_path / "s.h5")])
    one_line_error(r.exit_code, r.output, "50 inputs but 40 labels")


def test_data_types_are_named(tmp_path, monkeypatch):
    (tmp_path / "attackdata.py").write_text(DATA_CODE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))  # a notebook's folder is on its path; the library adds none
    text = error_of(lambda: load_data(DataSpec("attackdata:complex_inputs")))
    assert "inputs are complex numbers (complex64)" in text, text
    text = error_of(lambda: load_data(DataSpec("attackdata:complex_labels")))
    assert "labels are complex numbers (complex64)" in text, text
    assert "labels are Python objects (object)" in error_of(lambda: load_data(DataSpec("attackdata:object_labels")))
    np.savez(tmp_path / "text.npz", x=np.full((5, 1, 8, 8), "ab"), y=np.zeros(5, np.int64))
    text = error_of(lambda: load_data(DataSpec(str(tmp_path / "text.npz"))))
    assert "inputs are text (<U2), not numbers" in text and "only supported types" not in text, text
    np.savez(tmp_path / "wide.npz", x=np.ones((5, 1, 8, 8), np.uint64), y=np.arange(5, dtype=np.uint32))
    d = load_data(DataSpec(str(tmp_path / "wide.npz")))  # unsigned integers are numbers like the others
    assert d.x.dtype == torch.float32 and d.y.dtype == torch.int64
    torch.save(tiny_model().state_dict(), tmp_path / "m.pt")
    r = runner.invoke(app, ["compute", str(tmp_path / "m.pt"), *MODEL, "--data", str(tmp_path / "text.npz"), "--x",
                            "-1:1:3", "--device", "cpu", "--out", str(tmp_path / "s.h5")])
    one_line_error(r.exit_code, r.output, "inputs are text")


@pytest.mark.parametrize("source", ["nosuch.npz", "nosuch.pt", "runs/nosuch", "runs/nosuch.pth"])
def test_a_missing_data_file_is_no_such_file(tmp_path, monkeypatch, source):
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))  # a notebook's folder is on its path; the library adds none
    text = error_of(lambda: load_data(DataSpec(source)))
    assert "no such file" in text and "unknown --data" not in text, text


def test_a_missing_data_file_through_the_cli(tmp_path, checkpoint):
    r = runner.invoke(app, ["compute", str(checkpoint), *MODEL, "--data", str(tmp_path / "nosuch.npz"), "--x",
                            "-1:1:3", "--device", "cpu", "--out", str(tmp_path / "s.h5")])
    one_line_error(r.exit_code, r.output, "no such file")
    assert load_data(DataSpec("digits", samples=4)).x.shape == (4, 1, 8, 8)  # names still work
    assert "unknown --data" in error_of(lambda: load_data(DataSpec("imagenet-nonsense")))
