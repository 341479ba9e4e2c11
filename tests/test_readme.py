"""The README's Python snippets run as written and do what they say."""

import contextlib
import io
import os
import re
from pathlib import Path

import numpy as np
import pytest

README = Path(__file__).parents[1] / "README.rst"
DATA = os.environ.get("SKDEEPAD_DATA")


def _python_blocks(text):
    """The bodies of the ``.. code-block:: python`` directives, in order, dedented."""
    blocks = []
    for match in re.finditer(r"\.\. code-block:: python\n\n((?:    .*\n|\n)+)", text):
        lines = match.group(1).rstrip("\n").splitlines()
        blocks.append("\n".join(line[4:] for line in lines))
    return blocks


@pytest.mark.skipif(not (DATA and os.path.isdir(DATA)),
                    reason="the quick start reads ODDS cardio from SKDEEPAD_DATA (set in CI)")
def test_readme_quick_start_and_conformal_snippet():
    quick_start, conformal = _python_blocks(README.read_text())
    namespace, out = {}, io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(quick_start, "README quick start", "exec"), namespace)
    assert float(out.getvalue().split()[-1]) > 0.85  # the printed test AUC of Deep SAD
    exec(compile(conformal, "README conformal snippet", "exec"), namespace)
    flags, y_test = namespace["flags"], namespace["y_test"]
    assert set(np.unique(flags)) == {-1, 1}
    flagged = flags == -1
    assert (flagged & (y_test == 0)).sum() <= 0.2 * flagged.sum()  # mostly anomalies
