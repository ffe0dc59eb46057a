"""`landscape animate` (landscape/cli/animate.py): what it writes and says, its refusals in one
line with exit code 2, and no file left behind by a refusal."""

from __future__ import annotations

import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from landscape import store
from landscape.cli import app
from landscape.plane.directions import Track

runner = CliRunner()
SMALL = ["--dpi", "30", "--size", "4,3", "--quiet"]


def surface_file(path: Path, shift: float = 0.0, points: int = 0, n: int = 7) -> Path:
    x = np.linspace(-1, 1, n)
    X, Y = np.meshgrid(x, x)
    with h5py.File(path, "w") as f:
        f["xcoordinates"], f["ycoordinates"] = x, x
        f["train_loss"] = 0.2 + shift + X ** 2 + 2 * Y ** 2
        f["computed"] = np.ones(X.shape, dtype=bool)
    if points:
        t = np.linspace(0, 1, points)
        track = Track(-0.8 * (1 - t), 0.6 * (1 - t), [f"epoch_{k}" for k in range(points)], list(range(1, points + 1)))
        store.write_track(path, "trajectory", track)
    return path


def test_a_path_then_replaced(tmp_path):
    path = surface_file(tmp_path / "run.h5", points=3)
    r = runner.invoke(app, ["animate", str(path), "--out", str(tmp_path / "out"), *SMALL])
    target = tmp_path / "out" / "run.path.gif"
    assert r.exit_code == 0 and r.output.strip() == f"wrote {target}", r.output
    with Image.open(target) as im:
        assert (im.n_frames, im.size) == (3, (120, 90))
    r = runner.invoke(app, ["animate", str(path), "--out", str(tmp_path / "out"), *SMALL])
    assert r.exit_code == 0 and r.output.strip() == f"replaced {target}", r.output


def test_a_sequence_next_to_the_first_file(tmp_path):
    files = [str(surface_file(tmp_path / f"epoch_{k}.h5", shift=k)) for k in range(2)]
    r = runner.invoke(app, ["animate", *files, "--kind", "heatmap", "--style", "dark", "--fps", "3", *SMALL])
    assert r.exit_code == 0, r.output
    (written,) = tmp_path.glob("*.sequence.gif")
    assert r.output.strip() == f"wrote {written}" and written.name.startswith("epoch_0+epoch_1.")
    with Image.open(written) as im:
        assert im.n_frames == 2


@pytest.mark.parametrize("extra,message", [
    (["--what", "sequence"], "error: a sequence needs two or more surface FILES"),
    (["--what", "path"], "error: FILE.h5 has no training path to animate"),
    (["--format", "avi"], "error: unknown animation format 'avi'; use one of: gif, mp4"),
    (["--what", "spin"], "error: unknown animation 'spin'; use one of: path, turn, sequence"),
    (["--style", "neon"], "error: unknown style 'neon'"),
    (["--fps", "0"], "error: --fps must be between 0.2 and 50"),
    (["--kind", "barcode", "SECOND"], "error: a sequence draws contour, filled, heatmap or surface frames"),
    (["--kind", "surface", "--what", "path"], "--kind surface"),
    (["--size", "100,100"], "--size 100,100 inches at --dpi 100"),
])
def test_refusals_are_one_line_and_leave_nothing(tmp_path, extra, message):
    path = surface_file(tmp_path / "FILE.h5")
    if "SECOND" in extra:
        extra = [str(surface_file(tmp_path / "other.h5", shift=1.0)) if e == "SECOND" else e for e in extra]
    if "path" in extra and "surface" in extra:
        path = surface_file(tmp_path / "FILE.h5", points=3)
    r = runner.invoke(app, ["animate", str(path), *extra, "--out", str(tmp_path / "out")])
    assert r.exit_code == 2, r.output
    text = r.output.replace(str(tmp_path) + "/", "")
    assert message in text and len(text.strip().splitlines()) == 1 and "Traceback" not in text, text
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_a_path_of_the_wrong_kind_names_the_flag(tmp_path):
    path = surface_file(tmp_path / "run.h5", points=3)
    r = runner.invoke(app, ["animate", str(path), "--kind", "surface"])
    assert r.exit_code == 2 and "not on --kind surface" in r.output, r.output


def test_mp4_without_imageio(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)
    path = surface_file(tmp_path / "s.h5")
    r = runner.invoke(app, ["animate", str(path), "--format", "mp4", *SMALL])
    assert r.exit_code == 2, r.output
    assert r.output.startswith("error: an MP4 (--format mp4) needs imageio and its ffmpeg: pip install imageio "
                               "imageio-ffmpeg"), r.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.h5"]


def test_a_missing_file(tmp_path):
    r = runner.invoke(app, ["animate", str(tmp_path / "nothing.h5")])
    assert r.exit_code == 2 and r.output.startswith("error: surface file") and "does not exist" in r.output, r.output
