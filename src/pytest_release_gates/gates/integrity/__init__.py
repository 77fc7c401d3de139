"""The ``integrity`` kind: committed files against a manifest, and content rules.

``gate`` is the gate; ``patterns``, ``manifest``, ``hashing``, ``rules`` and ``scope`` its machinery;
``fixture`` the ``integrity`` fixture; the ``release-gate integrity`` command is ``cli/integrity.py``.
"""

from __future__ import annotations

from typing import Any, Final

from ...config import ConfigError, IntegritySettings, str_list, table
from ...model import INTEGRITY
from ...spec import ConfigKey, GateSpec, MarkerSpec

RULE_NAMES: Final = (
    "duplicate-lines",
    "hardcoded-paths",
    "secrets",
    "conflict-markers",
    "permissions",
    "gitignored",
)


def _manifest(v: Any) -> str | None:
    if v is False:
        return None
    if isinstance(v, str) and v:
        return v
    raise ConfigError(f"expected a path or false, got {v!r}")


def _rules(v: Any) -> tuple[str, ...]:
    names = str_list(v)
    for n in names:
        if n not in RULE_NAMES:
            raise ConfigError(f"unknown rule {n!r} (one of {', '.join(RULE_NAMES)})")
    return names


TABLE: Final = (
    ConfigKey("patterns", str_list, ()),
    ConfigKey("excludes", str_list, ()),
    ConfigKey("manifest", _manifest, "release-gates.integrity.json"),
    ConfigKey("rules", _rules, ()),
    ConfigKey("must_be_ignored", str_list, ()),
)

SPEC = GateSpec(
    kind=INTEGRITY,
    plugin="release-gates-integrity",
    factory="pytest_release_gates.gates.integrity.gate:Gate",
    keys=(ConfigKey("integrity", table({k.name: k.check for k in TABLE}, IntegritySettings), None),),
    markers=(MarkerSpec(
        "integrity_clean",
        "integrity_clean: every integrity.watch() block in this test must leave its files unchanged; each change "
        "becomes an integrity gate (hold) under --release-gate.",
    ),),
    section="integrity",
    validator="pytest_release_gates.gates.integrity.gate:validate_section",
    order=6,
)
