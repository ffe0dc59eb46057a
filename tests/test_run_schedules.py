"""The schedules demo, shortened: four recorded runs, their common plane around the SWA average,
the table, and the sharpness figure."""

from __future__ import annotations

import numpy as np

from landscape.plot import PlotOptions, render_file
from landscape.plot.render import render_training
from landscape.run.schedules import SCHEDULES, SchedulesSettings, run_schedules, table_text
from landscape.store import read_surface
from landscape.store.training_log import read_log


def test_the_schedules_demo_records_four_runs_on_one_plane(tmp_path):
    settings = SchedulesSettings(out_dir=tmp_path, epochs=3, sharpness_every=45, sharpness_samples=64, resolution=7,
                                 table_samples=128)
    look = PlotOptions(kinds=["contour"], dpi=50)  # a small image: what is drawn is tested elsewhere
    result = run_schedules(settings, draw=lambda p: list(render_file(p, look)),
                           draw_logs=lambda logs: list(render_training(logs, PlotOptions(dpi=50))))
    assert [f.name for f in result.folders] == list(SCHEDULES) and result.swa.name == "swa.safetensors"
    s = read_surface(result.plane.path)
    track = s.tracks["trajectory"]
    assert track.run_names == list(SCHEDULES) and len(track.x) == 4 * 4  # step 0 and 3 epochs each
    assert s.tracks["models"].names == ["SWA average"]
    assert [r.name for r in result.rows] == [*SCHEDULES, "swa average"]
    assert all(np.isfinite([r.train_loss, r.test_loss, r.top_eigenvalue]).all() for r in result.rows)
    lrs = {f.name: read_log(f).steps["lr"] for f in result.folders}
    assert np.ptp(lrs["constant"]) == 0 and lrs["step"][-1] < lrs["step"][0] / 50  # two decays by 10
    assert lrs["swa"][-1] == settings.swa_lr
    assert len(result.figures) == 2 and "| swa average |" in table_text(result.rows)
