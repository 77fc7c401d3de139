"""The `status` command: which services are up."""

from __future__ import annotations

import json
import logging

log = logging.getLogger("demo_service.status")


def status(services: dict[str, bool]) -> str:
    """Summarise which services are up, as the CLI prints it."""
    up = sorted(name for name, ok in services.items() if ok)
    down = sorted(name for name, ok in services.items() if not ok)
    if down:
        log.error("services down: %s", ", ".join(down))  # injected: a new error type
    return json.dumps({"up": up, "down": down, "healthy": not down})
