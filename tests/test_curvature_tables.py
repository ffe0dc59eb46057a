"""The sharpness table as text: CSV at full precision, Markdown and LaTeX booktabs with values
and errors rounded together; rows measured differently never share a table."""

from __future__ import annotations

import csv
import io

import pytest

from landscape.curvature.sharpness import SharpnessRow
from landscape.curvature.tables import _pm, table_csv, table_latex, table_markdown
from landscape.errors import LandscapeError
from landscape.run.curvature import write_table


def rows():
    common = dict(epsilon=1e-3, radius=0.1, directions=10, probes=100)
    return [
        SharpnessRow("small_batch", 0.0123456, 99.5, 12.3456, 1234.5678, 12.345, eps_sharpness=0.5678,
                     eps_rise=0.0057, random_rise=0.012345, random_rise_std=0.00067, **common),
        SharpnessRow("large|batch", 0.2, 97.25, 345.6, 123456.0, 2345.0, eps_sharpness=12.5, eps_rise=0.15,
                     random_rise=2.5e-5, random_rise_std=1e-6, **common),
    ]


def test_rounding_of_values_with_errors():
    assert _pm(1234.5678, 12.345) == ("1235", "12")
    assert _pm(0.5, 0.0123) == ("0.500", "0.012")
    assert _pm(123456.0, 2345.0) == ("123500", "2300")
    assert _pm(3.0, float("nan")) == ("3", "")
    assert _pm(2.5e-5, 1e-6) == ("2.50e-05", "1.0e-06")


def test_rows_measured_differently_do_not_share_a_table(tmp_path):
    a, b = rows()
    b.epsilon = 1e-2
    for table in (table_csv, table_markdown, table_latex):
        with pytest.raises(LandscapeError, match="different"):
            table([a, b])
    with pytest.raises(LandscapeError, match="different"):
        write_table([a, b], tmp_path / "t")
    assert not list(tmp_path.iterdir())  # nothing written


def test_no_rows_no_table():
    for table in (table_csv, table_markdown, table_latex):
        with pytest.raises(LandscapeError, match="no rows") as e:
            table([])
        assert e.value.field == "checkpoints"


def test_table_text():
    csv_rows = list(csv.DictReader(io.StringIO(table_csv(rows()))))
    assert [r["checkpoint"] for r in csv_rows] == ["small_batch", "large|batch"]
    assert float(csv_rows[0]["trace"]) == 1234.5678 and csv_rows[0]["trace stderr"] == "12.345"
    md = table_markdown(rows()).splitlines()
    assert md[2] == "| small_batch | 0.01235 | 99.5 | 12.35 | 1235 ± 12 | 0.5678 | 0.0057 | 0.01235 ± 0.00067 |"
    tex = table_latex(rows())
    assert tex.startswith(r"\begin{tabular}{lrrrrrrr}") and tex.endswith("\\end{tabular}\n")
    no_accuracy = [SharpnessRow("a", 0.5, float("nan"), 1.0, 2.0, 0.1, 10, 1e-3, 0.1, 0.001, 0.1, 0, float("nan"),
                                float("nan"))]
    assert table_markdown(no_accuracy).splitlines()[0] == ("| checkpoint | loss | top eigenvalue | trace | "
                                                           "ε-sharpness (ε=0.001) | loss rise in ε-box (ε=0.001) |")
