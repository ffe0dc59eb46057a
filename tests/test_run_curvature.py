"""`landscape hessian`, `landscape sharpness`, the plane of Hessian eigenvectors, the eigenvalue
map and the basins of a surface, from the command line; and the code behind the two commands
(`landscape.run.curvature`): the files it writes and what it hands back to print."""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from landscape import store
from landscape.cli import app
from landscape.inputs.data import DataSpec, load_data
from landscape.curvature import HessianSettings, SharpnessSettings, extreme_eigenvalues
from landscape.engine import EvalSettings
from landscape.errors import LandscapeError, for_cli
from landscape.inputs.checkpoint import ModelSpec
from landscape.inputs.objective import batch_loss
from landscape.models import DigitsCNN
from landscape.run import curvature as run
from landscape.run.curvature import CurvatureJob, SharpnessTable, density_figure_path, describe_result, write_table
from landscape.store.hessian_file import read_hessian
from test_curvature_tables import rows

MODEL = ["--model", "landscape.models:digits_cnn", "--model-kwargs", '{"width": 4}']
SMALL = ["--samples", "40", "--device", "cpu"]
runner = CliRunner()


def ok(args: list[str]) -> str:
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    return " ".join(r.output.split())


@pytest.fixture
def hessian_file(tmp_path, checkpoint) -> Path:
    out = tmp_path / "h.h5"
    text = ok(["hessian", str(checkpoint), *MODEL, *SMALL, "--top-k", "2", "--steps", "30", "--trace", "--probes",
               "20", "--density", "--density-steps", "12", "--plot", "--out", str(out)])
    assert "λ1" in text and "trace" in text and "Rademacher probes" in text and (tmp_path / "h.density.png").exists()
    return out


def test_hessian_file_and_its_plane(tmp_path, checkpoint, hessian_file):
    result = read_hessian(hessian_file)
    assert len(result.eigenvalues) == 2 and result.eigenvalues[0] >= result.eigenvalues[1]
    assert result.trace is not None and result.density is not None
    with h5py.File(hessian_file) as f:
        assert f.attrs["top_k"] == 2 and f.attrs["model"] == "landscape.models:digits_cnn" and f.attrs["samples"] == 40
    # the top eigenvalue, independently: Lanczos at the same weights over the same data in one batch
    model = DigitsCNN(width=4)
    model.load_state_dict(torch.load(Path(str(hessian_file.parent / "tiny.pt")), weights_only=True)["state_dict"])
    data = load_data(DataSpec("digits", samples=40))
    top, _ = extreme_eigenvalues(model.eval(), [(data.x, data.y)], batch_loss(torch.nn.functional.cross_entropy, True),
                                 steps=60, tol=1e-6)
    assert result.eigenvalues[0] == pytest.approx(top, rel=1e-3)
    # the plane of the top two eigenvectors, unit norm or scaled to the weights
    for scale in ("unit", "weights"):
        out = tmp_path / f"plane-{scale}.h5"
        ok(["compute", str(checkpoint), *MODEL, *SMALL, "--directions", str(hessian_file), "--direction-scale", scale,
            "--x", "-1:1:3", "--y", "-1:1:3", "--out", str(out), "--quiet"])
        s = store.read_surface(out)
        assert s.attrs["xlabel"].startswith("Hessian eigenvector 1") and s.attrs["dir_kind"] == "hessian"
        assert "Hessian eigenvectors" in s.attrs["note"]
        d = store.read_directions(out)
        n = float(torch.sqrt(sum((t.double() ** 2).sum() for t in d.x.values())))
        theta = float(torch.sqrt(sum((p.detach().double() ** 2).sum() for p in model.parameters())))
        assert n == pytest.approx(1.0 if scale == "unit" else theta, rel=1e-5)
        text = ok(["info", str(out)])
        assert ("unit norm" if scale == "unit" else "to the norm of the weights") in text
    text = ok(["info", str(hessian_file)])
    assert f"λ1 {result.eigenvalues[0]:.6g}" in text and "samples 40" in text and "Rademacher probes" in text and "loss_name cross-entropy" in text


def test_eigen_map_and_its_figure(tmp_path, checkpoint):
    out = tmp_path / "map.h5"
    ok(["compute", str(checkpoint), *MODEL, *SMALL, "--eigen-map", "--x", "-0.5:0.5:3", "--y", "-0.5:0.5:2",
        "--out", str(out), "--quiet"])
    s = store.read_surface(out)
    for name in ("eig_max", "eig_min", "eig_ratio"):
        assert s.values[name].shape == (2, 3) and np.isfinite(s.values[name]).all()
    np.testing.assert_allclose(s.values["eig_ratio"], np.abs(s.values["eig_min"] / s.values["eig_max"]))
    assert (s.values["eig_max"] >= s.values["eig_min"]).all()
    assert "eigen map" in ok(["info", str(out)])
    written = ok(["plot", str(out), "--metric", "eig_ratio", "--kind", "heatmap", "--out", str(tmp_path / "f")])
    assert "map.eig_ratio.heatmap.png" in written  # named for its metric: the loss figure stays


def test_sharpness_table(tmp_path, checkpoint):
    other = tmp_path / "other.pt"
    model = DigitsCNN(width=4)
    torch.save(model.state_dict(), other)
    prefix = tmp_path / "table"
    ok(["sharpness", str(checkpoint), str(other), *MODEL, *SMALL, "--probes", "10", "--directions", "3",
        "--ascent-steps", "3", "--out", str(prefix), "--quiet"])
    rows = list(csv.DictReader(open(prefix.with_suffix(".csv"))))
    assert [r[next(iter(r))] for r in rows] == ["tiny.pt", "other.pt"]
    tex = prefix.with_suffix(".tex").read_text()
    assert r"\toprule" in tex and r"\bottomrule" in tex and "$\\pm$" in tex
    assert prefix.with_suffix(".md").read_text().count("|") > 10


def test_basins_in_info(tmp_path, checkpoint):
    out = tmp_path / "s.h5"
    ok(["compute", str(checkpoint), *MODEL, *SMALL, "--x", "-1:1:7", "--y", "-1:1:7", "--out", str(out), "--quiet"])
    assert "basins" in ok(["info", str(out)]) and "smoothness" in ok(["info", str(out)])
    assert "barcode" in ok(["plot", str(out), "--kind", "barcode", "--out", str(tmp_path / "f")])


# ------------------------------------------------------------------ the code behind the commands


def test_table_files(tmp_path):
    paths = write_table(rows(), tmp_path / "tables" / "sharp")
    assert [p.name for p in paths] == ["sharp.csv", "sharp.md", "sharp.tex"]
    csv_path, md_path, tex_path = paths

    with open(csv_path, newline="", encoding="utf-8") as f:
        back = list(csv.DictReader(f))
    assert list(back[0]) == ["checkpoint", "loss", "accuracy (%)", "top eigenvalue", "trace", "trace stderr",
                             "ε-sharpness (ε=0.001)", "loss rise in ε-box (ε=0.001)", "random rise (r=0.1, N=10)",
                             "random rise (r=0.1, N=10) std"]
    for got, want in zip(back, rows()):
        assert got["checkpoint"] == want.name
        assert float(got["trace"]) == want.trace and float(got["trace stderr"]) == want.trace_stderr
        assert float(got["ε-sharpness (ε=0.001)"]) == want.eps_sharpness
        assert float(got["random rise (r=0.1, N=10) std"]) == want.random_rise_std

    md = md_path.read_text(encoding="utf-8").splitlines()
    assert md[0].startswith("| checkpoint | loss |") and md[0].endswith("|")
    assert md[1].startswith("| --- | ---: |")
    assert len(md) == 4 and all(line.count(" | ") == md[0].count(" | ") for line in md)
    assert "1235 ± 12" in md[2] and "123500 ± 2300" in md[3] and "large\\|batch" in md[3]

    tex = tex_path.read_text(encoding="utf-8")
    for rule in (r"\toprule", r"\midrule", r"\bottomrule", r"\begin{tabular}{lrrrrrrr}", r"\end{tabular}"):
        assert rule in tex
    assert r"small\_batch" in tex and r"large\textbar{}batch" in tex
    assert r"$\varepsilon$-sharpness" in tex and r"1235 $\pm$ 12" in tex
    assert r"$2.50\times 10^{-5}$ $\pm$ $1.0\times 10^{-6}$" in tex


def test_a_table_that_cannot_be_written_names_the_prefix(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(LandscapeError, match="cannot write the table") as e:
        write_table(rows(), blocker / "t")
    assert e.value.field == "out" and "choose another --out" in for_cli(e.value.message)
    assert "choose another out" in str(e.value)


JOB = CurvatureJob(model=ModelSpec("landscape.models:digits_cnn", {"width": 4}), data=DataSpec("digits", samples=24),
                   evaluation=EvalSettings(device="cpu"))


def test_sharpness_table_hands_back_its_rows_files_and_markdown(tmp_path, checkpoint):
    settings = SharpnessSettings(ascent_steps=1, directions=1, hessian=HessianSettings(top_k=1, max_steps=3, trace=True,
                                                                                      probes=2))
    table = run.sharpness_table(JOB, [checkpoint], settings, tmp_path / "t")
    assert isinstance(table, SharpnessTable) and [r.name for r in table.rows] == ["tiny.pt"]
    assert [p.name for p in table.paths] == ["t.csv", "t.md", "t.tex"]
    assert table.markdown == (tmp_path / "t.md").read_text(encoding="utf-8")
    with pytest.raises(LandscapeError, match="at least one checkpoint") as e:
        run.sharpness_table(JOB, [], settings, tmp_path / "none")
    assert e.value.field == "checkpoints"


def test_the_hessian_file_records_the_command_it_is_given(tmp_path, checkpoint):
    out = tmp_path / "h.hessian.h5"
    job = dataclasses.replace(JOB, command="landscape hessian tiny.pt --top-k 1")
    result = run.hessian_file(job, checkpoint, HessianSettings(top_k=1, max_steps=3), out)
    with h5py.File(out) as f:
        assert f.attrs["command"] == "landscape hessian tiny.pt --top-k 1" and f.attrs["samples"] == 24
    assert read_hessian(out).eigenvalues[0] == result.eigenvalues[0]
    run.hessian_file(JOB, checkpoint, HessianSettings(top_k=1, max_steps=3), out)
    with h5py.File(out) as f:
        assert f.attrs["command"] == ""  # the library reads no sys.argv: the caller says what asked for it


def test_the_density_figure_of_a_hessian_file():
    assert density_figure_path(Path("out/epoch_8.hessian.h5")) == Path("out/epoch_8.hessian.density.png")
    assert density_figure_path(Path("h")) == Path("h.density.png")


def test_a_result_that_did_not_converge_says_which_setting_to_raise(tmp_path):
    from test_readers import hessian_file as make_hessian_file

    result = read_hessian(make_hessian_file(tmp_path / "h.h5"))
    assert describe_result(result)[-len(result.per_layer) - 2].endswith("1.0 s")
    result.converged = False
    from landscape.cli.flags import flagged
    from landscape.run.info import summary

    python, cli = describe_result(result), describe_result(result, flagged)
    assert "NOT converged: raise max_steps" in "\n".join(python) and "NOT converged: raise --steps" in "\n".join(cli)
    assert "‹" not in "".join(python + cli)
    with h5py.File(tmp_path / "h.h5", "r+") as f:
        f.attrs["converged"] = False
    assert "raise --steps" in summary(tmp_path / "h.h5", render=flagged)  # as `landscape info` prints it
    assert "raise max_steps" in summary(tmp_path / "h.h5")


def test_the_names_of_the_module_before_the_split_still_import():
    from landscape.curvature import HessianSettings as Settings, eigen_map_values

    assert Settings is HessianSettings and eigen_map_values.__module__ == "landscape.curvature.eigenmap"


def test_the_table_says_when_products_were_finite_differences(tmp_path):
    import dataclasses

    from landscape.choices import HvpMode
    from landscape.run.curvature import describe_result
    from landscape.store.hessian_file import read_hessian
    from test_readers import hessian_file

    result = read_hessian(hessian_file(tmp_path / "h.h5"))
    assert not [line for line in describe_result(result) if "finite differences" in line]
    fell_back = dataclasses.replace(result, hvp_mode=HvpMode.fd)
    (line,) = [line for line in describe_result(fell_back) if "finite differences" in line]
    assert "exact products failed" in line and "hvp_mode='fd'" in line
