"""pytest plugin for ``spine_overhead_side_by_side.py --strip``: switch parts of the per-test path off.

``RG_STRIP`` is a comma list. ``setup``, ``makereport``, ``report``, ``logreport``: the built-in gates'
methods of that phase are not called (the dispatcher's hookimpl still runs). ``h:setup``,
``h:makereport``, ``h:logreport``: the dispatcher's hookimpl of that phase is removed. A run without
its logreport hookimpl records no test and ends ``hold``; only its instruction count is of interest.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

STRIP = set(filter(None, os.environ.get("RG_STRIP", "").split(",")))
PHASES = ("setup", "makereport", "logreport")


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    pm = config.pluginmanager
    per_test = pm.get_plugin("release-gates-per-test")
    if per_test is None:
        return
    for part in ("setup", "makereport", "report", "logreport"):
        if part in STRIP:
            setattr(per_test, "_" + part, ())
    dropped = {s[2:] for s in STRIP if s.startswith("h:")}
    if not dropped:
        return
    from pytest_release_gates.pertest import PerTest

    attrs: dict[str, Any] = {f"pytest_runtest_{p}": getattr(PerTest, f"pytest_runtest_{p}")
                             for p in PHASES if p not in dropped}
    reduced = type("ReducedPerTest", (), attrs)()
    for name in PerTest.__slots__:
        setattr(reduced, name, getattr(per_test, name))
    pm.unregister(per_test)
    pm.register(reduced, "release-gates-per-test")
