"""The command line end to end: demo, plot, trajectory, interpolate, and `python cli.py`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from conftest import tiny_model
from landscape import store
from landscape.cli import app

ROOT = Path(__file__).resolve().parent.parent
MODEL = ["--model", "landscape.models:digits_cnn", "--model-kwargs", '{"width": 4}']
runner = CliRunner()


def ok(args: list[str]) -> str:
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    return r.output


def test_demo_writes_checkpoints_surfaces_and_figures(tmp_path):
    out = ok(["demo", "--out-dir", str(tmp_path / "demo"), "--epochs", "3"])
    for name in ("epoch_1.pt", "epoch_3.pt", "demo.surface.h5", "demo.trajectory.h5", "demo.interpolation.h5",
                 "demo.contour.png", "demo.surface.png", "demo.trajectory.contour.png", "demo.interpolation.line.png"):
        assert (tmp_path / "demo" / name).exists(), name
    assert "test accuracy" in out
    s = store.read_surface(tmp_path / "demo" / "demo.surface.h5")
    assert s.computed.all() and np.nanmin(s.values["train_loss"]) < 0.5


def test_compute_with_plot_then_plot_command(tmp_path, checkpoint):
    surface = tmp_path / "s.h5"
    out = ok(["compute", str(checkpoint), *MODEL, "--x", "-1:1:6", "--y", "-1:1:4", "--samples", "40",
              "--out", str(surface), "--plot"])
    assert "s.contour.png" in out and (tmp_path / "s.surface.png").exists()
    out = ok(["plot", str(surface), "--kind", "heatmap,vtk", "--format", "pdf,svg", "--log", "--out", str(tmp_path / "f")])
    assert {p.name for p in (tmp_path / "f").iterdir()} == {"s.heatmap.pdf", "s.heatmap.svg", "s.vtk"}
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


@pytest.mark.parametrize("extra,message", [
    (["--kind", "pie"], "unknown plot kind"),
    (["--kind", "line"], "fit"),
    (["--vmin", "2", "--vmax", "1"], "smaller than"),
    (["--size", "a,b"], "--size"),
    (["EXTRA"], "--compare"),
])
def test_plot_bad_options(tmp_path, checkpoint, extra, message):
    surface = tmp_path / "s.h5"
    ok(["compute", str(checkpoint), *MODEL, "--x", "-1:1:3", "--y", "-1:1:3", "--samples", "20", "--out", str(surface),
        "--quiet"])
    extra = [str(surface) if e == "EXTRA" else e for e in extra]
    r = runner.invoke(app, ["plot", str(surface), *extra])
    assert r.exit_code == 2 and message in r.output and "Traceback" not in r.output, r.output


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


def test_source_checkout_cli_runs_the_same_app():
    r = subprocess.run([sys.executable, "cli.py", "--help"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0 and "compute" in r.stdout and "trajectory" in r.stdout


@pytest.mark.parametrize("args,message", [
    (["compute", "x.pt", "--norm", "foo"], "Invalid value for '--norm'"),
    (["compute", "x.pt", "--bogus"], "No such option: --bogus"),
    (["info"], "Missing argument"),
    (["demo", "--epochs", "2"], "--epochs must be at least 3"),
])
def test_usage_mistakes_are_one_line(args, message):
    r = runner.invoke(app, args)
    assert r.exit_code == 2 and message in r.output and len(r.output.strip().splitlines()) == 1, r.output


def _commands() -> list[str]:
    import typer

    return sorted(typer.main.get_command(app).commands)


@pytest.mark.parametrize("command", _commands())
def test_help_reads_whole_at_80_columns(command):
    import typer

    r = runner.invoke(app, [command, "--help"], env={"COLUMNS": "80"}, terminal_width=80)
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert max(len(line) for line in lines) <= 80, max(lines, key=len)
    for leak in ("<bool>", "<list[", "<path>", "<str>", "<int>", "<float>", "…"):
        assert leak not in r.output, (leak, r.output)
    assert "{" not in lines[0], lines[0]  # the usage line names arguments plainly
    cmd = typer.main.get_command(app).commands[command]
    for param in cmd.params:
        for opt in param.opts:
            if opt.startswith("--"):
                assert opt in r.output, opt  # every option name whole


def test_plain_words_for_bad_values_and_the_version():
    r = runner.invoke(app, ["compute", "x.pt", "--precision", "fp8"])
    assert r.exit_code == 2 and "Value error" not in r.output and "'fp8' is not one of" in r.output, r.output
    r = runner.invoke(app, ["compute", "x.pt", "--batch-size", "many"])
    assert r.exit_code == 2 and "expected a whole number" in r.output and "Input should" not in r.output, r.output
    from landscape import __version__
    r = runner.invoke(app, ["--version"])
    assert r.exit_code == 0 and r.output.strip() == f"landscape {__version__}"


def test_info_rows_are_aligned(tmp_path, checkpoint):
    out = tmp_path / "s.h5"
    ok(["compute", str(checkpoint), *MODEL, "--x", "-1:1:3", "--y", "-1:1:3", "--samples", "20", "--out", str(out),
        "--quiet", "--device", "cpu"])
    lines = runner.invoke(app, ["info", str(out)], terminal_width=200).output.splitlines()
    starts = {len(line) - len(line.split("  ", 1)[1].lstrip()) for line in lines if "  " in line}
    assert len(starts) == 1, lines  # every value starts in one column, the checkpoint's too
    assert any(line.startswith("checkpoint ") for line in lines)
