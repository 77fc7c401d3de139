"""Same-job A/B: tracked performance measured against a git revision, on this machine, now.

``--gate-compare-ref=REV`` (or ``[tool.release_gates.compare] ref``) makes the
``regression`` gates of performance-tracking tests (``perf.measure``,
pytest-benchmark, ``regression``-marked durations) compare the working tree
against the code at REV instead of the committed baseline: a baseline recorded
on another machine says little about this one, two sides measured in one job
on one machine agree within a fraction of a percent.

Layout, one job each:

* :mod:`.git` resolves REV and writes the code under test at REV (``paths``)
  into a temporary folder, without touching the repository's worktrees,
  index or stash;
* :mod:`.probe` is the pytest plugin loaded (``-p``) into the two measuring
  subprocesses: it puts one side's code first on the import path and reports
  each round's samples as JSON;
* :mod:`.runner` starts one subprocess per side and alternates their rounds;
* :mod:`.gate` selects the tests, runs the A/B and turns it into gate results.
"""

from __future__ import annotations

from typing import Any, Final

from ...config import CompareSettings, integer, number, str_list, string, table
from ...model import REGRESSION
from ...spec import ConfigKey, GateSpec

TABLE: Final = (
    ConfigKey("ref", string, None),
    ConfigKey("paths", str_list, None),
    ConfigKey("rounds", integer(ge=1), 3),
    ConfigKey("tolerance", number(ge=0), None),
)


def _asked(settings: Any) -> bool:
    """Only when a revision is given: the A/B machinery is not free to import."""
    return bool(settings.compare_ref or settings.compare.ref)


SPEC = GateSpec(
    kind=REGRESSION,
    plugin="release-gates-compare",
    factory="pytest_release_gates.gates.ab.gate:Gate",
    keys=(ConfigKey("compare", table({k.name: k.check for k in TABLE}, CompareSettings), CompareSettings()),),
    enabled=_asked,
)

__all__ = ["SPEC", "TABLE"]
