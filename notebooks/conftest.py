"""nbval hook: after a cell raises, the notebook's later cells are skipped.

Later cells would only fail on names the failed cell never defined, burying the one error that
matters; the report shows that cell (source and traceback) and says which cell stopped the rest.
"""

from __future__ import annotations

from pathlib import Path

import pytest

_raised: dict[Path, str] = {}  # notebook -> "Cell N", the first of its cells that raised


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report = outcome.get_result()
    # nbval's NbCellError for a cell that raised (not for outputs that differ from the stored ones)
    raised = call.excinfo is not None and "caused an exception" in str(call.excinfo.value)
    if call.when == "call" and report.failed and raised:
        _raised.setdefault(item.path, item.name)


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.path in _raised:
        pytest.skip(f"not run: {_raised[item.path]} of this notebook raised an exception")
