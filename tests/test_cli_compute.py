"""`landscape compute`, `trajectory` and `interpolate` end to end (landscape/cli/compute.py)."""

from __future__ import annotations

import torch
from typer.testing import CliRunner

from conftest import tiny_model
from landscape import store
from landscape.cli import app

MODEL = ["--model", "landscape.models:digits_cnn", "--model-kwargs", '{"width": 4}']
runner = CliRunner()


def ok(args: list[str]) -> str:
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    return r.output


def test_compute_with_plot_then_plot_command(tmp_path, checkpoint):
    surface = tmp_path / "s.h5"
    out = ok(["compute", str(checkpoint), *MODEL, "--x", "-1:1:6", "--y", "-1:1:4", "--samples", "40",
              "--out", str(surface), "--plot"])
    assert "s.contour.png" in out and (tmp_path / "s.surface.png").exists()
    out = ok(["plot", str(surface), "--kind", "heatmap,vtk", "--format", "pdf,svg", "--log", "--out", str(tmp_path / "f")])
    assert {p.name for p in (tmp_path / "f").iterdir()} == {"s.log.heatmap.pdf", "s.log.heatmap.svg", "s.log.vtk",
                                                          "s.log.heatmap.caption.txt", "s.log.heatmap.caption.tex"}
    other = tmp_path / "t.h5"
    ok(["compute", str(checkpoint), *MODEL, "--x", "-1:1:6", "--y", "-1:1:4", "--samples", "40", "--seed", "1",
        "--out", str(other), "--quiet"])
    ok(["plot", str(surface), str(other), "--compare", "--kind", "filled", "--out", str(tmp_path / "c")])
    first = sorted((tmp_path / "c").glob("s+t.*.filled.png"))
    assert len(first) == 1  # named after its inputs
    ok(["plot", str(other), str(surface), "--compare", "--kind", "filled", "--out", str(tmp_path / "c")])
    assert len(list((tmp_path / "c").glob("*.filled.png"))) == 2  # another comparison never overwrites it
    out = ok(["plot", str(other), str(surface), "--compare", "--kind", "filled", "--out", str(tmp_path / "c")])
    assert "replaced" in out


def test_trajectory_and_interpolate_commands(tmp_path):
    for epoch in (1, 2, 3, 4):
        torch.save({"state_dict": tiny_model(seed=epoch).state_dict(), "epoch": epoch}, tmp_path / f"epoch_{epoch}.pt")
    traj = tmp_path / "traj.h5"
    ok(["trajectory", str(tmp_path), *MODEL, "--samples", "40", "--resolution", "5", "--out", str(traj), "--plot"])
    s = store.read_surface(traj)
    assert s.tracks["trajectory"].names == [f"epoch_{e}.pt" for e in (1, 2, 3, 4)] and s.attrs["xlabel"].startswith("PC1")
    assert (tmp_path / "traj.contour.png").exists()
    line = tmp_path / "line.h5"
    out = ok(["interpolate", str(tmp_path / "epoch_1.pt"), str(tmp_path / "epoch_4.pt"), *MODEL, "--samples", "40",
              "--x", "0:1:3", "--out", str(line)])
    s = store.read_surface(line)
    assert "BatchNorm" not in out and s.values["train_loss"].shape == (3,) and s.attrs["dir_type"] == "states"
    out = ok(["interpolate", str(tmp_path / "epoch_1.pt"), str(tmp_path / "epoch_4.pt"), *MODEL, "--samples", "40",
              "--x", "0:1:3", "--out", str(tmp_path / "w.h5"), "--dir-type", "weights"])
    assert "BatchNorm" in out  # weights only, chosen: the endpoints are not the models' own losses
    r = runner.invoke(app, ["interpolate", str(tmp_path / "epoch_1.pt"), *MODEL])
    assert r.exit_code == 2 and "two or three" in r.output


def test_the_file_records_the_command_line(tmp_path, checkpoint, monkeypatch):
    surface = tmp_path / "s.h5"
    argv = ["landscape", "compute", str(checkpoint), *MODEL, "--x", "-1:1:3", "--samples", "20", "--out", str(surface),
            "--quiet"]
    monkeypatch.setattr("sys.argv", argv)
    assert ok(argv[1:]) == ""  # --quiet: nothing on stdout
    assert store.read_surface(surface).attrs["command"] == " ".join(argv)


def test_dry_run_writes_nothing_and_says_so(tmp_path, checkpoint):
    out = ok(["compute", str(checkpoint), *MODEL, "--x", "-1:1:3", "--y", "-1:1:2", "--samples", "20",
              "--out", str(tmp_path / "d.h5"), "--dry-run"])
    lines = out.splitlines()
    assert lines[0].startswith(f"would compute {tmp_path / 'd.h5'}: 6 of 6 points") and lines[2] == "plan:"
    assert lines[-1] == "nothing was written (--dry-run)" and not list(tmp_path.glob("d.h5*"))


def test_a_model_named_by_file_or_module_from_the_working_folder(tmp_path, checkpoint, monkeypatch):
    """`--model path/to/nets.py:f` and `--model pkg.nets:f`, from the folder the command runs in."""
    pkg = tmp_path / "proj" / "wfpkg"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "wfhelpers.py").write_text("WIDTH = 4\n")
    (pkg / "nets.py").write_text("from wfhelpers import WIDTH\nfrom landscape.models import DigitsCNN\n"
                                 "def make(): return DigitsCNN(width=WIDTH)\n")
    (tmp_path / "proj" / "wfnets.py").write_text("from landscape.models import DigitsCNN\n"
                                                 "def make(): return DigitsCNN(width=4)\n")
    monkeypatch.chdir(tmp_path / "proj")
    monkeypatch.setattr("sys.path", list(__import__("sys").path))
    small = ["--x", "-1:1:3", "--samples", "20", "--quiet"]
    ok(["compute", str(checkpoint), "--model", "wfpkg/nets.py:make", *small, "--out", "a.h5"])  # its sibling too
    ok(["compute", str(checkpoint), "--model", "wfnets:make", *small, "--out", "b.h5"])
    assert (tmp_path / "proj" / "a.h5").exists() and (tmp_path / "proj" / "b.h5").exists()


def test_contradicting_plane_options_are_refused_before_any_work(tmp_path, checkpoint):
    """--directions gives the whole plane (the targets would be ignored); --y-target needs an
    x target; --direction-scale scales a Hessian file's eigenvectors. Refused in one line, before
    PyTorch loads, with no file written."""
    out = tmp_path / "s.h5"
    cases = {
        ("--directions", str(checkpoint), "--x-target", str(checkpoint)): "--directions gives the whole plane",
        ("--directions", str(checkpoint), "--y-target", str(checkpoint)): "--directions gives the whole plane",
        ("--y-target", str(checkpoint)): "--y-target needs --x-target",
        ("--direction-scale", "weights"): "--direction-scale applies to a Hessian file's eigenvectors only",
    }
    for extra, words in cases.items():
        r = runner.invoke(app, ["compute", str(checkpoint), *MODEL, "--x", "-1:1:3", "--out", str(out), *extra])
        assert r.exit_code == 2 and words in r.output and len(r.output.strip().splitlines()) == 1, (extra, r.output)
        assert not out.exists()
