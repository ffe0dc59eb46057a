"""What `landscape info` says about a file: for a surface, the grid, how it was made (settings
and the evaluation plan), progress, the loss, the basins of a 2-D surface, and the tracks; for a
Hessian file (landscape hessian), its settings and the table `landscape hessian` printed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from landscape import basins, store
from landscape.errors import LandscapeError, as_python

SETTINGS = ("checkpoint", "model", "data", "samples", "batches", "sequences", "tokens", "predicted_tokens", "seq_len",
            "tokenizer", "loss", "objective", "dir_kind", "dir_type", "norm", "filters", "ignore",
            "subset", "scale", "seed", "auto_rise", "device", "started", "finished")


def summary(path: str | Path, render: Callable[[str], str] = as_python) -> str:
    """Aligned "key  value" lines. Only the reading of the file is guarded: a damaged file is a
    user error; what is computed from what was read (the basins, say) is not."""
    path = Path(path)
    from landscape.store.training_log import is_training_log

    if is_training_log(path):
        return _training_summary(path)
    if _is_hessian(path):
        return _hessian_summary(path, render)
    return _summary(store.read_surface(path))


def _training_summary(path: Path) -> str:
    """A training log (or the run folder holding it): the steps, the learning rates, sharpness."""
    from landscape.inputs.runs import is_recorded_run, read_run
    from landscape.store.training_log import read_log

    log = read_log(path)
    st, sh = log.steps, log.sharpness
    rows: list[tuple[str, str]] = [("training log", str(log.path)), ("run", log.name)]
    if len(st.get("step", [])):
        rows.append(("steps", f"{int(st['step'][-1]):,} (learning rate {st['lr'][0]:.4g} → {st['lr'][-1]:.4g})"))
    folder = log.path.parent
    if is_recorded_run(folder):
        run = read_run(folder)
        rows.append(("checkpoints", f"{len(run.checkpoints)} (steps {', '.join(map(str, run.steps[:6]))}"
                                    f"{', ...' if len(run.steps) > 6 else ''})"))
        model = run.settings.get("model")
        hf = isinstance(model, dict) and model.get("hugging_face")
        rows.append(("model", run.model_class or ("a Hugging Face folder" if hf else "not recorded: pass --model")))
        rows.append(("data", run.data or "not recorded: pass --data"))
        rec = run.settings.get("recording")
        rec = rec if isinstance(rec, dict) else {}
        if all(isinstance(rec.get(k), (int, float)) and rec[k] > 0 for k in ("seconds", "training_seconds")):
            rows.append(("recording cost", f"{rec['seconds']:.1f} s of {rec['training_seconds']:.1f} s "
                                           f"({100 * rec['seconds'] / rec['training_seconds']:.1f}%)"))
    lam = sh.get("lambda_max", np.array([]))
    if np.isfinite(lam).any():
        k = int(np.nanargmax(lam))
        rows.append(("λmax", f"{lam[np.isfinite(lam)][0]:.4g} first, {lam[k]:.4g} at its peak (step "
                             f"{int(sh['step'][k])}, 2/η {sh['two_over_lr'][k]:.4g}), {lam[np.isfinite(lam)][-1]:.4g} last"
                             f" ({int(np.isfinite(lam).sum())} measurements)"))
    crit = sh.get("critical_sharpness", np.array([]))
    if len(crit):
        rows.append(("critical sharpness", f"median {np.nanmedian(crit):.4g}, undefined at {int(np.isnan(crit).sum())}"
                                           f" of {len(crit)}" if np.isfinite(crit).any() else "not measured"))
    return _aligned(rows)


def _is_hessian(path: Path) -> bool:
    def read() -> bool:
        with store.open_file(path) as f:
            return "xcoordinates" not in f and "eigenvalues" in f

    return store.guarded(path, read, "a surface or Hessian file", "landscape compute or landscape hessian")


def _hessian_summary(path: Path, render: Callable[[str], str]) -> str:
    from landscape.run.curvature import describe_result
    from landscape.store.hessian_file import read_hessian

    result = read_hessian(path)
    a = store.read_attrs(path, "a Hessian file", "landscape hessian")
    rows: list[tuple[str, str]] = [("hessian", str(path))]
    for key in ("checkpoint", "model", "data", "samples", "sequences", "tokens", "predicted_tokens", "seq_len",
                "tokenizer", "loss_name", "precision", "device", "seed"):
        if key in a and _text(a[key]) not in ("", "None"):
            rows.append((key, _text(a[key])))
    rows.append(("params", "all" if result.settings.params is None else ", ".join(result.settings.params)))
    rows.append(("plane", f"{_text(a.get('xlabel', ''))} × {_text(a.get('ylabel', ''))}"))
    return _aligned(rows) + "\n\n" + "\n".join(describe_result(result, render))


def _text(v: object) -> str:
    return ", ".join(map(str, v)) if isinstance(v, (list, tuple, np.ndarray)) else str(v)


def _summary(s: store.Surface) -> str:
    a = s.attrs
    rows: list[tuple[str, str]] = [("surface", str(s.path))]
    nx = len(s.x)
    if s.y is not None:
        rows.append(("grid", f"x {s.x[0]:g}:{s.x[-1]:g}:{nx}  y {s.y[0]:g}:{s.y[-1]:g}:{len(s.y)}  "
                             f"({s.computed.size} points)"))
    else:
        rows.append(("grid", f"x {s.x[0]:g}:{s.x[-1]:g}:{nx}  (1-D, {nx} points)"))
    for key in SETTINGS:
        if key in a and _text(a[key]) not in ("", "None"):
            rows.append((key, _text(a[key])))
    if "xlabel" in a:
        rows.append(("plane", f"{a['xlabel']} × {a.get('ylabel', '')}" if s.is_2d else str(a["xlabel"])))
    if s.plan:
        listed = s.plan.get("reasons", [])
        reasons = dict(str(r).split(": ", 1) for r in (listed if isinstance(listed, list) else []) if ": " in str(r))
        for key in ("precision", "batch_size", "launch", "fold_bn", "channels_last", "compile", "first_layer", "lean",
                    "fsdp"):
            if key in s.plan and (key not in ("lean", "fsdp") or s.plan[key]):  # the memory modes, where used
                value = s.plan[key]
                why = reasons.get(key)
                rows.append((f"plan {key}", f"{value}" + (f"  ({why})" if why and why != "given" else "")))
    done = int(s.computed.sum())
    rows.append(("progress", f"{done}/{s.computed.size} points computed ({100.0 * done / s.computed.size:.1f}%)"))
    try:
        name, loss = s.metric("loss")
    except LandscapeError:
        return _aligned(rows)
    vals = loss[s.computed]
    finite = vals[np.isfinite(vals)]
    if len(vals) and len(finite) < len(vals):
        rows.append(("non-finite", f"{len(vals) - len(finite)} computed points have inf or NaN {name}"))
    if len(finite):
        rows.append((name, f"min {finite.min():.6g}  max {finite.max():.6g}"))
        center = store.center_value(s, loss)
        if center is not None:
            rows.append(("center", f"{name} {center:.6g} at the model itself (0, 0)"))
    if "eig_ratio" in s.values and np.isfinite(s.values["eig_ratio"]).any():
        r = s.values["eig_ratio"][np.isfinite(s.values["eig_ratio"])]
        rows.append(("eigen map", f"|λmin/λmax| from {r.min():.3g} to {r.max():.3g} (median {np.median(r):.3g})"))
    if s.is_2d and min(s.computed.shape) >= 2 and len(finite) >= 2:
        z = np.where(s.computed, loss, np.nan)
        line = basins.summary(basins.topology(z), s.x, s.y)
        key, _, value = line.partition(" ")
        rows.append((key, value.strip()))
    track = s.tracks.get("trajectory")
    if track is not None and track.residual is not None and len(track.residual):
        worst = int(np.argmax(track.residual))
        rows.append(("off plane", f"up to {100 * track.residual[worst]:.0f}% of a checkpoint's displacement "
                                  f"({track.names[worst]}); median {100 * np.median(track.residual):.0f}%"))
    if track is not None and track.run is not None:
        rows.append(("runs", ", ".join(f"{n} ({len(i)} checkpoints)" for n, i in track.runs())))
    return _aligned(rows)


def _aligned(rows: list[tuple[str, str]]) -> str:
    width = max(len(k) for k, _ in rows) + 2
    return "\n".join(f"{k:<{width}}{v}" for k, v in rows)
