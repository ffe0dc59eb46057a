"""run/dry_run.py: what `compute` would do (the plan, the points, the time and the file size),
without writing anything."""

from __future__ import annotations

from landscape.cli import app
from test_run_compute import MODEL, runner


def test_dry_run_prints_the_plan_and_writes_nothing(tmp_path, checkpoint):
    out = tmp_path / "new" / "s.h5"
    r = runner.invoke(app, ["compute", str(checkpoint), *MODEL, "--x", "-1:1:5", "--y", "-1:1:5", "--samples", "30",
                            "--out", str(out), "--dry-run", "--device", "cpu"])
    assert r.exit_code == 0, r.output
    text = " ".join(r.output.split())
    assert "would compute" in text and "25 of 25 points" in text and "estimated" in text and "file about" in text
    assert "precision fp32" in text and "batch_size 30" in text
    assert not (tmp_path / "new").exists()
