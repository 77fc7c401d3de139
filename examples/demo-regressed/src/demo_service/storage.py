"""A small JSON snapshot store."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def save_snapshot(folder: Path, name: str, data: dict[str, Any]) -> Path:
    """Write one snapshot atomically; the release plan says nothing else in the folder may change."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{name}.json"
    tmp = target.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, sort_keys=True))  # injected: default separators, 17% larger snapshots
    os.replace(tmp, target)
    return target


def load_snapshot(folder: Path, name: str) -> dict[str, Any]:
    return json.loads((folder / f"{name}.json").read_text())  # type: ignore[no-any-return]
