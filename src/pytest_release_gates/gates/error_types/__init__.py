"""The ``new_error_type`` kind: an exception or warning type the baseline has never seen.

``capture`` names occurrences, ``watch`` watches for swallowed exceptions (``sys.monitoring`` on
3.12+), ``gate`` captures and keeps the baseline section, ``decide`` compares with it, ``results``
words the outcome.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from ...config import AcceptedType, ConfigError, choice, str_list
from ...levels import POLICIES
from ...model import NEW_ERROR_TYPE
from ...spec import ConfigKey, GateSpec, MarkerSpec


def check_known_types(v: Any) -> tuple[AcceptedType, ...]:
    if not isinstance(v, list):
        raise ConfigError(f"expected a list of type names or tables, got {v!r}")
    out = []
    for i, entry in enumerate(v):
        if isinstance(entry, str) and entry:
            out.append(AcceptedType(entry))
            continue
        if not isinstance(entry, dict):
            raise ConfigError(f"entry {i}: expected a type name or a table, got {entry!r}")
        unknown = set(entry) - {"type", "reason", "owner", "expires"}
        if unknown:
            raise ConfigError(f"entry {i}: unknown key {sorted(unknown)[0]!r} (type, reason, owner, expires)")
        if not isinstance(entry.get("type"), str) or not entry["type"]:
            raise ConfigError(f"entry {i}: 'type' must be a non-empty string")
        expires = entry.get("expires")
        if expires is not None:
            if isinstance(expires, str):
                try:
                    expires = dt.date.fromisoformat(expires)
                except ValueError:
                    raise ConfigError(f"entry {i}: 'expires' must be a date (YYYY-MM-DD), got {expires!r}") from None
            elif isinstance(expires, dt.datetime):
                expires = expires.date()
            elif not isinstance(expires, dt.date):
                raise ConfigError(f"entry {i}: 'expires' must be a date (YYYY-MM-DD), got {expires!r}")
        for k in ("reason", "owner"):
            if k in entry and not isinstance(entry[k], str):
                raise ConfigError(f"entry {i}: {k!r} must be a string")
        out.append(AcceptedType(entry["type"], entry.get("reason"), entry.get("owner"), expires))
    return tuple(out)


SPEC = GateSpec(
    kind=NEW_ERROR_TYPE,
    plugin="release-gates-error-types",
    factory="pytest_release_gates.gates.error_types.gate:Gate",
    keys=(
        ConfigKey("new_error_types", choice(POLICIES), "hold"),
        ConfigKey("new_warning_types", choice(POLICIES), "hold"),
        ConfigKey("known_error_types", check_known_types, ()),
        ConfigKey("error_scope", str_list, ()),
    ),
    markers=(MarkerSpec(
        "expected_errors",
        "expected_errors(*types): exception or warning classes (or dotted names) this test is meant to "
        "produce; they are not new error types for the release gate.",
    ),),
    section="error_types",
    validator="pytest_release_gates.gates.error_types.gate:validate_section",
    order=5,
)
