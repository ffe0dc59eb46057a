"""`landscape info` (landscape/cli/info.py)."""

from __future__ import annotations

from landscape.cli import app
from test_cli_compute import MODEL, ok, runner


def test_info_rows_are_aligned(tmp_path, checkpoint):
    out = tmp_path / "s.h5"
    ok(["compute", str(checkpoint), *MODEL, "--x", "-1:1:3", "--y", "-1:1:3", "--samples", "20", "--out", str(out),
        "--quiet", "--device", "cpu"])
    lines = runner.invoke(app, ["info", str(out)], terminal_width=200).output.splitlines()
    starts = {len(line) - len(line.split("  ", 1)[1].lstrip()) for line in lines if "  " in line}
    assert len(starts) == 1, lines  # every value starts in one column, the checkpoint's too
    assert any(line.startswith("checkpoint ") for line in lines)
