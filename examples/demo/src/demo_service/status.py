"""The `status` command of the demo service."""

from __future__ import annotations

import json


def status(services: dict[str, bool]) -> str:
    """Summarise which services are up, as the CLI prints it."""
    up = sorted(name for name, ok in services.items() if ok)
    down = sorted(name for name, ok in services.items() if not ok)
    return json.dumps({"up": up, "down": down, "healthy": not down})
