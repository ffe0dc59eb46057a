"""One test per defect of the reliability attack (issue 24) in evaluation, curvature, plotting
and the command line; each failed before its fix. Readers of hostile files are in
test_readers.py, checkpoints and data in test_inputs_attack.py, random option combinations
and signals in test_robustness.py."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from conftest import tiny_data, tiny_model
from landscape import store
from landscape.cli import app
from landscape.inputs.data import DataSpec
from landscape.plane.directions import DirectionSpec
from landscape.engine import EvalSettings, Plan
from landscape.errors import LandscapeError
from landscape.plane.grid import AutoRange, Grid
from landscape.inputs.checkpoint import ModelSpec
from landscape.run.compute import compute
from landscape.run.job import ComputeJob

ROOT = Path(__file__).resolve().parent.parent
MODEL = ["--model", "landscape.models:digits_cnn", "--model-kwargs", '{"width": 4}']
TINY = [*MODEL, "--data", "digits", "--samples", "32", "--device", "cpu"]
runner = CliRunner()


def fails(args: list[str], *words: str) -> str:
    """The command exits 2 with one line that holds every word."""
    r = runner.invoke(app, args)
    assert r.exit_code == 2, (r.exit_code, r.output)
    assert "Traceback" not in r.output and r.output.strip().count("\n") == 0, r.output
    for w in words:
        assert w in " ".join(r.output.split()), (w, r.output)
    return r.output


# ------------------------------------------------------------------ 2, 16: outputs checked before the work


def test_hessian_density_figure_is_not_replaced_without_overwrite(tmp_path, checkpoint):
    out = tmp_path / "h.hessian.h5"
    figure = tmp_path / "h.hessian.density.png"
    figure.write_bytes(b"a figure the user made")
    fails(["hessian", str(checkpoint), *TINY, "--top-k", "1", "--steps", "3", "--density", "--density-steps", "3",
           "--plot", "--out", str(out)], "already exists", "--overwrite")
    assert figure.read_bytes() == b"a figure the user made" and not out.exists()  # refused before any work
    r = runner.invoke(app, ["hessian", str(checkpoint), *TINY, "--top-k", "1", "--steps", "3", "--density",
                            "--density-steps", "3", "--plot", "--out", str(out), "--overwrite"])
    assert r.exit_code == 0, r.output
    assert f"replaced {figure}" in " ".join(r.output.split()) and figure.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("prefix", ["", ".", ".."])
def test_sharpness_out_must_be_a_prefix(tmp_path, checkpoint, monkeypatch, prefix):
    monkeypatch.chdir(tmp_path)
    fails(["sharpness", str(checkpoint), *TINY, "--directions", "1", "--probes", "2", "--out", prefix],
          "must be a prefix of file names")


def test_unwritable_outputs_are_found_before_the_work(tmp_path, checkpoint):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    fails(["hessian", str(checkpoint), *TINY, "--out", str(blocker / "h.h5")], "cannot create output folder")
    fails(["sharpness", str(checkpoint), *TINY, "--out", str(blocker / "t")], "cannot create output folder")
    fails(["hessian", str(checkpoint), *TINY, "--out", str(tmp_path)], "is a directory")


# ------------------------------------------------------------------ 4: resume notices an edited model file


def test_resume_refuses_an_edited_model_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "proj").mkdir()
    nets = tmp_path / "proj" / "nets.py"
    nets.write_text("import torch.nn as nn\n"
                    "def mlp():\n    return nn.Sequential(nn.Flatten(), nn.Linear(64, 8), nn.ReLU(), nn.Linear(8, 10))\n")
    sys.path.insert(0, str(tmp_path / "proj"))
    try:
        import importlib

        torch.save(importlib.import_module("nets").mlp().state_dict(), tmp_path / "mlp.pt")
    finally:
        sys.path.remove(str(tmp_path / "proj"))
        sys.modules.pop("nets", None)
    args = ["compute", "mlp.pt", "--model", "proj/nets.py:mlp", "--samples", "16", "--device", "cpu",
            "--x", "-1:1:3", "--out", "m.h5", "--quiet"]
    assert runner.invoke(app, args).exit_code == 0
    nets.write_text(nets.read_text().replace("nn.ReLU()", "nn.Tanh()"))
    for name in [n for n in sys.modules if n.startswith("landscape_user_nets")]:
        del sys.modules[name]  # a new process would import the edited file
    fails(args, "the model's code or structure changed since the file was started")


# ------------------------------------------------------------------ 5: plans read back are validated


def _three_points(checkpoint: Path, out: Path) -> ComputeJob:
    """A computed 3-point surface file and its job, to resume."""
    job = ComputeJob(checkpoint, Grid.linspace((-1, 1, 3)), out, ModelSpec("landscape.models:digits_cnn",
                                                                          '{"width": 4}'),
                     DataSpec("digits", samples=16), evaluation=EvalSettings(device="cpu"))
    compute(job)
    return job


@pytest.mark.parametrize("field,value", [("batch_size", -3), ("batch_size", 0), ("points_per_launch", 0),
                                         ("batch_size", 2.5), ("fold_bn", "False"), ("device", "tpu")])
def test_a_crafted_plan_is_refused_on_resume(tmp_path, checkpoint, field, value):
    out = tmp_path / "s.h5"
    job = _three_points(checkpoint, out)
    with h5py.File(out, "r+") as f:
        f["computed"][...] = False
        f["plan"].attrs[field] = value
    with pytest.raises(LandscapeError, match="plan"):
        compute(job)
    s = store.read_surface(out)
    assert not s.computed.any()  # nothing stored as NaN and marked computed


def test_a_crafted_plan_in_the_journal_is_refused_on_resume(tmp_path, checkpoint):
    from landscape.store import journal

    out = tmp_path / "s.h5"
    job = _three_points(checkpoint, out)
    with h5py.File(out, "r+") as f:
        f["computed"][...] = False
        run_id = f.attrs["run_id"]
    w = journal.JournalWriter(out, str(run_id), sorted(store.read_surface(out).values), size=3)
    w.open()
    w.append_attrs({"plan/batch_size": -5})
    w.close()
    with pytest.raises(LandscapeError, match="plan"):
        compute(job)
    assert not store.read_surface(out).computed.any()


def test_plan_limits_are_the_same_from_a_dict():
    good = Plan("cpu", "fp32", 8, "point", 8, True, False, "off", False, False, False).to_dict()
    assert Plan.from_dict(good).batch_size == 8
    for bad in ({"batch_size": -1}, {"points_per_launch": 0}, {"shards": 0}, {"batch_size": float("inf")}):
        with pytest.raises(LandscapeError):
            Plan.from_dict({**good, **bad})


# ------------------------------------------------------------------ 6: every --eval batch is checked

EVALS = '''
import torch
def base(model, batch):
    x, y = batch
    out = model(x)
    return torch.nn.functional.cross_entropy(out, y, reduction="sum"), len(y), (out.argmax(1) == y).sum()
CALLS = [0]
def inf_count(model, batch):
    loss, n, c = base(model, batch)
    return loss, float("inf"), c
def too_correct(model, batch):
    loss, n, c = base(model, batch)
    return loss, n, n * 5
def text_later(model, batch):
    CALLS[0] += 1
    loss, n, c = base(model, batch)
    return (loss, n, c) if CALLS[0] < 3 else ("oops", n, c)
def vector(model, batch):
    x, y = batch
    return torch.nn.functional.cross_entropy(model(x), y, reduction="none"), len(y)
def raises_later(model, batch):
    CALLS[0] += 1
    if CALLS[0] > 2:
        raise ValueError("batch went wrong")
    return base(model, batch)
def tensor_count(model, batch):
    loss, n, c = base(model, batch)
    return loss, torch.tensor(-1.0), c
'''


@pytest.mark.parametrize("fn,words", [
    ("inf_count", ["count is inf"]), ("too_correct", ["correct count is", "between 0 and the count"]),
    ("text_later", ["loss sum is the text 'oops'", "batch"]), ("vector", ["loss sum is a torch.float32 tensor"]),
    ("raises_later", ["raised ValueError: batch went wrong", "batch"]), ("tensor_count", ["count is -1"]),
])
@pytest.mark.parametrize("command", ["compute", "hessian"])
def test_eval_results_are_checked_at_every_batch(tmp_path, checkpoint, monkeypatch, fn, words, command):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "evals.py").write_text(EVALS)
    sys.modules.pop("evals", None)
    args = [command, str(checkpoint), *MODEL, "--data", "digits", "--samples", "40", "--batch-size", "8",
            "--device", "cpu", "--eval", f"evals:{fn}", "--out", str(tmp_path / "o.h5")]
    args += ["--x", "-1:1:3"] if command == "compute" else ["--top-k", "1", "--steps", "2"]
    out = fails(args, "the --eval function evals:" + fn, *words)
    if fn not in ("vector",):
        assert "batch" in out


# ------------------------------------------------------------------ 7: --x auto


def test_auto_range_needs_a_positive_finite_centre(tmp_path, checkpoint, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "losses.py").write_text("import torch\n"
                                        "def zero(out, y):\n    return (out * 0).sum()\n"
                                        "def nan(out, y):\n    return out.sum() * float('nan')\n")
    sys.modules.pop("losses", None)
    base = ["compute", str(checkpoint), *TINY, "--x", "auto:5", "--y", "auto:5", "--out", "a.h5"]
    fails([*base, "--loss", "losses:zero"], "positive loss at the centre", "it is 0")
    fails([*base, "--loss", "losses:nan"], "the loss at the model's own weights", "is nan")
    assert not (tmp_path / "a.h5").exists()


@pytest.mark.parametrize("text", ["autox", "auto:0", "auto:1", "auto:", "auto:x"])
def test_auto_syntax(tmp_path, checkpoint, text):
    fails(["compute", str(checkpoint), *TINY, "--x", text, "--y", "auto", "--out", str(tmp_path / "a.h5")], "auto")


def test_a_flat_loss_gets_one_true_note(tmp_path, checkpoint, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "flat.py").write_text("def one(out, y):\n    return (out * 0).sum() + 1.0\n")
    sys.modules.pop("flat", None)
    r = runner.invoke(app, ["compute", str(checkpoint), *TINY, "--loss", "flat:one", "--x", "auto:3",
                            "--out", "f.h5"])
    assert r.exit_code == 0, r.output
    text = " ".join(r.output.split())
    assert "does not rise 10× from 1 within ±100" in text and "the loss rises" not in text
    assert AutoRange(nx=2).nx == 2
    with pytest.raises(LandscapeError):
        AutoRange(rise=float("inf"))


# ------------------------------------------------------------------ 8: planes that move nothing


def test_params_that_choose_only_still_tensors_are_refused(tmp_path, checkpoint):
    fails(["compute", str(checkpoint), *TINY, "--params", "bias", "--x", "-1:1:3", "--out", str(tmp_path / "p.h5")],
          "the directions move no tensor")
    assert not (tmp_path / "p.h5").exists()
    fails(["sharpness", str(checkpoint), *TINY, "--params", "bias", "--probes", "2", "--out", str(tmp_path / "t")],
          "the random directions move no parameter")


def test_the_same_target_twice_is_a_line(tmp_path, checkpoint):
    other = tmp_path / "other.pt"
    torch.save(tiny_model(seed=1).state_dict(), other)
    fails(["compute", str(checkpoint), *TINY, "--x-target", str(other), "--y-target", str(other), "--x", "-1:1:3",
           "--y", "-1:1:3", "--out", str(tmp_path / "t.h5")], "the two directions are parallel")
    fails(["compute", str(checkpoint), *TINY, "--x-target", str(checkpoint), "--x", "-1:1:3",
           "--out", str(tmp_path / "t.h5")], "the directions move no tensor")


def test_a_model_without_parameters_is_refused():
    from landscape.plane.sources import check_plane
    from landscape.plane.directions import random_directions

    plane = random_directions(torch.nn.Sequential(torch.nn.Flatten()), DirectionSpec())
    with pytest.raises(LandscapeError, match="move no tensor"):
        check_plane(plane, True)


# ------------------------------------------------------------------ 10: NaN losses


def test_nan_at_the_centre_is_one_line_for_curvature(tmp_path, checkpoint, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "losses.py").write_text("def nan(out, y):\n    return out.sum() * float('nan')\n")
    sys.modules.pop("losses", None)
    fails(["hessian", str(checkpoint), *TINY, "--loss", "losses:nan", "--steps", "3", "--top-k", "1"],
          "the loss at these weights is nan")
    fails(["sharpness", str(checkpoint), *TINY, "--loss", "losses:nan", "--probes", "2"],
          "the loss at these weights is nan")
    fails(["compute", str(checkpoint), *TINY, "--loss", "losses:nan", "--x", "-1:1:3", "--out", "n.h5"],
          "the loss at the model's own weights")


def test_diverged_points_of_an_eigen_map_are_nan(tmp_path, checkpoint):
    out = tmp_path / "e.h5"
    r = runner.invoke(app, ["compute", str(checkpoint), *TINY, "--x", "-1e20:1e20:3", "--eigen-map",
                            "--out", str(out)])
    assert r.exit_code == 0, r.output
    s = store.read_surface(out)
    assert s.computed.all() and np.isfinite(s.values["eig_max"][1]) and np.isnan(s.values["eig_max"][[0, 2]]).all()
    assert "2 computed points have an inf or NaN loss" in " ".join(r.output.split())


# ------------------------------------------------------------------ 11: seeds


@pytest.mark.parametrize("seed", [str(2**63), str(2**64), "-1"])
def test_seeds_out_of_range_are_one_line(tmp_path, checkpoint, seed):
    for cmd, extra in (("compute", ["--x", "-1:1:3"]), ("hessian", ["--steps", "2", "--top-k", "1"]),
                       ("sharpness", ["--probes", "2", "--directions", "1"])):
        fails([cmd, str(checkpoint), *TINY, "--seed", seed, "--out", str(tmp_path / "o")], "seed must be a whole number")


def test_the_largest_seed_works_everywhere(tmp_path, checkpoint):
    from landscape.curvature.random_vectors import generator as _generator

    _generator(2**63 - 1, 3)  # no overflow from the part arithmetic
    r = runner.invoke(app, ["hessian", str(checkpoint), *TINY, "--seed", str(2**63 - 1), "--steps", "2",
                            "--top-k", "1", "--out", str(tmp_path / "h.h5")])
    assert r.exit_code == 0, r.output


# ------------------------------------------------------------------ 12: interrupts say the truth


def test_an_interrupted_sharpness_keeps_its_finished_rows(tmp_path, checkpoint, monkeypatch):
    import landscape.run.curvature as curvature

    other = tmp_path / "b.pt"
    torch.save({"state_dict": tiny_model(seed=1).state_dict()}, other)
    real = curvature.sharpness

    def second_interrupted(model, batches, fn, settings, name, tick=None):
        if name == "b.pt":
            raise KeyboardInterrupt
        return real(model, batches, fn, settings, name, tick)

    monkeypatch.setattr(curvature, "sharpness", second_interrupted)
    r = runner.invoke(app, ["sharpness", str(checkpoint), str(other), *TINY, "--probes", "2", "--directions", "1",
                            "--out", str(tmp_path / "t")])
    assert r.exit_code == 130, r.output
    assert "interrupted: the 1 finished row(s) of 2 are saved" in " ".join(r.output.split())
    assert (tmp_path / "t.csv").read_text().count("\n") == 2  # header and the finished row


def test_an_interrupted_hessian_says_nothing_was_saved(tmp_path, checkpoint, monkeypatch):
    import landscape.run.curvature as curvature

    def interrupted(*args, **kwargs):
        raise RuntimeError("KeyboardInterrupt: raised in a callback")  # as torch's C++ code wraps it

    monkeypatch.setattr(curvature, "hessian", interrupted)
    r = runner.invoke(app, ["hessian", str(checkpoint), *TINY, "--out", str(tmp_path / "h.h5")])
    assert r.exit_code == 130 and "Traceback" not in r.output, r.output
    assert "interrupted: nothing was saved" in r.output and not (tmp_path / "h.h5").exists()


# ------------------------------------------------------------------ 14: plot limits and extreme values


@pytest.fixture(scope="module")
def small_surface(tmp_path_factory) -> bytes:
    """A computed 3 x 3 surface file, as bytes (each test writes its own copy)."""
    root = tmp_path_factory.mktemp("small")
    checkpoint = root / "tiny.pt"
    torch.save({"state_dict": tiny_model().state_dict()}, checkpoint)
    out = root / "s.h5"
    assert runner.invoke(app, ["compute", str(checkpoint), *TINY, "--x", "-1:1:3", "--y", "-1:1:3",
                               "--out", str(out)]).exit_code == 0
    return out.read_bytes()


def test_levels_are_bounded(tmp_path, small_surface):
    out = tmp_path / "s.h5"
    out.write_bytes(small_surface)
    fails(["plot", str(out), "--levels", "1000000"], "--levels must be between 1 and 500")


@pytest.mark.parametrize("values", [
    [[1e300, 2e300, 5e299], [1e299, 1e298, 3e300], [1.7e308, 1e300, 1e300]],
    [[1e300, 1, 2], [np.nan, 0.5, -np.inf], [np.inf, 1e-300, 3]],
    [[-1, -2, -3], [-4, -5, -6], [-7, -8, -1e300]],
    [[1e20, 1.1e20, 1.2e20], [1.3e20, 1.4e20, 1.5e20], [1.6e20, 1.7e20, 1.8e20]],
])
@pytest.mark.parametrize("extra", [[], ["--log"], ["--metric", "acc"]])
def test_extreme_values_plot_or_say_why(tmp_path, small_surface, values, extra):
    out = tmp_path / "s.h5"
    out.write_bytes(small_surface)
    with h5py.File(out, "r+") as f:
        f["train_loss"][...] = np.array(values)
        f["train_acc"][...] = np.array(values)
    r = runner.invoke(app, ["plot", str(out), "--kind", "all", "--out", str(tmp_path / "figs"), *extra])
    assert r.exit_code in (0, 2) and "Traceback" not in r.output and "Warning" not in r.output, r.output


@pytest.mark.parametrize("bad", [np.nan, np.inf, -1e300])
def test_coordinates_that_are_not_finite_are_refused_by_the_reader(tmp_path, small_surface, bad):
    out = tmp_path / "s.h5"
    out.write_bytes(small_surface)
    with h5py.File(out, "r+") as f:
        f["xcoordinates"][1] = bad
    fails(["plot", str(out), "--out", str(tmp_path / "figs")], "xcoordinates holds a value that is not a finite")
    fails(["info", str(out)], "xcoordinates")


def test_kind_all_on_a_one_row_grid_draws_what_fits(tmp_path, checkpoint):
    out = tmp_path / "row.h5"
    assert runner.invoke(app, ["compute", str(checkpoint), *TINY, "--x", "-1:1:4", "--y", "0:0:1",
                               "--out", str(out)]).exit_code == 0
    r = runner.invoke(app, ["plot", str(out), "--kind", "all", "--out", str(tmp_path / "figs")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "figs" / "row.vtk").exists()


# ------------------------------------------------------------------ 17: messages


def test_a_changed_sample_count_is_named(tmp_path, checkpoint):
    out = tmp_path / "s.h5"
    args = ["compute", str(checkpoint), *MODEL, "--device", "cpu", "--x", "-1:1:3", "--out", str(out)]
    assert runner.invoke(app, [*args, "--samples", "32"]).exit_code == 0
    fails([*args, "--samples", "16"], "samples is 32 in the file but 16 in this run")


def test_the_plan_states_no_duration_of_its_own(tmp_path, checkpoint):
    r = runner.invoke(app, ["compute", str(checkpoint), *TINY, "--x", "-1:1:5", "--dry-run",
                            "--out", str(tmp_path / "d.h5")])
    assert r.exit_code == 0, r.output
    timed = [line for line in r.output.splitlines() if re.search(r"\d (s|min|h)\b", line) and "compile" not in line]
    assert len(timed) == 1 and timed[0].startswith("estimated"), r.output  # the dry run's timing, once
    assert "of evaluation" not in r.output


# ------------------------------------------------------------------ 18: start-up


def test_the_command_line_starts_without_torch():
    code = ("import sys, landscape.cli, landscape; landscape.__version__; "
            "print(sorted(m for m in ('torch', 'matplotlib', 'numpy', 'h5py') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True).stdout
    assert out.strip() == "[]", out
    r = subprocess.run([sys.executable, "cli.py", "compute", "x.pt", "--x", "1:2"], capture_output=True, text=True,
                       cwd=ROOT)
    assert r.returncode == 2 and r.stderr.startswith("error: --x '1:2' must be min:max:num"), r.stderr


def test_notebook_names_load_on_use():
    import landscape as ls

    assert ls.Grid.linspace((-1, 1, 3)).x == (-1.0, 0.0, 1.0)
    assert set(ls.__all__) <= set(dir(ls))
    with pytest.raises(AttributeError):
        ls.no_such_name  # noqa: B018


def test_a_hessian_file_keeps_the_probes_asked_for_and_those_used(tmp_path):
    import torch.nn.functional as F

    from landscape.curvature import HessianSettings, hessian
    from landscape.store.hessian_file import read_hessian, write_hessian
    from landscape.inputs.objective import batch_loss

    data = tiny_data(32)
    s = HessianSettings(top_k=1, max_steps=4, trace=True, probes=40, trace_rtol=10.0, seed=1)  # stops early
    r = hessian(tiny_model(), [(data.x, data.y)], batch_loss(F.cross_entropy, True), s)
    assert r.probes < 40
    back = read_hessian(write_hessian(tmp_path / "h.h5", r))
    assert back.settings == s and back.settings.probes == 40 and back.probes == r.probes


def test_a_wrong_dtype_in_a_surface_file_is_named(tmp_path, small_surface):
    out = tmp_path / "s.h5"
    out.write_bytes(small_surface)
    with h5py.File(out, "r+") as f:
        del f["computed"]
        f["computed"] = np.zeros((3, 3), dtype=np.float64)
    fails(["info", str(out)], "computed holds float64, not true/false values")


def test_resume_refuses_an_edited_loss_or_eval_file(tmp_path, checkpoint, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "fns").mkdir()
    losses = tmp_path / "fns" / "lossy.py"
    losses.write_text("import torch.nn.functional as F\n"
                      "def ce(out, y):\n    return F.cross_entropy(out, y)\n"
                      "def ev(model, batch):\n    x, y = batch\n"
                      "    return F.cross_entropy(model(x), y, reduction='sum'), len(y)\n")
    for option, name in (("--loss", "ce"), ("--eval", "ev")):
        out = f"{name}.h5"
        args = ["compute", str(checkpoint), *TINY, option, f"fns/lossy.py:{name}", "--x", "-1:1:3", "--out", out]
        assert runner.invoke(app, args).exit_code == 0
        losses.write_text(losses.read_text() + "\n# edited\n")
        for module in [n for n in sys.modules if n.startswith("landscape_user_lossy")]:
            del sys.modules[module]
        fails(args, "the code of the loss (or --eval) function changed since the file was started")
