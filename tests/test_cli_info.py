"""`landscape info` (landscape/cli/info.py)."""

from __future__ import annotations

from typer.testing import CliRunner

from landscape.cli import app

MODEL = ["--model", "landscape.models:digits_cnn", "--model-kwargs", '{"width": 4}']
runner = CliRunner()


def ok(args: list[str]) -> str:
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    return r.output


def test_info_rows_are_aligned(tmp_path, checkpoint):
    out = tmp_path / "s.h5"
    ok(["compute", str(checkpoint), *MODEL, "--x", "-1:1:3", "--y", "-1:1:3", "--samples", "20", "--out", str(out),
        "--quiet", "--device", "cpu"])
    lines = runner.invoke(app, ["info", str(out)], terminal_width=200).output.splitlines()
    starts = {len(line) - len(line.split("  ", 1)[1].lstrip()) for line in lines if "  " in line}
    assert len(starts) == 1, lines  # every value starts in one column, the checkpoint's too
    assert any(line.startswith("checkpoint ") for line in lines)
