"""The file-integrity gate's machinery: patterns, manifests, hashing, content rules.

The gate kind itself is ``gates/integrity.py``; the ``release-gate integrity``
command is :mod:`.cli`; the ``integrity`` fixture is :mod:`.fixture`.
"""

from __future__ import annotations
