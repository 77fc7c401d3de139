"""The plugin's fixtures. Always available (also without ``--release-gate``),
so a test that uses them runs either way; they only become gates under it.

Imported into ``plugin.py`` so pytest finds them (the pytest-django way).
"""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def perf(request: pytest.FixtureRequest) -> Any:
    """Measure a callable: ``perf.measure(func, *args, rounds=100, name=None, p50=..., counter=None, **kwargs)``."""
    # On use: ~57 ms cumulative (`python -X importtime`, loaded 2-core machine); every run loads this file.
    from .perf import Perf

    return Perf(request.node)


@pytest.fixture
def gate_metric(request: pytest.FixtureRequest) -> Any:
    """``gate_metric(name, value, *, higher_is_better=False, tolerance=None)``: record a tracked metric."""
    from .gate_metric import GateMetric

    return GateMetric(request.node)


@pytest.fixture
def integrity(request: pytest.FixtureRequest) -> Any:
    """``with integrity.watch(root, patterns=["*.py"], rules=[...]) as changes:``: what the block changed."""
    from .gates.integrity.fixture import IntegrityWatcher

    return IntegrityWatcher(request.node)
