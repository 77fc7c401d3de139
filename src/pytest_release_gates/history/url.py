"""``history_url``: which store keeps the run history, and how to name it without its password.

Empty is the local file ``.release-gates/history.jsonl``; ``sqlite:///PATH`` a
SQLite database (relative to the rootdir, ``sqlite:////PATH`` absolute);
``postgresql://...`` (or ``postgres://``) a PostgreSQL server. The password of
a URL comes from a CI secret: every message that names a store goes through
:meth:`StoreURL.scrub`, which also removes the password from text a driver
wrote (libpq echoes parts of a connection string in some errors).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final, final
from urllib.parse import quote, unquote, urlsplit

ENV: Final = "RELEASE_GATES_HISTORY_URL"
JSONL: Final = "jsonl"
SQLITE: Final = "sqlite"
POSTGRES: Final = "postgresql"
LOCAL_FILE: Final = ".release-gates/history.jsonl"
MASK: Final = "***"

_USERINFO: Final = re.compile(r"(?P<head>://[^:/?#@\s]*:)(?P<pw>[^\s/]*)@")  # greedy: to the last @
_PARAM: Final = re.compile(r"(?i)(?P<head>\bpassword\s*=\s*)(?P<pw>'[^']*'|[^&\s]*)")


def mask(text: str) -> str:
    """``text`` with any URL password (``user:PASSWORD@`` or ``password=...``) replaced by ``***``."""
    text = _USERINFO.sub(lambda m: f"{m['head']}{MASK}@", text)
    return _PARAM.sub(lambda m: f"{m['head']}{MASK}", text)


@final
@dataclass(frozen=True, slots=True)
class StoreURL:
    """A parsed ``history_url``. ``raw`` holds the password: never print it, print :attr:`label`."""

    kind: str
    raw: str
    path: Path | None = None  # the file, for the local file and SQLite

    @property
    def label(self) -> str:
        """How messages name the store."""
        if self.kind == POSTGRES:
            return mask(self.raw)
        return f"sqlite:///{self.path}" if self.kind == SQLITE else str(self.path)

    @property
    def shared(self) -> bool:
        """A database (many checkouts) rather than this checkout's file: reads are filtered by project."""
        return self.kind != JSONL

    def secrets(self) -> list[str]:
        """The password in every spelling a message might carry (as given, decoded, re-encoded)."""
        found: list[str] = []
        try:
            netloc = urlsplit(self.raw).netloc
        except ValueError:
            netloc = ""
        userinfo, at, _ = netloc.rpartition("@")
        if at and ":" in userinfo:
            found.append(userinfo.partition(":")[2])
        for m in (*_USERINFO.finditer(self.raw), *_PARAM.finditer(self.raw)):
            pw = m["pw"].strip("'")
            found.append(pw)
        spellings = {v for pw in found if pw for v in (pw, unquote(pw), quote(unquote(pw), safe=""))}
        return sorted(spellings, key=len, reverse=True)

    def scrub(self, text: str) -> str:
        """``text`` (an error from a driver, say) with this URL's password gone in any spelling."""
        for secret in self.secrets():
            text = text.replace(secret, MASK)
        return mask(text)


def parse(value: str, rootdir: Path) -> StoreURL:
    """Parse a ``history_url`` value; a bad one raises ``ValueError`` whose text is safe to print."""
    value = value.strip()
    if not value:
        return StoreURL(JSONL, "", Path(rootdir) / LOCAL_FILE)
    scheme, sep, rest = value.partition("://")
    scheme = scheme.lower()
    if scheme in ("postgresql", "postgres"):
        try:
            urlsplit(value)
        except ValueError as exc:
            raise ValueError(f"not a valid PostgreSQL URL ({mask(value)}): {exc}") from None
        return StoreURL(POSTGRES, value)
    if scheme == "sqlite" and sep:
        if not rest.startswith("/"):
            raise ValueError(f"{mask(value)!r}: a SQLite URL is sqlite:///PATH (three slashes, relative to the "
                             "rootdir) or sqlite:////PATH (absolute)")
        path_text = rest[1:].split("?", 1)[0]
        if not path_text or path_text.endswith("/"):
            raise ValueError(f"{mask(value)!r}: no database file after sqlite:///")
        path = Path(unquote(path_text)).expanduser()
        return StoreURL(SQLITE, value, path if path.is_absolute() else Path(rootdir) / path)
    raise ValueError(f"{mask(value)!r}: expected empty (the local file), sqlite:///PATH or postgresql://...")
