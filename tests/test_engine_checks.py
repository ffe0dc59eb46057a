"""engine/checks.py: what an `eval` function returns is checked: its structure at once, the values
it holds in tensors after the host sync, with errors that name the function, the point and the batch."""

from __future__ import annotations

import pytest
import torch

from landscape.engine.checks import EvalChecks, eval_batch
from landscape.errors import LandscapeError


@pytest.mark.parametrize("result,match", [
    (1.0, "must return \\(loss sum, count\\)"),
    ((1.0,), "must return \\(loss sum, count\\)"),
    (("a", 2), "its loss sum is the text 'a'"),
    ((1.0, torch.ones(2)), "its count is a torch.float32 tensor of shape \\(2,\\)"),
    ((1.0, -1), "its count is -1"),
    ((1.0, 4, 5), "its correct count is 5 of 4"),
])
def test_what_an_eval_function_returns_is_checked(result, match):
    with pytest.raises(LandscapeError, match=match):
        eval_batch(result)


def test_eval_checks_name_the_function_point_and_batch():
    def my_eval(model, batch):
        return 1.0, torch.tensor(2.0), torch.tensor(3.0)  # correct > count: known only after the sync

    checks = EvalChecks(my_eval)
    ok = checks.run(lambda: (torch.tensor(1.5), 4), 0, "point (0, 0)")
    assert float(ok.loss) == 1.5 and ok.count == 4.0 and ok.correct is None
    checks.add(my_eval(None, None), 3, "point (0.5, 1)")
    with pytest.raises(LandscapeError, match="test_eval_checks.*my_eval at point \\(0.5, 1\\), batch 3: "
                                             "its correct count is 3 of 2"):
        checks.finish()
    with pytest.raises(LandscapeError, match="batch 1: it raised ZeroDivisionError"):
        checks.run(lambda: 1 / 0, 1, "point (0, 0)")
