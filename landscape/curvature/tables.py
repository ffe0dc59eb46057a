"""The sharpness table as text, one row per checkpoint: CSV at full precision, a Markdown table
and a LaTeX booktabs tabular, numbers rounded for reading (a value and its error rounded
together). Text only: `landscape.run.curvature.write_table` writes the files."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence

from landscape.curvature.sharpness import SharpnessRow
from landscape.errors import LandscapeError

__all__ = ["table_csv", "table_latex", "table_markdown"]


def _columns(rows: Sequence[SharpnessRow]) -> list[tuple[str, str, str | None]]:
    """(heading, value field, ± field or None) of each column, the settings in the headings."""
    if not rows:
        raise LandscapeError("no rows to write: give at least one checkpoint", field="checkpoints")
    first = rows[0]
    for r in rows[1:]:
        if (r.epsilon, r.radius, r.directions) != (first.epsilon, first.radius, first.directions):
            raise LandscapeError(f"rows {first.name!r} and {r.name!r} were measured with different ε, r or N; "
                                 "one table takes rows measured alike")
    cols: list[tuple[str, str, str | None]] = [("checkpoint", "name", None), ("loss", "loss", None)]
    if any(math.isfinite(r.accuracy) for r in rows):
        cols.append(("accuracy (%)", "accuracy", None))
    cols += [("top eigenvalue", "top_eigenvalue", None), ("trace", "trace", "trace_stderr"),
             (f"ε-sharpness (ε={first.epsilon:g})", "eps_sharpness", None),
             (f"loss rise in ε-box (ε={first.epsilon:g})", "eps_rise", None)]
    if first.directions:
        cols.append((f"random rise (r={first.radius:g}, N={first.directions})", "random_rise", "random_rise_std"))
    return cols


def _sig(v: float, digits: int = 4) -> str:
    """A number with `digits` significant digits, plain where that reads well."""
    if not math.isfinite(v):
        return ""
    if v == 0:
        return "0"
    text = f"{v:.{digits}g}"
    if "e" in text and 1e-4 <= abs(v) < 1e6:
        text = f"{v:.{max(0, digits - 1 - math.floor(math.log10(abs(v))))}f}"
    return text


def _pm(v: float, err: float) -> tuple[str, str]:
    """Value and error rounded together: the error to 2 significant digits, the value to the same place."""
    if not math.isfinite(v):
        return "", ""
    if not math.isfinite(err) or err <= 0:
        return _sig(v), ""
    if v != 0 and not 1e-3 <= abs(v) < 1e6:  # scientific, the value to the error's second digit
        digits = min(17, max(1, math.floor(math.log10(abs(v))) - math.floor(math.log10(err)) + 2))
        return f"{v:.{digits - 1}e}", f"{err:.1e}"
    place = 1 - math.floor(math.log10(err))  # decimals that keep 2 digits of the error
    if place >= 0:
        return f"{v:.{place}f}", f"{err:.{place}f}"
    unit = 10.0 ** (-place)
    return f"{round(v / unit) * unit:.0f}", f"{round(err / unit) * unit:.0f}"


def _cells(row: SharpnessRow, cols: list[tuple[str, str, str | None]]) -> list[tuple[str, str]]:
    out = []
    for _, key, err in cols:
        v = getattr(row, key)
        if key == "name":
            out.append((str(v), ""))
        elif err is not None:
            out.append(_pm(v, getattr(row, err)))
        else:
            out.append((_sig(v), ""))
    return out


def table_csv(rows: Sequence[SharpnessRow]) -> str:
    """Full precision; the ± columns split into value and error columns."""
    cols = _columns(rows)
    header = []
    for heading, _, err in cols:
        header.append(heading)
        if err is not None:
            header.append(f"{heading} stderr" if err == "trace_stderr" else f"{heading} std")
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for r in rows:
        line: list[str] = []
        for _, key, err in cols:
            v = getattr(r, key)
            line.append(v if key == "name" else (repr(float(v)) if math.isfinite(v) else ""))
            if err is not None:
                e = getattr(r, err)
                line.append(repr(float(e)) if math.isfinite(e) else "")
        w.writerow(line)
    return buf.getvalue()


def table_markdown(rows: Sequence[SharpnessRow]) -> str:
    cols = _columns(rows)
    lines = ["| " + " | ".join(h for h, _, _ in cols) + " |",
             "| " + " | ".join("---" if k == "name" else "---:" for _, k, _ in cols) + " |"]
    for r in rows:
        cells = [(v + (f" ± {e}" if e else "")) or "—" for v, e in _cells(r, cols)]
        cells[0] = cells[0].replace("|", "\\|")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


_TEX_ESCAPES = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "|": r"\textbar{}",
                "<": r"\textless{}", ">": r"\textgreater{}"}


def _tex_text(s: str) -> str:
    s = "".join(_TEX_ESCAPES.get(c, c) for c in s)
    return s.replace("ε", r"$\varepsilon$").replace("±", r"$\pm$")


def _tex_number(s: str) -> str:
    if "e" in s:
        mantissa, exponent = s.split("e")
        return f"${mantissa}\\times 10^{{{int(exponent)}}}$"
    return s


def table_latex(rows: Sequence[SharpnessRow]) -> str:
    """A booktabs tabular (needs \\usepackage{booktabs}); ε and ± in math mode."""
    cols = _columns(rows)
    lines = [r"\begin{tabular}{" + "".join("l" if k == "name" else "r" for _, k, _ in cols) + "}", r"\toprule",
             " & ".join(_tex_text(h) for h, _, _ in cols) + r" \\", r"\midrule"]
    for r in rows:
        cells = []
        for i, (v, e) in enumerate(_cells(r, cols)):
            if i == 0:
                cells.append(_tex_text(v))
            elif not v:
                cells.append("--")
            else:
                cells.append(_tex_number(v) + (f" $\\pm$ {_tex_number(e)}" if e else ""))
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"
