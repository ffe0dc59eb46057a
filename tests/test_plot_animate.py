"""plot/animate.py: GIFs and MP4s of a training path descending the surface, of the surface
turning, and of a sequence of files on one colour scale; the refusals, before anything is drawn
or written. Tiny synthetic surfaces and frames, so that each test takes about a second."""

from __future__ import annotations

import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from PIL import Image

from landscape.errors import LandscapeError
from landscape.plane.directions import Track
from landscape.plot import PlotOptions
from landscape.plot.animate import TURN_FRAMES, Animation, VideoFormat, animate
from landscape.store import Surface

SMALL = PlotOptions(dpi=40, size=(6.4, 3.2))  # 256 x 128 pixels


def surface(folder: Path, name: str = "s", z=None, track: Track | None = None, n: int = 9, one_d: bool = False,
            x=None) -> Surface:
    x = np.linspace(-1, 1, n) if x is None else np.asarray(x, dtype=float)
    y = None if one_d else np.linspace(-1, 1, n)
    if z is None:
        X, Y = (x, 0.0) if one_d else np.meshgrid(x, y)
        z = 0.1 + 2 * (X - 0.2) ** 2 + 3 * Y ** 2
    z = np.asarray(z, dtype=float)
    return Surface(folder / f"{name}.h5", x, y, {"train_loss": z, "train_acc": 100 * np.exp(-z)},
                   np.ones(z.shape, dtype=bool), {"split": "train"}, {"trajectory": track} if track else {})


def two_runs(points: int = 4) -> Track:
    t = np.linspace(0, 1, points)
    return Track(np.concatenate([-0.8 * (1 - t), 0.7 * (1 - t)]), np.concatenate([0.6 * (1 - t), -0.5 * (1 - t)]),
                 [f"e{k}" for k in range(2 * points)], list(range(1, points + 1)) * 2, np.repeat([0, 1], points),
                 ["seed 0", "seed 1"], np.concatenate([np.zeros(points), np.linspace(0.2, 0.0, points)]))


def frames(path: Path) -> list[np.ndarray]:
    with Image.open(path) as im:
        out = []
        for k in range(im.n_frames):
            im.seek(k)
            out.append(np.asarray(im.convert("RGB")).astype(int))
        return out


def reds(frame: np.ndarray) -> int:
    """Pixels of the second run's red (or blended toward it: thin lines at a low resolution)."""
    r, g, b = frame[..., 0], frame[..., 1], frame[..., 2]
    return int(((r > 150) & (r - g > 80) & (r - b > 80)).sum())


def test_a_path_grows_checkpoint_by_checkpoint(tmp_path):
    calls = []
    s = surface(tmp_path, "traj", track=two_runs())
    written = animate(s, options=SMALL, on_frame=lambda i, n: calls.append((i, n)))
    assert written == [tmp_path / "traj.path.gif"] and written.replaced == []
    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)]
    with Image.open(written[0]) as im:
        assert (im.n_frames, im.size, im.info["loop"]) == (4, (256, 128), 0)
        im.seek(3)
        assert im.info["duration"] >= 1000  # the end is held a second (2 frames per second: 500 ms each)
    counts = [reds(f) for f in frames(written[0])]
    assert counts[0] > 0 and counts[0] < counts[1] < counts[2] < counts[3], counts  # the red run's path grows


def test_the_default_is_a_turn_without_a_path_and_its_frames_differ(tmp_path):
    written = animate(surface(tmp_path, "plain"), options=PlotOptions(dpi=30, size=(3.2, 2.4)))
    assert written == [tmp_path / "plain.turn.gif"]
    shown = frames(written[0])
    assert len(shown) == TURN_FRAMES and shown[0].shape == (72, 96, 3)
    assert np.abs(shown[0] - shown[TURN_FRAMES // 4]).sum() > 0
    assert np.abs(shown[0] - shown[1]).sum() > 0


def test_a_sequence_has_one_colour_scale(tmp_path):
    """The files agree but in one corner, where the second rises: on one colour scale the rest of
    the frames is the same to the pixel; on a scale per file it would not be."""
    x = np.linspace(-1, 1, 9)
    X, Y = np.meshgrid(x, x)
    low = 0.1 + X ** 2 + Y ** 2
    high = low + 6.0 * ((X > 0.5) & (Y > 0.5))
    ss = [surface(tmp_path, "epoch_1", low), surface(tmp_path, "epoch_2", high)]
    written = animate(ss, options=PlotOptions(dpi=40, size=(6.0, 4.6), kinds=("heatmap",)), fps=4)
    (path,) = written
    assert path.parent == tmp_path and path.name.startswith("epoch_1+epoch_2.") and path.name.endswith(".sequence.gif")
    a, b = frames(path)
    h, w = a.shape[:2]
    rows = slice(int(0.25 * h), int(0.9 * h))  # below the titles, which name the files
    left = slice(0, int(0.3 * w))  # the axis and the left of the map, where the files agree
    assert np.array_equal(a[rows, left], b[rows, left])
    assert not np.array_equal(a, b)  # the corner differs


@pytest.mark.parametrize("kind", ["filled", "surface"])
def test_a_sequence_of_each_kind(tmp_path, kind):
    ss = [surface(tmp_path, f"e{k}", 0.1 + k + np.add.outer(np.linspace(-1, 1, 9) ** 2, np.linspace(-1, 1, 9) ** 2))
          for k in range(3)]
    (path,) = animate(ss, Animation.sequence, PlotOptions(dpi=30, size=(4, 3), kinds=(kind,)), fps=3)
    with Image.open(path) as im:
        assert (im.n_frames, im.size) == (3, (120, 90))


def test_a_sequence_of_1d_files_draws_lines_on_one_axis(tmp_path):
    ss = [surface(tmp_path, f"line{k}", z=0.2 + k + np.linspace(-1, 1, 9) ** 2, one_d=True) for k in range(2)]
    (path,) = animate(ss, options=PlotOptions(dpi=30, size=(4, 3)))
    with Image.open(path) as im:
        assert im.n_frames == 2


def test_mp4(tmp_path):
    pytest.importorskip("imageio_ffmpeg")
    iio = pytest.importorskip("imageio.v3")
    (path,) = animate(surface(tmp_path, "traj", track=two_runs()), options=PlotOptions(dpi=40, size=(6.3, 3.1)),
                      format="mp4", fps=2)
    assert path == tmp_path / "traj.path.mp4"
    video = iio.imread(path, index=None)
    assert video.shape == (4 + 2, 124, 252, 3)  # 4 checkpoints, the last held a second; even sides (252 x 124)
    assert not list(tmp_path.glob(".*tmp"))


def test_mp4_without_imageio_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)
    with pytest.raises(LandscapeError) as e:
        animate(surface(tmp_path, "traj", track=two_runs()), options=SMALL, format=VideoFormat.mp4)
    assert "pip install imageio imageio-ffmpeg" in str(e.value) and "landscape-viz[video]" in str(e.value)
    assert e.value.field == "format" and str(e.value).startswith("an MP4 (format='mp4')")
    assert not list(tmp_path.iterdir())


def _refusals(tmp_path):
    traj, plain = surface(tmp_path, "traj", track=two_runs()), surface(tmp_path, "plain")
    return {
        "path without a trajectory": (lambda: animate(plain, "path", SMALL), "what", "no training path"),
        "a sequence of one file": (lambda: animate([plain], "sequence", SMALL), "files", "two or more"),
        "different grids": (lambda: animate([plain, surface(tmp_path, "wide", x=np.linspace(-2, 2, 9))], None, SMALL),
                            "files", "different grids (x -1:1:9, y -1:1:9 against x -2:2:9"),
        "a path of several files": (lambda: animate([traj, traj], "path", SMALL), "what", "one surface file, got 2"),
        "1-D turn": (lambda: animate(surface(tmp_path, "line", one_d=True), None, SMALL), "what", "1-D surface"),
        "unknown what": (lambda: animate(plain, "spin", SMALL), "what", "unknown animation 'spin'"),
        "unknown format": (lambda: animate(plain, None, SMALL, format="avi"), "format", "unknown animation format"),
        "fps": (lambda: animate(plain, None, SMALL, fps=0), "fps", "fps must be between"),
        "a path on a 3-D map": (lambda: animate(traj, None, PlotOptions(dpi=40, kinds=("surface",))), "kinds",
                                "not on kinds='surface'"),
        "a sequence of barcodes": (lambda: animate([plain, plain], None, PlotOptions(kinds=("barcode",))), "kinds",
                                   "contour, filled, heatmap or surface"),
        "huge frames": (lambda: animate(plain, None, PlotOptions(dpi=600, size=(20, 10))), "size", "4096 pixels"),
        "no file": (lambda: animate([], None, SMALL), "files", "no surface file"),
        "in memory": (lambda: animate(Surface(None, plain.x, plain.y, plain.values, plain.computed), None, SMALL),
                      "out_dir", "give out_dir"),
    }


@pytest.mark.parametrize("case", list(_refusals(Path("."))))
def test_refusals_name_the_argument_and_write_nothing(tmp_path, case):
    run, field, words = _refusals(tmp_path)[case]
    with pytest.raises(LandscapeError) as e:
        run()
    assert e.value.field == field and words in str(e.value), str(e.value)
    assert not list(tmp_path.iterdir())


def _file(path: Path, direction: np.ndarray, shift: float = 0.0) -> Path:
    x = np.linspace(-1, 1, 5)
    X, Y = np.meshgrid(x, x)
    with h5py.File(path, "w") as f:
        f["xcoordinates"], f["ycoordinates"] = x, x
        f["train_loss"] = 0.5 + shift + X ** 2 + Y ** 2
        f["computed"] = np.ones(X.shape, dtype=bool)
        for group, d in (("xdirection", direction), ("ydirection", direction[::-1])):
            g = f.create_group(group)
            g.attrs["names"] = np.array(["w"], dtype=h5py.string_dtype())
            g["0"] = d
    return path


def test_a_sequence_of_files_on_different_planes_is_refused(tmp_path):
    a = _file(tmp_path / "a.h5", np.arange(6.0))
    b = _file(tmp_path / "b.h5", np.arange(6.0), shift=1.0)  # the same plane at a later checkpoint
    c = _file(tmp_path / "c.h5", np.arange(6.0) + 1, shift=2.0)
    with pytest.raises(LandscapeError, match="a.h5 and .*c.h5 are on different planes"):
        animate([a, b, c], options=SMALL)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.h5", "b.h5", "c.h5"]
    (path,) = animate([a, b], options=PlotOptions(dpi=30, size=(4, 3)), out_dir=tmp_path / "out")
    assert path.parent == tmp_path / "out" and path.exists()


def test_overwrite(tmp_path):
    s = surface(tmp_path, "traj", track=two_runs())
    target = tmp_path / "traj.path.gif"
    target.write_bytes(b"before")
    with pytest.raises(LandscapeError) as e:
        animate(s, options=SMALL, overwrite=False, on_frame=lambda i, n: pytest.fail("drew a frame"))
    assert e.value.field == "overwrite" and "allow replacing it (overwrite=True)" in str(e.value)
    assert target.read_bytes() == b"before"
    written = animate(s, options=SMALL)
    assert written.replaced == [target] and target.read_bytes()[:3] == b"GIF"


def test_an_interruption_leaves_no_file(tmp_path):
    def stop(i, n):
        if i == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt), pytest.warns(UserWarning, match="transparent is ignored"):
        animate(surface(tmp_path, "traj", track=two_runs()), options=PlotOptions(dpi=30, size=(6.4, 3.2),
                                                                                transparent=True), on_frame=stop)
    assert not list(tmp_path.iterdir())


def test_styles_and_the_slide_size(tmp_path):
    s = surface(tmp_path, "traj", track=two_runs())
    (dark,) = animate(s, options=PlotOptions(dpi=30, size=(6.4, 3.2), style="dark"), out_dir=tmp_path / "dark")
    corner = frames(dark)[0][2, 2]
    assert corner.max() < 80  # a dark background
    (slide,) = animate(s, options=PlotOptions(dpi=20, style="slide"), out_dir=tmp_path / "slide")
    with Image.open(slide) as im:
        assert im.size == (266, 150)  # 13.33 x 7.5 inches, cropped to even sides
    (filled,) = animate(s, options=PlotOptions(dpi=20, kinds=("filled",)), out_dir=tmp_path / "filled")
    with Image.open(filled) as im:
        assert im.size == (192, 88)  # a path's frame: 9.6 x 4.4 inches, whatever its map
