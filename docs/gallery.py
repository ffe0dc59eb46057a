"""Redraw the README's figures and its gallery (one image per kind) from the demo's outputs.

    python docs/gallery.py            # runs `landscape demo --out-dir outputs/demo --quiet` if needed
    python docs/gallery.py --demo     # run the demo again first (new training, new numbers)

Writes docs/demo.*.png (the figures the README shows inline) and docs/gallery/*.png (the gallery
section: contour, filled, heatmap, surface, line, barcode, a trajectory with epoch labels in 2-D
and 3-D, --log, a partially computed file, a column-width figure, a smooth surface, the slide and
dark styles, and the eigenvalue maps when the demo's file has them), and docs/gallery/path.gif
(`landscape animate` of the training path).
"""

from __future__ import annotations

import argparse
import dataclasses
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from landscape import plot, store  # noqa: E402
from landscape.plot import PlotOptions  # noqa: E402

DEMO = ROOT / "outputs" / "demo"
README_DPI = 110
GALLERY_DPI = 90


def run_demo() -> None:
    subprocess.run([sys.executable, "-m", "landscape", "demo", "--out-dir", str(DEMO), "--quiet"], cwd=ROOT, check=True)


def save(fig, path: Path, dpi: int) -> Path:
    fig.savefig(path, dpi=dpi, metadata={"Software": None})
    print(f"wrote {path.relative_to(ROOT)}")
    return path


def partial(s: store.Surface) -> store.Surface:
    """The demo's surface as if its computation had been stopped two-thirds of the way through."""
    computed = np.zeros_like(s.computed)
    flat = computed.ravel()
    flat[: int(flat.size * 2 / 3)] = True
    values = {k: np.where(computed, v, np.nan) for k, v in s.values.items()}
    return dataclasses.replace(s, values=values, computed=computed, path=s.path.with_name("partial.h5"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demo", action="store_true", help="run the demo first even if its outputs exist")
    args = parser.parse_args()
    needed = [DEMO / f"demo.{n}.h5" for n in ("surface", "trajectory", "interpolation")]
    if args.demo or not all(p.exists() for p in needed):
        run_demo()
    surface, trajectory, line = (store.read_surface(p) for p in needed)
    docs, gallery = ROOT / "docs", ROOT / "docs" / "gallery"
    gallery.mkdir(exist_ok=True)

    readme = PlotOptions(dpi=README_DPI)
    save(plot.draw(surface, "contour", readme), docs / "demo.contour.png", README_DPI)
    save(plot.draw(surface, "surface", readme), docs / "demo.surface.png", README_DPI)
    save(plot.draw(trajectory, "contour", readme), docs / "demo.trajectory.contour.png", README_DPI)
    save(plot.draw(line, "line", readme), docs / "demo.interpolation.line.png", README_DPI)

    small = PlotOptions(dpi=GALLERY_DPI)
    for kind in ("contour", "filled", "heatmap", "surface", "barcode"):
        save(plot.draw(surface, kind, small), gallery / f"{kind}.png", GALLERY_DPI)
    save(plot.draw(line, "line", small), gallery / "line.png", GALLERY_DPI)
    save(plot.draw(trajectory, "filled", dataclasses.replace(small, epoch_labels=True)), gallery / "trajectory.png",
         GALLERY_DPI)
    save(plot.draw(surface, "contour", dataclasses.replace(small, log=True)), gallery / "log.png", GALLERY_DPI)
    save(plot.draw(partial(surface), "filled", small), gallery / "partial.png", GALLERY_DPI)
    save(plot.draw(surface, "contour", dataclasses.replace(small, size=(3.3, 2.9))), gallery / "column.png",
         GALLERY_DPI)
    save(plot.draw(trajectory, "surface", dataclasses.replace(small, epoch_labels=True)), gallery / "trajectory-3d.png",
         GALLERY_DPI)
    save(plot.draw(surface, "surface", dataclasses.replace(small, smooth=4)), gallery / "smooth.png", GALLERY_DPI)
    save(plot.draw(trajectory, "filled", dataclasses.replace(small, style="slide", dpi=40)), gallery / "slide.png", 40)
    save(plot.draw(trajectory, "contour", dataclasses.replace(small, style="dark")), gallery / "dark.png", GALLERY_DPI)
    save(plot.draw(surface, "contour", dataclasses.replace(small, font="cm", size=(3.3, 2.9))),
         gallery / "column-cm.png", GALLERY_DPI)
    plot.animate(trajectory, "path", PlotOptions(dpi=60), out_dir=gallery / "tmp")
    (gallery / "tmp" / "demo.trajectory.path.gif").replace(gallery / "path.gif")
    (gallery / "tmp").rmdir()
    print(f"wrote {(gallery / 'path.gif').relative_to(ROOT)}")
    for metric in store.EIGEN_METRICS:
        if metric in surface.values:
            save(plot.draw(surface, "heatmap", dataclasses.replace(small, metric=metric)),
                 gallery / f"{metric}.png", GALLERY_DPI)


if __name__ == "__main__":
    main()
