"""`landscape plot` (landscape/cli/plot.py): its refusals, one line each."""

from __future__ import annotations

import pytest

from landscape.cli import app
from test_cli_compute import MODEL, ok, runner


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


def test_plot_names_its_own_out_flag(tmp_path, checkpoint):
    """The library's `out_dir` is `plot --out` (and `demo --out-dir`): each command says its own flag."""
    surface = tmp_path / "s.h5"
    ok(["compute", str(checkpoint), *MODEL, "--x", "-1:1:3", "--samples", "20", "--out", str(surface), "--quiet"])
    (tmp_path / "afile").write_text("")
    r = runner.invoke(app, ["plot", str(surface), "--out", str(tmp_path / "afile" / "sub")])
    assert r.exit_code == 2 and "choose another --out" in r.output and "--out-dir" not in r.output, r.output
